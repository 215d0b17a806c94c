//! Requests under dual control (see `ApprovalStore`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hpki_core::audit::AuditEvent;
use hpki_core::domain::request::Request;
use hpki_core::store::{ApprovalRequest, ApprovalState, ApprovalStore, StoreError};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::group::Guarded;
use crate::write::Write;
use crate::{corrupt, db_err, SqlStore};

const COLUMNS: &str = "id, action, holder, params, reason, requested_by, requested_micros, \
                       expires_micros, state, decided_by, decided_micros, result";

fn time(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| corrupt("approval request"))
}

fn from_row(row: &AnyRow) -> Result<ApprovalRequest, StoreError> {
    let action: String = row.try_get("action").map_err(db_err)?;
    let holder: String = row.try_get("holder").map_err(db_err)?;
    let params: String = row.try_get("params").map_err(db_err)?;
    Ok(ApprovalRequest {
        id: row.try_get("id").map_err(db_err)?,
        request: Request::from_stored(&action, &holder, &params)
            .ok_or_else(|| corrupt("approval request"))?,
        reason: row.try_get("reason").map_err(db_err)?,
        requested_by: row.try_get("requested_by").map_err(db_err)?,
        requested_at: time(row.try_get("requested_micros").map_err(db_err)?)?,
        expires_at: time(row.try_get("expires_micros").map_err(db_err)?)?,
        state: ApprovalState::from_stored(&row.try_get::<String, _>("state").map_err(db_err)?)
            .ok_or_else(|| corrupt("approval request"))?,
        decided_by: row.try_get("decided_by").map_err(db_err)?,
        decided_at: row
            .try_get::<Option<i64>, _>("decided_micros")
            .map_err(db_err)?
            .map(time)
            .transpose()?,
        result: row.try_get("result").map_err(db_err)?,
    })
}

#[async_trait]
impl ApprovalStore for SqlStore {
    async fn insert_request(
        &self,
        r: &ApprovalRequest,
        event: &AuditEvent,
    ) -> Result<i64, StoreError> {
        let (action, holder, params) = r.request.to_stored();
        let mut w = Write::begin(self).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO approval_requests (action, holder, params, reason, requested_by, \
             requested_micros, expires_micros, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             RETURNING id",
        )
        .bind(action)
        .bind(holder)
        .bind(params)
        .bind(r.reason.as_str())
        .bind(r.requested_by.as_str())
        .bind(r.requested_at.timestamp_micros())
        .bind(r.expires_at.timestamp_micros())
        .bind(ApprovalState::Pending.as_str())
        .fetch_one(&mut *w.tx)
        .await
        .map_err(db_err)?;
        // The event names the request by the id it got here.
        let mut details: serde_json::Value =
            serde_json::from_str(&event.details).unwrap_or_else(|_| serde_json::json!({}));
        details["request"] = serde_json::json!(id);
        let event = AuditEvent::new(
            event.at,
            &event.actor,
            event.action,
            event.target.clone(),
            details,
        );
        w.audit([&event]).await?;
        w.commit().await?;
        Ok(id)
    }

    async fn request(&self, id: i64) -> Result<Option<ApprovalRequest>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM approval_requests WHERE id = $1");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    async fn pending_requests(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<ApprovalRequest>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM approval_requests WHERE state = $1 AND expires_micros > $2 ORDER BY id"
        );
        let rows = sqlx::query(&sql)
            .bind(ApprovalState::Pending.as_str())
            .bind(now.timestamp_micros())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(from_row).collect()
    }

    async fn decide_request(
        &self,
        id: i64,
        to: ApprovalState,
        by: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let update = Guarded::new(
            "UPDATE approval_requests SET state = $1, decided_by = $2, decided_micros = $3 \
             WHERE id = $4 AND state = $5 AND expires_micros > $3",
        )
        .text(to.as_str())
        .text(by)
        .int(at.timestamp_micros())
        .int(id)
        .text(ApprovalState::Pending.as_str());
        self.group.submit(update, event).await
    }

    async fn claim_request(
        &self,
        id: i64,
        result: &str,
        now: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let update = Guarded::new(
            "UPDATE approval_requests SET result = $1 WHERE id = $2 AND state = $3 \
             AND result IS NULL AND expires_micros > $4",
        )
        .text(result)
        .int(id)
        .text(ApprovalState::Approved.as_str())
        .int(now.timestamp_micros());
        self.group.submit(update, event).await
    }

    async fn record_result(
        &self,
        id: i64,
        result: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let update = Guarded::new("UPDATE approval_requests SET result = $1 WHERE id = $2")
            .text(result)
            .int(id);
        self.group.submit(update, event).await?;
        Ok(())
    }
}
