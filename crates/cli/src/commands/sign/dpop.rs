//! The client's DPoP key (RFC 9449): made at each sign-in, kept in the session file beside the
//! access token bound to it, and a fresh proof signed with it for each request. A copied token
//! then signs nothing without the key.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::Failure;

pub(super) struct ProofKey {
    pkcs8: Vec<u8>,
    pair: EcdsaKeyPair,
}

impl ProofKey {
    /// A new P-256 key from the operating system's random numbers.
    pub(super) fn generate() -> Result<Self, Failure> {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| Failure::from("could not make a DPoP key"))?;
        Self::from_pkcs8(pkcs8.as_ref().to_vec())
            .ok_or_else(|| Failure::from("could not read the DPoP key just made"))
    }

    fn from_pkcs8(pkcs8: Vec<u8>) -> Option<Self> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).ok()?;
        Some(Self { pkcs8, pair })
    }

    /// The key as the session file keeps it (PKCS#8, base64url).
    pub(super) fn to_stored(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.pkcs8)
    }

    pub(super) fn from_stored(s: &str) -> Option<Self> {
        Self::from_pkcs8(URL_SAFE_NO_PAD.decode(s).ok()?)
    }

    /// A proof for `method` on `url`; at a resource, for `access_token` (its hash, `ath`);
    /// with the server's `nonce` if it gave one.
    pub(super) fn proof(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<String, Failure> {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let point = self.pair.public_key().as_ref();
        let header = json!({
            "typ": "dpop+jwt",
            "alg": "ES256",
            "jwk": { "kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..]) },
        });
        let mut jti = [0u8; 16];
        hpki_core::secret::os_random(&mut jti).map_err(|e| Failure::from(e.to_string()))?;
        let mut claims = json!({
            "jti": b64(&jti),
            "htm": method,
            "htu": url,
            "iat": chrono::Utc::now().timestamp(),
        });
        if let Some(t) = access_token {
            claims["ath"] = json!(b64(&Sha256::digest(t.as_bytes())));
        }
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|_| Failure::from("could not sign a DPoP proof"))?;
        Ok(format!("{input}.{}", b64(signature.as_ref())))
    }
}
