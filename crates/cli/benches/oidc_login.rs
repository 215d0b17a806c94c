//! Benchmark: complete OpenID Connect logins with a passkey, end to end over HTTP, target at
//! least 500 per second on 2 cores with SQLite (issue 12). One login is what a relying system
//! and the holder's browser do: `GET /oidc/authorize` (the login page, a new login, with its
//! WebAuthn options), the phone's assertion (software authenticator), `POST
//! /oidc/login/finish` (verified, the code), `POST /oidc/token` (client secret, PKCE), and the
//! relying system checking the ID token (ES256 signature against the JWKS, iss, aud, nonce,
//! exp). References in the same run: `GET /healthz` on the same kind of connection, and
//! Keycloak's published sizing (about 15 password logins per second per vCPU). Then the same
//! logins through the device authorization grant (issue 29: at least 80% of the code flow's
//! rate), in rounds taken by turns with the code flow's.
//!
//! Run: `cargo bench -p hpki-second --bench oidc_login` (add `-- 32` for the seconds of all
//! rounds, 16 by default).

use std::time::Instant;

use hpki_passkey::soft::Authenticator;

mod phones;
mod support;
use phones::signin::{login, login_by_device, relying_system};
use phones::{cpu_seconds, phone, phones_count, rate, start, Conn};
use support::{hpki, stop};

/// Rounds of each kind of login, taken by turns.
const ROUNDS: u32 = 8;

/// The logins of one kind over its rounds: how many, in how long, with how much server CPU,
/// and each round's rate.
#[derive(Default)]
struct Tally {
    logins: f64,
    secs: f64,
    cpu: f64,
    rates: Vec<f64>,
}

impl Tally {
    /// One round: `run` returns its rate.
    fn round(&mut self, server: u32, run: impl FnOnce() -> f64) {
        let cpu = cpu_seconds(server);
        let started = Instant::now();
        let rate = run();
        let secs = started.elapsed().as_secs_f64();
        self.cpu += cpu_seconds(server) - cpu;
        self.secs += secs;
        self.logins += rate * secs;
        self.rates.push(rate);
    }

    /// The median over the rounds of this kind's rate against `other`'s in the round just
    /// before: a moment when the machine was slower for other reasons weighs on one pair only.
    fn median_share(&self, other: &Tally) -> f64 {
        let mut shares: Vec<f64> = self
            .rates
            .iter()
            .zip(&other.rates)
            .map(|(mine, theirs)| mine / theirs)
            .collect();
        shares.sort_by(f64::total_cmp);
        match shares.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => shares[n / 2],
            n => (shares[n / 2 - 1] + shares[n / 2]) / 2.0,
        }
    }

    fn rate(&self) -> f64 {
        self.logins / self.secs
    }

    fn cpu_per_login_ms(&self) -> f64 {
        self.cpu / self.logins * 1000.0
    }

    fn cores(&self) -> f64 {
        self.cpu / self.secs
    }
}

fn main() {
    let secs: f64 = std::env::args()
        .find_map(|a| a.parse().ok())
        .unwrap_or(16.0);
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
        login_by_device(b, p, r, &rp, "openid hpki");
    });
    // The code flow and the device authorization grant (RFC 8628) by turns on the same
    // phones, so that whatever else the machine does falls on both alike.
    let (mut code, mut device) = (Tally::default(), Tally::default());
    for _ in 0..ROUNDS {
        code.round(child.id(), || {
            rate(&mut phones, secs / ROUNDS as f64, |(b, p, r)| {
                login(b, p, r, &rp, "openid hpki");
            })
        });
        device.round(child.id(), || {
            rate(&mut phones, secs / ROUNDS as f64, |(b, p, r)| {
                login_by_device(b, p, r, &rp, "openid hpki");
            })
        });
    }
    let mut plain: Vec<Conn> = (0..phones_count()).map(|_| Conn::open(&addr)).collect();
    let healthz = rate(&mut plain, secs.min(3.0), |c| {
        assert_eq!(c.send("GET", "/healthz", &[], b"").status, 200);
    });
    println!(
        "| {:.0}/s | {:.2} ms on {:.2} cores | {healthz:.0}/s | about 15/s per vCPU, 30/s on 2 |",
        code.rate(),
        code.cpu_per_login_ms(),
        code.cores(),
    );
    println!();
    println!("| device-grant logins (device authorization, the phone's page and passkey, one poll + ID token check) | server CPU per login | against the code flow: overall, median of {ROUNDS} rounds (target: at least 80%) |");
    println!("|---|---|---|");
    println!(
        "| {:.0}/s | {:.2} ms on {:.2} cores | {:.0}%, {:.0}% |",
        device.rate(),
        device.cpu_per_login_ms(),
        device.cores(),
        device.rate() / code.rate() * 100.0,
        device.median_share(&code) * 100.0,
    );
    stop(child);
}
