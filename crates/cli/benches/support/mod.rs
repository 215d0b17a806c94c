//! What the benchmarks share: running the real binary, starting `serve`, the manual's example
//! holder. (Each bench uses some of it.)
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_hpki-second");

/// Stops the benchmark before it starts when a tool it runs is not installed, naming the
/// Debian package: `(program, package)`. scripts/bench installs every benchmark's tools.
pub fn require_tools(bench: &str, tools: &[(&str, &str)]) {
    let on_path = |program: &str| {
        if program.contains('/') {
            return Path::new(program).is_file();
        }
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
    };
    let missing: Vec<String> = tools
        .iter()
        .filter(|(program, _)| !on_path(program))
        .map(|(program, package)| format!("{program} (Debian package {package})"))
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "the {bench} benchmark needs {}: install it (apt-get install …), or run scripts/bench, which installs what every benchmark needs",
            missing.join(", ")
        );
        std::process::exit(2);
    }
}

/// `holder add` of the manual's example holder, 999999-jpa.
pub const EXAMPLE_HOLDER: &[&str] = &[
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
];

/// Runs `hpki-second --data-dir DATA ARGS`, which must succeed; its standard output.
pub fn hpki(data: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("hpki-second {args:?}: {e}"));
    assert!(
        out.status.success(),
        "hpki-second {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A new, empty PostgreSQL database next to the one `admin` names (`HPKI_TEST_DATABASE_URL`),
/// for one benchmark run: its URL.
pub fn fresh_postgres_database(admin: &str, prefix: &str) -> String {
    let name = format!("{prefix}_{}", std::process::id());
    let ok = Command::new("psql")
        .arg(admin)
        .args([
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            &format!("CREATE DATABASE {name}"),
        ])
        .status()
        .expect("psql (postgresql-client)");
    assert!(ok.success(), "CREATE DATABASE {name}");
    let (base, _) = admin.rsplit_once('/').expect("a database URL");
    format!("{base}/{name}")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts `hpki-second serve ARGS` with `env` (logging errors only); the process and the
/// address it printed.
pub fn serve(data: &Path, args: &[&str], env: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .arg("serve")
        .args(args)
        .env("HPKI_SECOND__LOG__LEVEL", "error")
        .env("HPKI_SECOND__SERVER__DRAIN_SECS", "0")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .expect("serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the listening line");
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    (child, addr)
}

/// SIGTERM, then wait.
pub fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

/// `openssl speed -multi 2 rsa2048`: the sign/s column of the "rsa 2048 bits" line.
pub fn openssl_rsa_speed() -> f64 {
    let out = Command::new("openssl")
        .args(["speed", "-multi", "2", "-seconds", "5", "rsa2048"])
        .output()
        .expect("openssl (Debian package openssl)");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let line = out
        .lines()
        .rev()
        .find(|l| {
            l.trim_start().starts_with("rsa 2048 bits")
                || l.trim_start().starts_with("rsa  2048 bits")
        })
        .unwrap_or_else(|| panic!("no rsa 2048 line in:\n{out}"));
    let nums: Vec<f64> = line
        .split_whitespace()
        .filter_map(|w| w.trim_end_matches('s').parse().ok())
        .collect();
    // ... sign(s) verify(s) sign/s verify/s: the second-to-last number.
    nums[nums.len() - 2]
}

/// `n` in kanji digits (一二〇): names hold no ASCII digits, so many distinct names are
/// numbered this way.
pub fn kanji_digits(n: usize) -> String {
    const DIGITS: [char; 10] = ['〇', '一', '二', '三', '四', '五', '六', '七', '八', '九'];
    n.to_string()
        .chars()
        .map(|d| DIGITS[d.to_digit(10).unwrap_or(0) as usize])
        .collect()
}
