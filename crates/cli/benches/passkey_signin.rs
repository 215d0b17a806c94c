//! Benchmark: passkey sign-ins over HTTP (options + verify, with the audit event and the
//! counter update), software authenticator, target at least 1,000 per second on 2 cores with
//! SQLite; PostgreSQL too when `HPKI_TEST_DATABASE_URL` is set (run it under pg_virtualenv).
//!
//! Each client thread is one phone: a holder whose sheet password was accepted (a registration
//! session) and whose passkey is registered; it then signs in again and again over one
//! keep-alive connection: `POST /register/options` and `POST /register/finish?mode=signin`.
//! Reference in the same run: `GET /healthz` over the same kind of connection (the HTTP floor).
//!
//! Run: `cargo bench -p hpki-second --bench passkey_signin` (add `-- 5` for seconds per round).

use std::path::Path;
use std::time::Instant;

use hpki_passkey::soft::{Authenticator, Faults};

mod phones;
mod support;
use phones::{cpu_seconds, phone, phones_count, rate, start, Conn};
use support::{hpki, stop};

fn sign_in(c: &mut Conn, a: &mut Authenticator) {
    let options = c.json("/register/options", br#"{"mode":"signin"}"#);
    a.counter += 1;
    let response = a.get(&options, Faults::default());
    c.json("/register/finish?mode=signin", &response);
}

fn round(label: &str, data: &Path, secs: f64) {
    let (child, addr, origin) = start(data);
    let mut phones: Vec<(Conn, Authenticator)> = (0..phones_count())
        .map(|i| phone(data, &addr, &origin, 700_000 + i as u32))
        .collect();
    for (c, _) in &mut phones {
        c.reconnect(&addr);
    }
    // Warm up, then measure.
    rate(&mut phones, 1.0, |(c, a)| sign_in(c, a));
    let cpu_before = cpu_seconds(child.id());
    let started = Instant::now();
    let signins = rate(&mut phones, secs, |(c, a)| sign_in(c, a));
    let cpu = cpu_seconds(child.id()) - cpu_before;
    let cpu_per_signin_ms = cpu / (signins * started.elapsed().as_secs_f64()) * 1000.0;
    let cores = cpu / started.elapsed().as_secs_f64();
    let mut plain: Vec<Conn> = (0..phones_count()).map(|_| Conn::open(&addr)).collect();
    let healthz = rate(&mut plain, secs.min(3.0), |c| {
        assert_eq!(c.send("GET", "/healthz", &[], b"").status, 200);
    });
    println!(
        "| {label} | {signins:.0}/s ({:.0} requests/s) | {cpu_per_signin_ms:.2} ms on {cores:.2} cores | {healthz:.0}/s | {:.1}x |",
        signins * 2.0,
        healthz / (signins * 2.0)
    );
    stop(child);
}

fn main() {
    if std::env::var("HPKI_TEST_DATABASE_URL").is_ok() {
        support::require_tools("passkey_signin", &[("psql", "postgresql-client")]);
    }
    let secs: f64 = std::env::args()
        .find_map(|a| a.parse().ok())
        .unwrap_or(10.0);
    let tmp = tempfile::Builder::new()
        .prefix("hpki-signin-bench-")
        .tempdir()
        .expect("a temporary directory");
    let dir = tmp.path();
    println!(
        "passkey sign-ins over HTTP, {} phones on keep-alive connections, {secs} s per round, {} cores",
        phones_count(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("| backend | sign-ins (options + verify) | server CPU per sign-in | reference: GET /healthz | healthz / sign-in requests |");
    println!("|---|---|---|---|---|");
    let data = dir.join("sqlite");
    hpki(&data, &["init"]);
    round("SQLite", &data, secs);
    if let Ok(admin) = std::env::var("HPKI_TEST_DATABASE_URL") {
        let url = support::fresh_postgres_database(&admin, "hpki_signin");
        let data = dir.join("pg");
        hpki(&data, &["init", "--database-url", &url]);
        round("PostgreSQL 15", &data, secs);
    }
}
