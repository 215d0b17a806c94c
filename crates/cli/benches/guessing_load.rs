//! Measurement: does password guessing starve the server? 50 wrong-password requests are sent
//! at once to `/r/{token}` (each one a real Argon2id verification), and while they hash,
//! `/healthz` is asked again and again. Reference in the same run: `/healthz` on the idle
//! server. A second round keeps the default per-address limit, where most of the 50 are
//! refused before any hashing.
//!
//! Run: `cargo bench -p hpki-second --bench guessing_load`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

mod support;
use support::{hpki, serve, stop, EXAMPLE_HOLDER};

const ATTEMPTS: usize = 50;

/// One request on its own connection; the status and the body.
fn http(addr: &str, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    (status, raw)
}

fn start(data: &Path, burst: &str) -> (Child, String) {
    serve(
        data,
        &["--listen", "127.0.0.1:0"],
        &[
            ("HPKI_SECOND__SHEETS__MAX_ATTEMPTS", "100"),
            ("HPKI_SECOND__SHEETS__PASSWORD_ATTEMPTS_BURST", burst),
        ],
    )
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn healthz_while(addr: &str, busy: &AtomicBool, at_least: usize) -> Vec<f64> {
    let mut times = Vec::new();
    while busy.load(Ordering::Relaxed) || times.len() < at_least {
        let t = Instant::now();
        let (status, _) = http(addr, "GET", "/healthz", "", "");
        assert_eq!(status, 200);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        if !busy.load(Ordering::Relaxed) && times.len() >= at_least {
            break;
        }
    }
    times.sort_by(f64::total_cmp);
    times
}

fn round(data: &Path, path: &str, burst: &str, label: &str) {
    let (child, addr) = start(data, burst);
    let (_, page) = http(&addr, "GET", path, "", "");
    let cookie = page
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .and_then(|v| v.split(';').next())
        .expect("csrf cookie")
        .to_owned();
    let at = page.find("name=\"csrf\" value=\"").expect("csrf") + 19;
    let body = format!("csrf={}&password=WRANGPATH3477", &page[at..at + 64]);
    let headers =
        format!("Content-Type: application/x-www-form-urlencoded\r\nCookie: {cookie}\r\n");

    let idle = healthz_while(&addr, &AtomicBool::new(false), 200);

    let busy = Arc::new(AtomicBool::new(true));
    let started = Instant::now();
    let attackers: Vec<_> = (0..ATTEMPTS)
        .map(|_| {
            let (addr, path, headers, body) =
                (addr.clone(), path.to_owned(), headers.clone(), body.clone());
            std::thread::spawn(move || http(&addr, "POST", &path, &headers, &body).0)
        })
        .collect();
    let watcher = {
        let (addr, busy) = (addr.clone(), busy.clone());
        std::thread::spawn(move || healthz_while(&addr, &busy, 20))
    };
    let statuses: Vec<u16> = attackers
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let storm = started.elapsed().as_secs_f64();
    busy.store(false, Ordering::Relaxed);
    let under = watcher.join().expect("watcher");
    let hashed = statuses.iter().filter(|s| **s == 403).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    println!(
        "| {label} | {hashed} hashed, {limited} refused (429) in {storm:.2} s | {:.2} / {:.2} ms | {:.2} / {:.2} / {:.2} ms ({} requests) |",
        percentile(&idle, 0.5),
        percentile(&idle, 0.99),
        percentile(&under, 0.5),
        percentile(&under, 0.99),
        under.last().copied().unwrap_or(0.0),
        under.len()
    );
    stop(child);
}

fn main() {
    let tmp = tempfile::Builder::new()
        .prefix("hpki-guess-bench-")
        .tempdir()
        .expect("a temporary directory");
    let dir = tmp.path();
    let data = dir.join("data");
    hpki(&data, &["init", "--public-url", "https://hpki.example.jp"]);
    hpki(&data, EXAMPLE_HOLDER);
    let issued = hpki(&data, &["sheet", "issue", "--holder", "999999", "--json"]);
    let url = issued
        .split('"')
        .find(|s| s.starts_with("https://hpki.example.jp/r/"))
        .expect("url")
        .trim_start_matches("https://hpki.example.jp")
        .to_owned();
    println!(
        "{ATTEMPTS} wrong passwords at once, {} cores; /healthz latency p50 / p99 (idle) and p50 / p99 / max (while they run)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "| per-address limit | the {ATTEMPTS} attempts | /healthz idle | /healthz meanwhile |"
    );
    println!("|---|---|---|---|");
    round(&data, &url, "1000", "lifted (every attempt hashes)");
    round(&data, &url, "10", "default (burst 10)");
}
