//! Group commit for small audited changes: one guarded `UPDATE` and the event that audits it
//! (a sign-in's counter, a device's label or state, a sheet's end, a SAD's spending).
//!
//! Requests that arrive while a transaction is being written wait in a queue; one writer then
//! runs all of them in the next transaction: one `BEGIN`, one read of the chain head, the
//! updates in arrival order, their events, one head update and one commit (one `fsync`) for
//! the lot, instead of all of that for each. Each change is still
//! audited in the same transaction as the change itself, and each caller hears only after that
//! transaction committed.
//!
//! A failing statement fails the whole transaction (PostgreSQL aborts it), so the batch is then
//! rolled back and every update retried in a transaction of its own: one bad request cannot
//! fail its neighbours. (When the database cannot be reached at all, every caller of the batch
//! hears so at once.) Every update is guarded, so should a commit that reported failure have
//! happened after all, its retry changes nothing and says so (`false`) rather than applying
//! and auditing it twice. The writer runs apart from the callers, so a caller that goes away (a
//! closed connection) cannot cut a batch short.
//!
//! On PostgreSQL the writer is a task that sends each statement over the network in turn. On
//! SQLite it is a thread with a connection of its own (`sqlite.rs`) that writes a whole batch
//! without handing anything to another thread: through the pool, each statement of a batch was
//! a round trip to the connection's worker thread, and on a loaded machine each of those waited
//! for that thread to be scheduled (about 0.4 ms per signature of a batch, in the signing
//! benchmark), so the queue, not the processor, set the pace.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hpki_core::audit::AuditEvent;
use hpki_core::store::StoreError;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyPool};
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::write::Write;
use crate::{db_err, Backend};

mod sqlite;

/// At most this many updates share a transaction.
const MAX_BATCH: usize = 256;

/// A bound parameter of a [`Guarded`] update.
#[derive(Clone, Debug)]
pub(crate) enum Param {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    Bytes(Vec<u8>),
}

/// One `UPDATE … WHERE <guard>` statement: it either changes rows (audited, committed) or none
/// (nothing written for it).
#[derive(Clone, Debug)]
pub(crate) struct Guarded {
    sql: std::borrow::Cow<'static, str>,
    params: Vec<Param>,
}

impl Guarded {
    pub(crate) fn new(sql: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        Self {
            sql: sql.into(),
            params: Vec::new(),
        }
    }

    pub(crate) fn int(mut self, v: i64) -> Self {
        self.params.push(Param::Int(v));
        self
    }

    pub(crate) fn opt_int(mut self, v: Option<i64>) -> Self {
        self.params.push(Param::OptInt(v));
        self
    }

    pub(crate) fn text(mut self, v: impl Into<String>) -> Self {
        self.params.push(Param::Text(v.into()));
        self
    }

    pub(crate) fn bytes(mut self, v: impl Into<Vec<u8>>) -> Self {
        self.params.push(Param::Bytes(v.into()));
        self
    }

    fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        self.params
            .iter()
            .fold(sqlx::query(&self.sql), |q, p| match p {
                Param::Int(v) => q.bind(*v),
                Param::OptInt(v) => q.bind(*v),
                Param::Text(v) => q.bind(v.as_str()),
                Param::Bytes(v) => q.bind(v.as_slice()),
            })
    }
}

pub(crate) struct Job {
    update: Guarded,
    event: AuditEvent,
    reply: oneshot::Sender<Result<bool, StoreError>>,
}

/// The queue in front of the writer.
#[derive(Clone)]
pub(crate) struct GroupCommit {
    jobs: Queue,
    stats: Arc<Stats>,
}

#[derive(Clone)]
enum Queue {
    /// PostgreSQL: a task on the runtime.
    Task(mpsc::Sender<Job>),
    /// SQLite: a thread with its own connection.
    Thread(std::sync::mpsc::Sender<Job>),
}

/// Batches (transactions) and updates written so far.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    batches: AtomicU64,
    updates: AtomicU64,
}

impl Stats {
    /// A batch of `batch` updates written in one transaction that took `took`.
    fn count(&self, batch: usize, took: std::time::Duration) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.updates.fetch_add(batch as u64, Ordering::Relaxed);
        metrics::histogram!("hpki_group_commit_batch_size").record(batch as f64);
        metrics::histogram!("hpki_group_commit_duration_seconds").record(took.as_secs_f64());
    }
}

