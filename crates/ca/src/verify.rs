//! Checking signatures made by others (CSRs, imported certificates) with AWS-LC.

use aws_lc_rs::signature::{
    UnparsedPublicKey, VerificationAlgorithm, ECDSA_P256_SHA256_ASN1, RSA_PKCS1_2048_8192_SHA256,
};
use der::asn1::{ObjectIdentifier, UintRef};
use der::{Decode, Sequence};
use hpki_core::keystore::KeyAlgorithm;
use spki::SubjectPublicKeyInfoOwned;

use crate::profile::{ECDSA_WITH_SHA256, SHA256_WITH_RSA};

pub(crate) use der::oid::db::rfc5912::{
    ID_EC_PUBLIC_KEY as EC_PUBLIC_KEY, RSA_ENCRYPTION, SECP_256_R_1 as P256,
};

#[derive(Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

/// Which of our key algorithms a public key is, if any: RSA of `rsa_bits` (a range) or P-256.
pub(crate) fn key_algorithm(
    spki: &SubjectPublicKeyInfoOwned,
    rsa_bits: std::ops::RangeInclusive<usize>,
) -> Result<KeyAlgorithm, String> {
    match spki.algorithm.oid {
        RSA_ENCRYPTION => {
            let key = RsaPublicKey::from_der(spki.subject_public_key.raw_bytes())
                .map_err(|e| format!("an RSA key that does not decode: {e}"))?;
            let bits = key.modulus.as_bytes().len() * 8;
            if rsa_bits.contains(&bits) {
                Ok(KeyAlgorithm::Rsa2048)
            } else {
                Err(format!("RSA of {bits} bits"))
            }
        }
        EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
            if curve == Some(P256) {
                Ok(KeyAlgorithm::EcdsaP256)
            } else {
                Err(format!("an EC key on curve {curve:?}"))
            }
        }
        other => Err(format!("algorithm {other}")),
    }
}

/// Verifies `signature` over `message` made with `signature_algorithm` by the key in `spki`.
pub(crate) fn verify_signature(
    spki: &SubjectPublicKeyInfoOwned,
    signature_algorithm: ObjectIdentifier,
    message: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    let algorithm: &'static dyn VerificationAlgorithm =
        match (spki.algorithm.oid, signature_algorithm) {
            (RSA_ENCRYPTION, SHA256_WITH_RSA) => &RSA_PKCS1_2048_8192_SHA256,
            (EC_PUBLIC_KEY, ECDSA_WITH_SHA256) => &ECDSA_P256_SHA256_ASN1,
            (key, sig) => {
                return Err(format!(
                    "signature algorithm {sig} with key algorithm {key} is not supported"
                ))
            }
        };
    UnparsedPublicKey::new(algorithm, spki.subject_public_key.raw_bytes())
        .verify(message, signature)
        .map_err(|_| "the signature does not verify".to_owned())
}
