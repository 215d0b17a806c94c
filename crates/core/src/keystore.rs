//! Where private keys live. One trait, two backends chosen by configuration: a software
//! keystore (keys encrypted at rest under a key-encryption key) and a PKCS#11 HSM. Callers hold
//! only an opaque [`KeyRef`]; a private key never leaves its keystore in the clear.

use async_trait::async_trait;

/// Key types the CA issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAlgorithm {
    /// RSA 2048, signatures RSASSA-PKCS1-v1_5 with SHA-256 (what HPKI uses).
    Rsa2048,
    /// ECDSA on P-256 with SHA-256.
    EcdsaP256,
}

impl KeyAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rsa2048 => "rsa-2048",
            Self::EcdsaP256 => "ecdsa-p256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "rsa-2048" | "rsa2048" | "rsa" => Some(Self::Rsa2048),
            "ecdsa-p256" | "p256" | "p-256" | "ecdsa" => Some(Self::EcdsaP256),
            _ => None,
        }
    }
}

/// How a SHA-256 digest computed elsewhere is signed (remote signing: the relying system hashes,
/// the keystore signs the hash).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DigestSigning {
    /// RSASSA-PKCS1-v1_5: the DigestInfo of SHA-256, padded.
    RsaPkcs1,
    /// RSASSA-PSS with SHA-256, MGF1 with SHA-256 and a salt of `salt` bytes (the relying
    /// system chooses it: its signature's parameters name it).
    RsaPss { salt: u16 },
    /// ECDSA (DER `Ecdsa-Sig-Value`).
    Ecdsa,
}

impl DigestSigning {
    /// RSASSA-PSS with a salt as long as the digest (32 bytes), the common choice.
    pub const RSA_PSS_SHA256: Self = Self::RsaPss { salt: 32 };
    /// The longest PSS salt with SHA-256 and a 2048-bit key: 256 - 32 - 2 bytes.
    pub const RSA2048_MAX_PSS_SALT: u16 = 222;

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RsaPkcs1 => "rsa-pkcs1-sha256",
            Self::RsaPss { .. } => "rsa-pss-sha256",
            Self::Ecdsa => "ecdsa-sha256",
        }
    }

    /// Whether a key of `algorithm` can sign this way.
    pub fn fits(self, algorithm: KeyAlgorithm) -> bool {
        match (self, algorithm) {
            (Self::RsaPkcs1, KeyAlgorithm::Rsa2048) | (Self::Ecdsa, KeyAlgorithm::EcdsaP256) => {
                true
            }
            (Self::RsaPss { salt }, KeyAlgorithm::Rsa2048) => salt <= Self::RSA2048_MAX_PSS_SALT,
            _ => false,
        }
    }

    /// The schemes a key of `algorithm` signs with (PSS with any salt the key can carry).
    pub fn for_key(algorithm: KeyAlgorithm) -> &'static [DigestSigning] {
        match algorithm {
            KeyAlgorithm::Rsa2048 => &[Self::RsaPkcs1, Self::RSA_PSS_SHA256],
            KeyAlgorithm::EcdsaP256 => &[Self::Ecdsa],
        }
    }

    /// The error for a scheme that does not fit the key.
    pub fn check(self, algorithm: KeyAlgorithm) -> Result<(), KeystoreError> {
        if self.fits(algorithm) {
            Ok(())
        } else if let (Self::RsaPss { salt }, KeyAlgorithm::Rsa2048) = (self, algorithm) {
            Err(KeystoreError::BadKey(format!(
                "a PSS salt of {salt} bytes does not fit a {} key with SHA-256 (at most {})",
                algorithm.as_str(),
                Self::RSA2048_MAX_PSS_SALT
            )))
        } else {
            Err(KeystoreError::BadKey(format!(
                "a {} key cannot sign {}",
                algorithm.as_str(),
                self.as_str()
            )))
        }
    }
}

/// A SHA-256 digest.
pub type Sha256Digest = [u8; 32];

/// What a keystore needs to find (HSM) or unwrap (software) a key. Opaque to everyone else,
/// and not secret by itself: a software key is encrypted under the key-encryption key.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRef(Vec<u8>);

impl KeyRef {
    pub fn from_bytes(b: Vec<u8>) -> Self {
        Self(b)
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for KeyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyRef({} bytes)", self.0.len())
    }
}

/// A freshly generated key: its reference and its public key (SubjectPublicKeyInfo, DER).
#[derive(Clone, Debug)]
pub struct GeneratedKey {
    pub key_ref: KeyRef,
    pub algorithm: KeyAlgorithm,
    pub spki_der: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    #[error("the key cannot be used: {0}")]
    BadKey(String),
    #[error("the keystore failed: {0}")]
    Failed(String),
    #[error("the keystore is not usable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Keystore: Send + Sync + 'static {
    /// "software" or "pkcs11", for `ca show` and the logs.
    fn backend(&self) -> &'static str;

    /// Whether the keystore can sign now (for `/readyz`): a token that is gone, or whose
    /// sessions died and cannot be opened again, is `Unavailable`. Cheap: no key is used.
    async fn check(&self) -> Result<(), KeystoreError> {
        Ok(())
    }

    /// Generates a key pair inside the keystore.
    async fn generate(
        &self,
        algorithm: KeyAlgorithm,
        label: &str,
    ) -> Result<GeneratedKey, KeystoreError>;

