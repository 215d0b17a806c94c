//! The software keystore. A key is generated with AWS-LC, serialised as PKCS#8 and sealed with
//! AES-256-GCM under the key-encryption key (KEK); the sealed blob is the [`KeyRef`] that the
//! database keeps. The clear key exists only in this process's memory, never on disk.
#![forbid(unsafe_code)]

mod sealed;
pub use sealed::sealed_under;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use aws_lc_rs::digest::{Digest, SHA256};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, RSA_PKCS1_SHA256, RSA_PSS_SHA256,
};
use hpki_core::keystore::{
    DigestSigning, GeneratedKey, KeyAlgorithm, KeyRef, Keystore, KeystoreError, Sha256Digest,
};
use hpki_core::pool::WorkerPool;
use hpki_rsa_pss::PssKey;

/// Unwrapped keys kept in memory, so that a signature does not pay for decryption and parsing.
const CACHE_LIMIT: usize = 10_000;

/// Unsealed keys by their sealed bytes.
type KeyCache = HashMap<Vec<u8>, (KeyAlgorithm, Arc<Loaded>)>;

enum Loaded {
    /// With, once a relying system asks for a PSS salt other than 32 bytes, the same key as
    /// AWS-LC's own object (aws-lc-rs signs PSS only with a 32-byte salt).
    Rsa(aws_lc_rs::rsa::KeyPair, OnceLock<PssKey>),
    Ecdsa(EcdsaKeyPair),
}

/// Cheap to clone: clones share the KEK and the cache.
#[derive(Clone)]
pub struct SoftKeystore(Arc<Inner>);

struct Inner {
    workers: WorkerPool,
    kek: sealed::Kek,
    rng: SystemRandom,
    cache: Mutex<KeyCache>,
}

fn failed(what: &str) -> impl Fn(aws_lc_rs::error::Unspecified) -> KeystoreError + '_ {
    move |_| KeystoreError::Failed(what.to_owned())
}

impl SoftKeystore {
    /// A keystore under a 32-byte KEK.
    pub fn new(kek: &[u8; 32]) -> Result<Self, KeystoreError> {
        Ok(Self(Arc::new(Inner {
            workers: WorkerPool::per_core("soft-keystore"),
            kek: sealed::Kek::new(kek)?,
            rng: SystemRandom::new(),
            cache: Mutex::new(HashMap::new()),
        })))
    }

    /// Reads the KEK from a file of 64 hex digits, refusing a file that others can read.
    pub fn from_kek_file(path: &Path) -> Result<Self, KeystoreError> {
        let unusable = |m: String| KeystoreError::Unavailable(format!("{}: {m}", path.display()));
        let meta = std::fs::metadata(path).map_err(|e| unusable(e.to_string()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(unusable(format!(
                    "the key-encryption key is readable by others (mode {:o}); run chmod 600 on it",
                    mode & 0o777
                )));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| unusable(e.to_string()))?;
        Self::new(&parse_kek(text.trim()).map_err(unusable)?)
    }

    /// A keystore under a KEK given as 64 hex digits (e.g. from the environment).
    pub fn from_kek_hex(hex: &str) -> Result<Self, KeystoreError> {
        Self::new(&parse_kek(hex.trim()).map_err(KeystoreError::Unavailable)?)
    }

    /// Writes a new random KEK file (mode 0600). Refuses to overwrite one.
    pub fn create_kek_file(path: &Path) -> Result<(), KeystoreError> {
        let mut kek = [0u8; 32];
        SystemRandom::new()
            .fill(&mut kek)
            .map_err(failed("the OS random source failed"))?;
        let hex: String = kek.iter().map(|b| format!("{b:02x}")).collect();
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        use std::io::Write;
        let mut f = opts
            .open(path)
            .map_err(|e| KeystoreError::Unavailable(format!("{}: {e}", path.display())))?;
        f.write_all(format!("{hex}\n").as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| KeystoreError::Unavailable(format!("{}: {e}", path.display())))
    }

    fn seal(&self, algorithm: KeyAlgorithm, pkcs8: &[u8]) -> Result<KeyRef, KeystoreError> {
        self.0.kek.seal(&self.0.rng, algorithm, pkcs8)
    }

    /// The identifier of this keystore's KEK (hex): what its sealed keys carry.
    pub fn kek_id(&self) -> String {
        self.0.kek.id_hex()
    }

    /// A key sealed under `from`'s KEK, sealed again under this keystore's (a KEK rotation).
    pub fn reseal(
        &self,
        from: &SoftKeystore,
        key: &KeyRef,
        algorithm: KeyAlgorithm,
    ) -> Result<KeyRef, KeystoreError> {
        let mut pkcs8 = from.0.kek.open(key, algorithm)?;
        let sealed = self.seal(algorithm, &pkcs8);
        pkcs8.fill(0);
        sealed
    }

    fn unseal(&self, key: &KeyRef, algorithm: KeyAlgorithm) -> Result<Loaded, KeystoreError> {
        let mut buf = self.0.kek.open(key, algorithm)?;
        let pkcs8 = buf.as_slice();
        let loaded = match algorithm {
            KeyAlgorithm::Rsa2048 => aws_lc_rs::rsa::KeyPair::from_pkcs8(pkcs8)
                .map(|kp| Loaded::Rsa(kp, OnceLock::new())),
            KeyAlgorithm::EcdsaP256 => {
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8).map(Loaded::Ecdsa)
            }
        };
        buf.fill(0);
        loaded.map_err(|e| KeystoreError::BadKey(e.to_string()))
    }

