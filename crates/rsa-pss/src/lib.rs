//! RSASSA-PSS (RFC 8017 8.1) over a SHA-256 digest, MGF1 with SHA-256, with the salt length the
//! relying system asks for.
//!
//! aws-lc-rs signs RSA-PSS only with a salt as long as the digest (32 bytes). Clients choose
//! otherwise: pyHanko, for one, asks for the longest salt the key allows (222 bytes for
//! RSA-2048 with SHA-256) and writes that length into the CMS it builds, so a signature with any
//! other salt would not verify. AWS-LC itself signs with any salt (`RSA_sign_pss_mgf1`); this
//! crate is the small, checked bridge to it, and the only `unsafe` code of the keystore.

use std::ffi::c_int;
use std::ptr::NonNull;

use aws_lc_sys as ffi;

/// What went wrong, in words for the keystore's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PssError(pub String);

impl std::fmt::Display for PssError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PssError {}

/// An RSA private key held by AWS-LC, for PSS signatures with a chosen salt.
pub struct PssKey(NonNull<ffi::RSA>);

// SAFETY: AWS-LC's rsa.h, "Signing / Verification": "These functions are considered
// non-mutating for thread-safety purposes and may be used concurrently" (`RSA_sign_pss_mgf1` is
// one; `RSA_size` is non-mutating too). Nothing here changes the key after it is parsed, and
// the one reference we hold is freed once, in `Drop`.
#[allow(unsafe_code)]
unsafe impl Send for PssKey {}
// SAFETY: as for `Send`.
#[allow(unsafe_code)]
unsafe impl Sync for PssKey {}

impl PssKey {
    /// Reads an RSA private key from PKCS#8 (`PrivateKeyInfo`) DER, the whole input.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, PssError> {
        let mut cbs = ffi::CBS {
            data: der.as_ptr(),
            len: der.len(),
        };
        // SAFETY: `cbs` points into `der`, which outlives the call; AWS-LC reads at most
        // `len` bytes and returns a new key (or null) that we own.
        #[allow(unsafe_code)]
        let pkey = unsafe { ffi::EVP_parse_private_key(&mut cbs) };
        if pkey.is_null() {
            clear_errors();
            return Err(PssError("not a PKCS#8 private key".into()));
        }
        let trailing = cbs.len != 0;
        // SAFETY: `pkey` is the valid key just returned; `get1` takes a reference of its own
        // to the RSA key (null if the key is not RSA), so freeing `pkey` leaves it alive.
        #[allow(unsafe_code)]
        let rsa = unsafe {
            let rsa = ffi::EVP_PKEY_get1_RSA(pkey);
            ffi::EVP_PKEY_free(pkey);
            rsa
        };
        let Some(rsa) = NonNull::new(rsa) else {
            clear_errors();
            return Err(PssError("the PKCS#8 key is not an RSA key".into()));
        };
        let key = Self(rsa);
        if trailing {
            return Err(PssError("bytes after the PKCS#8 key".into()));
        }
        Ok(key)
    }

    /// The modulus in bytes: the length of every signature.
    pub fn size(&self) -> usize {
        // SAFETY: `self.0` is a valid RSA key for as long as `self` lives.
        #[allow(unsafe_code)]
        let n = unsafe { ffi::RSA_size(self.0.as_ptr()) };
        n as usize
    }

    /// The longest salt a SHA-256 PSS signature with this key can carry: the encoded message
    /// (one byte less than the modulus when its bit length is a multiple of 8) less the digest
    /// and two bytes.
    pub fn max_salt(&self) -> usize {
        self.size().saturating_sub(32 + 2)
    }

    /// Signs a SHA-256 digest with RSASSA-PSS, MGF1 with SHA-256 and a salt of `salt_len`
    /// random bytes (AWS-LC draws them from the operating system's generator).
    pub fn sign_sha256(&self, digest: &[u8; 32], salt_len: u16) -> Result<Vec<u8>, PssError> {
        if usize::from(salt_len) > self.max_salt() {
            return Err(PssError(format!(
                "a salt of {salt_len} bytes does not fit a {}-bit key with SHA-256 (at most {})",
                self.size() * 8,
                self.max_salt()
            )));
        }
        let mut out = vec![0u8; self.size()];
        let mut written = 0usize;
        // SAFETY: `out` has room for `out.len()` bytes, as `max_out` says; `digest` is 32
        // bytes; the digest functions are AWS-LC's static SHA-256; `self.0` is valid.
        #[allow(unsafe_code)]
        let ok = unsafe {
            ffi::RSA_sign_pss_mgf1(
                self.0.as_ptr(),
                &mut written,
                out.as_mut_ptr(),
                out.len(),
                digest.as_ptr(),
                digest.len(),
                ffi::EVP_sha256(),
                ffi::EVP_sha256(),
                c_int::from(salt_len),
            )
        };
        if ok != 1 || written != out.len() {
            clear_errors();
            return Err(PssError("RSA-PSS signing failed".into()));
        }
        Ok(out)
    }
}

