//! What the integration tests share (tests/README.md says where a new test goes): running the
//! binary and its server (this file), the CA's files and their checkers (`pki`), the world of
//! a holder with a registered phone and a relying system (`world`), signing (`signing`), DPoP
//! proofs (`dpop`), an HPKI card on SoftHSM2 (`card`), a sheet's page (`sheet`). A test file says `use crate::support::*;` and imports no
//! other test file.
//!
//! Shared test helpers: the real binary, temporary data directories, a running server, and an
//! HTTP/1.1 client (hyper's).

mod card;
mod dpop;
mod pki;
mod sheet;
mod signing;
mod traffic;
mod world;

pub(crate) use card::*;
pub(crate) use dpop::*;
pub(crate) use pki::*;
pub(crate) use sheet::*;
pub(crate) use signing::*;
pub(crate) use traffic::*;
pub(crate) use world::*;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_hpki-second");

pub use hpki_test_support::random_hex;

/// A temporary directory (removed when dropped) with a data directory path in it.
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    pub fn new() -> Self {
        Self(
            tempfile::Builder::new()
                .prefix("hpki-it-")
                .tempdir()
                .expect("a temporary directory"),
        )
    }
    pub fn path(&self) -> &Path {
        self.0.path()
    }
    pub fn data(&self) -> PathBuf {
        self.0.path().join("data")
    }
}

pub fn cli(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("HPKI_SECOND_DATA_DIR")
        .env(TEST_CLOCK, clock_file(data_dir))
        .output()
        .expect("run hpki-second")
}

/// The variable that points a debug build's clock at a file of seconds to add to the real
/// time (`crates/cli/src/app.rs`, `TEST_CLOCK_ENV`).
const TEST_CLOCK: &str = "HPKI_SECOND_TEST_CLOCK_FILE";

/// The clock file of the servers and commands of one data directory: beside it.
fn clock_file(data_dir: &Path) -> PathBuf {
    data_dir.with_file_name("test-clock")
}

/// Moves the clock of every server and command of this data directory `secs` ahead (from
/// now on; servers read the file each time they ask the time): instead of sleeping.
pub fn advance_clock(data_dir: &Path, secs: i64) {
    let ahead = clock_ahead(data_dir);
    std::fs::write(clock_file(data_dir), format!("{}\n", ahead + secs))
        .expect("write the test clock");
}

