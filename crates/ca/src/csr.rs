//! PKCS#10 requests from HPKI cards: only the public key is taken, after the request's own
//! signature proves that the card holds the private key. Everything else the request asks for
//! (subject, extensions) is ignored: the profile decides.

use der::{Decode, DecodePem, Encode};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::request::CertReq;

use crate::verify::RSA_ENCRYPTION;

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
    // The profile's floor and ceiling: RSA 2048 to 8192 bits, or P-256.
    crate::verify::key_algorithm(&spki, 2048..=8192).map_err(CsrError::KeyNotAllowed)?;
    let expected = if spki.algorithm.oid == RSA_ENCRYPTION {
        crate::profile::SHA256_WITH_RSA
    } else {
        crate::profile::ECDSA_WITH_SHA256
    };
    if req.algorithm.oid != expected {
        return Err(CsrError::SignatureAlgorithm(req.algorithm.oid.to_string()));
    }
    let info = req
        .info
        .to_der()
        .map_err(|e| CsrError::NotACsr(e.to_string()))?;
    let signature = req
        .signature
        .as_bytes()
        .ok_or(CsrError::NoProofOfPossession)?;
    crate::verify::verify_signature(&spki, req.algorithm.oid, &info, signature)
        .map_err(|_| CsrError::NoProofOfPossession)?;
    Ok(spki)
}
