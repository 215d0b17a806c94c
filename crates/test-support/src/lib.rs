//! What several test targets share. The services a test needs come from `scripts/test` (a
//! private PostgreSQL, a SoftHSM2 token, a venv of outside verifiers), named by `HPKI_TEST_*`
//! variables; a test that needs one and does not find it fails and says so. It never skips.
#![forbid(unsafe_code)]
// Test support: a failed setup is a failed test, said loudly.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use hpki_store_sql::{ConnectOptions, DatabaseUrl, SqlStore};
use sqlx::Connection;

/// The value of a `HPKI_TEST_*` variable, or a failure that says who sets it.
pub fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: scripts/test provides it (a private PostgreSQL, a SoftHSM2 token, \
             a venv of verifiers); this test does not skip"
        )
    })
}

/// The SoftHSM2 token scripts/test initialises: module, token label, user PIN.
pub fn pkcs11_token() -> (String, String, String) {
    (
        required_env("HPKI_TEST_PKCS11_MODULE"),
        required_env("HPKI_TEST_PKCS11_TOKEN"),
        required_env("HPKI_TEST_PKCS11_PIN"),
    )
}

/// The PKCS#11 keystore's configuration for that token, with `sessions` sessions.
pub fn pkcs11_config(sessions: usize) -> hpki_keystore_pkcs11::Pkcs11Config {
    let (module, token_label, pin) = pkcs11_token();
    hpki_keystore_pkcs11::Pkcs11Config {
        module: module.into(),
        token_label,
        pin,
        sessions,
    }
}

/// Lowercase hex of `n` random bytes, for names that must not collide between test runs.
/// Whether openssl (not this project's code) accepts `sig` as an RSASSA-PSS signature of the
/// SHA-256 `digest` by the key of `spki_der` (SubjectPublicKeyInfo), MGF1 with SHA-256 and a
/// salt of exactly `salt` bytes. Panics if openssl cannot be run.
pub fn openssl_verifies_pss(spki_der: &[u8], digest: &[u8], sig: &[u8], salt: u16) -> bool {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let p = |n: &str| dir.path().join(n);
    for (name, bytes) in [("pub.der", spki_der), ("digest", digest), ("sig", sig)] {
        std::fs::write(p(name), bytes).expect("write");
    }
    let out = std::process::Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey"])
        .arg(p("pub.der"))
        .arg("-in")
        .arg(p("digest"))
        .arg("-sigfile")
        .arg(p("sig"))
        .args([
            "-pkeyopt",
            "rsa_padding_mode:pss",
            "-pkeyopt",
            "digest:sha256",
        ])
        .args(["-pkeyopt", "rsa_mgf1_md:sha256", "-pkeyopt"])
        .arg(format!("rsa_pss_saltlen:{salt}"))
        .output()
        .expect("openssl must be installed (scripts/setup.sh installs it)");
    out.status.success()
}

pub fn random_hex(n: usize) -> String {
    let mut raw = vec![0u8; n];
    getrandom::getrandom(&mut raw).expect("random bytes from the OS");
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// The URL of a new, empty database on the test PostgreSQL server (`HPKI_TEST_DATABASE_URL`).
pub async fn fresh_postgres_database(prefix: &str) -> String {
    let admin = required_env("HPKI_TEST_DATABASE_URL");
    sqlx::any::install_default_drivers();
    let name = format!("{prefix}_{}", random_hex(6));
    let mut conn = sqlx::AnyConnection::connect(&admin)
        .await
        .expect("connect to the test PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create database");
    conn.close().await.expect("close");
    let (base, _) = admin.rsplit_once('/').expect("URL with a database name");
    format!("{base}/{name}")
}

/// A store on `url`, migrated.
pub async fn open_store(url: &str, max_connections: u32) -> SqlStore {
    SqlStore::connect(&ConnectOptions {
        url: DatabaseUrl::parse(url).expect("url"),
        max_connections,
        connect_timeout: Duration::from_secs(10),
        schema: hpki_store_sql::Schema::Migrate,
        limits: hpki_store_sql::SessionLimits::default(),
    })
    .await
    .expect("connect")
}

/// A new SQLite store in a temporary directory (removed when the directory is dropped).
pub async fn sqlite_store() -> (SqlStore, tempfile::TempDir) {
    let dir = tempfile::Builder::new()
        .prefix("hpki-test-")
        .tempdir()
        .expect("a temporary directory");
    let url = format!("sqlite://{}/test.db?mode=rwc", dir.path().display());
    (open_store(&url, 8).await, dir)
}

/// A new store on a fresh database of the test PostgreSQL.
pub async fn postgres_store() -> SqlStore {
    open_store(&fresh_postgres_database("hpki_test").await, 8).await
}

/// Runs a shell script as the `postgres` user (`initdb` and `pg_ctl` refuse root): for tests
/// that run a PostgreSQL server of their own (TLS, a standby and its failover). Panics with
/// the script's output when it fails.
pub fn as_postgres(script: &str) {
    let o = std::process::Command::new("su")
        .args(["postgres", "-s", "/bin/sh", "-c", script])
        .output()
        .expect("su");
    assert!(
        o.status.success(),
        "{script}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// PostgreSQL's programs (initdb, pg_ctl, pg_basebackup, createdb).
pub const POSTGRES_BIN: &str = "/usr/lib/postgresql/15/bin";
