//! The device authorization grant (RFC 8628): requests, the phone that entered a user code,
//! refusals and polls.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hpki_core::audit::AuditEvent;
use hpki_core::domain::csc::CredentialConsent;
use hpki_core::domain::device_grant::{DeviceGrant, NewDeviceGrant, Poll};
use hpki_core::domain::oidc::{Authorization, ClientId, DEVICE_CODE_GRANT};
use hpki_core::store::{DeviceGrantStore, StoreError};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::oidc::{authorization_from_row, opt_time, time, AUTHORIZATION_COLUMNS};
use crate::write::Write;
use crate::{corrupt, db_err, SqlStore};

/// A grant's columns, and the login of the phone that entered its user code (the login whose
/// code is the device code).
const COLUMNS: &str = "g.id, g.device_code_hash, g.user_code_hash, g.client_id, g.scope, \
     g.created_micros, g.expires_micros, g.interval_secs, a.id AS authorization_id, \
     g.denied_micros, g.last_poll_micros, g.consent";

fn from_row(row: &AnyRow) -> Result<DeviceGrant, StoreError> {
    Ok(DeviceGrant {
        id: row.try_get("id").map_err(db_err)?,
        request: NewDeviceGrant {
            device_code_hash: row.try_get("device_code_hash").map_err(db_err)?,
            user_code_hash: row.try_get("user_code_hash").map_err(db_err)?,
            client_id: ClientId::parse(&row.try_get::<String, _>("client_id").map_err(db_err)?)
                .map_err(|_| corrupt("device grant"))?,
            scope: row.try_get("scope").map_err(db_err)?,
            created_at: time(row.try_get("created_micros").map_err(db_err)?)?,
            expires_at: time(row.try_get("expires_micros").map_err(db_err)?)?,
            interval_secs: row.try_get("interval_secs").map_err(db_err)?,
            consent: row
                .try_get::<Option<String>, _>("consent")
                .map_err(db_err)?
                .map(|c| CredentialConsent::from_stored(&c).ok_or_else(|| corrupt("device grant")))
                .transpose()?,
        },
        authorization_id: row.try_get("authorization_id").map_err(db_err)?,
        denied_at: opt_time(row, "denied_micros")?,
        last_poll_at: opt_time(row, "last_poll_micros")?,
    })
}

impl SqlStore {
    async fn device_grant_where(
        &self,
        column: &'static str,
        value: sqlx::any::AnyArguments<'static>,
    ) -> Result<Option<DeviceGrant>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM oidc_device_grants g \
             LEFT JOIN oidc_authorizations a ON a.code_hash = g.device_code_hash \
             WHERE g.{column} = $1"
        );
        let row = sqlx::query_with(&sql, value)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(from_row).transpose()
    }
}

fn one_text(v: &str) -> sqlx::any::AnyArguments<'static> {
    use sqlx::Arguments;
    let mut args = sqlx::any::AnyArguments::default();
    // Adding a String to AnyArguments cannot fail.
    let _ = args.add(v.to_owned());
    args
}

#[async_trait]
impl DeviceGrantStore for SqlStore {
    async fn insert_device_grant(&self, g: &NewDeviceGrant) -> Result<bool, StoreError> {
        // On the ephemeral connections, like an authorization request (see the trait).
        let _turn = self.writer_turn().await;
        // Grants long over are swept now and then (one insert in 64, by the user code's hash).
        self.sweep_now_and_then(
            &g.user_code_hash,
            "DELETE FROM oidc_device_grants WHERE expires_micros < $1",
            g.created_at - chrono::Duration::days(1),
        )
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO oidc_device_grants (device_code_hash, user_code_hash, client_id, scope, \
             created_micros, expires_micros, interval_secs, consent) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(g.device_code_hash.as_str())
        .bind(g.user_code_hash.as_str())
        .bind(g.client_id.as_str())
        .bind(g.scope.as_str())
        .bind(g.created_at.timestamp_micros())
        .bind(g.expires_at.timestamp_micros())
        .bind(g.interval_secs)
        .bind(g.consent.as_ref().map(CredentialConsent::to_stored))
        .execute(&self.ephemeral)
        .await
        .map_err(db_err)?;
        Ok(inserted.rows_affected() == 1)
    }

