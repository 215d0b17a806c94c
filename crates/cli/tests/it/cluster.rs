//! Two `serve` instances on one PostgreSQL behind a real load balancer (HAProxy, its health
//! check on `/readyz`), and one instance on a PostgreSQL that fails over, each under a steady
//! load (support/traffic.rs) of OCSP requests, holder reads and creations through the operator
//! API, passkey sign-ins with CSC signatures, and wrong sheet passwords, every acknowledged
//! write recorded by the load generator:
//! - a rolling restart of both instances: zero 5xx and zero connection errors;
//! - `kill -9` of one instance: only what was in flight on it may fail, the rest is served;
//! - the database's primary lost and its synchronous standby promoted: only 503s meanwhile,
//!   writes and signatures again within 15 s, no restart;
//! - afterwards every acknowledged holder is in the database, every spent SAD is refused when
//!   tried again, each sheet's wrong-password count is exact, and the audit chain verifies.
//!
//! The figures are printed (docs/operations.md quotes a run). `deploy/haproxy.cfg` is the
//! configuration tested here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::support::*;

/// What every instance of the drills runs with: a sheet takes up to 100 wrong passwords (the
/// guesser keeps below), and the load's one address may try as many as it likes.
const SHEET_ENV: [(&str, &str); 2] = [
    ("HPKI_SECOND__SHEETS__MAX_ATTEMPTS", "100"),
    ("HPKI_SECOND__SHEETS__PASSWORD_ATTEMPTS_BURST", "100000"),
];

/// The load of a drill, on threads of its own until [`Load::finish`]: `operators` operator
/// clients, a signer and a sheet guesser, all counted in one tally.
struct Load {
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
    operators: Vec<JoinHandle<()>>,
    signer: Option<JoinHandle<Signer>>,
    guesser: Option<JoinHandle<SheetGuesser>>,
}

impl Load {
    fn start(
        addr: &str,
        (token, ocsp): (&str, &str),
        operators: u32,
        (mut signer, mut guesser): (Signer, SheetGuesser),
    ) -> Self {
        let tally = Arc::new(Tally::default());
        let stop = Arc::new(AtomicBool::new(false));
        let operators = (0..operators)
            .map(|w| {
                let (addr, token, ocsp) = (addr.to_owned(), token.to_owned(), ocsp.to_owned());
                let (tally, stop) = (tally.clone(), stop.clone());
                std::thread::spawn(move || operator_load(&addr, &token, &ocsp, &tally, &stop, w))
            })
            .collect();
        let (t, s) = (tally.clone(), stop.clone());
        let signer = std::thread::spawn(move || {
            signer.run(&t, &s);
            signer
        });
        let (t, s) = (tally.clone(), stop.clone());
        let guesser = std::thread::spawn(move || {
            guesser.run(&t, &s, Duration::from_millis(100));
            guesser
        });
        Self {
            tally,
            stop,
            operators,
            signer: Some(signer),
            guesser: Some(guesser),
        }
    }

    /// Stops the load: the signer and the guesser back, to be checked.
    fn finish(mut self) -> (Signer, SheetGuesser) {
        self.stop.store(true, Ordering::Relaxed);
        for w in std::mem::take(&mut self.operators) {
            w.join().expect("an operator client");
        }
        let signer = self.signer.take().expect("running");
        let guesser = self.guesser.take().expect("running");
        (
            signer.join().expect("the signer"),
            guesser.join().expect("the guesser"),
        )
    }
}

/// A test that fails stops its load too.
impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What the drills check once the load is over: every holder whose creation was answered 201
/// is stored and the audit chain verifies (read through `data`); each spent SAD is refused
/// when tried again (through the signer's address); each sheet's count is exact.
fn nothing_acknowledged_is_lost(
    data: &std::path::Path,
    tally: &Tally,
    load: (Signer, SheetGuesser),
) {
    let (signer, guesser) = load;
    let created = tally.created.lock().expect("tally").clone();
    assert!(created.len() > 50, "{} holders created", created.len());
    every_acknowledged_holder_is_stored(data, &created);
    assert!(
        signer.spent.len() >= 10,
        "{} signatures in {} sign-ins",
        signer.spent.len(),
        signer.sign_ins
    );
    signer.check_each_sad_spent_once();
    let (answered, unknown) = guesser.check_counts(data);
    eprintln!(
        "cluster: {} passkey sign-ins, {} signatures (each SAD refused when tried again); \
         {answered} wrong sheet passwords answered and counted, {unknown} unknown",
        signer.sign_ins,
        signer.spent.len()
    );
    assert!(answered >= 3, "{answered} wrong passwords answered");
}

/// HAProxy, stopped whatever happens.
struct Haproxy(std::process::Child);

