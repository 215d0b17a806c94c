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

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use hpki_passkey::soft::{Authenticator, Faults};

mod support;
use support::{free_port, hpki, serve, stop};

fn phones_count() -> usize {
    std::env::var("PHONES")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8)
}

/// A keep-alive HTTP/1.1 connection with a cookie jar of one or two cookies.
struct Conn {
    reader: BufReader<TcpStream>,
    cookies: Vec<(String, String)>,
}

struct Reply {
    status: u16,
    body: String,
}

impl Conn {
    fn open(addr: &str) -> Self {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        Self {
            reader: BufReader::new(s),
            cookies: Vec::new(),
        }
    }

    fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nCookie: {}\r\n",
            body.len(),
            cookie.join("; ")
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let s = self.reader.get_mut();
        s.write_all(head.as_bytes()).expect("write");
        s.write_all(body).expect("write body");
        let mut status_line = String::new();
        self.reader.read_line(&mut status_line).expect("status");
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status code");
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).expect("header");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (k, v) = line.split_once(':').expect("header line");
            let v = v.trim();
            if k.eq_ignore_ascii_case("content-length") {
                len = v.parse().expect("length");
            } else if k.eq_ignore_ascii_case("set-cookie") {
                if let Some((name, value)) = v.split(';').next().and_then(|p| p.split_once('=')) {
                    self.cookies.retain(|(n, _)| n != name);
                    self.cookies.push((name.to_owned(), value.to_owned()));
                }
            }
        }
        let mut body = vec![0u8; len];
        self.reader.read_exact(&mut body).expect("body");
        Reply {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    fn csrf(&self) -> String {
        self.cookies
            .iter()
            .find(|(n, _)| n.ends_with("hpki-csrf"))
            .map(|(_, v)| v.clone())
            .expect("csrf cookie")
    }

    fn json(&mut self, path: &str, body: &[u8]) -> serde_json::Value {
        let csrf = self.csrf();
        let r = self.send(
            "POST",
            path,
            &[
                ("Content-Type", "application/json"),
                ("X-CSRF-Token", &csrf),
            ],
            body,
        );
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        serde_json::from_str(&r.body).expect("json")
    }
}

/// A phone with a registered passkey and an open registration session.
fn phone(data: &Path, addr: &str, origin: &str, number: u32) -> (Conn, Authenticator) {
    hpki(
        data,
        &[
            "holder",
            "add",
            "--registry-number",
            &number.to_string(),
            "--name-kanji",
            "速度 太郎",
            "--name-kana",
            "ソクド タロウ",
            "--date-of-birth",
            "1980-04-01",
            "--qualification",
            "Pharmacist",
        ],
    );
    let sheet: serde_json::Value = serde_json::from_str(&hpki(
        data,
        &["sheet", "issue", "--holder", &number.to_string(), "--json"],
    ))
    .expect("sheet");
    let url = sheet["url"].as_str().expect("url");
    let path = &url[url.find("/r/").expect("path")..];
    let mut c = Conn::open(addr);
    let page = c.send("GET", path, &[], b"");
    assert_eq!(page.status, 200);
    let form = format!(
        "csrf={}&password={}",
        c.csrf(),
        sheet["password"].as_str().expect("pw")
    );
    let r = c.send(
        "POST",
        path,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let rp_id = origin
        .trim_start_matches("http://")
        .split(':')
        .next()
        .expect("host");
    let mut a = Authenticator::new(origin, rp_id);
    let options = c.json("/register/options", br#"{"mode":"register"}"#);
    let response = a.create(&options, Faults::default());
    c.json("/register/finish?mode=register", &response);
    (c, a)
}

fn sign_in(c: &mut Conn, a: &mut Authenticator) {
    let options = c.json("/register/options", br#"{"mode":"signin"}"#);
    a.counter += 1;
    let response = a.get(&options, Faults::default());
    c.json("/register/finish?mode=signin", &response);
}

/// `serve` on a free port with the public URL `http://localhost:PORT` (WebAuthn needs a domain).
fn start(data: &Path) -> (Child, String, String) {
    let port = free_port();
    let origin = format!("http://localhost:{port}");
    let (child, addr) = serve(
        data,
        &[
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--public-url",
            &origin,
        ],
        // Every phone enters its sheet's password from 127.0.0.1.
        &[("HPKI_SECOND__SHEETS__PASSWORD_ATTEMPTS_BURST", "1000")],
    );
    (child, addr, origin)
}

/// CPU seconds (user + system) the process has used so far, from /proc (Linux).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // The fields after the command name (which is in parentheses); utime and stime are the
    // 14th and 15th of the whole line, in clock ticks (100 per second on Linux).
    let rest = &stat[stat.rfind(')').expect("stat line") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / 100.0
}

/// Runs `f` on every phone for `secs` seconds; the rate over all of them.
fn rate<T: Send>(phones: &mut [T], secs: f64, f: impl Fn(&mut T) + Sync) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let total: usize = std::thread::scope(|s| {
        let handles: Vec<_> = phones
            .iter_mut()
            .map(|p| {
                let f = &f;
                s.spawn(move || {
                    let mut n = 0;
                    while Instant::now() < deadline {
                        f(p);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).sum()
    });
    total as f64 / started.elapsed().as_secs_f64()
}

fn round(label: &str, data: &Path, secs: f64) {
    let (child, addr, origin) = start(data);
    let mut phones: Vec<(Conn, Authenticator)> = (0..phones_count())
        .map(|i| phone(data, &addr, &origin, 700_000 + i as u32))
        .collect();
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
        let name = format!("hpki_signin_{}", std::process::id());
        let ok = Command::new("psql")
            .arg(&admin)
            .args([
                "-v",
                "ON_ERROR_STOP=1",
                "-qc",
                &format!("CREATE DATABASE {name}"),
            ])
            .status()
            .expect("psql");
        assert!(ok.success());
        let (base, _) = admin.rsplit_once('/').expect("db url");
        let data = dir.join("pg");
        hpki(
            &data,
            &["init", "--database-url", &format!("{base}/{name}")],
        );
        round("PostgreSQL 15", &data, secs);
    }
}