    async fn device_grant_by_user_code(
        &self,
        user_code_hash: &str,
    ) -> Result<Option<DeviceGrant>, StoreError> {
        self.device_grant_where("user_code_hash", one_text(user_code_hash))
            .await
    }

    async fn device_grant_by_code(
        &self,
        device_code_hash: &str,
    ) -> Result<Option<DeviceGrant>, StoreError> {
        self.device_grant_where("device_code_hash", one_text(device_code_hash))
            .await
    }

    async fn enter_device_grant(
        &self,
        user_code_hash: &str,
        login_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Authorization>, StoreError> {
        // One insert on the ephemeral connections, like the code flow's authorization request:
        // the login made from the waiting grant, holding its device code, whose uniqueness
        // lets one phone in.
        let _turn = self.writer_turn().await;
        let sql = format!(
            "INSERT INTO oidc_authorizations (login_hash, client_id, grant_type, redirect_uri, \
             scope, code_challenge, created_micros, login_expires_micros, consent, code_hash) \
             SELECT $1, client_id, $2, '', scope, '', created_micros, expires_micros, consent, \
             device_code_hash FROM oidc_device_grants \
             WHERE user_code_hash = $3 AND denied_micros IS NULL AND expires_micros > $4 \
             ON CONFLICT (code_hash) DO NOTHING RETURNING {AUTHORIZATION_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(login_hash)
            .bind(DEVICE_CODE_GRANT)
            .bind(user_code_hash)
            .bind(at.timestamp_micros())
            .fetch_optional(&self.ephemeral)
            .await
            .map_err(db_err)?;
        row.as_ref().map(authorization_from_row).transpose()
    }

    async fn deny_device_grant(
        &self,
        grant: i64,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut w = Write::begin(self).await?;
        let at = at.timestamp_micros();
        let denied = sqlx::query(
            "UPDATE oidc_device_grants SET denied_micros = $1 WHERE id = $2 \
             AND denied_micros IS NULL AND expires_micros > $1 \
             AND EXISTS (SELECT 1 FROM oidc_authorizations a \
                 WHERE a.code_hash = oidc_device_grants.device_code_hash AND a.holder_id IS NULL)",
        )
        .bind(at)
        .bind(grant)
        .execute(&mut *w.tx)
        .await
        .map_err(db_err)?;
        if denied.rows_affected() == 0 {
            drop(w);
            return Ok(false);
        }
        sqlx::query(
            "UPDATE oidc_authorizations SET ended_micros = $1, end_reason = 'refused on the phone' \
             WHERE code_hash = (SELECT device_code_hash FROM oidc_device_grants WHERE id = $2) \
             AND ended_micros IS NULL",
        )
        .bind(at)
        .bind(grant)
        .execute(&mut *w.tx)
        .await
        .map_err(db_err)?;
        w.audit([event]).await?;
        w.commit().await?;
        Ok(true)
    }

    async fn poll_device_grant(&self, grant: i64, at: DateTime<Utc>) -> Result<Poll, StoreError> {
        // One statement each, on the ephemeral connections like other bookkeeping of requests
        // (nothing here is audited: a poll changes nothing the holder did).
        let _turn = self.writer_turn().await;
        let at = at.timestamp_micros();
        let on_time = sqlx::query(
            "UPDATE oidc_device_grants SET last_poll_micros = $1 WHERE id = $2 \
             AND (last_poll_micros IS NULL OR last_poll_micros + interval_secs * 1000000 <= $1)",
        )
        .bind(at)
        .bind(grant)
        .execute(&self.ephemeral)
        .await
        .map_err(db_err)?;
        if on_time.rows_affected() > 0 {
            return Ok(Poll::Pending);
        }
        sqlx::query(
            "UPDATE oidc_device_grants SET interval_secs = interval_secs + 5, \
             last_poll_micros = $1 WHERE id = $2",
        )
        .bind(at)
        .bind(grant)
        .execute(&self.ephemeral)
        .await
        .map_err(db_err)?;
        Ok(Poll::TooSoon)
    }
}
