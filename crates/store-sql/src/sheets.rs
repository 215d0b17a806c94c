use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hpki_core::audit::AuditEvent;
use hpki_core::domain::sheet::{Sheet, SheetState, WrongPassword};
use hpki_core::domain::Holder;
use hpki_core::store::{NewSheet, RegistrationSession, SheetStore, StoreError};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::group::Guarded;
use crate::write::Write;
use crate::{corrupt, db_err, SqlStore};

const COLUMNS: &str =
    "id, holder_id, password_hash, state, failed_attempts, issued_micros, expires_micros";

fn time(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| corrupt("sheet"))
}

fn from_row(row: &AnyRow) -> Result<Sheet, StoreError> {
    let attempts: i64 = row.try_get("failed_attempts").map_err(db_err)?;
    Ok(Sheet {
        id: row.try_get("id").map_err(db_err)?,
        holder_id: row.try_get("holder_id").map_err(db_err)?,
        stored_state: SheetState::from_stored(&row.try_get::<String, _>("state").map_err(db_err)?)
            .ok_or_else(|| corrupt("sheet"))?,
        failed_attempts: u32::try_from(attempts).map_err(|_| corrupt("sheet"))?,
        issued_at: time(row.try_get("issued_micros").map_err(db_err)?)?,
        expires_at: time(row.try_get("expires_micros").map_err(db_err)?)?,
        password_hash: row.try_get("password_hash").map_err(db_err)?,
    })
}

async fn by_id(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: i64,
) -> Result<Sheet, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM sheets WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?;
    from_row(&row)
}

#[async_trait]
impl SheetStore for SqlStore {
    async fn issue_sheets(
        &self,
        batch: &[(NewSheet, AuditEvent)],
        superseded: &(dyn Fn(i64, i64) -> AuditEvent + Send + Sync),
    ) -> Result<Vec<Sheet>, StoreError> {
        let mut w = Write::begin(self).await?;
        let mut events: Vec<AuditEvent> = Vec::with_capacity(batch.len() + 4);
        let mut ids = Vec::with_capacity(batch.len());
        for (sheet, issued) in batch {
            // The holder's sheets that a new one replaces: usable ones, and locked ones (whose
            // page then says a newer sheet was issued, not to ask for one).
            let old: Vec<i64> = sqlx::query_scalar(
                "SELECT id FROM sheets WHERE holder_id = $1 AND state IN ($2, $3)",
            )
            .bind(sheet.holder_id)
            .bind(SheetState::Active.as_str())
            .bind(SheetState::Locked.as_str())
            .fetch_all(&mut *w.tx)
            .await
            .map_err(db_err)?;
            if !old.is_empty() {
                sqlx::query(
                    "UPDATE sheets SET state = $1 WHERE holder_id = $2 AND state IN ($3, $4)",
                )
                .bind(SheetState::Superseded.as_str())
                .bind(sheet.holder_id)
                .bind(SheetState::Active.as_str())
                .bind(SheetState::Locked.as_str())
                .execute(&mut *w.tx)
                .await
                .map_err(db_err)?;
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO sheets (holder_id, token_hash, password_hash, state, failed_attempts, issued_micros, expires_micros) \
                 VALUES ($1, $2, $3, $4, 0, $5, $6) RETURNING id",
            )
            .bind(sheet.holder_id)
            .bind(sheet.token_hash.as_str())
            .bind(sheet.password_hash.as_str())
            .bind(SheetState::Active.as_str())
            .bind(sheet.issued_at.timestamp_micros())
            .bind(sheet.expires_at.timestamp_micros())
            .fetch_one(&mut *w.tx)
            .await
            .map_err(db_err)?;
            events.extend(old.iter().map(|o| superseded(sheet.holder_id, *o)));
            events.push(issued.clone());
            ids.push(id);
        }
        w.audit(events.iter()).await?;
        let mut stored = Vec::with_capacity(ids.len());
        for id in ids {
            stored.push(by_id(&mut w.tx, id).await?);
        }
        w.commit().await?;
        Ok(stored)
    }

