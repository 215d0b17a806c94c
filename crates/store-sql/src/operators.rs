use hpki_core::audit::AuditEvent;
use hpki_core::store::{Operator, StoreError};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::write::Write;
use crate::{corrupt, db_err, SqlStore};

fn from_row(row: &AnyRow) -> Result<Operator, StoreError> {
    let micros: i64 = row.try_get("created_micros").map_err(db_err)?;
    Ok(Operator {
        id: row.try_get("id").map_err(db_err)?,
        name: row.try_get("name").map_err(db_err)?,
        created_at: chrono::DateTime::from_timestamp_micros(micros)
            .ok_or_else(|| corrupt("operator"))?,
    })
}

pub(crate) async fn insert(
    db: &SqlStore,
    name: &str,
    token_hash: &str,
    event: &AuditEvent,
) -> Result<Operator, StoreError> {
    let mut w = Write::begin(db).await?;
    let row = sqlx::query(
        "INSERT INTO operators (name, token_hash, created_micros) VALUES ($1, $2, $3) RETURNING id, name, created_micros",
    )
    .bind(name)
    .bind(token_hash)
    .bind(event.at.timestamp_micros())
    .fetch_one(&mut *w.tx)
    .await
    .map_err(db_err)?;
    let op = from_row(&row)?;
    w.audit([event]).await?;
    w.commit().await?;
    Ok(op)
}

pub(crate) async fn by_token_hash(
    db: &SqlStore,
    token_hash: &str,
) -> Result<Option<Operator>, StoreError> {
    let row = sqlx::query("SELECT id, name, created_micros FROM operators WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(&db.pool)
        .await
        .map_err(db_err)?;
    row.as_ref().map(from_row).transpose()
}
