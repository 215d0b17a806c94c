//! What the benchmarks share: running the real binary, starting `serve`, the manual's example
//! holder. (Each bench uses some of it.)
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_hpki-second");

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
