//! Benchmark: complete OpenID Connect logins with a passkey, end to end over HTTP, target at
//! least 500 per second on 2 cores with SQLite (issue 12). One login is what a relying system
//! and the holder's browser do: `GET /oidc/authorize` (the login page, a new login, with its
//! WebAuthn options), the phone's assertion (software authenticator), `POST
//! /oidc/login/finish` (verified, the code), `POST /oidc/token` (client secret, PKCE), and the
//! relying system checking the ID token (ES256 signature against the JWKS, iss, aud, nonce,
//! exp). References in the same run: `GET /healthz` on the same kind of connection, and
//! Keycloak's published sizing (about 15 password logins per second per vCPU).
//!
//! Run: `cargo bench -p hpki-second --bench oidc_login` (add `-- 5` for seconds per round).

use std::time::Instant;

use hpki_passkey::soft::Authenticator;

mod phones;
mod support;
use phones::signin::{login, login_by_device, relying_system};
use phones::{cpu_seconds, phone, phones_count, rate, start, Conn};
use support::{hpki, stop};

fn main() {
    let secs: f64 = std::env::args()
        .find_map(|a| a.parse().ok())
        .unwrap_or(10.0);
    let tmp = tempfile::Builder::new()
        .prefix("hpki-oidc-bench-")
        .tempdir()
        .expect("a temporary directory");
    let data = tmp.path().join("sqlite");
    hpki(&data, &["init"]);
    let (child, addr, origin) = start(&data);
    let rp = relying_system(&data, &addr, &[]);
    let mut phones: Vec<(Conn, Authenticator, Conn)> = (0..phones_count())
        .map(|i| {
            let number = 710_000 + i as u32;
            let (browser, phone) = phone(&data, &addr, &origin, number);
            hpki(
                &data,
                &["cert", "issue-second", "--holder", &number.to_string()],
            );
            (browser, phone, Conn::open(&addr))
        })
        .collect();
    // Fresh connections: the first phones' sat idle while the others were set up.
    for (browser, _, rp_conn) in &mut phones {
        browser.reconnect(&addr);
        rp_conn.reconnect(&addr);
    }
    println!(
        "OpenID Connect logins with a passkey over HTTP, SQLite, {} phones on keep-alive connections, {secs} s, {} cores",
        phones_count(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("| complete logins (4 requests + ID token check) | server CPU per login | reference: GET /healthz | reference: Keycloak sizing (password logins) |");
    println!("|---|---|---|---|");
    rate(&mut phones, 1.0, |(b, p, r)| {
        login(b, p, r, &rp, "openid hpki");
    });
    let cpu_before = cpu_seconds(child.id());
    let started = Instant::now();
    let logins = rate(&mut phones, secs, |(b, p, r)| {
        login(b, p, r, &rp, "openid hpki");
    });
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(child.id()) - cpu_before;
    // The same logins through the device authorization grant (RFC 8628), the same phones.
    let started = Instant::now();
    let cpu_before = cpu_seconds(child.id());
    let by_device = rate(&mut phones, secs, |(b, p, r)| {
        login_by_device(b, p, r, &rp, "openid hpki");
    });
    let device_elapsed = started.elapsed().as_secs_f64();
    let device_cpu = cpu_seconds(child.id()) - cpu_before;
    let mut plain: Vec<Conn> = (0..phones_count()).map(|_| Conn::open(&addr)).collect();
    let healthz = rate(&mut plain, secs.min(3.0), |c| {
        assert_eq!(c.send("GET", "/healthz", &[], b"").status, 200);
    });
    println!(
        "| {logins:.0}/s | {:.2} ms on {:.2} cores | {healthz:.0}/s | about 15/s per vCPU, 30/s on 2 |",
        cpu / (logins * elapsed) * 1000.0,
        cpu / elapsed,
    );
    println!();
    println!("| device-grant logins (device authorization, the phone's page and passkey, one poll + ID token check) | server CPU per login | against the code flow (target: at least 80%) |");
    println!("|---|---|---|");
    println!(
        "| {by_device:.0}/s | {:.2} ms on {:.2} cores | {:.0}% |",
        device_cpu / (by_device * device_elapsed) * 1000.0,
        device_cpu / device_elapsed,
        by_device / logins * 100.0,
    );
    stop(child);
}
