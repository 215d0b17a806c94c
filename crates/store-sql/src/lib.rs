//! One SQL implementation of [`hpki_core::store::Store`] for SQLite and PostgreSQL.
//!
//! Both backends run the same statements through sqlx's `Any` driver (`$N` placeholders work
//! on both); only the DDL's few type names and the migration lock differ. Every write
//! transaction first takes the audit chain's head row (`UPDATE audit_head … RETURNING`): on
//! PostgreSQL that row lock orders writers across server processes, on SQLite the statement
//! takes the database's write lock up front, so no transaction can fail half-way on a stale
//! read. The head is moved in the same transaction as the change it audits. Small guarded
//! updates of concurrent requests (a sign-in's counter, say) share transactions: see `group`.
#![forbid(unsafe_code)]

mod approvals;
mod audit_sql;
mod backup;
pub use backup::{database_exists, BackupFile, BackupManifest};
mod card_logins;
mod certificates;
mod console;
mod csc;
mod database_url;
use database_url::create_private_sqlite_file;
pub use database_url::{Backend, DatabaseUrl};
mod device_grants;
mod devices;
pub use devices::OperatorCredentials;
mod group;
mod holders;
mod keys;
mod migrations;
mod oidc;
mod operators;
mod sheets;
mod write;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::{BoxStream, StreamExt};
use hpki_core::audit::{AuditEvent, ChainHead, StoredEvent};
use hpki_core::domain::{Holder, NewHolder, Photo, Username};
use hpki_core::store::{ImportOutcome, Operator, OperatorChange, Store, StoreError};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Connection, Executor, Row};

/// A pooled PostgreSQL connection idle for this long is pinged before it is used again.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(5);

/// How to open the database.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub url: DatabaseUrl,
    pub max_connections: u32,
    pub connect_timeout: Duration,
    pub schema: Schema,
    /// PostgreSQL's per-session limits (SQLite has none of these).
    pub limits: SessionLimits,
}

/// How long a PostgreSQL session may wait or idle. One row (the audit chain's head) orders
/// every write of every instance: a transaction stuck holding it, or a write waiting behind
/// one forever, would stop them all. Zero turns a limit off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    /// `statement_timeout`: off by default (an audit export streams one long statement).
    pub statement: Duration,
    /// `lock_timeout`: a write waits this long for a row another transaction holds.
    pub lock: Duration,
    /// `idle_in_transaction_session_timeout`: a session that opened a transaction and went
    /// quiet is ended, releasing its locks.
    pub idle_in_transaction: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            statement: Duration::ZERO,
            lock: Duration::from_secs(10),
            idle_in_transaction: Duration::from_secs(60),
        }
    }
}

/// What connecting does about the schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schema {
    /// Brings it up to date (`init`, `db migrate`, tests).
    Migrate,
    /// Refuses one older than this release needs (`SchemaBehind`); a newer one is fine,
    /// because migrations only add what an older release does not use (rolling upgrades).
    Require,
}

/// The store: a pool on SQLite or PostgreSQL.
#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer at a time; a second writer's connection would get SQLITE_BUSY and
    /// sleep in SQLite's busy handler (milliseconds at a time). Writers of this process queue
    /// here instead, without sleeping. (Other processes on the same file still meet the busy
    /// timeout.) Unused with PostgreSQL, whose row locks queue writers themselves.
    sqlite_writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Connections for ephemeral rows (WebAuthn challenges), whose commits do not wait for the
    /// disk (SQLite `synchronous = NORMAL`, PostgreSQL `synchronous_commit = off`): losing the
    /// last few to a power cut only makes a holder tap again, and the next durable commit on
    /// the database flushes them anyway. Atomicity and isolation are the same as everywhere.
    ephemeral: AnyPool,
    /// Small audited updates of concurrent requests, written in shared transactions.
    group: group::GroupCommit,
}

/// PostgreSQL's SQLSTATEs that mean "not now" rather than "never": read-only transaction
/// (a standby, or a primary demoted by a failover), admin / crash shutdown, cannot connect now
/// (starting or recovering), lock not available (`lock_timeout`), query canceled
/// (`statement_timeout`), idle-in-transaction session timeout.
const TRY_AGAIN: [&str; 7] = [
    "25006", "57P01", "57P02", "57P03", "55P03", "57014", "25P03",
];

pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        // The database's own wording differs between SQLite and PostgreSQL and names tables
        // and columns: it goes to the log, the caller gets ours.
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            tracing::debug!(database = %d.message(), "uniqueness rule refused a change");
            StoreError::Conflict("the same entry is stored already".to_owned())
        }
        // A database that cannot take writes now (read-only after a failover, shutting down,
        // starting) or a wait cut short by a session limit: try again, as for a lost
        // connection.
        sqlx::Error::Database(d) if d.code().is_some_and(|c| TRY_AGAIN.contains(&c.as_ref())) => {
            tracing::warn!(database = %d.message(), "the database cannot do this now");
            StoreError::Unavailable(format!("the database cannot do this now: {}", d.message()))
        }
        sqlx::Error::PoolTimedOut => {
            metrics::counter!("hpki_db_pool_timeouts_total").increment(1);
            StoreError::Unavailable(e.to_string())
        }
        // A connection that broke mid-conversation (a proxy in front of a database that is
        // failing over answers a TLS request with nothing, or cuts a reply short) is gone, as
        // a lost socket is: the pool drops it, and the request may be tried again.
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Other(e.to_string()),
    }
}

/// The in-process writer's turn on SQLite (none needed on PostgreSQL).
pub(crate) async fn writer_turn(
    backend: Backend,
    sqlite_writer: &std::sync::Arc<tokio::sync::Mutex<()>>,
) -> Option<tokio::sync::OwnedMutexGuard<()>> {
    match backend {
        Backend::Sqlite => Some(sqlite_writer.clone().lock_owned().await),
        Backend::Postgres => None,
    }
}

impl SqlStore {
    /// Runs `delete` (one bound parameter: `before`, in micros) on one call in 64, chosen by
    /// the last byte of `random_hex`: rows nobody will use any more (requests nobody answered,
    /// ceremonies, proofs too old to count) are swept by the inserts that make such rows, not
    /// on every one and without a job of their own. On the ephemeral connections; the caller
    /// holds the writer's turn.
    pub(crate) async fn sweep_now_and_then(
        &self,
        random_hex: &str,
        delete: &'static str,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        if one_in(random_hex, 64) {
            sqlx::query(delete)
                .bind(before.timestamp_micros())
                .execute(&self.ephemeral)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }
}

/// Whether a random value in hex falls in one of `n`: its last byte, a multiple of `n`. Rows
/// nobody will use any more are swept on such inserts, not on every one.
pub(crate) fn one_in(random_hex: &str, n: u8) -> bool {
    random_hex
        .get(random_hex.len().saturating_sub(2)..)
        .and_then(|h| u8::from_str_radix(h, 16).ok())
        .is_some_and(|b| b % n == 0)
}

pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Other(format!(
        "a stored {what} is not valid; the database was changed outside the service"
    ))
}

