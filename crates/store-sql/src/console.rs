//! Operators' enrolment links and console sessions (see `ConsoleStore`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hpki_core::audit::AuditEvent;
use hpki_core::store::{ConsoleSession, ConsoleStore, OperatorEnrolment, OperatorId, StoreError};
use sqlx::Row;

use crate::group::Guarded;
use crate::write::Write;
use crate::{corrupt, db_err, SqlStore};

fn time(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| corrupt("console"))
}

#[async_trait]
impl ConsoleStore for SqlStore {
    async fn insert_enrolment(
        &self,
        token_hash: &str,
        e: &OperatorEnrolment,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut w = Write::begin(self).await?;
        sqlx::query(
            "INSERT INTO operator_enrolments (token_hash, operator_id, created_micros, expires_micros) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(e.operator_id.0)
        .bind(event.at.timestamp_micros())
        .bind(e.expires_at.timestamp_micros())
        .execute(&mut *w.tx)
        .await
        .map_err(db_err)?;
        w.audit([event]).await?;
        w.commit().await
    }

    async fn enrolment(&self, token_hash: &str) -> Result<Option<OperatorEnrolment>, StoreError> {
        let row = sqlx::query(
            "SELECT operator_id, expires_micros, used_micros FROM operator_enrolments WHERE token_hash = $1",
        )
        .bind(token_hash.to_owned())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(OperatorEnrolment {
            operator_id: OperatorId(row.try_get("operator_id").map_err(db_err)?),
            expires_at: time(row.try_get("expires_micros").map_err(db_err)?)?,
            used_at: row
                .try_get::<Option<i64>, _>("used_micros")
                .map_err(db_err)?
                .map(time)
                .transpose()?,
        }))
    }

    async fn use_enrolment(
        &self,
        token_hash: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let update = Guarded::new(
            "UPDATE operator_enrolments SET used_micros = $1 \
             WHERE token_hash = $2 AND used_micros IS NULL AND expires_micros > $3",
        )
        .int(at.timestamp_micros())
        .text(token_hash)
        .int(at.timestamp_micros());
        self.group.submit(update, event).await
    }

    async fn insert_console_session(
        &self,
        s: &ConsoleSession,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut w = Write::begin(self).await?;
        sqlx::query(
            "INSERT INTO console_sessions (token_hash, operator_id, credential_id, created_micros, \
             seen_micros, expires_micros, reauth_micros) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(s.token_hash.as_str())
        .bind(s.operator_id.0)
        .bind(s.credential_id)
        .bind(s.created_at.timestamp_micros())
        .bind(s.seen_at.timestamp_micros())
        .bind(s.expires_at.timestamp_micros())
        .bind(s.reauth_at.timestamp_micros())
        .execute(&mut *w.tx)
        .await
        .map_err(db_err)?;
        w.audit([event]).await?;
        w.commit().await
    }

    async fn console_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        let row = sqlx::query(
            "SELECT token_hash, operator_id, credential_id, created_micros, seen_micros, \
             expires_micros, reauth_micros, ended_micros FROM console_sessions WHERE token_hash = $1",
        )
        .bind(token_hash.to_owned())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(ConsoleSession {
            token_hash: row.try_get("token_hash").map_err(db_err)?,
            operator_id: OperatorId(row.try_get("operator_id").map_err(db_err)?),
            credential_id: row.try_get("credential_id").map_err(db_err)?,
            created_at: time(row.try_get("created_micros").map_err(db_err)?)?,
            seen_at: time(row.try_get("seen_micros").map_err(db_err)?)?,
            expires_at: time(row.try_get("expires_micros").map_err(db_err)?)?,
            reauth_at: time(row.try_get("reauth_micros").map_err(db_err)?)?,
            ended_at: row
                .try_get::<Option<i64>, _>("ended_micros")
                .map_err(db_err)?
                .map(time)
                .transpose()?,
        }))
    }

    async fn touch_console_session(
        &self,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let _turn = self.writer_turn().await;
        sqlx::query("UPDATE console_sessions SET seen_micros = $1 WHERE token_hash = $2 AND ended_micros IS NULL")
            .bind(at.timestamp_micros())
            .bind(token_hash.to_owned())
            .execute(&self.ephemeral)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn reauthenticated(
        &self,
        token_hash: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let update = Guarded::new(
            "UPDATE console_sessions SET reauth_micros = $1, seen_micros = $1 \
             WHERE token_hash = $2 AND ended_micros IS NULL AND expires_micros > $1",
        )
        .int(at.timestamp_micros())
        .text(token_hash);
        self.group.submit(update, event).await
    }

    async fn end_console_session(
        &self,
        token_hash: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let update = Guarded::new(
            "UPDATE console_sessions SET ended_micros = $1 WHERE token_hash = $2 AND ended_micros IS NULL",
        )
        .int(at.timestamp_micros())
        .text(token_hash);
        self.group.submit(update, event).await
    }
}
