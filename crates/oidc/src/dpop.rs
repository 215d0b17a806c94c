//! DPoP proofs (RFC 9449): a relying system proves, with each request, that it holds the
//! private key its access token is bound to. A proof is a JWT the client signs for one request
//! (method, URL, time, a unique `jti`, and at a resource the access token's hash), carrying the
//! public key in its header; the key's thumbprint (RFC 7638) is what a token is bound to.
//!
//! This module checks one proof against its request and the clock; remembering each `jti` (a
//! proof is accepted once, on every instance) is the service's, through the store.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::jwt::{b64, split, verify_with_jwk};

/// The proof algorithms accepted (`dpop_signing_alg_values_supported`).
pub const ALGORITHMS: &[&str] = &["ES256", "EdDSA", "PS256", "RS256"];

/// How far a proof's `iat` may lie behind the server's clock, in seconds.
pub const MAX_AGE_SECS: i64 = 300;
/// How far it may lie ahead (the client's clock fast).
pub const MAX_AHEAD_SECS: i64 = 60;

/// How a request presents its access token: `Authorization: Bearer` (RFC 6750) or
/// `Authorization: DPoP` with a proof (RFC 9449).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenScheme {
    Bearer,
    Dpop,
}

/// An access token as a request presented it, with what its proof is checked against.
#[derive(Clone, Debug)]
pub struct AccessToken {
    pub token: String,
    pub scheme: TokenScheme,
    pub request: DpopRequest,
}

/// The request a proof came with.
#[derive(Clone, Debug)]
pub struct DpopRequest {
    /// The `DPoP` header, if the request had exactly one.
    pub proof: Option<String>,
    /// The HTTP method.
    pub method: String,
    /// The request's path on this service (the URL is the public URL's origin and this path).
    pub path: String,
}

/// A proof that checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    /// The JWK SHA-256 thumbprint of its key, base64url (`cnf.jkt`).
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
    /// The server's nonce it carries, if any.
    pub nonce: Option<String>,
}

/// Checks `proof` for a request with `method` to `url` at `now` (Unix seconds); at a
/// protected resource `access_token` is the token it must be for (`ath`). The error says
/// what is wrong, for `error_description`.
pub fn check(
    proof: &str,
    method: &str,
    url: &str,
    access_token: Option<&str>,
    now: i64,
) -> Result<Proof, String> {
    let (header, claims, message, signature) =
        split(proof).ok_or("the DPoP proof is not a signed JWT")?;
    if header["typ"] != "dpop+jwt" {
        return Err("the DPoP proof's typ is not dpop+jwt".into());
    }
    let alg = header["alg"].as_str().unwrap_or("");
    if !ALGORITHMS.contains(&alg) {
        return Err(format!(
            "the DPoP proof's alg must be one of {}",
            ALGORITHMS.join(", ")
        ));
    }
    let jwk = &header["jwk"];
    let private = ["d", "p", "q", "dp", "dq", "qi", "k"];
    if !jwk.is_object() || private.iter().any(|m| jwk.get(m).is_some()) {
        return Err("the DPoP proof's jwk must be a public key".into());
    }
    if !verify_with_jwk(alg, jwk, message, &signature) {
        return Err("the DPoP proof's signature does not verify with its jwk".into());
    }
    let jti = claims["jti"].as_str().unwrap_or("");
    if jti.is_empty() || jti.len() > 256 {
        return Err("the DPoP proof needs a jti of 1 to 256 characters".into());
    }
    if claims["htm"] != method {
        return Err(format!("the DPoP proof's htm is not {method}"));
    }
    let htu = claims["htu"].as_str().unwrap_or("");
    if !same_target(htu, url) {
        return Err(format!("the DPoP proof's htu is not {url}"));
    }
    let Some(iat) = claims["iat"].as_i64() else {
        return Err("the DPoP proof has no iat".into());
    };
    if iat < now - MAX_AGE_SECS || iat > now + MAX_AHEAD_SECS {
        return Err(format!(
            "the DPoP proof's iat is not within {MAX_AGE_SECS} seconds before and \
             {MAX_AHEAD_SECS} after the server's time {now}: make a new proof for each request"
        ));
    }
    if let Some(token) = access_token {
        if claims["ath"] != b64(&Sha256::digest(token.as_bytes())) {
            return Err("the DPoP proof's ath is not the hash of this access token".into());
        }
    }
    let nonce = match &claims["nonce"] {
        Value::Null => None,
        Value::String(n) if !n.is_empty() && n.len() <= 256 => Some(n.clone()),
        _ => return Err("the DPoP proof's nonce must be the DPoP-Nonce header's text".into()),
    };
    let jkt = thumbprint(jwk).ok_or("the DPoP proof's jwk lacks a member its type needs")?;
    Ok(Proof {
        jkt,
        jti: jti.to_owned(),
        iat,
        nonce,
    })
}

/// Whether a proof's `htu` names `url`: the same scheme, host, port and path, any query or
/// fragment ignored (RFC 9449 §4.3), after the URL parser's normalisation (case of scheme and
/// host, a default port).
fn same_target(htu: &str, url: &str) -> bool {
    let (Ok(a), Ok(b)) = (url::Url::parse(htu), url::Url::parse(url)) else {
        return false;
    };
    a.scheme() == b.scheme()
        && a.host() == b.host()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path() == b.path()
}

