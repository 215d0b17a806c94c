//! JSON Web Tokens signed by a key in the keystore (RFC 7515 compact serialization; ES256 as
//! RFC 7518 3.4, RS256 as 3.3), the public keys as a JWK Set, and checking our own tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hpki_core::keystore::Keystore;
use hpki_core::Error;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use spki::der::Decode;
use spki::SubjectPublicKeyInfoRef;

use hpki_core::domain::oidc::{TokenAlgorithm, TokenSigningKey};

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn unb64(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

/// The uncompressed P-256 point (x, y) of a SubjectPublicKeyInfo.
fn p256_point(spki_der: &[u8]) -> Result<([u8; 32], [u8; 32]), Error> {
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der)
        .map_err(|e| Error::Internal(format!("a token-signing public key: {e}")))?;
    let point = spki.subject_public_key.raw_bytes();
    if point.len() != 65 || point[0] != 4 {
        return Err(Error::Internal(
            "a token-signing key is not an uncompressed P-256 point".into(),
        ));
    }
    let mut x = [0u8; 32];
    let mut y = [0u8; 32];
    x.copy_from_slice(&point[1..33]);
    y.copy_from_slice(&point[33..65]);
    Ok((x, y))
}

/// The key's ID: the first 16 bytes of the SHA-256 of its SubjectPublicKeyInfo, hex.
pub(crate) fn kid_of(spki_der: &[u8]) -> String {
    hex::encode(&Sha256::digest(spki_der)[..16])
}

/// An RSA public key: the RSAPublicKey (PKCS#1) DER, and its modulus and exponent
/// (big-endian, no leading zero).
struct RsaKey {
    pkcs1: Vec<u8>,
    n: Vec<u8>,
    e: Vec<u8>,
}

/// The RSA key inside a SubjectPublicKeyInfo.
fn rsa_public_key(spki_der: &[u8]) -> Result<RsaKey, Error> {
    use spki::der::asn1::UintRef;
    use spki::der::{Reader, SliceReader};
    let bad = |e: &dyn std::fmt::Display| Error::Internal(format!("a token-signing RSA key: {e}"));
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der).map_err(|e| bad(&e))?;
    let pkcs1 = spki.subject_public_key.raw_bytes();
    let mut reader = SliceReader::new(pkcs1).map_err(|e| bad(&e))?;
    let (n, e) = reader
        .sequence(|r| Ok((r.decode::<UintRef<'_>>()?, r.decode::<UintRef<'_>>()?)))
        .map_err(|e| bad(&e))?;
    Ok(RsaKey {
        pkcs1: pkcs1.to_vec(),
        n: n.as_bytes().to_vec(),
        e: e.as_bytes().to_vec(),
    })
}

/// One key as a JWK (public part only).
pub(crate) fn jwk(key: &TokenSigningKey) -> Result<Value, Error> {
    Ok(match key.algorithm {
        TokenAlgorithm::Es256 => {
            let (x, y) = p256_point(&key.spki_der)?;
            json!({
                "kty": "EC",
                "crv": "P-256",
                "x": b64(&x),
                "y": b64(&y),
                "kid": key.kid,
                "use": "sig",
                "alg": "ES256",
            })
        }
        TokenAlgorithm::Rs256 => {
            let rsa = rsa_public_key(&key.spki_der)?;
            json!({
                "kty": "RSA",
                "n": b64(&rsa.n),
                "e": b64(&rsa.e),
                "kid": key.kid,
                "use": "sig",
                "alg": "RS256",
            })
        }
    })
}

/// An ECDSA signature as DER (what keystores return) to the fixed 64 bytes JWS needs.
fn der_to_raw(der: &[u8]) -> Result<[u8; 64], Error> {
    let bad = || Error::Internal("the keystore returned a malformed ECDSA signature".into());
    // SEQUENCE { INTEGER r, INTEGER s }, short lengths (a P-256 signature is < 128 bytes).
    let body = match der {
        [0x30, len, rest @ ..] if usize::from(*len) == rest.len() => rest,
        _ => return Err(bad()),
    };
    let mut out = [0u8; 64];
    let mut rest = body;
    for half in 0..2 {
        let (len, tail) = match rest {
            [0x02, len, tail @ ..] if usize::from(*len) <= tail.len() => (usize::from(*len), tail),
            _ => return Err(bad()),
        };
        let int = &tail[..len];
        let int = match int {
            [0, more @ ..] => more,
            _ => int,
        };
        if int.len() > 32 {
            return Err(bad());
        }
        let start = half * 32 + (32 - int.len());
        out[start..half * 32 + 32].copy_from_slice(int);
        rest = &tail[len..];
    }
    if rest.is_empty() {
        Ok(out)
    } else {
        Err(bad())
    }
}

/// `header.payload.signature`, signed by `key` in `keystore`.
pub(crate) async fn sign(
    keystore: &dyn Keystore,
    key: &TokenSigningKey,
    typ: &str,
    claims: &Value,
) -> Result<String, Error> {
    let header = json!({ "alg": key.algorithm.as_str(), "typ": typ, "kid": key.kid });
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = keystore
        .sign(
            &key.key_ref,
            key.algorithm.key_algorithm(),
            signing_input.as_bytes(),
        )
        .await
        .map_err(Error::from)?;
    let signature = match key.algorithm {
        // Keystores give ECDSA signatures as DER; JWS wants r and s side by side.
        TokenAlgorithm::Es256 => der_to_raw(&signature)?.to_vec(),
        TokenAlgorithm::Rs256 => signature,
    };
    Ok(format!("{signing_input}.{}", b64(&signature)))
}