/// What the writer task writes with.
pub(crate) struct Target {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    pub(crate) sqlite_writer: std::sync::Arc<Mutex<()>>,
    /// On SQLite, the database's file: the writer is then a thread with its own connection to
    /// it. Without one (PostgreSQL), a task writing through `pool`.
    pub(crate) sqlite_file: Option<std::path::PathBuf>,
}

impl GroupCommit {
    /// Starts the writer: on SQLite a thread with its own connection, on PostgreSQL a task on
    /// the current Tokio runtime. It ends when the last sender (the last clone of the store) is
    /// dropped.
    pub(crate) fn start(target: Target) -> Result<Self, StoreError> {
        let stats = Arc::new(Stats::default());
        let jobs = match &target.sqlite_file {
            Some(file) => {
                let (jobs, queue) = std::sync::mpsc::channel();
                sqlite::start(file, target.sqlite_writer.clone(), queue, stats.clone())?;
                Queue::Thread(jobs)
            }
            None => {
                let (jobs, queue) = mpsc::channel(4 * MAX_BATCH);
                tokio::spawn(run(target, queue, stats.clone()));
                Queue::Task(jobs)
            }
        };
        Ok(Self { jobs, stats })
    }

    /// (batches, updates) written so far.
    pub(crate) fn stats(&self) -> (u64, u64) {
        (
            self.stats.batches.load(Ordering::Relaxed),
            self.stats.updates.load(Ordering::Relaxed),
        )
    }

    /// Runs `update`; when it changed a row, `event` is appended in the same transaction and
    /// the answer is `true` once that transaction committed. `false`: no row matched the guard,
    /// nothing was written.
    pub(crate) async fn submit(
        &self,
        update: Guarded,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            update,
            event: event.clone(),
            reply,
        };
        let stopped = || StoreError::Unavailable("the database writer has stopped".into());
        match &self.jobs {
            Queue::Task(jobs) => jobs.send(job).await.map_err(|_| stopped())?,
            Queue::Thread(jobs) => jobs.send(job).map_err(|_| stopped())?,
        }
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(target: Target, mut queue: mpsc::Receiver<Job>, stats: Arc<Stats>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs = std::mem::take(&mut batch);
        let started = std::time::Instant::now();
        let outcome = write(&target, &jobs).await;
        stats.count(jobs.len(), started.elapsed());
        for job in answer(jobs, outcome) {
            let one = write(&target, std::slice::from_ref(&job)).await;
            job.answer_alone(one);
        }
    }
}

/// Gives each caller of a batch its answer, or gives back the jobs to write again one by one
/// (to find the one that failed).
fn answer(jobs: Vec<Job>, outcome: Result<Vec<bool>, StoreError>) -> Vec<Job> {
    match outcome {
        Ok(changed) => {
            for (job, changed) in jobs.into_iter().zip(changed) {
                let _ = job.reply.send(Ok(changed));
            }
            Vec::new()
        }
        // One update, or the database is out of reach: the same answer for all (trying each
        // again would only wait for the same timeout once per update).
        Err(e) if jobs.len() == 1 || matches!(e, StoreError::Unavailable(_)) => {
            for job in jobs {
                let _ = job.reply.send(Err(e.clone()));
            }
            Vec::new()
        }
        Err(_) => jobs,
    }
}

impl Job {
    /// The answer of this job written in a transaction of its own.
    fn answer_alone(self, outcome: Result<Vec<bool>, StoreError>) {
        let _ = self
            .reply
            .send(outcome.map(|changed| changed.first().copied().unwrap_or(false)));
    }
}

