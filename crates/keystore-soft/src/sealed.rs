//! The sealed form of a key: its PKCS#8 encrypted with AES-256-GCM under the key-encryption
//! key (KEK), bound to its algorithm and to the KEK's identifier.
//!
//! `hpki-soft-v2\0`, the KEK's 8-byte identifier, a 12-byte nonce, the ciphertext and its tag;
//! the additional data is the algorithm's name and the identifier. The identifier says which
//! KEK a blob needs (after a rotation, a blob of the old KEK is told apart from a damaged one).
//! Blobs of the first form (`hpki-soft-v1\0`, no identifier) are still read.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use hpki_core::keystore::{KeyAlgorithm, KeyRef, KeystoreError};

const V1: &[u8] = b"hpki-soft-v1\0";
const V2: &[u8] = b"hpki-soft-v2\0";
const ID_LEN: usize = 8;
const TAG_LEN: usize = 16;

/// A key-encryption key and its identifier.
pub(crate) struct Kek {
    key: LessSafeKey,
    id: [u8; ID_LEN],
}

/// The identifier of a KEK: the first 8 bytes of a SHA-256 over a fixed label and the key.
/// It names the key without revealing it (finding the key from it is finding a 256-bit key).
fn identifier(kek: &[u8; 32]) -> [u8; ID_LEN] {
    let mut input = b"hpki-second key-encryption key identifier\0".to_vec();
    input.extend_from_slice(kek);
    let d = digest(&SHA256, &input);
    input.fill(0);
    let mut id = [0u8; ID_LEN];
    id.copy_from_slice(&d.as_ref()[..ID_LEN]);
    id
}

/// The identifier of the KEK a sealed key needs (hex), if the blob names one.
pub fn sealed_under(key: &KeyRef) -> Option<String> {
    key.as_bytes()
        .strip_prefix(V2)
        .and_then(|rest| rest.get(..ID_LEN))
        .map(hex)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bad() -> KeystoreError {
    KeystoreError::BadKey(
        "not a key of this keystore, or sealed under another key-encryption key".into(),
    )
}

impl Kek {
    pub(crate) fn new(kek: &[u8; 32]) -> Result<Self, KeystoreError> {
        let key = UnboundKey::new(&AES_256_GCM, kek)
            .map_err(|_| KeystoreError::Failed("bad key-encryption key".into()))?;
        Ok(Self {
            key: LessSafeKey::new(key),
            id: identifier(kek),
        })
    }

    pub(crate) fn id_hex(&self) -> String {
        hex(&self.id)
    }

    fn aad(&self, algorithm: KeyAlgorithm) -> Vec<u8> {
        let mut aad = algorithm.as_str().as_bytes().to_vec();
        aad.extend_from_slice(&self.id);
        aad
    }

    pub(crate) fn seal(
        &self,
        rng: &SystemRandom,
        algorithm: KeyAlgorithm,
        pkcs8: &[u8],
    ) -> Result<KeyRef, KeystoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce)
            .map_err(|_| KeystoreError::Failed("the OS random source failed".into()))?;
        let mut sealed = pkcs8.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.aad(algorithm)),
                &mut sealed,
            )
            .map_err(|_| KeystoreError::Failed("sealing the key failed".into()))?;
        let mut out = Vec::with_capacity(V2.len() + ID_LEN + NONCE_LEN + sealed.len());
        out.extend_from_slice(V2);
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(KeyRef::from_bytes(out))
    }

    /// The PKCS#8 inside a sealed key (the caller zeroes it after use).
    pub(crate) fn open(
        &self,
        key: &KeyRef,
        algorithm: KeyAlgorithm,
    ) -> Result<Vec<u8>, KeystoreError> {
        let bytes = key.as_bytes();
        let (aad, rest) = if let Some(rest) = bytes.strip_prefix(V2) {
            let (id, rest) = rest.split_at_checked(ID_LEN).ok_or_else(bad)?;
            if id != self.id {
                return Err(KeystoreError::BadKey(format!(
                    "sealed under the key-encryption key {}, not this keystore's {}",
                    hex(id),
                    self.id_hex()
                )));
            }
            (self.aad(algorithm), rest)
        } else if let Some(rest) = bytes.strip_prefix(V1) {
            (algorithm.as_str().as_bytes().to_vec(), rest)
        } else {
            return Err(bad());
        };
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(bad());
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| bad())?;
        let mut buf = sealed.to_vec();
        let len = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut buf)
            .map_err(|_| bad())?
            .len();
        buf.truncate(len);
        Ok(buf)
    }
}
