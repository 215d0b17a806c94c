//! What `deploy/` ships, checked: the systemd unit passes `systemd-analyze verify` and its
//! exposure score is what docs/operations.md states; under it, `serve` speaks systemd's
//! notification protocol (READY=1 once it listens, WATCHDOG=1 at half the interval, STOPPING=1
//! on SIGTERM).

use std::os::unix::net::UnixDatagram;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;

/// The datagrams received until `until` says stop (or five seconds pass).
fn receive(socket: &UnixDatagram, mut until: impl FnMut(&[String]) -> bool) -> Vec<String> {
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !until(&got) && Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    got
}

#[test]
fn serve_tells_systemd_it_is_ready_alive_and_stopping() {
    let dir = TempDir::new();
    let data = init(&dir, None);
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
    let path = path.to_str().expect("path").to_owned();
    let server = Server::start_with(
        &data,
        &[
            ("NOTIFY_SOCKET", path.as_str()),
            // A watchdog of 0.4 s: pinged every 0.2 s.
            ("WATCHDOG_USEC", "400000"),
        ],
        Stdio::inherit(),
    );
    let got = receive(&socket, |g| {
        g.iter().filter(|m| m.as_str() == "WATCHDOG=1").count() >= 3
    });
    assert_eq!(got.first().map(String::as_str), Some("READY=1"), "{got:?}");
    assert!(
        got.iter().filter(|m| *m == "WATCHDOG=1").count() >= 3,
        "{got:?}"
    );
    server.signal_term();
    let got = receive(&socket, |g| g.iter().any(|m| m == "STOPPING=1"));
    assert!(got.iter().any(|m| m == "STOPPING=1"), "{got:?}");
    assert!(server.stop());
}

#[test]
fn the_systemd_unit_verifies_and_is_as_exposed_as_documented() {
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let unit = std::fs::read_to_string(deploy.join("hpki-second.service")).expect("the unit");
    // systemd-analyze wants the ExecStart binary to exist: the one just built.
    let here = TempDir::new();
    let copy = here.path().join("hpki-second.service");
    std::fs::write(&copy, unit.replace("/usr/local/bin/hpki-second", BIN)).expect("copy");
    let verify = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("systemd-analyze (package systemd)");
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let security = std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&copy)
        .output()
        .expect("systemd-analyze security");
    let text = String::from_utf8_lossy(&security.stdout).into_owned();
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("exposure level for hpki-second.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure score: {text}"));
    assert!(
        score <= 1.5,
        "exposure {score} (docs/operations.md states 1.4)"
    );
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/operations.md"),
    )
    .expect("operations.md");
    assert!(
        docs.contains(&format!("exposure score {score:.1}")),
        "docs/operations.md should state the exposure score {score:.1}"
    );
}