impl SqlStore {
    /// The in-process writer's turn on SQLite (none needed on PostgreSQL).
    pub(crate) async fn writer_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        writer_turn(self.backend, &self.sqlite_writer).await
    }

    /// Connects, and brings the schema up to date or requires it to be (`opts.schema`). On
    /// SQLite the file is created if missing.
    pub async fn connect(opts: &ConnectOptions) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = opts.url.backend();
        if backend == Backend::Sqlite {
            create_private_sqlite_file(&opts.url)?;
        }
        let limits = opts.limits;
        let open = |durable: bool, max: u32| {
            let mut options = AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(opts.connect_timeout)
                // A ping per acquire is a round trip per query. An SQLite file does not drop
                // connections; a PostgreSQL connection can go stale while idle (a server
                // restart, a proxy's timeout), so one idle for a while is pinged first, and
                // replaced if the ping fails. A busy pool's connections are not pinged.
                .test_before_acquire(false);
            if backend == Backend::Postgres {
                options = options.before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= PING_IF_IDLE_FOR {
                            conn.ping().await?;
                        }
                        Ok(true)
                    })
                });
            }
            options
                .after_connect(move |conn, _meta| {
                    Box::pin(async move {
                        match backend {
                            Backend::Sqlite => {
                                // WAL lets readers run beside the one writer; FULL keeps every
                                // committed certificate and audit event through a power cut.
                                conn.execute("PRAGMA journal_mode = WAL").await?;
                                conn.execute(if durable {
                                    "PRAGMA synchronous = FULL"
                                } else {
                                    "PRAGMA synchronous = NORMAL"
                                })
                                .await?;
                                conn.execute("PRAGMA foreign_keys = ON").await?;
                                conn.execute("PRAGMA busy_timeout = 30000").await?;
                            }
                            Backend::Postgres => {
                                let ms = |d: Duration| d.as_millis();
                                for (setting, limit) in [
                                    ("statement_timeout", limits.statement),
                                    ("lock_timeout", limits.lock),
                                    (
                                        "idle_in_transaction_session_timeout",
                                        limits.idle_in_transaction,
                                    ),
                                ] {
                                    conn.execute(format!("SET {setting} = {}", ms(limit)).as_str())
                                        .await?;
                                }
                                if !durable {
                                    conn.execute("SET synchronous_commit = off").await?;
                                }
                            }
                        }
                        Ok(())
                    })
                })
                .connect(opts.url.expose())
        };
        // Neither the URL nor the driver's message may carry the password into a log.
        let unavailable = |e: sqlx::Error| {
            StoreError::Unavailable(format!(
                "cannot open {}: {}",
                opts.url,
                opts.url.scrub(&e.to_string())
            ))
        };
        let pool = open(true, opts.max_connections.max(1))
            .await
            .map_err(unavailable)?;
        // Created after the durable pool, so that on SQLite the file exists in WAL mode.
        let ephemeral = open(false, 2).await.map_err(unavailable)?;
        let sqlite_writer = std::sync::Arc::new(tokio::sync::Mutex::new(()));
        let sqlite_file = match backend {
            // The file as the driver itself reads it from the URL, so that the writer opens
            // exactly the database the pool opened.
            Backend::Sqlite => Some(
                sqlx::sqlite::SqliteConnectOptions::from_str(opts.url.expose())
                    .map_err(unavailable)?
                    .get_filename()
                    .to_owned(),
            ),
            Backend::Postgres => None,
        };
        let group = group::GroupCommit::start(group::Target {
            pool: pool.clone(),
            backend,
            sqlite_writer: sqlite_writer.clone(),
            sqlite_file,
        })?;
        let store = Self {
            pool,
            backend,
            sqlite_writer,
            ephemeral,
            group,
        };
        match opts.schema {
            Schema::Migrate => migrations::run(&store.pool, backend).await?,
            Schema::Require => {
                let (have, want) = (
                    migrations::version(&store.pool).await?,
                    migrations::newest(),
                );
                if have < want {
                    return Err(StoreError::SchemaBehind { have, want });
                }
            }
        }
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The database's schema version.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        migrations::version(&self.pool).await
    }

    /// Creates the schema of an older version in an empty database and returns a plain pool
    /// on it: for tests of a migration (what existing data becomes). Not for anything else.
    #[doc(hidden)]
    pub async fn schema_at_version(url: &DatabaseUrl, version: i64) -> Result<AnyPool, StoreError> {
        sqlx::any::install_default_drivers();
        if url.backend() == Backend::Sqlite {
            create_private_sqlite_file(url)?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect(url.expose())
            .await
            .map_err(db_err)?;
        migrations::run_up_to(&pool, url.backend(), version).await?;
        Ok(pool)
    }

    /// The pool, for tests that tamper with the database directly.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Small audited updates (sign-ins, labels, device and sheet state moves) written so far,
    /// and in how many transactions: `(transactions, updates)`.
    pub fn group_commit_stats(&self) -> (u64, u64) {
        self.group.stats()
    }

    pub async fn close(&self) {
        self.ephemeral.close().await;
        self.pool.close().await;
    }
}

