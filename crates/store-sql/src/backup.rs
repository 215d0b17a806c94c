//! Backups of the database and restores from them.
//!
//! A backup is one file: a first line naming the format, a line of JSON describing the copy
//! (its backend, when it was taken, the audit chain's head in it, the payload's length and
//! SHA-256), then the payload. On SQLite the payload is the database file, copied by SQLite's
//! online backup API in one step (one read transaction: a consistent snapshot while `serve`
//! writes). On PostgreSQL it is `pg_dump`'s custom format, dumped in a snapshot exported by a
//! transaction that reads the audit head in the same snapshot.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use hpki_core::audit::ChainHead;
use hpki_core::store::StoreError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{db_err, Backend, DatabaseUrl, SqlStore};

const MAGIC: &str = "HPKI-SECOND-BACKUP 1";

/// What a backup file says of itself.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BackupManifest {
    /// `sqlite` or `postgres`: a backup restores only into the same kind of database.
    pub backend: String,
    /// When the copy was taken (RFC 3339).
    pub taken_at: String,
    /// The audit chain's head in the copy.
    pub audit_head: ChainHead,
    /// The schema version of the copy (a newer program migrates it after the restore).
    pub schema_version: i64,
    pub payload_bytes: u64,
    pub payload_sha256: String,
}

fn unavailable(what: &str) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |e| StoreError::Unavailable(format!("{what}: {e}"))
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// The file a SQLite URL names, as the driver reads it.
pub(crate) fn sqlite_file(url: &DatabaseUrl) -> Result<PathBuf, StoreError> {
    Ok(sqlx::sqlite::SqliteConnectOptions::from_str(url.expose())
        .map_err(|e| StoreError::Other(format!("database URL: {e}")))?
        .get_filename()
        .to_owned())
}

/// `pg_dump` and `pg_restore` connect with the URL's password in `PGPASSWORD`, not on their
/// command line (which other local users can read).
fn libpq_command(program: &str, url: &DatabaseUrl) -> std::process::Command {
    let (without, password) = url.split_password();
    let mut cmd = std::process::Command::new(program);
    cmd.arg(format!("--dbname={without}"));
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    cmd
}

/// Whether the database `url` names exists and has this service's schema: an SQLite file
/// that is there, a PostgreSQL database with its tables. Asked before opening a database that
/// should exist, so that a lost one is not silently replaced by an empty one.
pub async fn database_exists(
    url: &DatabaseUrl,
    timeout: std::time::Duration,
) -> Result<bool, StoreError> {
    match url.backend() {
        Backend::Sqlite => Ok(sqlite_file(url)?.metadata().is_ok_and(|m| m.len() > 0)),
        Backend::Postgres => {
            sqlx::any::install_default_drivers();
            let unavailable = |why: String| {
                StoreError::Unavailable(format!("cannot connect to {}: {why}", url.redacted()))
            };
            let connect = <sqlx::AnyConnection as sqlx::Connection>::connect(url.expose());
            let mut conn = tokio::time::timeout(timeout, connect)
                .await
                .map_err(|_| unavailable(format!("no answer within {} s", timeout.as_secs())))?
                .map_err(|e| unavailable(url.scrub(&e.to_string())))?;
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'",
            )
            .fetch_one(&mut conn)
            .await
            .map_err(db_err)?;
            let _ = sqlx::Connection::close(conn).await;
            Ok(n > 0)
        }
    }
}

