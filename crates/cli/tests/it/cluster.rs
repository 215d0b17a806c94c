//! Two `serve` instances on one PostgreSQL behind a real load balancer (HAProxy, its health
//! check on `/readyz`), under a steady load of OCSP requests, holder reads and holder writes
//! through the operator API, every acknowledged write recorded by the load generator:
//! - a rolling restart of both instances: zero 5xx and zero connection errors;
//! - `kill -9` of one instance: only what was in flight on it may fail, the rest is served;
//! - afterwards every acknowledged write is in the database and the audit chain verifies.
//!
//! The figures are printed (docs/operations.md quotes a run). `deploy/haproxy.cfg` is the
//! configuration tested here.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::*;

/// What the load generator saw.
#[derive(Default)]
struct Tally {
    served: AtomicU64,
    /// 503s: unavailable for now.
    server_errors: AtomicU64,
    connection_errors: AtomicU64,
    other: AtomicU64,
    /// Holders whose creation was answered 201.
    created: Mutex<Vec<u32>>,
}

impl Tally {
    fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.served.load(Ordering::Relaxed),
            self.server_errors.load(Ordering::Relaxed),
            self.connection_errors.load(Ordering::Relaxed),
            self.other.load(Ordering::Relaxed),
        )
    }
}

/// One request on its own connection; the status, or the connection's failure.
fn call(addr: &str, method: &str, path: &str, token: &str, body: &str) -> std::io::Result<u16> {
    let to = addr
        .parse()
        .map_err(|e| std::io::Error::other(format!("{addr}: {e}")))?;
    let mut s = std::net::TcpStream::connect_timeout(&to, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line: {text:?}")))
}

fn load(
    lb: String,
    token: String,
    ocsp: String,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
    worker: u32,
) {
    let mut n = 0u32;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let number = 100_000 + worker * 10_000 + n;
        let outcome = match n % 3 {
            0 => call(&lb, "GET", &ocsp, &token, ""),
            1 => call(&lb, "GET", "/api/v1/holders/999999-jpa", &token, ""),
            _ => {
                let body = serde_json::json!({
                    "registry_number": number.to_string(), "name_kanji": "負荷 太郎",
                    "name_kana": "フカ タロウ", "date_of_birth": "1980-04-01",
                    "qualification": "Pharmacist"
                })
                .to_string();
                let r = call(&lb, "POST", "/api/v1/holders", &token, &body);
                if matches!(r, Ok(201)) {
                    tally.created.lock().expect("tally").push(number);
                }
                r
            }
        };
        // 503 says "try again" (an instance or the database unavailable); any other answer
        // but success is wrong, a 500 above all.
        let counter = match outcome {
            Ok(200 | 201) => &tally.served,
            Ok(503) => &tally.server_errors,
            Ok(_) => &tally.other,
            Err(_) => &tally.connection_errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Stops what a failed test would leave running: the load's workers, HAProxy.
struct Teardown {
    stop: Arc<AtomicBool>,
    haproxy: Option<std::process::Child>,
}

impl Drop for Teardown {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(mut h) = self.haproxy.take() {
            let _ = h.kill();
            let _ = h.wait();
        }
    }
}

/// Every holder whose creation was answered 201 is stored, and the audit chain verifies.
fn every_acknowledged_holder_is_stored(data: &std::path::Path, created: &[u32]) {
    let listed = json(&ok(data, &["holder", "list", "--limit", "10000", "--json"]));
    let stored: std::collections::HashSet<String> = listed["holders"]
        .as_array()
        .expect("holders")
        .iter()
        .filter_map(|h| h["username"].as_str().map(str::to_owned))
        .collect();
    for number in created {
        let username = format!("{number}-jpa");
        assert!(
            stored.contains(&username),
            "acknowledged holder {username} is lost ({} stored, {} acknowledged)",
            stored.len(),
            created.len()
        );
    }
    let verified = ok(data, &["audit", "verify"]);
    assert!(verified.contains("audit log intact"), "{verified}");
}

/// Waits until the load has had `more` requests served (it keeps running).
fn let_it_run(tally: &Tally, more: u64) {
    let start = tally.snapshot().0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while tally.snapshot().0 < start + more {
        assert!(Instant::now() < deadline, "the load stalled");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behind_haproxy_survive_a_rolling_restart_and_a_kill() {
    let url = hpki_test_support::fresh_postgres_database("hpki_cluster").await;
    let (lb_port, port_a, port_b) = (free_port(), free_port(), free_port());
    let public = format!("http://localhost:{lb_port}");
    let (dir_a, dir_b) = (TempDir::new(), TempDir::new());
    let (data_a, data_b) = (dir_a.data(), dir_b.data());
    ok(
        &data_a,
        &["init", "--database-url", &url, "--public-url", &public],
    );
    std::fs::create_dir_all(&data_b).expect("mkdir");
    std::fs::copy(data_a.join("keystore.kek"), data_b.join("keystore.kek")).expect("the KEK");
    ok(
        &data_b,
        &["init", "--database-url", &url, "--public-url", &public],
    );
    let second = second_certificate(&data_a);
    let serial = second["serial"].as_str().expect("serial").to_owned();
    let files = TempDir::new();
    let (_, sign, _) = ca_files(&data_a, files.path());
    let pem = ok(&data_a, &["cert", "show", &serial, "--pem"]);
    let cert = write(
        files.path(),
        "second.pem",
        &pem[pem.find("-----BEGIN").expect("PEM")..],
    );
    let ocsp = ocsp_get_path(files.path(), &sign, &cert);
    let token = operator_token(&data_a, "loader");

    // A drain long enough for HAProxy's check (every 200 ms, down after 2) to see it.
    let env = [
        ("HPKI_SECOND__SERVER__DRAIN_SECS", "1"),
        ("HPKI_SECOND__LOG__LEVEL", "warn"),
    ];
    let start = |data: &std::path::Path, port| Server::start_behind(data, port, &public, &env);
    let mut a = Some(start(&data_a, port_a));
    let mut b = Some(start(&data_b, port_b));
    let config = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/haproxy.cfg"),
    )
    .expect("deploy/haproxy.cfg")
    .replace("127.0.0.1:8080", &format!("127.0.0.1:{lb_port}"))
    .replace("127.0.0.1:8081", &format!("127.0.0.1:{port_a}"))
    .replace("127.0.0.1:8082", &format!("127.0.0.1:{port_b}"));
    let cfg = write(files.path(), "haproxy.cfg", &config);
    let stop = Arc::new(AtomicBool::new(false));
    let teardown = Teardown {
        stop: stop.clone(),
        haproxy: Some(
            std::process::Command::new("haproxy")
                .args(["-db", "-f"])
                .arg(&cfg)
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("haproxy (scripts/test installs it)"),
        ),
    };
    let lb = format!("127.0.0.1:{lb_port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !matches!(call(&lb, "GET", "/readyz", "", ""), Ok(200)) {
        assert!(Instant::now() < deadline, "HAProxy never served");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(600)); // both servers up in HAProxy's eyes

    let tally = Arc::new(Tally::default());
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (lb, token, ocsp) = (lb.clone(), token.clone(), ocsp.clone());
            let (tally, stop) = (tally.clone(), stop.clone());
            std::thread::spawn(move || load(lb, token, ocsp, tally, stop, w))
        })
        .collect();
    let_it_run(&tally, 200);

    // Drill 1: a rolling restart, one instance at a time, each drained first.
    let began = Instant::now();
    for (server, data, port) in [(&mut a, &data_a, port_a), (&mut b, &data_b, port_b)] {
        assert!(
            server.take().expect("running").stop(),
            "exit 0 after SIGTERM"
        );
        *server = Some(start(data, port));
        std::thread::sleep(Duration::from_millis(600)); // back in HAProxy's rotation
        let_it_run(&tally, 100);
    }
    let rolling = tally.snapshot();
    let rolling_took = began.elapsed();
    eprintln!(
        "cluster: rolling restart in {rolling_took:?}: {} served, {} 5xx, {} connection errors, {} other",
        rolling.0, rolling.1, rolling.2, rolling.3
    );
    assert_eq!(
        (rolling.1, rolling.2, rolling.3),
        (0, 0, 0),
        "a rolling restart loses nothing"
    );

    // Drill 2: one instance killed outright.
    a.take().expect("running").kill();
    let_it_run(&tally, 300);
    let killed = tally.snapshot();
    let lost = (killed.1 - rolling.1) + (killed.2 - rolling.2);
    eprintln!(
        "cluster: kill -9 of one instance: {} served since, {lost} failed",
        killed.0 - rolling.0
    );
    assert!(
        lost <= 4,
        "only what was in flight on it may fail (4 workers): {lost}"
    );
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    drop(teardown);
    drop(b);

    // Every acknowledged write is there, and the chain verifies.
    let created = tally.created.lock().expect("tally").clone();
    assert!(created.len() > 50, "{}", created.len());
    every_acknowledged_holder_is_stored(&data_b, &created);
}

/// A PostgreSQL primary with a synchronous standby, behind a TCP front (HAProxy, the standby a
/// backup server used once the primary is down). The primary is stopped hard and the standby
/// promoted under load: the instances write again within 15 s without a restart, and every
/// write they acknowledged is in the new primary (synchronous replication: a commit returns
/// only once the standby has it); the audit chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_failover_loses_no_acknowledged_write() {
    use hpki_test_support::{as_postgres, POSTGRES_BIN as B};
    let pgdir = TempDir::new();
    let r = pgdir.path().display().to_string();
    let (p1, p2, front) = (free_port(), free_port(), free_port());
    let owned = std::process::Command::new("chown")
        .args(["postgres", &r])
        .status()
        .expect("chown");
    assert!(owned.success());
    struct Postgres(String);
    impl Drop for Postgres {
        fn drop(&mut self) {
            for node in ["p", "s"] {
                let _ = std::process::Command::new("su")
                    .args(["postgres", "-s", "/bin/sh", "-c"])
                    .arg(format!("{B}/pg_ctl -D {}/{node} stop -m immediate", self.0))
                    .output();
            }
        }
    }
    // Stopped whatever happens, once they may have started.
    let _postgres = Postgres(r.clone());
    // Synchronous once the standby is there (a commit before would wait for it for ever).
    as_postgres(&format!(
        "{B}/initdb -D {r}/p -U postgres -A trust >/dev/null && \
         printf \"port = {p1}\\nlisten_addresses = '127.0.0.1'\\nunix_socket_directories = '{r}'\\n\
         wal_level = replica\\n\" >> {r}/p/postgresql.conf && \
         {B}/pg_ctl -D {r}/p -l {r}/p.log -w start >/dev/null && \
         {B}/pg_basebackup -h 127.0.0.1 -p {p1} -U postgres -D {r}/s -R -X stream && \
         sed -i 's/^port = {p1}/port = {p2}/' {r}/s/postgresql.conf && \
         echo \"primary_conninfo = 'host=127.0.0.1 port={p1} user=postgres application_name=standby1'\" \
           >> {r}/s/postgresql.auto.conf && \
         {B}/pg_ctl -D {r}/s -l {r}/s.log -w start >/dev/null && \
         psql -h {r} -p {p1} -U postgres -qc \"ALTER SYSTEM SET synchronous_standby_names = 'standby1'\" && \
         psql -h {r} -p {p1} -U postgres -qc 'SELECT pg_reload_conf()' >/dev/null && \
         {B}/createdb -h {r} -p {p1} -U postgres hpki"
    ));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let o = std::process::Command::new("psql")
            .args(["-h", &r, "-p", &p1.to_string(), "-U", "postgres", "-Atc"])
            .arg("SELECT sync_state FROM pg_stat_replication")
            .output()
            .expect("psql");
        if String::from_utf8_lossy(&o.stdout).trim() == "sync" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the standby never became synchronous"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let files = TempDir::new();
    let pg_front = write(
        files.path(),
        "pg.cfg",
        &format!(
            "global\n    maxconn 512\ndefaults\n    mode tcp\n    timeout connect 2s\n    \
             timeout client 1h\n    timeout server 1h\nfrontend pg\n    bind 127.0.0.1:{front}\n    \
             default_backend pg\nbackend pg\n    default-server inter 200ms fall 2 rise 2 \
             on-marked-down shutdown-sessions\n    server p 127.0.0.1:{p1} check\n    \
             server s 127.0.0.1:{p2} check backup\n"
        ),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let _pg_haproxy = Teardown {
        stop: stop.clone(),
        haproxy: Some(
            std::process::Command::new("haproxy")
                .args(["-db", "-f"])
                .arg(&pg_front)
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("haproxy"),
        ),
    };
    std::thread::sleep(Duration::from_millis(500));
    let url = format!("postgres://postgres@127.0.0.1:{front}/hpki");
    let port = free_port();
    let dir = TempDir::new();
    let data = dir.data();
    let public = format!("http://localhost:{port}");
    ok(
        &data,
        &["init", "--database-url", &url, "--public-url", &public],
    );
    let token = operator_token(&data, "loader");
    // A sheet whose wrong passwords are counted across the failover.
    ok(&data, HOLDER);
    let (sheet, _) = issued(&data, "999999");
    let server = Server::start_behind(
        &data,
        port,
        &public,
        &[
            ("HPKI_SECOND__LOG__LEVEL", "error"),
            ("HPKI_SECOND__SHEETS__PASSWORD_ATTEMPTS_BURST", "1000"),
        ],
    );
    let (visit, page) = Visit::open(&server, &sheet);
    assert_eq!(page.status, 200);
    let wrong = || visit.password("WRANGPATH3477").status;
    assert_eq!((wrong(), wrong()), (403, 403));
    let tally = Arc::new(Tally::default());
    let addr = server.addr.clone();
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let (addr, token) = (addr.clone(), token.clone());
            let (tally, stop) = (tally.clone(), stop.clone());
            std::thread::spawn(move || load(addr, token, "/readyz".into(), tally, stop, w))
        })
        .collect();
    let_it_run(&tally, 150);
    let acknowledged_before = tally.created.lock().expect("tally").len();

    // The primary is lost; the standby is promoted.
    let failed_at = Instant::now();
    as_postgres(&format!(
        "{B}/pg_ctl -D {r}/p stop -m immediate >/dev/null && {B}/pg_ctl -D {r}/s promote -w >/dev/null"
    ));
    // Two more wrong passwords, tried until answered: a 503 is an attempt whose fate the
    // client cannot know, a 403 one that counted.
    let (mut counted, mut unknown) = (2, 0);
    while counted < 4 {
        match wrong() {
            403 => counted += 1,
            503 => unknown += 1,
            other => {
                panic!("a wrong password answered {other}: only 403, or 503 while failing over")
            }
        }
        assert!(failed_at.elapsed() < Duration::from_secs(30), "no answer");
        std::thread::sleep(Duration::from_millis(200));
    }
    let deadline = failed_at + Duration::from_secs(30);
    let recovered = loop {
        let now = tally.created.lock().expect("tally").len();
        if now > acknowledged_before + 10 {
            break failed_at.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "no write succeeded 30 s after the failover"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let_it_run(&tally, 100);
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    let (served, server_errors, connection_errors, other) = tally.snapshot();
    eprintln!(
        "cluster: PostgreSQL failover: writes again after {recovered:?}; {served} served, \
         {server_errors} 503s and {connection_errors} connection errors in all"
    );
    assert_eq!(
        other, 0,
        "only 503s while the database fails over, never a 500"
    );
    assert!(recovered < Duration::from_secs(15), "{recovered:?}");
    assert!(server.stop());

    // Every acknowledged write is in the promoted standby, and the chain verifies.
    let created = tally.created.lock().expect("tally").clone();
    every_acknowledged_holder_is_stored(&data, &created);
    // The sheet's count is exact: every counted attempt is there, and at most the unknown.
    let used = attempts_used(&data, "999999");
    eprintln!("cluster: the sheet counts {used} wrong passwords: 4 answered, {unknown} unknown");
    assert!(
        (4..=4 + unknown).contains(&used),
        "{used} wrong passwords counted: 4 answered, {unknown} unknown"
    );
}