    fn loaded(&self, key: &KeyRef, algorithm: KeyAlgorithm) -> Result<Arc<Loaded>, KeystoreError> {
        // Looked up by the sealed bytes themselves: no copy, no hash beyond the map's own.
        if let Some((alg, k)) = self
            .0
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key.as_bytes())
        {
            if *alg != algorithm {
                return Err(KeystoreError::BadKey(format!(
                    "the key is {}, not {}",
                    alg.as_str(),
                    algorithm.as_str()
                )));
            }
            return Ok(k.clone());
        }
        let loaded = Arc::new(self.unseal(key, algorithm)?);
        let mut cache = self.0.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key.as_bytes().to_vec(), (algorithm, loaded.clone()));
        Ok(loaded)
    }

    fn generate_blocking(&self, algorithm: KeyAlgorithm) -> Result<GeneratedKey, KeystoreError> {
        let (pkcs8, spki) = match algorithm {
            KeyAlgorithm::Rsa2048 => {
                let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(failed("RSA key generation failed"))?;
                let pkcs8 =
                    AsDer::<Pkcs8V1Der>::as_der(&kp).map_err(failed("encoding the key failed"))?;
                let spki = AsDer::<PublicKeyX509Der>::as_der(kp.public_key())
                    .map_err(failed("encoding the public key failed"))?;
                (pkcs8.as_ref().to_vec(), spki.as_ref().to_vec())
            }
            KeyAlgorithm::EcdsaP256 => {
                let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
                    .map_err(failed("ECDSA key generation failed"))?;
                let pkcs8 = kp.to_pkcs8v1().map_err(failed("encoding the key failed"))?;
                let spki = AsDer::<PublicKeyX509Der>::as_der(kp.public_key())
                    .map_err(failed("encoding the public key failed"))?;
                (pkcs8.as_ref().to_vec(), spki.as_ref().to_vec())
            }
        };
        let mut pkcs8 = pkcs8;
        let key_ref = self.seal(algorithm, &pkcs8);
        pkcs8.fill(0);
        Ok(GeneratedKey {
            key_ref: key_ref?,
            algorithm,
            spki_der: spki,
        })
    }

    /// Signs on the calling thread (the async [`Keystore::sign`] moves this off the runtime).
    pub fn sign_blocking(
        &self,
        key: &KeyRef,
        algorithm: KeyAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, KeystoreError> {
        match &*self.loaded(key, algorithm)? {
            Loaded::Rsa(kp, _) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&RSA_PKCS1_SHA256, &self.0.rng, message, &mut sig)
                    .map_err(failed("RSA signing failed"))?;
                Ok(sig)
            }
            Loaded::Ecdsa(kp) => {
                let sig = kp
                    .sign(&self.0.rng, message)
                    .map_err(failed("ECDSA signing failed"))?;
                Ok(sig.as_ref().to_vec())
            }
        }
    }

    /// Signs digests on the calling thread (see [`Keystore::sign_digests`]).
    pub fn sign_digests_blocking(
        &self,
        key: &KeyRef,
        algorithm: KeyAlgorithm,
        scheme: DigestSigning,
        digests: &[Sha256Digest],
    ) -> Result<Vec<Vec<u8>>, KeystoreError> {
        scheme.check(algorithm)?;
        let loaded = self.loaded(key, algorithm)?;
        digests
            .iter()
            .map(|d| {
                let digest =
                    Digest::import_less_safe(d, &SHA256).map_err(failed("not a SHA-256 digest"))?;
                match (&*loaded, scheme) {
                    (
                        Loaded::Rsa(kp, _),
                        DigestSigning::RsaPkcs1 | DigestSigning::RSA_PSS_SHA256,
                    ) => {
                        let padding = if scheme == DigestSigning::RsaPkcs1 {
                            &RSA_PKCS1_SHA256
                        } else {
                            &RSA_PSS_SHA256
                        };
                        let mut sig = vec![0u8; kp.public_modulus_len()];
                        kp.sign_digest(padding, &digest, &mut sig)
                            .map_err(failed("RSA signing failed"))?;
                        Ok(sig)
                    }
                    (Loaded::Rsa(kp, pss), DigestSigning::RsaPss { salt }) => pss_key(kp, pss)?
                        .sign_sha256(d, salt)
                        .map_err(|e| KeystoreError::Failed(e.to_string())),
                    (Loaded::Ecdsa(kp), DigestSigning::Ecdsa) => Ok(kp
                        .sign_digest(&digest)
                        .map_err(failed("ECDSA signing failed"))?
                        .as_ref()
                        .to_vec()),
                    _ => Err(KeystoreError::BadKey(format!(
                        "the key cannot sign {}",
                        scheme.as_str()
                    ))),
                }
            })
            .collect()
    }
}

