//! DPoP proofs (RFC 9449) as a relying system makes them: a P-256 key of its own, a proof per
//! request (method, URL, time, a fresh jti, the access token's hash at a resource). Written
//! from the RFC here, apart from the service's checker, so that the two can disagree.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{random_hex, request_with, Response};

pub(crate) struct DpopKey(EcdsaKeyPair);

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl DpopKey {
    pub(crate) fn new() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("a key");
        Self(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                .expect("the key"),
        )
    }

    pub(crate) fn jwk(&self) -> Value {
        let point = self.0.public_key().as_ref();
        json!({ "kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..]) })
    }

    /// RFC 7638: SHA-256 of the required members in lexicographic order, no white space.
    pub(crate) fn thumbprint(&self) -> String {
        let k = self.jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            k["x"].as_str().expect("x"),
            k["y"].as_str().expect("y")
        );
        b64(&Sha256::digest(canonical.as_bytes()))
    }

    /// A proof with these claims, signed by this key.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk() });
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = self
            .0
            .sign(&SystemRandom::new(), input.as_bytes())
            .expect("signed");
        format!("{input}.{}", b64(signature.as_ref()))
    }

    /// A fresh proof for `method` on `url` (at a resource, for `access_token`).
    pub(crate) fn proof(&self, method: &str, url: &str, access_token: Option<&str>) -> String {
        self.proof_at(method, url, access_token, chrono::Utc::now().timestamp())
    }

    /// [`DpopKey::proof`] made at `iat` (a server whose test clock was moved ahead).
    pub(crate) fn proof_at(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        iat: i64,
    ) -> String {
        let mut claims = json!({
            "jti": random_hex(16),
            "htm": method,
            "htu": url,
            "iat": iat,
        });
        if let Some(t) = access_token {
            claims["ath"] = json!(b64(&Sha256::digest(t.as_bytes())));
        }
        self.sign(&claims)
    }
}

/// A CSC call (JSON) with `Authorization: <scheme> <token>` and, if given, a `DPoP` proof.
pub(crate) fn csc_with(
    addr: &str,
    path: &str,
    authorization: &str,
    proof: Option<&str>,
    body: &Value,
) -> Response {
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("Authorization", authorization),
    ];
    if let Some(p) = proof {
        headers.push(("DPoP", p));
    }
    request_with(addr, "POST", path, &headers, body.to_string().as_bytes())
}