impl Drop for PssKey {
    fn drop(&mut self) {
        // SAFETY: we own one reference to the key (from `get1`) and give it back once.
        #[allow(unsafe_code)]
        unsafe {
            ffi::RSA_free(self.0.as_ptr())
        }
    }
}

/// AWS-LC records why a call failed in a thread-local queue; our error says it in words, so
/// the queue is emptied rather than left for an unrelated later call to find.
fn clear_errors() {
    // SAFETY: no arguments; only this thread's error queue is touched.
    #[allow(unsafe_code)]
    unsafe {
        ffi::ERR_clear_error()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
    use aws_lc_rs::signature::KeyPair;
    use hpki_test_support::openssl_verifies_pss as openssl_verifies;

    fn key() -> (PssKey, Vec<u8>) {
        let kp =
            aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("generate");
        let pkcs8 = AsDer::<Pkcs8V1Der>::as_der(&kp).expect("pkcs8");
        let spki = AsDer::<PublicKeyX509Der>::as_der(kp.public_key()).expect("spki");
        (
            PssKey::from_pkcs8(pkcs8.as_ref()).expect("parsed"),
            spki.as_ref().to_vec(),
        )
    }

    #[test]
    fn signatures_carry_the_salt_asked_for_and_openssl_verifies_them() {
        let (key, spki) = key();
        assert_eq!(key.size(), 256);
        assert_eq!(key.max_salt(), 222);
        let digest = [0x5a; 32];
        for salt in [0u16, 20, 32, 64, 222] {
            let sig = key.sign_sha256(&digest, salt).expect("signed");
            assert_eq!(sig.len(), 256);
            assert!(openssl_verifies(&spki, &digest, &sig, salt), "salt {salt}");
            // The salt length is part of what is verified.
            let other = if salt == 32 { 20 } else { 32 };
            assert!(
                !openssl_verifies(&spki, &digest, &sig, other),
                "salt {salt} as {other}"
            );
            assert!(!openssl_verifies(&spki, &[0x5b; 32], &sig, salt));
        }
        let e = key.sign_sha256(&digest, 223).expect_err("too long");
        assert!(e.0.contains("at most 222"), "{e}");
    }

    /// One key, shared by threads that sign at once (as the keystore's signing pool does).
    #[test]
    fn one_key_signs_on_several_threads_at_once() {
        let (key, spki) = key();
        let signatures: Vec<([u8; 32], Vec<u8>)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0u8..4)
                .map(|t| {
                    let key = &key;
                    scope.spawn(move || {
                        (0u8..25)
                            .map(|i| {
                                let digest = [t.wrapping_mul(31).wrapping_add(i); 32];
                                (digest, key.sign_sha256(&digest, 222).expect("signed"))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("a signing thread"))
                .collect()
        });
        assert_eq!(signatures.len(), 100);
        // A sample checked by openssl (each call starts a process).
        for (digest, sig) in signatures.iter().step_by(10) {
            assert!(openssl_verifies(&spki, digest, sig, 222));
        }
    }

    #[test]
    fn only_whole_rsa_pkcs8_keys_are_read() {
        assert!(PssKey::from_pkcs8(b"not DER").is_err());
        let ec = aws_lc_rs::signature::EcdsaKeyPair::generate(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        )
        .expect("ec");
        let ec = ec.to_pkcs8v1().expect("pkcs8");
        assert_eq!(
            PssKey::from_pkcs8(ec.as_ref()).err(),
            Some(PssError("the PKCS#8 key is not an RSA key".into()))
        );
        let kp =
            aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("generate");
        let mut der = AsDer::<Pkcs8V1Der>::as_der(&kp)
            .expect("pkcs8")
            .as_ref()
            .to_vec();
        der.push(0);
        assert_eq!(
            PssKey::from_pkcs8(&der).err(),
            Some(PssError("bytes after the PKCS#8 key".into()))
        );
    }
}