    /// Signs `message` (hashed with SHA-256 inside): RSA PKCS#1 v1.5 or ECDSA (DER signature).
    async fn sign(
        &self,
        key: &KeyRef,
        algorithm: KeyAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, KeystoreError>;

    /// Signs SHA-256 digests computed elsewhere, in order, with one key: one signature per
    /// digest. A scheme that does not fit the key is refused ([`DigestSigning::check`]).
    async fn sign_digests(
        &self,
        key: &KeyRef,
        algorithm: KeyAlgorithm,
        scheme: DigestSigning,
        digests: &[Sha256Digest],
    ) -> Result<Vec<Vec<u8>>, KeystoreError>;

    /// Whether the key is there and usable: the software keystore unseals it under its KEK,
    /// a PKCS#11 token holds the private key. `Ok(false)` for a key that is missing (or sealed
    /// under another KEK); `Err` when the keystore itself cannot be asked.
    async fn has_key(&self, key: &KeyRef, algorithm: KeyAlgorithm) -> Result<bool, KeystoreError>;

    /// Destroys a private key for good (a token's `C_DestroyObject`). The software keystore
    /// holds nothing outside the sealed blob: erasing that blob where it is stored destroys the
    /// key, and this only forgets any unsealed copy in memory. A key already gone is no error.
    async fn destroy(&self, key: &KeyRef) -> Result<(), KeystoreError>;

    /// Takes in an existing private key (unencrypted PKCS#8, DER), for importing a hierarchy.
    async fn import_pkcs8(
        &self,
        _algorithm: KeyAlgorithm,
        _pkcs8: &[u8],
    ) -> Result<KeyRef, KeystoreError> {
        Err(KeystoreError::Unavailable(format!(
            "the {} keystore cannot take in key files; put the keys into the token and name them by label",
            self.backend()
        )))
    }

    /// Finds a private key that already exists in the keystore by its label.
    async fn key_by_label(&self, _label: &str) -> Result<KeyRef, KeystoreError> {
        Err(KeystoreError::Unavailable(format!(
            "the {} keystore has no labelled keys; import the key files instead",
            self.backend()
        )))
    }
}

/// A keystore whose every operation is timed and whose failures are counted, per backend and
/// operation (`hpki_keystore_operation_duration_seconds`, `hpki_keystore_errors_total`): the
/// binary wraps whichever keystore it opens, the backends know nothing of it.
pub struct Measured<K>(pub K);

impl<K: Keystore> Measured<K> {
    async fn timed<T>(
        &self,
        operation: &'static str,
        run: impl std::future::Future<Output = Result<T, KeystoreError>>,
    ) -> Result<T, KeystoreError> {
        use tracing::Instrument;
        let backend = self.0.backend();
        let span = tracing::info_span!(
            "keystore",
            otel.name = operation,
            keystore.backend = backend,
            keystore.error = tracing::field::Empty
        );
        let started = std::time::Instant::now();
        let result = run.instrument(span.clone()).await;
        metrics::histogram!(
            "hpki_keystore_operation_duration_seconds",
            "backend" => backend,
            "operation" => operation
        )
        .record(started.elapsed().as_secs_f64());
        if let Err(e) = &result {
            let kind = match e {
                KeystoreError::Unavailable(_) => "unavailable",
                _ => "failed",
            };
            span.record("keystore.error", kind);
            metrics::counter!(
                "hpki_keystore_errors_total",
                "backend" => backend,
                "operation" => operation,
                "kind" => kind
            )
            .increment(1);
        }
        result
    }
}

#[async_trait]
impl<K: Keystore> Keystore for Measured<K> {
    fn backend(&self) -> &'static str {
        self.0.backend()
    }

    async fn check(&self) -> Result<(), KeystoreError> {
        self.timed("check", self.0.check()).await
    }

    async fn generate(
        &self,
        algorithm: KeyAlgorithm,
        label: &str,
    ) -> Result<GeneratedKey, KeystoreError> {
        self.timed("generate", self.0.generate(algorithm, label))
            .await
    }

    async fn sign(
        &self,
        key: &KeyRef,
        algorithm: KeyAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, KeystoreError> {
        self.timed("sign", self.0.sign(key, algorithm, message))
            .await
    }

    async fn sign_digests(
        &self,
        key: &KeyRef,
        algorithm: KeyAlgorithm,
        scheme: DigestSigning,
        digests: &[Sha256Digest],
    ) -> Result<Vec<Vec<u8>>, KeystoreError> {
        let signing = self.0.sign_digests(key, algorithm, scheme, digests);
        self.timed("sign_digests", signing).await
    }

    async fn has_key(&self, key: &KeyRef, algorithm: KeyAlgorithm) -> Result<bool, KeystoreError> {
        self.timed("has_key", self.0.has_key(key, algorithm)).await
    }

    async fn destroy(&self, key: &KeyRef) -> Result<(), KeystoreError> {
        self.timed("destroy", self.0.destroy(key)).await
    }

    async fn import_pkcs8(
        &self,
        algorithm: KeyAlgorithm,
        pkcs8: &[u8],
    ) -> Result<KeyRef, KeystoreError> {
        self.timed("import", self.0.import_pkcs8(algorithm, pkcs8))
            .await
    }

    async fn key_by_label(&self, label: &str) -> Result<KeyRef, KeystoreError> {
        self.timed("key_by_label", self.0.key_by_label(label)).await
    }
}