/// How many seconds [`advance_clock`] has moved this data directory's clock ahead.
pub fn clock_ahead(data_dir: &Path) -> i64 {
    std::fs::read_to_string(clock_file(data_dir))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command that must succeed; returns its stdout.
pub fn ok(data_dir: &Path, args: &[&str]) -> String {
    let o = cli(data_dir, args);
    assert!(
        o.status.success(),
        "hpki-second {args:?} failed: {}{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Runs a command that must fail; returns its stderr.
pub fn fails(data_dir: &Path, args: &[&str]) -> (i32, String) {
    let o = cli(data_dir, args);
    assert!(
        !o.status.success(),
        "hpki-second {args:?} should have failed: {}",
        stdout(&o)
    );
    (o.status.code().unwrap_or(-1), stderr(&o))
}

pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// An initialised data directory, on SQLite unless a database URL is given.
pub fn init(dir: &TempDir, database_url: Option<&str>) -> PathBuf {
    let data = dir.data();
    let mut args = vec!["init"];
    if let Some(u) = database_url {
        args.extend(["--database-url", u]);
    }
    ok(&data, &args);
    data
}

pub fn operator_token(data: &Path, name: &str) -> String {
    let out = json(&ok(data, &["operator", "add", "--name", name, "--json"]));
    out["token"].as_str().expect("token").to_owned()
}

/// The tests' SoftHSM2 token, one test at a time: hold the guard for the whole test. SoftHSM2
/// keeps a token as files; with several tests' processes on one token, a CLI process now and
/// then found no token, or crashed at exit inside SoftHSM2 (heap corruption), while another
/// test's process wrote it (1 run in 8 of the SoftHSM2 tests two at a time; none in 4 runs one
/// at a time).
pub fn softhsm_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

/// A `hpki-second serve` process on a free port; stopped with SIGTERM when dropped.
/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

pub struct Server {
    child: Child,
    pub addr: String,
}

impl Server {
    pub fn start(data: &Path) -> Self {
        Self::start_with(
            data,
            &[("HPKI_SECOND__LOG__LEVEL", "warn")],
            Stdio::inherit(),
        )
    }

    /// Starts `serve` on a free port with the public URL `http://localhost:PORT`: a domain
    /// name, as WebAuthn needs, that browsers treat as a secure context.
    pub fn start_on_localhost(data: &Path) -> Self {
        Self::start_on_localhost_with(data, &[])
    }

    /// [`Server::start_on_localhost`] with extra environment (configuration overrides).
    pub fn start_on_localhost_with(data: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_on_localhost_port(data, free_port(), env)
    }

    /// [`Server::start_on_localhost_with`] on a chosen port (one the data directory's
    /// certificates already name, from `init --public-url`).
    pub fn start_on_localhost_port(data: &Path, port: u16, env: &[(&str, &str)]) -> Self {
        Self::spawn(
            data,
            &[
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--public-url",
                &format!("http://localhost:{port}"),
            ],
            &[&[("HPKI_SECOND__LOG__LEVEL", "warn")], env].concat(),
            Stdio::inherit(),
        )
    }

    /// Starts `serve` on a chosen port under a public URL of another (a load balancer's).
    pub fn start_behind(data: &Path, port: u16, public_url: &str, env: &[(&str, &str)]) -> Self {
        let listen = format!("127.0.0.1:{port}");
        let args = ["serve", "--listen", &listen, "--public-url", public_url];
        Self::spawn(data, &args, env, Stdio::inherit())
    }

    /// Kills the process at once (SIGKILL): a machine lost, nothing finished.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts `serve` with extra environment and a chosen stderr.
    pub fn start_with(data: &Path, env: &[(&str, &str)], stderr: Stdio) -> Self {
        Self::spawn(data, &["serve", "--listen", "127.0.0.1:0"], env, stderr)
    }

    fn spawn(data: &Path, args: &[&str], env: &[(&str, &str)], stderr: Stdio) -> Self {
        let mut child = Command::new(BIN)
            .arg("--data-dir")
            .arg(data)
            .args(args)
            .env(TEST_CLOCK, clock_file(data))
            // No drain before the listener closes, unless a test asks for one: a stop is quick.
            .env("HPKI_SECOND__SERVER__DRAIN_SECS", "0")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn serve");
        let out = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(out)
            .read_line(&mut line)
            .expect("read the listening line");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        Self { child, addr }
    }

    /// Sends SIGTERM and waits; returns whether the process exited successfully.
    pub fn stop(mut self) -> bool {
        self.terminate()
    }

    /// Sends SIGTERM without waiting.
    pub fn signal_term(&self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
    }

    fn terminate(&mut self) -> bool {
        self.signal_term();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Response {
        request(&self.addr, "GET", path, token, None, &[])
    }

    pub fn post_json(&self, path: &str, token: Option<&str>, body: &serde_json::Value) -> Response {
        request(
            &self.addr,
            "POST",
            path,
            token,
            Some("application/json"),
            body.to_string().as_bytes(),
        )
    }

    pub fn put(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: &[u8],
    ) -> Response {
        request(&self.addr, "PUT", path, token, Some(content_type), body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        json(&self.text())
    }
}

/// One request on its own connection (`Connection: close`), read to the end.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Response {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = Vec::new();
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    if let Some(ct) = content_type {
        headers.push(("Content-Type", ct));
    }
    request_with(addr, method, path, &headers, body)
}

/// A request with any headers (cookies, forwarded addresses), on its own connection, through
/// hyper's HTTP/1.1 client. A server that answers before taking the whole body (413) and
/// closes is fine: the answer is what counts.
pub fn request_with(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    try_request_with(addr, method, path, headers, body).unwrap_or_else(|e| panic!("{e}"))
}

/// [`request_with`], a connection that fails or closes without an answer being an error (a
/// load generator counts those).
pub fn try_request_with(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, String> {
    // On a thread of its own, so that async tests (inside a runtime) can call it too.
    std::thread::scope(|scope| {
        scope
            .spawn(|| exchange(addr, method, path, headers, body))
            .join()
            .expect("the request's thread")
    })
}

fn exchange(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| format!("HTTP/1.1 handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("Host", "localhost");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request
            .body(http_body_util::Full::new(
                hyper::body::Bytes::copy_from_slice(body),
            ))
            .expect("request");
        let response = tokio::time::timeout(Duration::from_secs(60), sender.send_request(request))
            .await
            .map_err(|_| format!("{method} {path}: no answer within a minute"))?
            .map_err(|e| format!("{method} {path}: no HTTP response: {e}"))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .map(|b| b.to_bytes().to_vec())
            .unwrap_or_default();
        Ok(Response {
            status,
            headers,
            body,
        })
    })
}

/// A PNG of the given size.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encode");
    out.into_inner()
}

/// The SQLite database of a data directory, for tampering with it directly.
pub async fn sqlite_pool(data: &Path) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&format!("sqlite://{}/hpki-second.db", data.display()))
        .await
        .expect("open the database")
}

/// The audit chain's head sequence number: tests count events relative to it.
pub fn audit_seq(data: &Path) -> i64 {
    json(&ok(data, &["audit", "checkpoint", "--json"]))["seq"]
        .as_i64()
        .expect("seq")
}

/// Asserts that `audit verify` finds the log intact with exactly `events` events.
pub fn assert_audit_intact(data: &Path, events: i64) {
    let out = ok(data, &["audit", "verify"]);
    assert!(
        out.contains(&format!("audit log intact: {events} events")),
        "{out}"
    );
}

/// A holder for `holder add`: the manual's example unless a field is changed.
#[derive(Clone, Copy)]
pub struct HolderArgs<'a> {
    pub number: &'a str,
    pub kanji: &'a str,
    pub kana: &'a str,
    pub roman: Option<&'a str>,
    pub date_of_birth: &'a str,
    pub qualification: &'a str,
}

