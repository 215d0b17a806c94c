//! The group-commit writer on SQLite: a thread with a connection of its own, which writes each
//! batch from `BEGIN IMMEDIATE` to `COMMIT` without waiting for any other thread.
//!
//! It is a second connection to the file the pool uses, through the same SQLite library (one
//! copy, so SQLite's locks see both). It takes the in-process writer's turn like every other
//! writer, so the pool's writers and this one never meet SQLite's busy handler.

use std::path::Path;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;

use hpki_core::audit::{ChainHead, StoredEvent};
use hpki_core::store::StoreError;
use rusqlite::{ffi, params, Connection, OpenFlags, TransactionBehavior};

use super::{answer, Guarded, Job, Param, Stats, MAX_BATCH};

/// Opens the writer's connection and starts its thread.
pub(super) fn start(
    file: &Path,
    turn: Arc<tokio::sync::Mutex<()>>,
    queue: Receiver<Job>,
    stats: Arc<Stats>,
) -> Result<(), StoreError> {
    let unavailable = |e: &dyn std::fmt::Display| {
        StoreError::Unavailable(format!("cannot open {} for writing: {e}", file.display()))
    };
    // The pool created the file: the writer must not make another one somewhere else.
    let conn = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| unavailable(&e))?;
    // As the pool's durable connections: every committed change survives a power cut.
    conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
        .map_err(|e| unavailable(&e))?;
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
        .map_err(|e| unavailable(&e))?;
    conn.busy_timeout(Duration::from_secs(30))
        .map_err(|e| unavailable(&e))?;
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || run(conn, &turn, &queue, &stats))
        .map(|_| ())
        .map_err(|e| unavailable(&e))
}

fn run(mut conn: Connection, turn: &tokio::sync::Mutex<()>, queue: &Receiver<Job>, stats: &Stats) {
    while let Ok(first) = queue.recv() {
        let mut jobs = vec![first];
        jobs.extend(queue.try_iter().take(MAX_BATCH - 1));
        let started = std::time::Instant::now();
        let outcome = write(&mut conn, turn, &jobs);
        stats.count(jobs.len(), started.elapsed());
        for job in answer(jobs, outcome) {
            let one = write(&mut conn, turn, std::slice::from_ref(&job));
            job.answer_alone(one);
        }
    }
}

/// One transaction for `jobs`: which of them changed a row.
fn write(
    conn: &mut Connection,
    turn: &tokio::sync::Mutex<()>,
    jobs: &[Job],
) -> Result<Vec<bool>, StoreError> {
    let _turn = turn.blocking_lock();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite_err)?;
    let mut changed = Vec::with_capacity(jobs.len());
    for job in jobs {
        changed.push(execute(&tx, &job.update)? > 0);
    }
    if changed.contains(&true) {
        let mut head = tx
            .query_row(crate::audit_sql::READ_HEAD, [], |r| {
                Ok(ChainHead {
                    seq: r.get(0)?,
                    hash: r.get(1)?,
                })
            })
            .map_err(sqlite_err)?;
        {
            let mut insert = tx
                .prepare_cached(crate::audit_sql::INSERT_ONE_EVENT)
                .map_err(sqlite_err)?;
            for (job, _) in jobs.iter().zip(&changed).filter(|(_, c)| **c) {
                let e = StoredEvent::chain(&head, &job.event);
                insert
                    .execute(params![
                        e.seq,
                        e.at_micros,
                        e.actor,
                        e.action,
                        e.target,
                        e.details,
                        e.prev_hash,
                        e.hash
                    ])
                    .map_err(sqlite_err)?;
                head = e.head();
            }
        }
        tx.execute(crate::audit_sql::MOVE_HEAD, params![head.seq, head.hash])
            .map_err(sqlite_err)?;
        tx.commit().map_err(sqlite_err)?;
        crate::audit_sql::count_committed(
            jobs.iter()
                .zip(&changed)
                .filter(|(_, c)| **c)
                .map(|(job, _)| job.event.action),
        );
    }
    // Nothing changed: the transaction is rolled back as it is dropped.
    Ok(changed)
}

/// Runs a guarded update; its parameters are named `$1`, `$2`… as for the pool (in any order,
/// each as often as needed).
fn execute(tx: &rusqlite::Transaction<'_>, update: &Guarded) -> Result<usize, StoreError> {
    let mut stmt = tx.prepare_cached(&update.sql).map_err(sqlite_err)?;
    let mut anonymous = 0;
    for i in 1..=stmt.parameter_count() {
        let n = match stmt.parameter_name(i) {
            Some(name) => name
                .strip_prefix(['$', '?'])
                .and_then(|n| n.parse::<usize>().ok()),
            None => {
                anonymous += 1;
                Some(anonymous)
            }
        };
        let Some(param) = n
            .and_then(|n| n.checked_sub(1))
            .and_then(|n| update.params.get(n))
        else {
            return Err(StoreError::Other(format!(
                "parameter {i} of a guarded update has no value"
            )));
        };
        match param {
            Param::Int(v) => stmt.raw_bind_parameter(i, v),
            Param::OptInt(v) => stmt.raw_bind_parameter(i, v),
            Param::Text(v) => stmt.raw_bind_parameter(i, v),
            Param::Bytes(v) => stmt.raw_bind_parameter(i, v),
        }
        .map_err(sqlite_err)?;
    }
    stmt.raw_execute().map_err(sqlite_err)
}

/// As `db_err` for the pool: a uniqueness rule in our words, an unreachable database as such.
fn sqlite_err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            tracing::debug!(database = %e, "uniqueness rule refused a change");
            StoreError::Conflict("the same entry is stored already".to_owned())
        }
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::DiskFull
            ) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Other(e.to_string()),
    }
}