/// The JWK SHA-256 thumbprint (RFC 7638): the hash of the key's required members, in
/// lexicographic order, without white space.
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let member = |name: &str| jwk[name].as_str().map(|v| Value::from(v).to_string());
    let canonical = match jwk["kty"].as_str()? {
        "EC" => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            member("crv")?,
            member("x")?,
            member("y")?
        ),
        "RSA" => format!(
            r#"{{"e":{},"kty":"RSA","n":{}}}"#,
            member("e")?,
            member("n")?
        ),
        "OKP" => format!(
            r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
            member("crv")?,
            member("x")?
        ),
        _ => return None,
    };
    Some(b64(&Sha256::digest(canonical.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    use serde_json::json;

    const URL: &str = "https://hpki.example.jp/csc/v2/signatures/signHash";

    struct Key(EcdsaKeyPair);

    impl Key {
        fn new() -> Self {
            let rng = SystemRandom::new();
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .expect("a key");
            Self(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                    .expect("the key"),
            )
        }

        fn jwk(&self) -> Value {
            let point = self.0.public_key().as_ref();
            json!({ "kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..]) })
        }

        fn sign(&self, header: &Value, claims: &Value) -> String {
            let input = format!(
                "{}.{}",
                b64(header.to_string().as_bytes()),
                b64(claims.to_string().as_bytes())
            );
            let sig = self
                .0
                .sign(&SystemRandom::new(), input.as_bytes())
                .expect("signed");
            format!("{input}.{}", b64(sig.as_ref()))
        }

        fn proof(&self, claims: Value) -> String {
            self.sign(
                &json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk() }),
                &claims,
            )
        }
    }

    fn claims(now: i64) -> Value {
        json!({ "jti": "j-1", "htm": "POST", "htu": URL, "iat": now,
                "ath": b64(&Sha256::digest(b"the-token")) })
    }

    #[test]
    fn a_proof_for_this_request_gives_its_key_thumbprint() {
        let key = Key::new();
        let now = 1_800_000_000;
        let p =
            check(&key.proof(claims(now)), "POST", URL, Some("the-token"), now).expect("accepted");
        assert_eq!(p.jkt, thumbprint(&key.jwk()).expect("thumbprint"));
        assert_eq!((p.jti.as_str(), p.iat, p.nonce), ("j-1", now, None));
        // The query and fragment do not count; the host's case and a default port neither.
        let mut c = claims(now);
        c["htu"] = json!("https://HPKI.example.jp:443/csc/v2/signatures/signHash?x=1#f");
        assert!(check(&key.proof(c), "POST", URL, Some("the-token"), now).is_ok());
    }

    #[test]
    fn every_field_that_does_not_fit_is_refused_and_named() {
        let key = Key::new();
        let now = 1_800_000_000;
        let refused = |proof: &str, token: Option<&str>, what: &str| {
            let e = check(proof, "POST", URL, token, now).expect_err(what);
            assert!(e.contains(what), "{what}: {e}");
        };
        for (field, value, what) in [
            ("htm", json!("GET"), "htm"),
            (
                "htu",
                json!("https://hpki.example.jp/csc/v2/signatures/signDoc"),
                "htu",
            ),
            (
                "htu",
                json!("https://other.example.jp/csc/v2/signatures/signHash"),
                "htu",
            ),
            ("iat", json!(now - MAX_AGE_SECS - 1), "iat"),
            ("iat", json!(now + MAX_AHEAD_SECS + 1), "iat"),
            ("jti", json!(""), "jti"),
            ("ath", json!(b64(&Sha256::digest(b"another-token"))), "ath"),
        ] {
            let mut c = claims(now);
            c[field] = value;
            refused(&key.proof(c), Some("the-token"), what);
        }
        // Another key's signature; a header that is not a DPoP proof's; a private key in it.
        let other = Key::new();
        let forged = other.sign(
            &json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk() }),
            &claims(now),
        );
        refused(&forged, Some("the-token"), "signature");
        let jwt = key.sign(
            &json!({ "typ": "JWT", "alg": "ES256", "jwk": key.jwk() }),
            &claims(now),
        );
        refused(&jwt, Some("the-token"), "typ");
        let none = key.sign(
            &json!({ "typ": "dpop+jwt", "alg": "none", "jwk": key.jwk() }),
            &claims(now),
        );
        refused(&none, Some("the-token"), "alg");
        let hs = key.sign(
            &json!({ "typ": "dpop+jwt", "alg": "HS256", "jwk": key.jwk() }),
            &claims(now),
        );
        refused(&hs, Some("the-token"), "alg");
        let mut with_d = key.jwk();
        with_d["d"] = json!("AAAA");
        let private = key.sign(
            &json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": with_d }),
            &claims(now),
        );
        refused(&private, Some("the-token"), "public key");
        refused("not.a.jwt", None, "signed JWT");
    }

    #[test]
    fn thumbprints_are_rfc_7638s() {
        // RFC 7638 §3.1's example key and thumbprint.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(&jwk).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }
}
