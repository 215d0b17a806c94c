//! Relying systems signing phones' holders in over OpenID Connect, for the benchmarks that need
//! a login (oidc_login) or its access token (csc_sign).

use std::path::Path;

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hpki_passkey::soft::{Authenticator, Faults};
use sha2::{Digest, Sha256};

use super::Conn;
use crate::support::hpki;

const REDIRECT: &str = "https://pharmacy.example.jp/cb";

/// The relying system: its credentials and the provider's key (from the JWKS).
pub struct RelyingSystem {
    pub client_id: String,
    pub basic: String,
    issuer: String,
    /// kid → uncompressed P-256 point.
    keys: Vec<(String, Vec<u8>)>,
}

fn b64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("base64url")
}

impl RelyingSystem {
    /// What openid-client does to an ID token, minus the discovery it caches.
    fn check_id_token(&self, jwt: &str, nonce: Option<&str>, now: i64) {
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
        if let Some(nonce) = nonce {
            assert_eq!(claims["nonce"], nonce);
        }
        assert!(claims["exp"].as_i64().expect("exp") > now);
    }
}

fn random_b64() -> String {
    let mut raw = [0u8; 32];
    hpki_core::secret::os_random(&mut raw).expect("random");
    URL_SAFE_NO_PAD.encode(raw)
}

/// One complete login with `scope`: the token response (its ID token checked).
pub fn login(
    browser: &mut Conn,
    phone: &mut Authenticator,
    rp_conn: &mut Conn,
    rp: &RelyingSystem,
    scope: &str,
) -> serde_json::Value {
    let verifier = random_b64();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let nonce = random_b64();
    let path = format!(
        "/oidc/authorize?client_id={}&redirect_uri={}&response_type=code&scope={}&state=s&nonce={nonce}&code_challenge={challenge}&code_challenge_method=S256",
        rp.client_id,
        "https%3A%2F%2Fpharmacy.example.jp%2Fcb",
        scope.replace(' ', "%20")
    );
    let page = browser.send("GET", &path, &[], b"");
    assert_eq!(page.status, 200, "{}", page.body);
    let options = page_options(&page.body);
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
    rp.check_id_token(
        tokens["id_token"].as_str().expect("id_token"),
        Some(&nonce),
        now,
    );
    tokens
}

/// The WebAuthn options a sign-in page carries, as the browser's script reads them.
fn page_options(body: &str) -> serde_json::Value {
    let start = body.find("data-options=\"").expect("options in the page") + 14;
    let end = start + body[start..].find('"').expect("end of the attribute");
    let options: serde_json::Value = serde_json::from_str(
        &body[start..end]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
    .expect("options");
    if options["publicKey"].is_null() {
        options
    } else {
        options["publicKey"].clone()
    }
}

/// One complete login through the device authorization grant (RFC 8628): the relying system
/// asks for a device authorization, the phone opens the QR code's address and approves with
/// its passkey, the relying system polls once (after the approval) and checks the ID token.
pub fn login_by_device(
    browser: &mut Conn,
    phone: &mut Authenticator,
    rp_conn: &mut Conn,
    rp: &RelyingSystem,
    scope: &str,
) -> serde_json::Value {
    let form = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Authorization", rp.basic.as_str()),
    ];
    let r = rp_conn.send(
        "POST",
        "/oidc/device_authorization",
        &form,
        format!("scope={}", scope.replace(' ', "%20")).as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let grant: serde_json::Value = serde_json::from_str(&r.body).expect("grant");
    let complete = grant["verification_uri_complete"].as_str().expect("uri");
    let path = &complete[complete.find("/device").expect("path")..];
    let page = browser.send("GET", path, &[], b"");
    assert_eq!(page.status, 200, "{}", page.body);
    phone.counter += 1;
    let answer = phone.get_discoverable(&page_options(&page.body), Faults::default());
    let done = browser.json("/oidc/login/finish", &answer);
    assert_eq!(done["redirect"], "/device/done");
    let poll = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code={}",
        grant["device_code"].as_str().expect("device_code")
    );
    let r = rp_conn.send("POST", "/oidc/token", &form, poll.as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    let tokens: serde_json::Value = serde_json::from_str(&r.body).expect("tokens");
    let now = chrono::Utc::now().timestamp();
    rp.check_id_token(tokens["id_token"].as_str().expect("id_token"), None, now);
    tokens
}

/// Registers a relying system (with `extra` arguments of `client add`) and reads the
/// provider's keys.
pub fn relying_system(data: &Path, addr: &str, extra: &[&str]) -> RelyingSystem {
    let mut args = vec![
        "client",
        "add",
        "--name",
        "bench",
        "--redirect-uri",
        REDIRECT,
        "--secret",
        "--json",
    ];
    args.extend_from_slice(extra);
    let client: serde_json::Value = serde_json::from_str(&hpki(data, &args)).expect("client");
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