/// One transaction for `jobs`: which of them changed a row.
async fn write(target: &Target, jobs: &[Job]) -> Result<Vec<bool>, StoreError> {
    let mut w = Write::begin_on(&target.pool, target.backend, &target.sqlite_writer).await?;
    let mut changed = Vec::with_capacity(jobs.len());
    for job in jobs {
        let rows = job
            .update
            .query()
            .execute(&mut *w.tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        changed.push(rows > 0);
    }
    let events: Vec<&AuditEvent> = jobs
        .iter()
        .zip(&changed)
        .filter(|(_, c)| **c)
        .map(|(j, _)| &j.event)
        .collect();
    if !events.is_empty() {
        w.audit(events).await?;
        w.commit().await?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use hpki_core::audit::{Actor, AuditEvent};
    use hpki_core::clock::SystemClock;
    use hpki_core::services::AuditService;
    use hpki_core::store::Store;
    use sqlx::Connection;

    use super::Guarded;
    use crate::write::Write;
    use crate::{ConnectOptions, DatabaseUrl, SqlStore};

    fn suffix() -> String {
        let mut raw = [0u8; 6];
        hpki_core::secret::os_random(&mut raw).expect("rng");
        raw.iter().map(|b| format!("{b:02x}")).collect()
    }

    async fn open(url: &str) -> SqlStore {
        SqlStore::connect(&ConnectOptions {
            url: DatabaseUrl::parse(url).expect("url"),
            max_connections: 8,
            connect_timeout: Duration::from_secs(10),
            schema: crate::Schema::Migrate,
            limits: crate::SessionLimits::default(),
        })
        .await
        .expect("connect")
    }

    fn event(n: i64) -> AuditEvent {
        AuditEvent::new(
            chrono::Utc::now(),
            &Actor::system(),
            hpki_core::audit::Action::DEVICE_LABELLED,
            format!("row {n}"),
            serde_json::json!({ "row": n }),
        )
    }

    /// Rows 1..=40 counted once each, five guards that match nothing, three statements that
    /// fail: all queued while a transaction holds the writer, so they share the next batch.
    async fn batches_audit_each_change_and_isolate_failures(store: &SqlStore) {
        sqlx::query("CREATE TABLE group_probe (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)")
            .execute(&store.pool)
            .await
            .expect("table");
        for id in 1..=40i64 {
            sqlx::query("INSERT INTO group_probe (id, n) VALUES ($1, 0)")
                .bind(id)
                .execute(&store.pool)
                .await
                .expect("row");
        }
        let before = store.audit_head().await.expect("head").seq;
        let blocker = Write::begin(store).await.expect("hold the writer");
        let jobs: Vec<_> = (1..=48i64)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let update = if i % 16 == 0 {
                        Guarded::new("UPDATE no_such_table SET n = 1 WHERE id = $1").int(i)
                    } else {
                        Guarded::new("UPDATE group_probe SET n = n + 1 WHERE id = $1 AND n = 0")
                            .int(if i > 40 { i + 100 } else { i })
                    };
                    (i, store.group.submit(update, &event(i)).await)
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        blocker.rollback().await.expect("release the writer");
        for job in jobs {
            let (i, result) = job.await.expect("task");
            match i {
                16 | 32 | 48 => assert!(result.is_err(), "{i}: {result:?}"),
                41..=47 => assert!(!result.expect("no error"), "{i}"),
                _ => assert!(result.expect("no error"), "{i}"),
            }
        }
        let counted: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM group_probe WHERE n = 1")
            .fetch_one(&store.pool)
            .await
            .expect("count");
        assert_eq!(
            counted, 38,
            "rows 16 and 32 failed, the others changed once"
        );
        let after = store.audit_head().await.expect("head").seq;
        assert_eq!(
            after - before,
            38,
            "one event per changed row, none for the others"
        );
        let (batches, updates) = store.group.stats();
        assert_eq!(updates, 48);
        assert!(batches < 10, "48 queued updates took {batches} batches");
        let audit = AuditService::new(Arc::new(store.clone()), Arc::new(SystemClock));
        let report = audit.verify(&[]).await.expect("verify");
        assert_eq!(report.finding, None);
        assert_eq!(report.last_seq, after);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn group_commit_on_sqlite() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = open(&format!(
            "sqlite://{}/test.db?mode=rwc",
            dir.path().display()
        ))
        .await;
        batches_audit_each_change_and_isolate_failures(&store).await;
        store.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn group_commit_on_postgres() {
        let admin = std::env::var("HPKI_TEST_DATABASE_URL").expect(
            "HPKI_TEST_DATABASE_URL is not set: this test needs a PostgreSQL server \
             (scripts/test starts a private one); it does not skip",
        );
        sqlx::any::install_default_drivers();
        let name = format!("hpki_group_{}", suffix());
        let mut conn = sqlx::AnyConnection::connect(&admin).await.expect("connect");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create database");
        let (base, _) = admin.rsplit_once('/').expect("URL with a database name");
        let store = open(&format!("{base}/{name}")).await;
        batches_audit_each_change_and_isolate_failures(&store).await;
        store.close().await;
    }
}