    async fn holders_without_sheet(
        &self,
        now: DateTime<Utc>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<Holder>, StoreError> {
        crate::holders::without_sheet(self, now, after_id, limit).await
    }

    async fn sheet_by_token_hash(&self, token_hash: &str) -> Result<Option<Sheet>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM sheets WHERE token_hash = $1");
        let row = sqlx::query(&sql)
            .bind(token_hash.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(from_row).transpose()
    }

    async fn sheets_of_holder(&self, holder_id: i64) -> Result<Vec<Sheet>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM sheets WHERE holder_id = $1 ORDER BY id");
        let rows = sqlx::query(&sql)
            .bind(holder_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(from_row).collect()
    }

    async fn record_wrong_password(
        &self,
        sheet_id: i64,
        seen_attempts: u32,
        next: WrongPassword,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        let mut w = Write::begin(self).await?;
        // Compare-and-set on the count the service decided from: the rule is the domain's,
        // the atomicity the database's.
        let changed = sqlx::query(
            "UPDATE sheets SET failed_attempts = $1, state = $2 \
             WHERE id = $3 AND state = $4 AND failed_attempts = $5",
        )
        .bind(i64::from(next.failed_attempts))
        .bind(next.state.as_str())
        .bind(sheet_id)
        .bind(SheetState::Active.as_str())
        .bind(i64::from(seen_attempts))
        .execute(&mut *w.tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        w.audit(events).await?;
        w.commit().await?;
        Ok(true)
    }

    async fn end_sheet(
        &self,
        sheet_id: i64,
        to: SheetState,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let update = Guarded::new("UPDATE sheets SET state = $1 WHERE id = $2 AND state = $3")
            .text(to.as_str())
            .int(sheet_id)
            .text(SheetState::Active.as_str());
        self.group.submit(update, event).await
    }

    async fn open_registration(
        &self,
        session: &RegistrationSession,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut w = Write::begin(self).await?;
        let still_active =
            sqlx::query("UPDATE sheets SET failed_attempts = 0 WHERE id = $1 AND state = $2")
                .bind(session.sheet_id)
                .bind(SheetState::Active.as_str())
                .execute(&mut *w.tx)
                .await
                .map_err(db_err)?
                .rows_affected();
        if still_active == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM registration_sessions WHERE expires_micros < $1")
            .bind(session.created_at.timestamp_micros())
            .execute(&mut *w.tx)
            .await
            .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO registration_sessions (id_hash, sheet_id, holder_id, created_micros, expires_micros) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(session.id_hash.as_str())
        .bind(session.sheet_id)
        .bind(session.holder_id)
        .bind(session.created_at.timestamp_micros())
        .bind(session.expires_at.timestamp_micros())
        .execute(&mut *w.tx)
        .await
        .map_err(db_err)?;
        w.audit([event]).await?;
        w.commit().await?;
        Ok(true)
    }

    async fn registration(
        &self,
        id_hash: &str,
    ) -> Result<Option<(RegistrationSession, Sheet, Holder)>, StoreError> {
        let sql = format!(
            "SELECT rs.id_hash, rs.sheet_id, rs.holder_id AS rs_holder_id, rs.created_micros AS rs_created, \
             rs.expires_micros AS rs_expires, rs.signed_in_device, rs.signed_in_micros, s.password_hash, s.state AS s_state, \
             s.failed_attempts, s.issued_micros, s.expires_micros, {} \
             FROM registration_sessions rs JOIN sheets s ON s.id = rs.sheet_id \
             JOIN holders h ON h.id = rs.holder_id WHERE rs.id_hash = $1",
            crate::holders::H_COLUMNS
        );
        let row = sqlx::query(&sql)
            .bind(id_hash.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let session = RegistrationSession {
            id_hash: row.try_get("id_hash").map_err(db_err)?,
            sheet_id: row.try_get("sheet_id").map_err(db_err)?,
            holder_id: row.try_get("rs_holder_id").map_err(db_err)?,
            created_at: time(row.try_get("rs_created").map_err(db_err)?)?,
            expires_at: time(row.try_get("rs_expires").map_err(db_err)?)?,
            signed_in: match (
                row.try_get::<Option<i64>, _>("signed_in_device")
                    .map_err(db_err)?,
                row.try_get::<Option<i64>, _>("signed_in_micros")
                    .map_err(db_err)?,
            ) {
                (Some(device), Some(at)) => Some((device, time(at)?)),
                _ => None,
            },
        };
        let attempts: i64 = row.try_get("failed_attempts").map_err(db_err)?;
        let sheet = Sheet {
            id: session.sheet_id,
            holder_id: session.holder_id,
            stored_state: SheetState::from_stored(
                &row.try_get::<String, _>("s_state").map_err(db_err)?,
            )
            .ok_or_else(|| corrupt("sheet"))?,
            failed_attempts: u32::try_from(attempts).map_err(|_| corrupt("sheet"))?,
            issued_at: time(row.try_get("issued_micros").map_err(db_err)?)?,
            expires_at: time(row.try_get("expires_micros").map_err(db_err)?)?,
            password_hash: row.try_get("password_hash").map_err(db_err)?,
        };
        let holder = crate::holders::from_row(&row)?;
        Ok(Some((session, sheet, holder)))
    }

    async fn mark_signed_in(
        &self,
        id_hash: &str,
        device_id: i64,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let update = crate::group::Guarded::new(
            "UPDATE registration_sessions SET signed_in_device = $1, signed_in_micros = $2 \
             WHERE id_hash = $3 AND expires_micros > $4",
        )
        .int(device_id)
        .int(at.timestamp_micros())
        .text(id_hash)
        .int(at.timestamp_micros());
        self.group.submit(update, event).await
    }

    async fn sheets_expiring(&self, before: DateTime<Utc>) -> Result<Vec<Sheet>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM sheets WHERE state = $1 AND expires_micros < $2 ORDER BY expires_micros");
        let rows = sqlx::query(&sql)
            .bind(SheetState::Active.as_str())
            .bind(before.timestamp_micros())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(from_row).collect()
    }
}
