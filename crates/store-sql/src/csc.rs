//! Signature activation data (see `CscStore`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hpki_core::audit::AuditEvent;
use hpki_core::domain::csc::{hashes_from_stored, hashes_to_stored, NewSad, Sad, SigningMode};
use hpki_core::domain::oidc::ClientId;
use hpki_core::keystore::Sha256Digest;
use hpki_core::store::{CscStore, SpendGuard, StoreError};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::group::Guarded;
use crate::write::Write;
use crate::{corrupt, db_err, SqlStore};

fn time(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| corrupt("SAD"))
}

fn sad_from_row(row: &AnyRow) -> Result<Sad, StoreError> {
    let bad = || corrupt("SAD");
    Ok(Sad {
        id: row.try_get("id").map_err(db_err)?,
        sad: NewSad {
            sad_hash: row.try_get("sad_hash").map_err(db_err)?,
            session_id: row.try_get("session_id").map_err(db_err)?,
            holder_id: row.try_get("holder_id").map_err(db_err)?,
            client_id: ClientId::parse(&row.try_get::<String, _>("client_id").map_err(db_err)?)
                .map_err(|_| bad())?,
            mode: SigningMode::from_stored(&row.try_get::<String, _>("mode").map_err(db_err)?)
                .ok_or_else(bad)?,
            hashes: row
                .try_get::<Option<String>, _>("hashes")
                .map_err(db_err)?
                .map(|h| hashes_from_stored(&h).ok_or_else(bad))
                .transpose()?,
            remaining: row.try_get("remaining").map_err(db_err)?,
            created_at: time(row.try_get("created_micros").map_err(db_err)?)?,
            expires_at: time(row.try_get("expires_micros").map_err(db_err)?)?,
        },
    })
}

#[async_trait]
impl CscStore for SqlStore {
    async fn insert_sad(&self, s: &NewSad, event: &AuditEvent) -> Result<i64, StoreError> {
        let mut w = Write::begin(self).await?;
        // Expired SADs are of no use to anyone: swept now and then (one insert in 32, by the
        // random SAD's hash), so that the table holds what may still sign.
        if crate::one_in(&s.sad_hash, 32) {
            sqlx::query("DELETE FROM csc_sads WHERE expires_micros < $1")
                .bind(s.created_at.timestamp_micros())
                .execute(&mut *w.tx)
                .await
                .map_err(db_err)?;
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO csc_sads (sad_hash, session_id, holder_id, client_id, mode, hashes, \
             remaining, created_micros, expires_micros) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(s.sad_hash.as_str())
        .bind(s.session_id)
        .bind(s.holder_id)
        .bind(s.client_id.as_str())
        .bind(s.mode.as_str())
        .bind(s.hashes.as_deref().map(hashes_to_stored))
        .bind(s.remaining)
        .bind(s.created_at.timestamp_micros())
        .bind(s.expires_at.timestamp_micros())
        .fetch_one(&mut *w.tx)
        .await
        .map_err(db_err)?;
        w.audit([event]).await?;
        w.commit().await?;
        Ok(id)
    }

    async fn record_refusal(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.append_event(event).await
    }

    async fn sad_by_hash(&self, sad_hash: &str) -> Result<Option<Sad>, StoreError> {
        sqlx::query(
            "SELECT id, sad_hash, session_id, holder_id, client_id, mode, hashes, remaining, \
             created_micros, expires_micros FROM csc_sads WHERE sad_hash = $1",
        )
        .bind(sad_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .map(|r| sad_from_row(&r))
        .transpose()
    }

    async fn spend_sad(
        &self,
        was: &Sad,
        used: i64,
        hashes_left: Option<&[Sha256Digest]>,
        guard: &SpendGuard,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        // Guarded by what was read: the count, and the hash list when bound (compared as
        // stored), so two requests spending the same SAD cannot both succeed; and by
        // everything a signature needs, read in this transaction ($1 the time, $2.. the guard).
        let device = if guard.device_id.is_some() {
            "EXISTS (SELECT 1 FROM device_credentials WHERE id = $6 AND holder_id = $2 AND state = 'active')"
        } else {
            "$6 IS NULL"
        };
        let may_sign = format!(
            "EXISTS (SELECT 1 FROM holders WHERE id = $2 AND status = 'active') \
             AND EXISTS (SELECT 1 FROM oidc_authorizations WHERE id = $3 AND holder_id = $2 \
                 AND ended_micros IS NULL AND session_expires_micros > $1) \
             AND EXISTS (SELECT 1 FROM certificates WHERE serial = $4 AND holder_id = $2 \
                 AND revoked_micros IS NULL AND not_before_micros <= $1 AND not_after_micros > $1) \
             AND EXISTS (SELECT 1 FROM oidc_clients WHERE client_id = $5 AND disabled_micros IS NULL) \
             AND NOT EXISTS (SELECT 1 FROM oidc_card_logins cl JOIN certificates cc \
                 ON cc.serial = cl.certificate_serial \
                 WHERE cl.authorization_id = $3 AND cc.revoked_micros IS NOT NULL) \
             AND {device}"
        );
        let guarded = |sql: String| {
            Guarded::new(sql)
                .int(at.timestamp_micros())
                .int(guard.holder_id)
                .int(guard.session_id)
                .text(guard.certificate.as_str())
                .text(guard.client_id.as_str())
                .opt_int(guard.device_id)
        };
        let update = match (&was.sad.hashes, hashes_left) {
            (Some(before), Some(left)) => guarded(format!(
                "UPDATE csc_sads SET remaining = remaining - $7, hashes = $8 \
                 WHERE id = $9 AND sad_hash = $10 AND remaining = $11 AND expires_micros > $1 \
                 AND hashes = $12 AND {may_sign}"
            ))
            .int(used)
            .text(hashes_to_stored(left))
            .int(was.id)
            .text(was.sad.sad_hash.as_str())
            .int(was.sad.remaining)
            .text(hashes_to_stored(before)),
            _ => guarded(format!(
                "UPDATE csc_sads SET remaining = remaining - $7 \
                 WHERE id = $8 AND sad_hash = $9 AND remaining >= $7 AND expires_micros > $1 \
                 AND {may_sign}"
            ))
            .int(used)
            .int(was.id)
            .text(was.sad.sad_hash.as_str()),
        };
        self.group.submit(update, event).await
    }

    async fn extend_sad(
        &self,
        id: i64,
        old_hash: &str,
        new_hash: &str,
        expires_at: DateTime<Utc>,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let update = Guarded::new(
            "UPDATE csc_sads SET sad_hash = $1, expires_micros = $2 \
             WHERE id = $3 AND sad_hash = $4 AND expires_micros > $5 AND remaining > 0",
        )
        .text(new_hash)
        .int(expires_at.timestamp_micros())
        .int(id)
        .text(old_hash)
        .int(at.timestamp_micros());
        self.group.submit(update, event).await
    }
}