impl Default for HolderArgs<'_> {
    fn default() -> Self {
        Self {
            number: "999999",
            kanji: "薬剤 太郎",
            kana: "ヤクザイ タロウ",
            roman: None,
            date_of_birth: "1980-04-01",
            qualification: "Pharmacist",
        }
    }
}

impl<'a> HolderArgs<'a> {
    /// The command line: `holder add --registry-number … ` and then `extra`.
    pub fn args(&self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "holder",
            "add",
            "--registry-number",
            self.number,
            "--name-kanji",
            self.kanji,
            "--name-kana",
            self.kana,
            "--date-of-birth",
            self.date_of_birth,
            "--qualification",
            self.qualification,
        ];
        if let Some(r) = self.roman {
            args.extend(["--name-roman", r]);
        }
        args.extend_from_slice(extra);
        args
    }
}

/// A configured contact (`[contact]`), as environment overrides for a test server.
pub const CONTACT_ENV: &[(&str, &str)] = &[
    ("HPKI_SECOND__CONTACT__NAME", "日本薬剤師会 認証局"),
    ("HPKI_SECOND__CONTACT__PHONE", "03-1234-5678"),
    ("HPKI_SECOND__CONTACT__URL", "https://www.example.jp/hpki/"),
];

/// `holder add` of the manual's example holder, 999999-jpa.
pub const HOLDER: &[&str] = &[
    "holder",
    "add",
    "--registry-number",
    "999999",
    "--name-kanji",
    "薬剤 太郎",
    "--name-kana",
    "ヤクザイ タロウ",
    "--date-of-birth",
    "1980-04-01",
    "--qualification",
    "Pharmacist",
    "--json",
];
