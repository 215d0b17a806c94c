//! The certificate authority: the CA hierarchy, the holder's second certificate, revocation
//! and CRLs. Keys stay in the keystore; this crate builds what they sign.
#![forbid(unsafe_code)]

pub mod csr;
pub mod hcrole;
mod ocsp;
pub mod p12;
pub mod profile;
mod service;
#[cfg(feature = "testing")]
pub mod testing;
mod verify;

/// Entry points for the fuzz targets in `fuzz/` (the `fuzzing` feature): the parsers of
/// outside input that are not public otherwise.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    /// Reads an OCSP request as `/ocsp` does, with no responder loaded (every parse ends in
    /// malformedRequest or unauthorized; it must never panic).
    pub fn ocsp_request(der: &[u8]) {
        let state = crate::ocsp::OcspState::default();
        let _ = state.parse(der);
    }

    /// Reads a PKCS#12 file as `ca import --*-p12` does, and its contents past the MAC.
    pub fn pkcs12(bytes: &[u8], password: &str) {
        crate::p12::fuzz(bytes, password);
    }
}

/// A certificate (DER) in PEM, as operators and relying systems are given it.
pub fn pem_of_certificate(der: &[u8]) -> String {
    service::pem("CERTIFICATE", der)
}

pub use ocsp::{OcspAnswer, Reuse};
pub use service::{
    already_set_up, import_fingerprint, CaService, CaSettings, CaSummary, CaVitals, CardKind,
    ImportFingerprint, ImportedCa, ImportedCertificate, ImportedKey, IssuedCertificate, KeyCheck,
    MissingKey, PublishedCrl, Reconciled, ServedCrl,
};

/// Why the CA could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// The CA's configuration is not usable.
    #[error("CA configuration: {0}")]
    Config(String),
    /// Building or reading DER failed (a bug, or a corrupt stored certificate).
    #[error("ASN.1 encoding: {0}")]
    Encoding(String),
}

impl From<csr::CsrError> for hpki_core::Error {
    fn from(e: csr::CsrError) -> Self {
        hpki_core::Error::Invalid(vec![hpki_core::domain::InvalidInput::new(
            "csr",
            e.to_string(),
        )])
    }
}

impl From<CaError> for hpki_core::Error {
    fn from(e: CaError) -> Self {
        hpki_core::Error::Internal(e.to_string())
    }
}