impl SqlStore {
    /// Writes a backup of the whole database to `out` (created new; never overwritten) while
    /// the service may be running. Returns what the file says of itself.
    pub async fn backup_to(
        &self,
        url: &DatabaseUrl,
        out: &Path,
        taken_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<BackupManifest, StoreError> {
        let payload = out.with_extension("payload.partial");
        let result = self.write_payload(url, &payload).await;
        let manifest = match result {
            Ok((head, schema_version)) => {
                let (bytes, sha) = hash_file(&payload, 0)?;
                BackupManifest {
                    backend: backend_name(self.backend).into(),
                    taken_at: taken_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    audit_head: head,
                    schema_version,
                    payload_bytes: bytes,
                    payload_sha256: sha,
                }
            }
            Err(e) => {
                let _ = std::fs::remove_file(&payload);
                return Err(e);
            }
        };
        let written = write_backup_file(out, &manifest, &payload);
        let _ = std::fs::remove_file(&payload);
        written?;
        Ok(manifest)
    }

    async fn write_payload(
        &self,
        url: &DatabaseUrl,
        payload: &Path,
    ) -> Result<(ChainHead, i64), StoreError> {
        match self.backend {
            Backend::Sqlite => {
                let source = sqlite_file(url)?;
                let payload = payload.to_owned();
                tokio::task::spawn_blocking(move || sqlite_snapshot(&source, &payload))
                    .await
                    .map_err(|e| StoreError::Other(e.to_string()))?
            }
            Backend::Postgres => self.postgres_dump(url, payload).await,
        }
    }

    /// `pg_dump` in a snapshot exported by a transaction that reads the audit head and the
    /// schema version in that same snapshot (and stays open until the dump is done).
    async fn postgres_dump(
        &self,
        url: &DatabaseUrl,
        payload: &Path,
    ) -> Result<(ChainHead, i64), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        let head = ChainHead {
            seq: row.try_get("seq").map_err(db_err)?,
            hash: row.try_get("hash").map_err(db_err)?,
        };
        let version: i64 = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        // Made private first: pg_dump keeps the mode of a file that exists.
        private_new_file(payload)?;
        let mut cmd = libpq_command("pg_dump", url);
        cmd.args(["--format=custom", "--no-owner", "--no-privileges"])
            .arg(format!("--snapshot={snapshot}"))
            .arg(format!("--file={}", payload.display()));
        let output = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .map_err(|e| StoreError::Other(e.to_string()))?
            .map_err(|e| {
                StoreError::Unavailable(format!(
                    "pg_dump could not be run ({e}): install the PostgreSQL client tools"
                ))
            })?;
        tx.rollback().await.map_err(db_err)?;
        if !output.status.success() {
            return Err(StoreError::Other(format!(
                "pg_dump failed: {}",
                url.scrub(String::from_utf8_lossy(&output.stderr).trim())
            )));
        }
        Ok((head, version))
    }
}

/// The SQLite database copied by the online backup API in one step (one read transaction, so
/// a consistent snapshot however busy the writers are), then its head and schema version read
/// from the copy itself.
fn sqlite_snapshot(source: &Path, payload: &Path) -> Result<(ChainHead, i64), StoreError> {
    use rusqlite::{Connection, OpenFlags};
    let fail = |e: rusqlite::Error| StoreError::Other(format!("the SQLite backup failed: {e}"));
    let src =
        Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(fail)?;
    src.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(fail)?;
    private_new_file(payload)?;
    let mut dst = Connection::open(payload).map_err(fail)?;
    {
        let backup = rusqlite::backup::Backup::new(&src, &mut dst).map_err(fail)?;
        // -1: every page in one step, under one read lock.
        match backup.step(-1).map_err(fail)? {
            rusqlite::backup::StepResult::Done => {}
            other => {
                return Err(StoreError::Unavailable(format!(
                    "the SQLite backup did not finish in one step ({other:?}); try again"
                )))
            }
        }
    }
    let head = dst
        .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
            Ok(ChainHead {
                seq: r.get(0)?,
                hash: r.get(1)?,
            })
        })
        .map_err(fail)?;
    let version: i64 = dst
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
            r.get(0)
        })
        .map_err(fail)?;
    // The copy is a plain file: no WAL beside it.
    dst.query_row("PRAGMA journal_mode = DELETE", [], |r| {
        r.get::<_, String>(0)
    })
    .map_err(fail)?;
    Ok((head, version))
}

/// Creates a new file readable by its owner only (a backup holds every sealed key).
fn private_new_file(path: &Path) -> Result<std::fs::File, StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map_err(unavailable(&path.display().to_string()))
}

fn hash_file(path: &Path, from: u64) -> Result<(u64, String), StoreError> {
    let what = path.display().to_string();
    let mut f = std::fs::File::open(path).map_err(unavailable(&what))?;
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(from)).map_err(unavailable(&what))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(unavailable(&what))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((total, hex::encode(hasher.finalize())))
}

fn write_backup_file(
    out: &Path,
    manifest: &BackupManifest,
    payload: &Path,
) -> Result<(), StoreError> {
    let what = out.display().to_string();
    let mut f = private_new_file(out)?;
    let line = serde_json::to_string(manifest).map_err(|e| StoreError::Other(e.to_string()))?;
    let mut src = std::fs::File::open(payload).map_err(unavailable(&what))?;
    writeln!(f, "{MAGIC}")
        .and_then(|()| writeln!(f, "{line}"))
        .and_then(|()| std::io::copy(&mut src, &mut f).map(|_| ()))
        .and_then(|()| f.sync_all())
        .map_err(unavailable(&what))
}

/// A backup file, read and checked: its manifest and where its payload starts.
pub struct BackupFile {
    pub path: PathBuf,
    pub manifest: BackupManifest,
    payload_offset: u64,
}

