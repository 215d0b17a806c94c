//! Phones for the HTTP benchmarks: keep-alive connections with a cookie jar, each a holder
//! whose passkey was registered through their sheet with the software authenticator; running
//! them for a while; the server's CPU time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use hpki_passkey::soft::{Authenticator, Faults};

use crate::support::{free_port, hpki, serve};

/// Sign-ins of relying systems (not every benchmark with phones uses them).
#[allow(dead_code)]
pub mod signin;

/// How many phones (client threads): `PHONES`, default 8.
pub fn phones_count() -> usize {
    std::env::var("PHONES")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8)
}

/// A keep-alive HTTP/1.1 connection with a cookie jar of one or two cookies.
pub struct Conn {
    reader: BufReader<TcpStream>,
    cookies: Vec<(String, String)>,
}

pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Conn {
    pub fn open(addr: &str) -> Self {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        Self {
            reader: BufReader::new(s),
            cookies: Vec::new(),
        }
    }

    /// A new connection with the same cookies: the server closes one idle for longer than its
    /// header-read timeout (10 s), as while other phones are set up.
    pub fn reconnect(&mut self, addr: &str) {
        let cookies = std::mem::take(&mut self.cookies);
        *self = Self::open(addr);
        self.cookies = cookies;
    }

    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
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
        // One write for the head and the body, as HTTP clients do (two would be two segments,
        // and the server could wake up for each).
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        self.reader.get_mut().write_all(&request).expect("write");
        let mut status_line = String::new();
        self.reader.read_line(&mut status_line).expect("status");
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("{method} {path}: no status line (the server closed the connection?): {status_line:?}"));
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

    pub fn csrf(&self) -> String {
        self.cookies
            .iter()
            .find(|(n, _)| n.ends_with("hpki-csrf"))
            .map(|(_, v)| v.clone())
            .expect("csrf cookie")
    }

    pub fn json(&mut self, path: &str, body: &[u8]) -> serde_json::Value {
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
pub fn phone(data: &Path, addr: &str, origin: &str, number: u32) -> (Conn, Authenticator) {
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
            "--name-roman",
            "Taro Sokudo",
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

/// `serve` on a free port with the public URL `http://localhost:PORT` (WebAuthn needs a domain).
pub fn start(data: &Path) -> (Child, String, String) {
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
        // Every phone enters its sheet's password, and device codes, from 127.0.0.1.
        &[
            ("HPKI_SECOND__SHEETS__PASSWORD_ATTEMPTS_BURST", "1000"),
            ("HPKI_SECOND__OIDC__DEVICE_CODES_BURST", "1000000"),
            ("HPKI_SECOND__OIDC__DEVICE_CODES_PER_MINUTE", "1000000"),
        ],
    );
    (child, addr, origin)
}

/// CPU seconds (user + system) the process has used so far, from /proc (Linux).
pub fn cpu_seconds(pid: u32) -> f64 {
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
pub fn rate<T: Send>(phones: &mut [T], secs: f64, f: impl Fn(&mut T) + Sync) -> f64 {
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
