//! HPKI card logins (see `OidcStore::insert_card_login` and the methods after it): the code a
//! login page shows, the challenge, and the card's answer.

use chrono::{DateTime, Duration, Utc};
use hpki_core::audit::AuditEvent;
use hpki_core::domain::oidc::{CardLogin, CardOutcome, LoginRefusal};
use hpki_core::store::StoreError;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::group::Guarded;
use crate::{corrupt, db_err, SqlStore};

/// How long a card login is kept after it expired (its page may still ask how it ended).
const KEPT: Duration = Duration::hours(1);

const COLUMNS: &str =
    "authorization_id, challenge, expires_micros, outcome, detail, holder_id, certificate_serial, answered_micros";

fn card_login_from_row(row: &AnyRow) -> Result<CardLogin, StoreError> {
    let bad = || corrupt("card login");
    let time = |micros: i64| DateTime::from_timestamp_micros(micros).ok_or_else(bad);
    let outcome: Option<String> = row.try_get("outcome").map_err(db_err)?;
    let outcome = match outcome.as_deref() {
        None => CardOutcome::Waiting,
        Some("verified") => CardOutcome::Verified {
            holder_id: row
                .try_get::<Option<i64>, _>("holder_id")
                .map_err(db_err)?
                .ok_or_else(bad)?,
            certificate_serial: row
                .try_get::<Option<String>, _>("certificate_serial")
                .map_err(db_err)?
                .ok_or_else(bad)?,
            at: time(
                row.try_get::<Option<i64>, _>("answered_micros")
                    .map_err(db_err)?
                    .ok_or_else(bad)?,
            )?,
        },
        Some(code) => CardOutcome::Refused {
            refusal: LoginRefusal::from_code(code).ok_or_else(bad)?,
            detail: row
                .try_get::<Option<String>, _>("detail")
                .map_err(db_err)?
                .unwrap_or_default(),
        },
    };
    Ok(CardLogin {
        authorization_id: row.try_get("authorization_id").map_err(db_err)?,
        challenge: row.try_get("challenge").map_err(db_err)?,
        expires_at: time(row.try_get("expires_micros").map_err(db_err)?)?,
        outcome,
    })
}

impl SqlStore {
    pub(crate) async fn insert_card_login_row(
        &self,
        login: &CardLogin,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Single statements on the ephemeral connections, like the authorization itself.
        let _turn = self.writer_turn().await;
        // Old codes go first (an indexed range, and card logins are few): a code is unique
        // among those kept, and those kept are the last hour's.
        sqlx::query("DELETE FROM oidc_card_logins WHERE expires_micros < $1")
            .bind((now - KEPT).timestamp_micros())
            .execute(&self.ephemeral)
            .await
            .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO oidc_card_logins (authorization_id, code_hash, challenge, created_micros, \
             expires_micros) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (authorization_id) DO UPDATE SET code_hash = excluded.code_hash, \
             challenge = excluded.challenge, created_micros = excluded.created_micros, \
             expires_micros = excluded.expires_micros, outcome = NULL, detail = NULL, \
             holder_id = NULL, certificate_serial = NULL, answered_micros = NULL",
        )
        .bind(login.authorization_id)
        .bind(code_hash)
        .bind(login.challenge.as_str())
        .bind(now.timestamp_micros())
        .bind(login.expires_at.timestamp_micros())
        .execute(&self.ephemeral)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn card_login_by(
        &self,
        key: CardKey<'_>,
    ) -> Result<Option<CardLogin>, StoreError> {
        let condition = match key {
            CardKey::Authorization(_) => "authorization_id = $1",
            CardKey::Code(_) => "code_hash = $1",
        };
        let sql = format!("SELECT {COLUMNS} FROM oidc_card_logins WHERE {condition}");
        let q = sqlx::query(&sql);
        let q = match key {
            CardKey::Authorization(id) => q.bind(id),
            CardKey::Code(hash) => q.bind(hash.to_owned()),
        };
        let row = q.fetch_optional(&self.pool).await.map_err(db_err)?;
        row.as_ref().map(card_login_from_row).transpose()
    }

    pub(crate) async fn answer_card_login_row(
        &self,
        authorization_id: i64,
        code_hash: &str,
        outcome: &CardOutcome,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let update = match outcome {
            CardOutcome::Waiting => {
                return Err(StoreError::Other(
                    "a card login's answer cannot be waiting".into(),
                ))
            }
            CardOutcome::Verified {
                holder_id,
                certificate_serial,
                at: verified_at,
            } => Guarded::new(
                "UPDATE oidc_card_logins SET outcome = 'verified', holder_id = $1, \
                 certificate_serial = $2, answered_micros = $3 \
                 WHERE authorization_id = $4 AND code_hash = $5 AND outcome IS NULL \
                 AND expires_micros > $6",
            )
            .int(*holder_id)
            .text(certificate_serial.as_str())
            .int(verified_at.timestamp_micros()),
            CardOutcome::Refused { refusal, detail } => Guarded::new(
                "UPDATE oidc_card_logins SET outcome = $1, detail = $2, answered_micros = $3 \
                 WHERE authorization_id = $4 AND code_hash = $5 AND outcome IS NULL \
                 AND expires_micros > $6",
            )
            .text(refusal.code())
            .text(detail.as_str())
            .int(at.timestamp_micros()),
        };
        let update = update
            .int(authorization_id)
            .text(code_hash)
            .int(at.timestamp_micros());
        self.group.submit(update, event).await
    }
}

/// How a card login is looked up.
pub(crate) enum CardKey<'a> {
    Authorization(i64),
    Code(&'a str),
}
