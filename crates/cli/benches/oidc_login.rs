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

use std::path::Path;
use std::time::Instant;

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hpki_passkey::soft::{Authenticator, Faults};
use sha2::{Digest, Sha256};

mod phones;
mod support;
use phones::{cpu_seconds, phone, phones_count, rate, start, Conn};
use support::{hpki, stop};

const REDIRECT: &str = "https://pharmacy.example.jp/cb";

/// The relying system: its credentials and the provider's key (from the JWKS).
struct RelyingSystem {
    client_id: String,
    basic: String,
    issuer: String,
    /// kid → uncompressed P-256 point.
    keys: Vec<(String, Vec<u8>)>,
}

fn b64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("base64url")
}

impl RelyingSystem {
    /// What openid-client does to an ID token, minus the discovery it caches.
    fn check_id_token(&self, jwt: &str, nonce: &str, now: i64) {
        let mut parts = jwt.split('.');
        let (h, p, s) = (
            parts.next().expect("header"),
            parts.next().expect("payload"),
            parts.next().expect("signature"),
        );
        let header: serde_json::Value = serde_json::from_slice(&b64(h)).expect("header");
        assert_eq!(header["alg"], "ES256");
        let key = self
            .keys
            .iter()
            .find(|(kid, _)| header["kid"] == kid.as_str())
            .map(|(_, k)| k)
            .expect("a key of the JWKS");
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key)
            .verify(&jwt.as_bytes()[..h.len() + 1 + p.len()], &b64(s))
            .expect("the ID token's signature verifies");
        let claims: serde_json::Value = serde_json::from_slice(&b64(p)).expect("claims");
        assert_eq!(claims["iss"], self.issuer.as_str());
        assert_eq!(claims["aud"], self.client_id.as_str());
        assert_eq!(claims["nonce"], nonce);
        assert!(claims["exp"].as_i64().expect("exp") > now);
    }
}

fn random_b64() -> String {
    let mut raw = [0u8; 32];
    hpki_core::secret::os_random(&mut raw).expect("random");
    URL_SAFE_NO_PAD.encode(raw)
}

/// One complete login.
fn login(browser: &mut Conn, phone: &mut Authenticator, rp_conn: &mut Conn, rp: &RelyingSystem) {
    let verifier = random_b64();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let nonce = random_b64();
    let path = format!(
        "/oidc/authorize?client_id={}&redirect_uri={}&response_type=code&scope=openid%20hpki&state=s&nonce={nonce}&code_challenge={challenge}&code_challenge_method=S256",
        rp.client_id,
        "https%3A%2F%2Fpharmacy.example.jp%2Fcb"
    );
    let page = browser.send("GET", &path, &[], b"");
    assert_eq!(page.status, 200, "{}", page.body);
    // The page carries its first WebAuthn options, as the browser's script reads them.
    let start = page
        .body
        .find("data-options=\"")
        .expect("options in the page")
        + 14;
    let end = start + page.body[start..].find('"').expect("end of the attribute");
    let options: serde_json::Value = serde_json::from_str(
        &page.body[start..end]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
    .expect("options");
    let options = if options["publicKey"].is_null() {
        options
    } else {
        options["publicKey"].clone()
    };
    phone.counter += 1;
    let answer = phone.get_discoverable(&options, Faults::default());
    let done = browser.json("/oidc/login/finish", &answer);
    let to = done["redirect"].as_str().expect("redirect");
    let code = to
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("code="))
        .expect("code");
    let form = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}",
        "https%3A%2F%2Fpharmacy.example.jp%2Fcb"
    );
    let r = rp_conn.send(
        "POST",
        "/oidc/token",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", &rp.basic),
        ],
        form.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let tokens: serde_json::Value = serde_json::from_str(&r.body).expect("tokens");
    let now = chrono::Utc::now().timestamp();
    rp.check_id_token(tokens["id_token"].as_str().expect("id_token"), &nonce, now);
}

fn relying_system(data: &Path, addr: &str) -> RelyingSystem {
    let client: serde_json::Value = serde_json::from_str(&hpki(
        data,
        &[
            "client",
            "add",
            "--name",
            "bench",
            "--redirect-uri",
            REDIRECT,
            "--secret",
            "--json",
        ],
    ))
    .expect("client");
    let client_id = client["client_id"].as_str().expect("id").to_owned();
    let secret = client["client_secret"].as_str().expect("secret");
    let mut c = Conn::open(addr);
    let discovery: serde_json::Value = serde_json::from_str(
        &c.send("GET", "/.well-known/openid-configuration", &[], b"")
            .body,
    )
    .expect("discovery");
    let jwks: serde_json::Value =
        serde_json::from_str(&c.send("GET", "/.well-known/jwks.json", &[], b"").body)
            .expect("jwks");
    let keys = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| {
            let mut point = vec![4u8];
            point.extend(b64(k["x"].as_str().expect("x")));
            point.extend(b64(k["y"].as_str().expect("y")));
            (k["kid"].as_str().expect("kid").to_owned(), point)
        })
        .collect();
    RelyingSystem {
        basic: format!("Basic {}", STANDARD.encode(format!("{client_id}:{secret}"))),
        client_id,
        issuer: discovery["issuer"].as_str().expect("issuer").to_owned(),
        keys,
    }
}

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
    let rp = relying_system(&data, &addr);
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
    rate(&mut phones, 1.0, |(b, p, r)| login(b, p, r, &rp));
    let cpu_before = cpu_seconds(child.id());
    let started = Instant::now();
    let logins = rate(&mut phones, secs, |(b, p, r)| login(b, p, r, &rp));
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(child.id()) - cpu_before;
    let mut plain: Vec<Conn> = (0..phones_count()).map(|_| Conn::open(&addr)).collect();
    let healthz = rate(&mut plain, secs.min(3.0), |c| {
        assert_eq!(c.send("GET", "/healthz", &[], b"").status, 200);
    });
    println!(
        "| {logins:.0}/s | {:.2} ms on {:.2} cores | {healthz:.0}/s | about 15/s per vCPU, 30/s on 2 |",
        cpu / (logins * elapsed) * 1000.0,
        cpu / elapsed,
    );
    stop(child);
}