impl Haproxy {
    fn start(config: &std::path::Path) -> Self {
        Self(
            std::process::Command::new("haproxy")
                .args(["-db", "-f"])
                .arg(config)
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("haproxy (scripts/test installs it)"),
        )
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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

/// Waits until `addr` answers `/readyz` with 200.
fn wait_ready(addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !matches!(try_request_with(addr, "GET", "/readyz", &[], b""), Ok(r) if r.status == 200) {
        assert!(Instant::now() < deadline, "{addr} never became ready");
        std::thread::sleep(Duration::from_millis(100));
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
        &SHEET_ENV[..],
        &[
            ("HPKI_SECOND__SERVER__DRAIN_SECS", "1"),
            ("HPKI_SECOND__LOG__LEVEL", "warn"),
        ],
    ]
    .concat();
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
    let haproxy = Haproxy::start(&write(files.path(), "haproxy.cfg", &config));
    let lb = format!("127.0.0.1:{lb_port}");
    wait_ready(&lb);
    std::thread::sleep(Duration::from_millis(600)); // both servers up in HAProxy's eyes

    // The holder's phone is registered, and the sheets opened, through the load balancer.
    let signer = Signer::new(&data_a, &lb, &public);
    let guesser = SheetGuesser::new(&data_a, &lb, &["888801", "888802"]);
    let load = Load::start(&lb, (&token, &ocsp), 4, (signer, guesser));
    let tally = load.tally.clone();
    tally.let_it_run(200);

    // Drill 1: a rolling restart, one instance at a time, each drained first.
    let began = Instant::now();
    for (server, data, port) in [(&mut a, &data_a, port_a), (&mut b, &data_b, port_b)] {
        assert!(
            server.take().expect("running").stop(),
            "exit 0 after SIGTERM"
        );
        *server = Some(start(data, port));
        std::thread::sleep(Duration::from_millis(600)); // back in HAProxy's rotation
        tally.let_it_run(100);
    }
    let rolling = tally.snapshot();
    eprintln!(
        "cluster: rolling restart in {:?}: {rolling:?}",
        began.elapsed()
    );
    assert_eq!(
        (
            rolling.server_errors,
            rolling.connection_errors,
            rolling.other
        ),
        (0, 0, 0),
        "a rolling restart loses nothing: {:?}",
        tally.wrong()
    );

    // Drill 2: one instance killed outright.
    a.take().expect("running").kill();
    tally.let_it_run(300);
    let killed = tally.snapshot() - rolling;
    let lost = killed.server_errors + killed.connection_errors + killed.other;
    eprintln!("cluster: kill -9 of one instance, since: {killed:?}");
    assert!(
        lost <= 6,
        "only what was in flight on it may fail (6 clients): {killed:?} {:?}",
        tally.wrong()
    );
    let load = load.finish();
    nothing_acknowledged_is_lost(&data_b, &tally, load);
    drop(haproxy);
    drop(b);
}

/// A PostgreSQL primary with a synchronous standby, behind a TCP front (HAProxy, the standby a
/// backup server used once the primary is down). The primary is stopped hard and the standby
/// promoted under load: the instance writes again within 15 s without a restart, only 503s
/// meanwhile, and every write it acknowledged is in the new primary (synchronous replication:
/// a commit returns only once the standby has it): holders, spent SADs, sheets' counts; the
/// audit chain verifies.
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
    let _pg_front = Haproxy::start(&write(
        files.path(),
        "pg.cfg",
        &format!(
            "global\n    maxconn 512\ndefaults\n    mode tcp\n    timeout connect 2s\n    \
             timeout client 1h\n    timeout server 1h\nfrontend pg\n    bind 127.0.0.1:{front}\n    \
             default_backend pg\nbackend pg\n    default-server inter 200ms fall 2 rise 2 \
             on-marked-down shutdown-sessions\n    server p 127.0.0.1:{p1} check\n    \
             server s 127.0.0.1:{p2} check backup\n"
        ),
    ));
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
    // Issued before an operator exists (after, the host's commands need an approval).
    second_certificate(&data);
    let token = operator_token(&data, "loader");
    let env = [&SHEET_ENV[..], &[("HPKI_SECOND__LOG__LEVEL", "error")]].concat();
    let server = Server::start_behind(&data, port, &public, &env);
    let signer = Signer::new(&data, &server.addr, &public);
    let guesser = SheetGuesser::new(&data, &server.addr, &["888801", "888802"]);
    let load = Load::start(&server.addr, (&token, "/readyz"), 3, (signer, guesser));
    let tally = load.tally.clone();
    tally.let_it_run(150);
    let acknowledged_before = tally.created.lock().expect("tally").len();

    // The primary is lost; the standby is promoted.
    let failed_at = Instant::now();
    as_postgres(&format!(
        "{B}/pg_ctl -D {r}/p stop -m immediate >/dev/null && {B}/pg_ctl -D {r}/s promote -w >/dev/null"
    ));
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
    tally.let_it_run(100);
    let load = load.finish();
    let counts = tally.snapshot();
    eprintln!("cluster: PostgreSQL failover: writes again after {recovered:?}; {counts:?}");
    assert_eq!(
        counts.other,
        0,
        "only 503s while the database fails over, never a 500: {:?}",
        tally.wrong()
    );
    assert!(recovered < Duration::from_secs(15), "{recovered:?}");
    // The holder signed again after the failover.
    let signed_since = load.0.spent.iter().filter(|s| s.2 > failed_at + recovered);
    assert!(signed_since.count() > 0, "no signature after the failover");
    // Every acknowledged write is in the promoted standby, and the chain verifies.
    nothing_acknowledged_is_lost(&data, &tally, load);
    assert!(server.stop());
}