/// The header and claims of a token of ours whose signature verifies with one of `keys`;
/// `None` for anything else (malformed, another key, a changed byte).
pub(crate) fn verify(token: &str, typ: &str, keys: &[TokenSigningKey]) -> Option<Value> {
    let mut parts = token.split('.');
    let (h, p, sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || token.len() > 8192 {
        return None;
    }
    let header: Value = serde_json::from_slice(&unb64(h)?).ok()?;
    if header["typ"] != typ {
        return None;
    }
    // The key names the algorithm; a header that says otherwise is refused.
    let key = keys.iter().find(|k| header["kid"] == k.kid.as_str())?;
    if header["alg"] != key.algorithm.as_str() {
        return None;
    }
    let signature = unb64(sig)?;
    let signing_input = &token.as_bytes()[..h.len() + 1 + p.len()];
    verify_signature(key, signing_input, &signature).then_some(())?;
    serde_json::from_slice(&unb64(p)?).ok()
}

fn verify_signature(key: &TokenSigningKey, message: &[u8], signature: &[u8]) -> bool {
    use aws_lc_rs::signature::{
        UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256,
    };
    match key.algorithm {
        TokenAlgorithm::Es256 => {
            let Ok((x, y)) = p256_point(&key.spki_der) else {
                return false;
            };
            let mut point = Vec::with_capacity(65);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(message, signature)
                .is_ok()
        }
        TokenAlgorithm::Rs256 => {
            let Ok(rsa) = rsa_public_key(&key.spki_der) else {
                return false;
            };
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, rsa.pkcs1)
                .verify(message, signature)
                .is_ok()
        }
    }
}

/// The claims of a relying system's client assertion (RFC 7523) whose signature verifies with
/// one of its registered keys (RS256 or ES256; the `kid`, when given, picks the key); `None`
/// for anything else.
pub(crate) fn verify_client_assertion(token: &str, keys: &[Value]) -> Option<Value> {
    let (header, claims, message, signature) = split(token)?;
    let alg = header["alg"].as_str()?;
    if !matches!(alg, "RS256" | "ES256") {
        return None;
    }
    keys.iter()
        .filter(|k| header.get("kid").is_none() || k["kid"] == header["kid"])
        .any(|k| verify_with_jwk(alg, k, message, &signature))
        .then_some(claims)
}

/// A compact JWS taken apart: its header, its claims, what was signed and the signature;
/// `None` if it is not one (or longer than 8 KiB).
pub(crate) fn split(token: &str) -> Option<(Value, Value, &[u8], Vec<u8>)> {
    if token.len() > 8192 {
        return None;
    }
    let mut parts = token.split('.');
    let (h, p, sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Value = serde_json::from_slice(&unb64(h)?).ok()?;
    let claims: Value = serde_json::from_slice(&unb64(p)?).ok()?;
    let message = &token.as_bytes()[..h.len() + 1 + p.len()];
    Some((header, claims, message, unb64(sig)?))
}

/// Whether `signature` over `message` verifies with the public JWK `key` under `alg`: RS256
/// and PS256 (RSA of 2048 bits or more), ES256 (P-256), EdDSA (Ed25519). Anything else,
/// including a key of another type than the algorithm's, is `false`.
pub(crate) fn verify_with_jwk(alg: &str, key: &Value, message: &[u8], signature: &[u8]) -> bool {
    use aws_lc_rs::signature::{
        RsaPublicKeyComponents, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ED25519,
        RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256,
    };
    let part = |name: &str| key[name].as_str().and_then(unb64);
    match (alg, key["kty"].as_str()) {
        ("RS256" | "PS256", Some("RSA")) => {
            let (Some(n), Some(e)) = (part("n"), part("e")) else {
                return false;
            };
            let params = if alg == "RS256" {
                &RSA_PKCS1_2048_8192_SHA256
            } else {
                &RSA_PSS_2048_8192_SHA256
            };
            RsaPublicKeyComponents { n, e }
                .verify(params, message, signature)
                .is_ok()
        }
        ("ES256", Some("EC")) if key["crv"] == "P-256" => match (part("x"), part("y")) {
            (Some(x), Some(y)) if x.len() == 32 && y.len() == 32 => {
                let mut point = vec![4u8];
                point.extend(x);
                point.extend(y);
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, signature)
                    .is_ok()
            }
            _ => false,
        },
        ("EdDSA", Some("OKP")) if key["crv"] == "Ed25519" => match part("x") {
            Some(x) if x.len() == 32 => UnparsedPublicKey::new(&ED25519, x)
                .verify(message, signature)
                .is_ok(),
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_signatures_become_fixed_width() {
        // r with a leading 0 (its top bit set), s short (leading zero bytes dropped).
        let mut der = vec![0x30, 0x44, 0x02, 0x21, 0x00];
        der.extend_from_slice(&[0x80; 32]);
        der.extend_from_slice(&[0x02, 0x1f]);
        der.extend_from_slice(&[0x11; 31]);
        let raw = der_to_raw(&der).expect("valid");
        assert_eq!(&raw[..32], &[0x80; 32]);
        assert_eq!(raw[32], 0);
        assert_eq!(&raw[33..], &[0x11; 31]);
        assert!(der_to_raw(&der[..der.len() - 1]).is_err());
        assert!(der_to_raw(&[0x30, 0x00]).is_err());
    }
}