/// The key as AWS-LC's own object, for PSS salts aws-lc-rs does not sign with: made from the
/// key pair the first time, then kept with it.
fn pss_key<'a>(
    kp: &aws_lc_rs::rsa::KeyPair,
    pss: &'a OnceLock<PssKey>,
) -> Result<&'a PssKey, KeystoreError> {
    if let Some(key) = pss.get() {
        return Ok(key);
    }
    let pkcs8 = AsDer::<Pkcs8V1Der>::as_der(kp).map_err(failed("encoding the key failed"))?;
    let key =
        PssKey::from_pkcs8(pkcs8.as_ref()).map_err(|e| KeystoreError::Failed(e.to_string()))?;
    Ok(pss.get_or_init(|| key))
}

/// 64 hex digits.
fn parse_kek(hex: &str) -> Result<[u8; 32], String> {
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("the key-encryption key must be 64 hex digits (32 bytes)".into());
    }
    let mut out = [0u8; 32];
    for (i, chunk) in hex.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(chunk).map_err(|e| e.to_string())?;
        out[i] = u8::from_str_radix(s, 16).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

#[async_trait]
impl Keystore for SoftKeystore {
    async fn has_key(&self, key: &KeyRef, algorithm: KeyAlgorithm) -> Result<bool, KeystoreError> {
        let (this, key) = (self.clone(), key.clone());
        self.0
            .workers
            .run(move || match this.unseal(&key, algorithm) {
                Ok(_) => Ok(true),
                Err(KeystoreError::BadKey(_)) => Ok(false),
                Err(e) => Err(e),
            })
            .await
            .map_err(|e| KeystoreError::Failed(e.to_string()))?
    }