fn event_from_row(row: &AnyRow) -> Result<StoredEvent, sqlx::Error> {
    Ok(StoredEvent {
        seq: row.try_get("seq")?,
        at_micros: row.try_get("at_micros")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        details: row.try_get("details")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn insert_holder(
        &self,
        holder: &NewHolder,
        event: &AuditEvent,
    ) -> Result<Holder, StoreError> {
        holders::insert_one(self, holder, event).await
    }

    async fn import_holders(
        &self,
        rows: &[(NewHolder, AuditEvent)],
    ) -> Result<ImportOutcome, StoreError> {
        holders::import(self, rows).await
    }

    async fn set_holder_photo(
        &self,
        username: &Username,
        photo: &Photo,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        holders::set_photo(self, username, photo, event).await
    }

    async fn set_holder_status(
        &self,
        username: &Username,
        from: hpki_core::domain::HolderStatus,
        to: hpki_core::domain::HolderStatus,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut w = crate::write::Write::begin(self).await?;
        let changed =
            sqlx::query("UPDATE holders SET status = $1 WHERE username = $2 AND status = $3")
                .bind(to.as_str())
                .bind(username.to_string())
                .bind(from.as_str())
                .execute(&mut *w.tx)
                .await
                .map_err(db_err)?
                .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        w.audit([event]).await?;
        w.commit().await?;
        Ok(true)
    }

    async fn holder(&self, username: &Username) -> Result<Option<Holder>, StoreError> {
        holders::by_username(self, username).await
    }

    async fn holder_by_id(&self, id: i64) -> Result<Option<Holder>, StoreError> {
        holders::by_id(self, id).await
    }

    async fn holder_photo(&self, username: &Username) -> Result<Option<Photo>, StoreError> {
        holders::photo(self, username).await
    }

    async fn list_holders(&self, after_id: i64, limit: u32) -> Result<Vec<Holder>, StoreError> {
        holders::list(self, after_id, limit).await
    }

    async fn holders_by_ids(&self, ids: &[i64]) -> Result<Vec<Holder>, StoreError> {
        holders::by_ids(self, ids).await
    }

    async fn count_holders(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM holders")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(n.max(0) as u64)
    }

    async fn audit_head(&self) -> Result<ChainHead, StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(ChainHead {
            seq: row.try_get("seq").map_err(db_err)?,
            hash: row.try_get("hash").map_err(db_err)?,
        })
    }

    async fn record_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.append_event(event).await
    }

    fn audit_events(&self, after_seq: i64) -> BoxStream<'_, Result<StoredEvent, StoreError>> {
        sqlx::query(
            "SELECT seq, at_micros, actor, action, target, details, prev_hash, hash \
             FROM audit_events WHERE seq > $1 ORDER BY seq",
        )
        .bind(after_seq)
        .fetch(&self.pool)
        .map(|row| row.and_then(|r| event_from_row(&r)).map_err(db_err))
        .boxed()
    }

    async fn audit_events_of(
        &self,
        target: &str,
        action: &str,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at_micros, actor, action, target, details, prev_hash, hash \
             FROM audit_events WHERE target = $1 AND action = $2 AND seq < $3 \
             ORDER BY seq DESC LIMIT $4",
        )
        .bind(target)
        .bind(action)
        .bind(before_seq.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| event_from_row(r).map_err(db_err))
            .collect()
    }

    async fn audit_trail(
        &self,
        targets: &[String],
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        // One target per parameter after the first two (the index on target, action, seq
        // serves each).
        let marks: Vec<String> = (3..3 + targets.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT seq, at_micros, actor, action, target, details, prev_hash, hash \
             FROM audit_events WHERE seq < $1 AND target IN ({}) ORDER BY seq DESC LIMIT $2",
            marks.join(", ")
        );
        let mut q = sqlx::query(&sql)
            .bind(before_seq.unwrap_or(i64::MAX))
            .bind(i64::from(limit));
        for t in targets {
            q = q.bind(t.as_str());
        }
        let rows = q.fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter()
            .map(|r| event_from_row(r).map_err(db_err))
            .collect()
    }

    async fn insert_operator(
        &self,
        name: &str,
        role: hpki_core::store::OperatorRole,
        token_hash: &str,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
        event: &AuditEvent,
    ) -> Result<Operator, StoreError> {
        operators::insert(self, name, role, token_hash, expires_at, event).await
    }

    async fn operators(&self) -> Result<Vec<Operator>, StoreError> {
        operators::all(self).await
    }

    async fn replace_operator_token(
        &self,
        name: &str,
        token_hash: &str,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
        event: &AuditEvent,
    ) -> Result<Option<Operator>, StoreError> {
        operators::replace_token(self, name, token_hash, expires_at, event).await
    }

    async fn change_operator(
        &self,
        name: &str,
        change: OperatorChange,
        event: &AuditEvent,
    ) -> Result<Option<Operator>, StoreError> {
        operators::change(self, name, change, event).await
    }

    async fn note_operator_use(
        &self,
        id: hpki_core::store::OperatorId,
        at: chrono::DateTime<chrono::Utc>,
        every: chrono::Duration,
    ) -> Result<(), StoreError> {
        operators::note_use(self, id.0, at, every).await
    }

    async fn operator_by_token_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<Operator>, StoreError> {
        operators::by_token_hash(self, token_hash).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_hides_the_password() {
        let u = DatabaseUrl::parse("postgres://hpki:s3cret@db.example:5432/hpki").expect("valid");
        assert_eq!(
            format!("{u:?}"),
            "DatabaseUrl(postgres://hpki:***@db.example:5432/hpki)"
        );
        assert!(!u.to_string().contains("s3cret"));
        let s = DatabaseUrl::parse("sqlite:///var/lib/hpki/db.sqlite").expect("valid");
        assert_eq!(s.to_string(), "sqlite:///var/lib/hpki/db.sqlite");
        assert!(DatabaseUrl::parse("mysql://x").is_err());
    }

    /// pg_dump and pg_restore get the password in their environment, never on their command
    /// line: the URL they are given has none, wherever it was written.
    #[test]
    fn client_programs_get_the_url_without_its_password() {
        for (url, without, password) in [
            (
                "postgres://hpki:s3%2Fcret@db:5432/hpki?sslmode=require",
                "postgres://hpki@db:5432/hpki?sslmode=require",
                Some("s3/cret"),
            ),
            (
                "postgres://hpki@db/hpki?password=pw&sslmode=disable",
                "postgres://hpki@db/hpki?sslmode=disable",
                Some("pw"),
            ),
            ("postgres://hpki@db/hpki", "postgres://hpki@db/hpki", None),
        ] {
            let (u, p) = DatabaseUrl::parse(url).expect("valid").split_password();
            assert_eq!(u, without);
            assert_eq!(p.as_deref(), password);
        }
    }

    #[tokio::test]
    async fn a_failed_connection_does_not_show_the_password() {
        for url in [
            "postgres://hpki:se/cr3t@127.0.0.1:1/none",
            "postgres://hpki@127.0.0.1:1/none?password=s3cr3t",
            "postgres://hpki:pa%2Fss@127.0.0.1:1/none",
        ] {
            let e = SqlStore::connect(&ConnectOptions {
                url: DatabaseUrl::parse(url).expect("valid"),
                max_connections: 1,
                connect_timeout: Duration::from_secs(2),
                schema: crate::Schema::Migrate,
                limits: crate::SessionLimits::default(),
            })
            .await
            .err()
            .expect("nothing listens on port 1")
            .to_string();
            for secret in ["se/cr3t", "s3cr3t", "pa%2Fss", "pa/ss"] {
                assert!(!e.contains(secret), "{url}: {e}");
            }
        }
        let u = DatabaseUrl::parse("postgres://u:pa%2Fss@h/d").expect("valid");
        assert_eq!(
            u.scrub("bad password pa/ss and pa%2Fss"),
            "bad password *** and ***"
        );
    }

    #[test]
    fn every_form_of_the_password_is_hidden() {
        for (url, secret) in [
            (
                "postgres://hpki@db.example/hpki?password=s3cret&sslmode=require",
                "s3cret",
            ),
            (
                "postgres://hpki@db.example/hpki?sslmode=require&PASSWORD=s3cret",
                "s3cret",
            ),
            ("postgres://hpki:se/cr@t@db.example:5432/hpki", "se/cr"),
            ("postgres://hpki:pa%2Fss@db.example/hpki", "pa%2Fss"),
            ("postgresql://hpki:s3cret@db.example/hpki", "s3cret"),
            (
                "postgres://db.example/hpki?user=hpki&password=s3cret#x",
                "s3cret",
            ),
        ] {
            let u = DatabaseUrl::parse(url).expect("valid");
            for shown in [u.to_string(), format!("{u:?}"), u.redacted()] {
                assert!(!shown.contains(secret), "{url} shown as {shown}");
                assert!(shown.contains("db.example"), "{shown}");
            }
        }
    }
}
