//! PKCS#10 requests from HPKI cards: only the public key is taken, after the request's own
//! signature proves that the card holds the private key. Everything else the request asks for
//! (subject, extensions) is ignored: the profile decides.

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1, RSA_PKCS1_2048_8192_SHA256};
use der::asn1::ObjectIdentifier;
use der::{Decode, DecodePem, Encode};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::request::CertReq;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// Why a request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CsrError {
    #[error("the request is not a PKCS#10 certificate request (PEM or DER): {0}")]
    NotACsr(String),
    #[error(
        "the request's key is {0}; the profile allows RSA (2048 to 8192 bits) and ECDSA P-256"
    )]
    KeyNotAllowed(String),
    #[error("the request is signed with {0}; use sha256WithRSAEncryption or ecdsa-with-SHA256")]
    SignatureAlgorithm(String),
    #[error("the request's signature does not verify with its own key: no proof that the card holds the private key")]
    NoProofOfPossession,
}

/// Checks a request and returns the public key to certify.
pub fn public_key_from_csr(bytes: &[u8]) -> Result<SubjectPublicKeyInfoOwned, CsrError> {
    let req = match std::str::from_utf8(bytes)
        .ok()
        .filter(|t| t.contains("-----BEGIN"))
    {
        Some(text) => CertReq::from_pem(text.trim()),
        None => CertReq::from_der(bytes),
    }
    .map_err(|e| CsrError::NotACsr(e.to_string()))?;
    let spki = req.info.public_key.clone();
    let key_bytes = spki.subject_public_key.raw_bytes();
    let verify_alg: &'static dyn aws_lc_rs::signature::VerificationAlgorithm =
        match spki.algorithm.oid {
            RSA_ENCRYPTION => {
                if req.algorithm.oid != crate::profile::SHA256_WITH_RSA {
                    return Err(CsrError::SignatureAlgorithm(req.algorithm.oid.to_string()));
                }
                &RSA_PKCS1_2048_8192_SHA256
            }
            EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
                if curve != Some(P256) {
                    return Err(CsrError::KeyNotAllowed(format!(
                        "an EC key on curve {curve:?}"
                    )));
                }
                if req.algorithm.oid != crate::profile::ECDSA_WITH_SHA256 {
                    return Err(CsrError::SignatureAlgorithm(req.algorithm.oid.to_string()));
                }
                &ECDSA_P256_SHA256_ASN1
            }
            other => return Err(CsrError::KeyNotAllowed(format!("algorithm {other}"))),
        };
    let info = req
        .info
        .to_der()
        .map_err(|e| CsrError::NotACsr(e.to_string()))?;
    let signature = req
        .signature
        .as_bytes()
        .ok_or(CsrError::NoProofOfPossession)?;
    // aws-lc refuses RSA keys below 2048 bits here, which is the profile's floor too.
    UnparsedPublicKey::new(verify_alg, key_bytes)
        .verify(&info, signature)
        .map_err(|_| {
            if spki.algorithm.oid == RSA_ENCRYPTION && key_bytes.len() < 260 {
                CsrError::KeyNotAllowed(format!(
                    "RSA of about {} bits",
                    (key_bytes.len().saturating_sub(14)) * 8
                ))
            } else {
                CsrError::NoProofOfPossession
            }
        })?;
    Ok(spki)
}