    async fn destroy(&self, key: &KeyRef) -> Result<(), KeystoreError> {
        self.0
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key.as_bytes());
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "software"
    }

    async fn generate(
        &self,
        algorithm: KeyAlgorithm,
        _label: &str,
    ) -> Result<GeneratedKey, KeystoreError> {
        let this = self.clone();
        self.0
            .workers
            .run(move || this.generate_blocking(algorithm))
            .await
            .map_err(|e| KeystoreError::Failed(e.to_string()))?
    }

    async fn import_pkcs8(
        &self,
        algorithm: KeyAlgorithm,
        pkcs8: &[u8],
    ) -> Result<KeyRef, KeystoreError> {
        // Parse first: a file that is not a key of that type is refused, not sealed.
        let valid = match algorithm {
            KeyAlgorithm::Rsa2048 => aws_lc_rs::rsa::KeyPair::from_pkcs8(pkcs8).map(|_| ()),
            KeyAlgorithm::EcdsaP256 => {
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8).map(|_| ())
            }
        };
        valid.map_err(|e| {
            KeystoreError::BadKey(format!("not a {} private key: {e}", algorithm.as_str()))
        })?;
        self.seal(algorithm, pkcs8)
    }

    async fn sign(
        &self,
        key: &KeyRef,
        algorithm: KeyAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, KeystoreError> {
        let (this, key, message) = (self.clone(), key.clone(), message.to_vec());
        self.0
            .workers
            .run(move || this.sign_blocking(&key, algorithm, &message))
            .await
            .map_err(|e| KeystoreError::Failed(e.to_string()))?
    }

    async fn sign_digests(
        &self,
        key: &KeyRef,
        algorithm: KeyAlgorithm,
        scheme: DigestSigning,
        digests: &[Sha256Digest],
    ) -> Result<Vec<Vec<u8>>, KeystoreError> {
        let (this, key, digests) = (self.clone(), key.clone(), digests.to_vec());
        self.0
            .workers
            .run(move || this.sign_digests_blocking(&key, algorithm, scheme, &digests))
            .await
            .map_err(|e| KeystoreError::Failed(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{
        UnparsedPublicKey, ECDSA_P256_SHA256_ASN1, RSA_PKCS1_2048_8192_SHA256,
    };

    #[test]
    fn keys_sign_and_verify_and_need_the_right_kek() {
        let ks = SoftKeystore::new(&[7u8; 32]).expect("ks");
        for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcdsaP256] {
            let k = ks.generate_blocking(alg).expect("generate");
            assert_eq!(k.spki_der.first(), Some(&0x30), "SPKI is a DER SEQUENCE");
            let sig = ks.sign_blocking(&k.key_ref, alg, b"hello").expect("sign");
            let (raw, verify_alg): (Vec<u8>, &dyn aws_lc_rs::signature::VerificationAlgorithm) =
                match &*ks.loaded(&k.key_ref, alg).expect("loaded") {
                    Loaded::Rsa(kp, _) => (
                        kp.public_key().as_ref().to_vec(),
                        &RSA_PKCS1_2048_8192_SHA256,
                    ),
                    Loaded::Ecdsa(kp) => {
                        (kp.public_key().as_ref().to_vec(), &ECDSA_P256_SHA256_ASN1)
                    }
                };
            UnparsedPublicKey::new(verify_alg, &raw)
                .verify(b"hello", &sig)
                .expect("signature verifies");
            assert!(UnparsedPublicKey::new(verify_alg, &raw)
                .verify(b"hellO", &sig)
                .is_err());
            // The sealed key does not contain the clear PKCS#8 and is useless under another KEK.
            let other = SoftKeystore::new(&[8u8; 32]).expect("ks");
            assert!(matches!(
                other.sign_blocking(&k.key_ref, alg, b"x"),
                Err(KeystoreError::BadKey(_))
            ));
            // Bound to its algorithm too.
            let wrong = if alg == KeyAlgorithm::Rsa2048 {
                KeyAlgorithm::EcdsaP256
            } else {
                KeyAlgorithm::Rsa2048
            };
            assert!(ks.sign_blocking(&k.key_ref, wrong, b"x").is_err());
        }
    }

    /// A rotation: a key sealed under the old KEK is sealed again under the new one; the
    /// blob names its KEK, so the old keystore says which KEK it needs, and the new one signs.
    #[tokio::test]
    async fn keys_are_sealed_again_under_a_new_kek_and_name_it() {
        let old = SoftKeystore::new(&[7u8; 32]).expect("ks");
        let new = SoftKeystore::new(&[8u8; 32]).expect("ks");
        assert_ne!(old.kek_id(), new.kek_id());
        assert_eq!(old.kek_id().len(), 16);
        let alg = KeyAlgorithm::EcdsaP256;
        let k = old.generate_blocking(alg).expect("generate");
        assert_eq!(sealed_under(&k.key_ref), Some(old.kek_id()));
        assert!(old.has_key(&k.key_ref, alg).await.expect("ask"));
        assert!(!new.has_key(&k.key_ref, alg).await.expect("ask"));
        let again = new.reseal(&old, &k.key_ref, alg).expect("reseal");
        assert_eq!(sealed_under(&again), Some(new.kek_id()));
        new.sign_blocking(&again, alg, b"x")
            .expect("the new KEK signs");
        let e = old
            .sign_blocking(&again, alg, b"x")
            .expect_err("the old one cannot");
        assert!(e.to_string().contains(&new.kek_id()), "{e}");
        // Destroying forgets the unsealed copy; the sealed blob is what the database erases.
        new.destroy(&again).await.expect("destroy");
        assert!(new.0.cache.lock().expect("cache").is_empty());
    }

    /// Keys sealed before KEK identifiers (`hpki-soft-v1`) are still read.
    #[test]
    fn keys_of_the_first_sealed_form_are_still_read() {
        use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
        let ks = SoftKeystore::new(&[7u8; 32]).expect("ks");
        let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).expect("key");
        let mut sealed = kp.to_pkcs8v1().expect("pkcs8").as_ref().to_vec();
        let kek = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).expect("kek"));
        kek.seal_in_place_append_tag(
            Nonce::assume_unique_for_key([3u8; 12]),
            Aad::from("ecdsa-p256"),
            &mut sealed,
        )
        .expect("seal");
        let mut blob = b"hpki-soft-v1\0".to_vec();
        blob.extend_from_slice(&[3u8; 12]);
        blob.extend_from_slice(&sealed);
        let key = KeyRef::from_bytes(blob);
        assert_eq!(sealed_under(&key), None);
        ks.sign_blocking(&key, KeyAlgorithm::EcdsaP256, b"x")
            .expect("signs");
    }

    #[test]
    fn digests_sign_as_the_messages_they_are_the_hash_of() {
        use aws_lc_rs::signature::RSA_PSS_2048_8192_SHA256;
        let ks = SoftKeystore::new(&[7u8; 32]).expect("ks");
        let message = b"a prescription";
        let digest: Sha256Digest = aws_lc_rs::digest::digest(&SHA256, message)
            .as_ref()
            .try_into()
            .expect("32 bytes");
        for (alg, scheme, verify_alg) in [
            (
                KeyAlgorithm::Rsa2048,
                DigestSigning::RsaPkcs1,
                &RSA_PKCS1_2048_8192_SHA256 as &dyn aws_lc_rs::signature::VerificationAlgorithm,
            ),
            (
                KeyAlgorithm::Rsa2048,
                DigestSigning::RSA_PSS_SHA256,
                &RSA_PSS_2048_8192_SHA256,
            ),
            (
                KeyAlgorithm::EcdsaP256,
                DigestSigning::Ecdsa,
                &ECDSA_P256_SHA256_ASN1,
            ),
        ] {
            let k = ks.generate_blocking(alg).expect("generate");
            let sigs = ks
                .sign_digests_blocking(&k.key_ref, alg, scheme, &[digest, [0u8; 32]])
                .expect("sign");
            assert_eq!(sigs.len(), 2);
            let raw = match &*ks.loaded(&k.key_ref, alg).expect("loaded") {
                Loaded::Rsa(kp, _) => kp.public_key().as_ref().to_vec(),
                Loaded::Ecdsa(kp) => kp.public_key().as_ref().to_vec(),
            };
            let public = UnparsedPublicKey::new(verify_alg, &raw);
            public.verify(message, &sigs[0]).expect("verifies");
            assert!(public.verify(message, &sigs[1]).is_err());
        }
        // RSA-PSS with the salt the relying system asks for, checked by openssl with that
        // length; a salt the key cannot carry is refused before anything is signed.
        let k = ks
            .generate_blocking(KeyAlgorithm::Rsa2048)
            .expect("generate");
        for salt in [0, 20, 222] {
            let sigs = ks
                .sign_digests_blocking(
                    &k.key_ref,
                    KeyAlgorithm::Rsa2048,
                    DigestSigning::RsaPss { salt },
                    &[digest],
                )
                .expect("sign");
            assert!(hpki_test_support::openssl_verifies_pss(
                &k.spki_der,
                &digest,
                &sigs[0],
                salt
            ));
        }
        let e = ks
            .sign_digests_blocking(
                &k.key_ref,
                KeyAlgorithm::Rsa2048,
                DigestSigning::RsaPss { salt: 223 },
                &[digest],
            )
            .expect_err("too long a salt");
        assert!(e.to_string().contains("at most 222"), "{e}");
        let k = ks
            .generate_blocking(KeyAlgorithm::EcdsaP256)
            .expect("generate");
        assert!(matches!(
            ks.sign_digests_blocking(
                &k.key_ref,
                KeyAlgorithm::EcdsaP256,
                DigestSigning::RsaPkcs1,
                &[digest]
            ),
            Err(KeystoreError::BadKey(_))
        ));
    }

    #[test]
    fn kek_file_rules() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("kek");
        let _ = std::fs::remove_file(&path);
        SoftKeystore::create_kek_file(&path).expect("create");
        assert!(
            SoftKeystore::create_kek_file(&path).is_err(),
            "must not overwrite"
        );
        SoftKeystore::from_kek_file(&path).expect("load");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = SoftKeystore::from_kek_file(&path).err().expect("refused");
        assert!(e.to_string().contains("readable by others"), "{e}");
        drop(dir);
    }
}