impl BackupFile {
    /// Reads the manifest and checks the payload against its length and SHA-256.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let what = path.display().to_string();
        let refused = |m: &str| StoreError::Other(format!("{what}: {m}"));
        let f = std::fs::File::open(path).map_err(unavailable(&what))?;
        let mut r = BufReader::new(f);
        let mut first = String::new();
        r.read_line(&mut first).map_err(unavailable(&what))?;
        if first.trim_end() != MAGIC {
            return Err(refused("not an hpki-second backup"));
        }
        let mut second = String::new();
        r.read_line(&mut second).map_err(unavailable(&what))?;
        let manifest: BackupManifest = serde_json::from_str(&second)
            .map_err(|e| refused(&format!("the backup's description does not read: {e}")))?;
        let payload_offset = (first.len() + second.len()) as u64;
        let (bytes, sha) = hash_file(path, payload_offset)?;
        if bytes != manifest.payload_bytes || sha != manifest.payload_sha256 {
            return Err(refused(
                "the backup is damaged: its content does not match its SHA-256",
            ));
        }
        Ok(Self {
            path: path.to_owned(),
            manifest,
            payload_offset,
        })
    }

    fn payload(&self) -> Result<impl Read, StoreError> {
        let what = self.path.display().to_string();
        let mut f = std::fs::File::open(&self.path).map_err(unavailable(&what))?;
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(self.payload_offset))
            .map_err(unavailable(&what))?;
        Ok(f.take(self.manifest.payload_bytes))
    }

    /// Puts the backup's database where `url` points. The target must be empty: no SQLite
    /// file there, or a PostgreSQL database without tables. Nothing is overwritten.
    pub async fn restore_into(&self, url: &DatabaseUrl) -> Result<(), StoreError> {
        let wanted = backend_name(url.backend());
        if self.manifest.backend != wanted {
            return Err(StoreError::Other(format!(
                "this is a backup of a {} database; the configured database is {wanted}",
                self.manifest.backend
            )));
        }
        match url.backend() {
            Backend::Sqlite => self.restore_sqlite(&sqlite_file(url)?),
            Backend::Postgres => self.restore_postgres(url).await,
        }
    }

    fn restore_sqlite(&self, target: &Path) -> Result<(), StoreError> {
        for existing in [
            target.to_owned(),
            wal_of(target, "-wal"),
            wal_of(target, "-shm"),
        ] {
            if existing.exists() {
                return Err(StoreError::Conflict(format!(
                    "{} exists: a restore never overwrites a database; move it away first",
                    existing.display()
                )));
            }
        }
        let partial = wal_of(target, ".restoring");
        let _ = std::fs::remove_file(&partial);
        let mut out = private_new_file(&partial)?;
        let what = partial.display().to_string();
        std::io::copy(&mut self.payload()?, &mut out)
            .and_then(|_| out.sync_all())
            .map_err(unavailable(&what))?;
        let check: Result<String, rusqlite::Error> = rusqlite::Connection::open(&partial)
            .and_then(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)));
        match check {
            Ok(ok) if ok == "ok" => {}
            other => {
                let _ = std::fs::remove_file(&partial);
                return Err(StoreError::Other(format!(
                    "the restored database fails SQLite's integrity check: {other:?}"
                )));
            }
        }
        std::fs::rename(&partial, target).map_err(unavailable(&target.display().to_string()))
    }

    async fn restore_postgres(&self, url: &DatabaseUrl) -> Result<(), StoreError> {
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(url.expose())
            .await
            .map_err(db_err)?;
        let tables: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(db_err)?;
        let _ = sqlx::Connection::close(conn).await;
        if tables > 0 {
            return Err(StoreError::Conflict(
                "the configured PostgreSQL database has tables: a restore goes into an empty database (createdb a new one)".into(),
            ));
        }
        let mut cmd = libpq_command("pg_restore", url);
        cmd.args([
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
        let mut payload = self.payload()?;
        let scrub = url.clone();
        tokio::task::spawn_blocking(move || {
            let mut child = cmd.spawn().map_err(|e| {
                StoreError::Unavailable(format!(
                    "pg_restore could not be run ({e}): install the PostgreSQL client tools"
                ))
            })?;
            if let Some(mut stdin) = child.stdin.take() {
                std::io::copy(&mut payload, &mut stdin)
                    .map_err(unavailable("feeding pg_restore"))?;
            }
            let output = child
                .wait_with_output()
                .map_err(unavailable("pg_restore"))?;
            if !output.status.success() {
                return Err(StoreError::Other(format!(
                    "pg_restore failed: {}",
                    scrub.scrub(String::from_utf8_lossy(&output.stderr).trim())
                )));
            }
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Other(e.to_string()))?
    }
}

fn wal_of(target: &Path, suffix: &str) -> PathBuf {
    let mut s = target.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}
