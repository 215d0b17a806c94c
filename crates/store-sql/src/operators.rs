use chrono::{DateTime, Utc};
use hpki_core::audit::AuditEvent;
use hpki_core::store::{Operator, OperatorChange, OperatorId, OperatorRole, StoreError};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::write::Write;
use crate::{corrupt, db_err, SqlStore};

const COLUMNS: &str = "id, name, role, created_micros, token_expires_micros, \
                       token_revoked_micros, disabled_micros, last_used_micros";

fn from_row(row: &AnyRow) -> Result<Operator, StoreError> {
    let time =
        |micros: i64| DateTime::from_timestamp_micros(micros).ok_or_else(|| corrupt("operator"));
    let optional = |column: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        let micros: Option<i64> = row.try_get(column).map_err(db_err)?;
        micros.map(time).transpose()
    };
    Ok(Operator {
        id: OperatorId(row.try_get("id").map_err(db_err)?),
        name: row.try_get("name").map_err(db_err)?,
        role: OperatorRole::parse(&row.try_get::<String, _>("role").map_err(db_err)?)
            .ok_or_else(|| corrupt("operator"))?,
        created_at: time(row.try_get("created_micros").map_err(db_err)?)?,
        token_expires_at: optional("token_expires_micros")?,
        token_revoked_at: optional("token_revoked_micros")?,
        disabled_at: optional("disabled_micros")?,
        last_used_at: optional("last_used_micros")?,
    })
}

pub(crate) async fn insert(
    db: &SqlStore,
    name: &str,
    role: OperatorRole,
    token_hash: &str,
    expires_at: Option<DateTime<Utc>>,
    event: &AuditEvent,
) -> Result<Operator, StoreError> {
    let mut w = Write::begin(db).await?;
    let sql = format!(
        "INSERT INTO operators (name, role, token_hash, created_micros, token_expires_micros) \
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(name)
        .bind(role.as_str())
        .bind(token_hash)
        .bind(event.at.timestamp_micros())
        .bind(expires_at.map(|t| t.timestamp_micros()))
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
    let sql = format!("SELECT {COLUMNS} FROM operators WHERE token_hash = $1");
    let row = sqlx::query(&sql)
        .bind(token_hash)
        .fetch_optional(&db.pool)
        .await
        .map_err(db_err)?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn all(db: &SqlStore) -> Result<Vec<Operator>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM operators ORDER BY name");
    let rows = sqlx::query(&sql)
        .fetch_all(&db.pool)
        .await
        .map_err(db_err)?;
    rows.iter().map(from_row).collect()
}

/// Runs one guarded UPDATE of the named operator and audits it; the operator afterwards, or
/// `None` (nothing written) when there is no such operator.
async fn update_one(
    db: &SqlStore,
    name: &str,
    set: &str,
    binds: &[Option<i64>],
    hash: Option<&str>,
    event: &AuditEvent,
) -> Result<Option<Operator>, StoreError> {
    let mut w = Write::begin(db).await?;
    let sql = format!("UPDATE operators SET {set} WHERE name = $1 RETURNING {COLUMNS}");
    let mut q = sqlx::query(&sql).bind(name);
    if let Some(h) = hash {
        q = q.bind(h);
    }
    for b in binds {
        q = q.bind(*b);
    }
    let Some(row) = q.fetch_optional(&mut *w.tx).await.map_err(db_err)? else {
        return Ok(None);
    };
    let op = from_row(&row)?;
    w.audit([event]).await?;
    w.commit().await?;
    Ok(Some(op))
}

pub(crate) async fn replace_token(
    db: &SqlStore,
    name: &str,
    token_hash: &str,
    expires_at: Option<DateTime<Utc>>,
    event: &AuditEvent,
) -> Result<Option<Operator>, StoreError> {
    update_one(
        db,
        name,
        "token_hash = $2, token_expires_micros = $3, token_revoked_micros = NULL, last_used_micros = NULL",
        &[expires_at.map(|t| t.timestamp_micros())],
        Some(token_hash),
        event,
    )
    .await
}

pub(crate) async fn change(
    db: &SqlStore,
    name: &str,
    change: OperatorChange,
    event: &AuditEvent,
) -> Result<Option<Operator>, StoreError> {
    let at = Some(event.at.timestamp_micros());
    let (set, binds): (&str, &[Option<i64>]) = match change {
        OperatorChange::RevokeToken => ("token_revoked_micros = $2", &[at]),
        OperatorChange::Disable => ("disabled_micros = $2", &[at]),
        OperatorChange::Enable => ("disabled_micros = NULL", &[]),
    };
    update_one(db, name, set, binds, None, event).await
}

pub(crate) async fn note_use(
    db: &SqlStore,
    id: i64,
    at: DateTime<Utc>,
    every: chrono::Duration,
) -> Result<(), StoreError> {
    let _turn = db.writer_turn().await;
    sqlx::query(
        "UPDATE operators SET last_used_micros = $1 \
         WHERE id = $2 AND (last_used_micros IS NULL OR last_used_micros < $3)",
    )
    .bind(at.timestamp_micros())
    .bind(id)
    .bind((at - every).timestamp_micros())
    .execute(&db.pool)
    .await
    .map_err(db_err)?;
    Ok(())
}
