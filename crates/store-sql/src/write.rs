//! A write transaction that appends to the audit chain: the only way this crate changes state.

use std::sync::Arc;

use hpki_core::audit::{AuditEvent, ChainHead, StoredEvent};
use hpki_core::store::StoreError;
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::{audit_sql, db_err, Backend, SqlStore};

/// Rows per multi-row INSERT: well under both backends' limits on bound parameters.
pub(crate) const CHUNK: usize = 500;

impl SqlStore {
    /// Appends one event that records something refused (nothing else changes).
    pub(crate) async fn append_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let mut w = Write::begin(self).await?;
        w.audit([event]).await?;
        w.commit().await
    }
}

pub(crate) struct Write {
    pub(crate) tx: Transaction<'static, Any>,
    /// Held until the transaction ends (declared after `tx`, so dropped after it).
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    pub(crate) backend: Backend,
    head: ChainHead,
    appended: u64,
    /// The actions appended, counted once the transaction commits.
    actions: Vec<hpki_core::audit::Action>,
}

impl Write {
    /// Begins a transaction holding the chain head (see the crate docs for why it comes first).
    pub(crate) async fn begin(db: &SqlStore) -> Result<Self, StoreError> {
        Self::begin_on(&db.pool, db.backend, &db.sqlite_writer).await
    }

    /// The same on the parts of a store (for the group-commit writer task).
    pub(crate) async fn begin_on(
        pool: &AnyPool,
        backend: Backend,
        sqlite_writer: &Arc<tokio::sync::Mutex<()>>,
    ) -> Result<Self, StoreError> {
        let turn = crate::writer_turn(backend, sqlite_writer).await;
        let mut tx = pool.begin().await.map_err(db_err)?;
        let row = sqlx::query(audit_sql::LOCK_HEAD)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        let head = ChainHead {
            seq: row.try_get("seq").map_err(db_err)?,
            hash: row.try_get("hash").map_err(db_err)?,
        };
        Ok(Self {
            tx,
            _turn: turn,
            backend,
            head,
            appended: 0,
            actions: Vec::new(),
        })
    }

    /// Appends events to the chain in this transaction.
    pub(crate) async fn audit<'e>(
        &mut self,
        events: impl IntoIterator<Item = &'e AuditEvent>,
    ) -> Result<(), StoreError> {
        let mut chained = Vec::new();
        for ev in events {
            self.actions.push(ev.action);
            let stored = StoredEvent::chain(&self.head, ev);
            self.head = stored.head();
            chained.push(stored);
        }
        for chunk in chained.chunks(CHUNK) {
            let sql = multi_insert(
                self.backend,
                audit_sql::INSERT_EVENTS,
                audit_sql::EVENT_COLUMNS,
                chunk.len(),
            );
            let mut q = sqlx::query(&sql);
            for e in chunk {
                q = q
                    .bind(e.seq)
                    .bind(e.at_micros)
                    .bind(e.actor.as_str())
                    .bind(e.action.as_str())
                    .bind(e.target.as_str())
                    .bind(e.details.as_str())
                    .bind(e.prev_hash.as_str())
                    .bind(e.hash.as_str());
            }
            q.execute(&mut *self.tx).await.map_err(db_err)?;
        }
        self.appended += chained.len() as u64;
        Ok(())
    }

    /// Ends the transaction without writing anything (and gives up the writer's turn).
    #[cfg(test)]
    pub(crate) async fn rollback(self) -> Result<(), StoreError> {
        self.tx.rollback().await.map_err(db_err)
    }

    /// Moves the head and commits. A change without an audit event is a bug, so it is refused.
    /// For a change of one row: commits it with `event` if the statement changed exactly one
    /// row (`Ok(true)`), else writes nothing (`Ok(false)`: the row was not as expected).
    pub(crate) async fn commit_one_row(
        mut self,
        changed: sqlx::any::AnyQueryResult,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        if changed.rows_affected() != 1 {
            return Ok(false);
        }
        self.audit([event]).await?;
        self.commit().await?;
        Ok(true)
    }

    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        if self.appended == 0 {
            return Err(StoreError::Other(
                "refusing to commit a change that appended no audit event".into(),
            ));
        }
        sqlx::query(audit_sql::MOVE_HEAD)
            .bind(self.head.seq)
            .bind(self.head.hash.as_str())
            .execute(&mut *self.tx)
            .await
            .map_err(db_err)?;
        self.tx.commit().await.map_err(db_err)?;
        crate::audit_sql::count_committed(self.actions);
        Ok(())
    }
}

/// The `n`th (1-based) bound parameter. SQLite gets anonymous `?`: sqlx looks up each named
/// parameter by a linear scan in SQLite, which makes a 5,000-parameter statement quadratic.
pub(crate) fn placeholder(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => "?".to_owned(),
        Backend::Postgres => format!("${n}"),
    }
}

/// `prefix ($1, $2, …), ($n+1, …)` for `rows` rows of `cols` columns.
pub(crate) fn multi_insert(backend: Backend, prefix: &str, cols: usize, rows: usize) -> String {
    let mut sql = String::with_capacity(prefix.len() + rows * cols * 6);
    sql.push_str(prefix);
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..cols {
            if c > 0 {
                sql.push(',');
            }
            sql.push_str(&placeholder(backend, r * cols + c + 1));
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    use crate::Backend;

    #[test]
    fn multi_insert_numbers_placeholders() {
        let pg = super::multi_insert(Backend::Postgres, "INSERT INTO t VALUES ", 2, 2);
        assert_eq!(pg, "INSERT INTO t VALUES ($1,$2),($3,$4)");
        let lite = super::multi_insert(Backend::Sqlite, "INSERT INTO t VALUES ", 2, 2);
        assert_eq!(lite, "INSERT INTO t VALUES (?,?),(?,?)");
    }
}
