//! The PKCS#11 keystore. Keys are generated inside the token as sensitive, non-extractable
//! token objects, and every signature is made inside it. A [`KeyRef`] is only the key's CKA_ID.
//! Sessions are pooled so that several signatures run at once (one per session).
#![forbid(unsafe_code)]

mod module;
use module::module_for;
pub use module::{finalize_modules, TokenTurn};

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState};
use der::asn1::{Any, BitString, OctetString, UintRef};
use der::{Decode, Encode, Sequence};
use hpki_core::keystore::{
    DigestSigning, GeneratedKey, KeyAlgorithm, KeyRef, Keystore, KeystoreError, Sha256Digest,
};
use hpki_core::pool::WorkerPool;
use sha2::{Digest, Sha256};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

mod card;
mod sessions;
pub use card::{Card, CardCertificate};
use sessions::Sessions;

const MAGIC: &[u8] = b"pkcs11-v1\0";
use const_oid::db::rfc5912::{
    ID_EC_PUBLIC_KEY as EC_PUBLIC_KEY, RSA_ENCRYPTION, SECP_256_R_1 as P256,
};

#[derive(Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

#[derive(Sequence)]
struct EcdsaSignature<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

/// Where the token is and how to log in.
#[derive(Clone)]
pub struct Pkcs11Config {
    pub module: std::path::PathBuf,
    pub token_label: String,
    pub pin: String,
    pub sessions: usize,
}

impl std::fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("pin", &"***")
            .field("sessions", &self.sessions)
            .finish()
    }
}

struct Inner {
    /// As many sessions as worker threads, so a job always finds a free one.
    sessions: Sessions,
    workers: WorkerPool,
    handles: Mutex<HashMap<Vec<u8>, ObjectHandle>>,
    /// The module's generation the handles were found in.
    handles_generation: AtomicU64,
}

impl Inner {
    fn forget_handles(&self) {
        self.handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Whether the configured token is still in one of the module's slots.
    fn token_present(&self) -> bool {
        self.sessions.token_present()
    }
}

/// Cheap to clone: clones share the sessions.
#[derive(Clone)]
pub struct Pkcs11Keystore(Arc<Inner>);

/// Whether the token itself is out of reach (removed, broken, or its sessions gone): then the
/// service answers 503 and asks to try again, rather than failing as if a key were bad.
fn token_out_of_reach(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::DeviceError
                | RvError::DeviceMemory
                | RvError::DeviceRemoved
                | RvError::SessionClosed
                | RvError::SessionHandleInvalid
                | RvError::TokenNotPresent
                | RvError::TokenNotRecognized
                | RvError::CryptokiNotInitialized
                // The token forgot the login (an HSM restarted): a new session logs in again.
                | RvError::UserNotLoggedIn,
            _
        )
    )
}

fn failed(what: &str) -> impl Fn(CkError) -> KeystoreError + '_ {
    move |e| {
        if token_out_of_reach(&e) {
            KeystoreError::Unavailable(format!("{what}: {e}"))
        } else {
            KeystoreError::Failed(format!("{what}: {e}"))
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> KeystoreError {
    KeystoreError::Unavailable(e.to_string())
}

impl Pkcs11Keystore {
    /// Loads the module, finds the token by label, logs in and opens the session pool.
    pub fn open(config: &Pkcs11Config) -> Result<Self, KeystoreError> {
        let module = Path::new(&config.module);
        // Not while another process of this service writes the token (see `TokenTurn`).
        let turn = TokenTurn::take(&config.token_label);
        let count = config.sessions.clamp(1, 64);
        let sessions = Sessions::open(module_for(module)?, &config.token_label, &config.pin, count)
            .map_err(|e| match e {
                KeystoreError::Unavailable(why) => {
                    unavailable(format!("{why} in {}", module.display()))
                }
                other => other,
            })?;
        drop(turn);
        Ok(Self(Arc::new(Inner {
            sessions,
            workers: WorkerPool::new("pkcs11", count),
            handles: Mutex::new(HashMap::new()),
            handles_generation: AtomicU64::new(0),
        })))
    }

    /// Runs `op` on a pooled session, off the async runtime.
    async fn with_session<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Session, &Inner) -> Result<T, KeystoreError> + Send + 'static,
    ) -> Result<T, KeystoreError> {
        let inner = self.0.clone();
        self.0
            .workers
            .run(move || {
                let lease = inner.sessions.take()?;
                // Handles are found again after the library was initialised again (they may
                // name other objects then), and after the token went away.
                if inner
                    .handles_generation
                    .swap(lease.generation, Ordering::AcqRel)
                    != lease.generation
                {
                    inner.forget_handles();
                }
                let result = op(&lease.session, &inner);
                if matches!(result, Err(KeystoreError::Unavailable(_))) {
                    inner.forget_handles();
                }
                inner.sessions.give_back(lease, &result);
                result
            })
            .await
            .map_err(|e| KeystoreError::Failed(e.to_string()))?
    }
}

fn random_id() -> Result<Vec<u8>, KeystoreError> {
    let mut id = vec![0u8; 16];
    hpki_core::secret::os_random(&mut id).map_err(|e| KeystoreError::Failed(e.to_string()))?;
    Ok(id)
}

fn generate_blocking(
    session: &Session,
    algorithm: KeyAlgorithm,
    label: &str,
    token_label: &str,
) -> Result<GeneratedKey, KeystoreError> {
    let id = random_id()?;
    let common = |public: bool| {
        let mut a = vec![
            Attribute::Token(true),
            Attribute::Id(id.clone()),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        if public {
            a.push(Attribute::Verify(true));
        } else {
            a.extend([
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
            ]);
        }
        a
    };
    let (mechanism, mut public, private) = match algorithm {
        KeyAlgorithm::Rsa2048 => (Mechanism::RsaPkcsKeyPairGen, common(true), common(false)),
        KeyAlgorithm::EcdsaP256 => (Mechanism::EccKeyPairGen, common(true), common(false)),
    };
    match algorithm {
        KeyAlgorithm::Rsa2048 => {
            public.push(Attribute::ModulusBits(2048.into()));
            public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
        }
        KeyAlgorithm::EcdsaP256 => {
            public.push(Attribute::EcParams(
                P256.to_der()
                    .map_err(|e| KeystoreError::Failed(e.to_string()))?,
            ));
        }
    }
    let (public_handle, _) = {
        let _writing = writing(token_label);
        session
            .generate_key_pair(&mechanism, &public, &private)
            .map_err(failed("key generation"))?
    };
    let spki = match algorithm {
        KeyAlgorithm::Rsa2048 => {
            let attrs = session
                .get_attributes(
                    public_handle,
                    &[AttributeType::Modulus, AttributeType::PublicExponent],
                )
                .map_err(failed("reading the public key"))?;
            let (mut n, mut e) = (Vec::new(), Vec::new());
            for a in attrs {
                match a {
                    Attribute::Modulus(v) => n = v,
                    Attribute::PublicExponent(v) => e = v,
                    _ => {}
                }
            }
            rsa_spki(&n, &e)?
        }
        KeyAlgorithm::EcdsaP256 => {
            let attrs = session
                .get_attributes(public_handle, &[AttributeType::EcPoint])
                .map_err(failed("reading the public key"))?;
            let point = attrs
                .into_iter()
                .find_map(|a| {
                    if let Attribute::EcPoint(p) = a {
                        Some(p)
                    } else {
                        None
                    }
                })
                .ok_or_else(|| KeystoreError::Failed("the token returned no EC point".into()))?;
            // CKA_EC_POINT is the DER OCTET STRING of the point (raw on some tokens).
            let raw = OctetString::from_der(&point)
                .map(|o| o.as_bytes().to_vec())
                .unwrap_or(point);
            ec_spki(&raw)?
        }
    };
    let mut key_ref = MAGIC.to_vec();
    key_ref.extend_from_slice(&id);
    Ok(GeneratedKey {
        key_ref: KeyRef::from_bytes(key_ref),
        algorithm,
        spki_der: spki,
    })
}

/// One change to the token's objects at a time in this process (keys made or destroyed):
/// SoftHSM2's file-backed token fails now and then (CKR_GENERAL_ERROR) when two threads change
/// token objects at once (SoftHSMv2 issue 573); and in this service's other processes
/// (`TokenTurn`). Keys are made once per certificate, so nothing waits long.
fn writing(token_label: &str) -> (std::sync::MutexGuard<'static, ()>, TokenTurn) {
    static WRITING: Mutex<()> = Mutex::new(());
    let one = WRITING.lock().unwrap_or_else(|p| p.into_inner());
    (one, TokenTurn::take(token_label))
}

fn der_err(e: der::Error) -> KeystoreError {
    KeystoreError::Failed(e.to_string())
}

fn rsa_spki(n: &[u8], e: &[u8]) -> Result<Vec<u8>, KeystoreError> {
    let key = RsaPublicKey {
        modulus: UintRef::new(n).map_err(der_err)?,
        public_exponent: UintRef::new(e).map_err(der_err)?,
    };
    SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        subject_public_key: BitString::from_bytes(&key.to_der().map_err(der_err)?)
            .map_err(der_err)?,
    }
    .to_der()
    .map_err(der_err)
}

fn ec_spki(point: &[u8]) -> Result<Vec<u8>, KeystoreError> {
    SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: EC_PUBLIC_KEY,
            parameters: Some(Any::encode_from(&P256).map_err(der_err)?),
        },
        subject_public_key: BitString::from_bytes(point).map_err(der_err)?,
    }
    .to_der()
    .map_err(der_err)
}

fn find_private(
    session: &Session,
    inner: &Inner,
    id: &[u8],
) -> Result<ObjectHandle, KeystoreError> {
    if let Some(h) = inner
        .handles
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(id)
    {
        return Ok(*h);
    }
    let found = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Id(id.to_vec()),
        ])
        .map_err(failed("finding the key"))?;
    let Some(&handle) = found.first() else {
        // A token that is no longer there (removed, deleted, re-initialised) is an outage to
        // wait out; a key missing from the token that is there is a bad key reference.
        if !inner.token_present() {
            return Err(KeystoreError::Unavailable(format!(
                "the token {:?} is not there any more",
                inner.sessions.token_label
            )));
        }
        return Err(KeystoreError::BadKey(
            "no such key in the token (another token, or deleted)".into(),
        ));
    };
    inner
        .handles
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id.to_vec(), handle);
    Ok(handle)
}

/// Runs `sign` with the key's handle; a handle gone stale is looked up again once.
fn with_key<T>(
    session: &Session,
    inner: &Inner,
    id: &[u8],
    sign: impl Fn(ObjectHandle) -> Result<T, SignError>,
) -> Result<T, KeystoreError> {
    match sign(find_private(session, inner, id)?) {
        // A cached handle can go stale (the token was re-initialised, the HSM restarted): look
        // the key up again once, and tell a token that is gone from a key that is gone.
        Err(Stale) => {
            inner
                .handles
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(id);
            let key = find_private(session, inner, id)?;
            sign(key).map_err(|e| match e {
                Stale => KeystoreError::BadKey("the key's handle is not valid".into()),
                Signing(e) => e,
            })
        }
        Err(Signing(e)) => Err(e),
        Ok(signature) => Ok(signature),
    }
}

/// Why signing with a handle failed.
enum SignError {
    /// The token says the handle is not (or no longer) valid.
    Stale,
    Signing(KeystoreError),
}
use SignError::{Signing, Stale};

/// `C_Sign` with one mechanism; an invalid handle is [`Stale`].
fn raw_sign(
    session: &Session,
    key: ObjectHandle,
    mechanism: &Mechanism,
    data: &[u8],
) -> Result<Vec<u8>, SignError> {
    session.sign(mechanism, key, data).map_err(|e| match e {
        CkError::Pkcs11(RvError::ObjectHandleInvalid | RvError::KeyHandleInvalid, _) => Stale,
        other => Signing(failed("signing")(other)),
    })
}

fn sign_with_handle(
    session: &Session,
    key: ObjectHandle,
    algorithm: KeyAlgorithm,
    message: &[u8],
) -> Result<Vec<u8>, SignError> {
    match algorithm {
        KeyAlgorithm::Rsa2048 => raw_sign(session, key, &Mechanism::Sha256RsaPkcs, message),
        KeyAlgorithm::EcdsaP256 => {
            // Hash here and sign the digest with plain CKM_ECDSA: more tokens support it
            // (SoftHSM 2.6 has no CKM_ECDSA_SHA256).
            let digest: Sha256Digest = Sha256::digest(message).into();
            sign_digest_with_handle(session, key, DigestSigning::Ecdsa, &digest)
        }
    }
}

/// The DigestInfo prefix of SHA-256 (RFC 8017 section 9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

fn sign_digest_with_handle(
    session: &Session,
    key: ObjectHandle,
    scheme: DigestSigning,
    digest: &Sha256Digest,
) -> Result<Vec<u8>, SignError> {
    match scheme {
        DigestSigning::RsaPkcs1 => {
            let mut info = SHA256_DIGEST_INFO.to_vec();
            info.extend_from_slice(digest);
            raw_sign(session, key, &Mechanism::RsaPkcs, &info)
        }
        DigestSigning::RsaPss { salt } => raw_sign(
            session,
            key,
            &Mechanism::RsaPkcsPss(PkcsPssParams {
                hash_alg: MechanismType::SHA256,
                mgf: PkcsMgfType::MGF1_SHA256,
                s_len: u64::from(salt).into(),
            }),
            digest,
        ),
        DigestSigning::Ecdsa => {
            let raw = raw_sign(session, key, &Mechanism::Ecdsa, digest)?;
            if raw.len() != 64 {
                return Err(Signing(KeystoreError::Failed(format!(
                    "the token returned a {}-byte ECDSA signature",
                    raw.len()
                ))));
            }
            // PKCS#11 gives r || s; X.509 and CMS want the DER SEQUENCE.
            let (r, s) = raw.split_at(32);
            EcdsaSignature {
                r: UintRef::new(r).map_err(|e| Signing(der_err(e)))?,
                s: UintRef::new(s).map_err(|e| Signing(der_err(e)))?,
            }
            .to_der()
            .map_err(|e| Signing(der_err(e)))
        }
    }
}

#[async_trait]
impl Keystore for Pkcs11Keystore {
    fn backend(&self) -> &'static str {
        "pkcs11"
    }

    /// A session that answers, on a token that is there (a dead session is replaced by
    /// `with_session`, so a token that came back is ready again at once).
    async fn check(&self) -> Result<(), KeystoreError> {
        self.with_session(|session, inner| {
            let info = session
                .get_session_info()
                .map_err(failed("the token's session"))?;
            let logged_in = matches!(
                info.session_state(),
                SessionState::RwUser | SessionState::RoUser
            );
            if !logged_in {
                Err(unavailable("the token's login ended"))
            } else if inner.token_present() {
                Ok(())
            } else {
                Err(unavailable(format!(
                    "the token {:?} is not there",
                    inner.sessions.token_label
                )))
            }
        })
        .await
    }

    async fn generate(
        &self,
        algorithm: KeyAlgorithm,
        label: &str,
    ) -> Result<GeneratedKey, KeystoreError> {
        let label = format!("hpki-second {label}");
        let token = self.0.sessions.token_label.clone();
        self.with_session(move |s, _| generate_blocking(s, algorithm, &label, &token))
            .await
    }

    async fn has_key(&self, key: &KeyRef, _: KeyAlgorithm) -> Result<bool, KeystoreError> {
        let Ok(id) = key_id(key) else {
            return Ok(false);
        };
        self.with_session(move |s, inner| {
            // Asked of the token itself, not of the handles cached for signing.
            inner
                .handles
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            match find_private(s, inner, &id) {
                Ok(_) => Ok(true),
                Err(KeystoreError::BadKey(_)) => Ok(false),
                Err(e) => Err(e),
            }
        })
        .await
    }

    async fn destroy(&self, key: &KeyRef) -> Result<(), KeystoreError> {
        let id = key_id(key)?;
        self.with_session(move |s, inner| {
            inner
                .handles
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            // The private key and its public half (same CKA_ID) both go.
            let found = s
                .find_objects(&[Attribute::Id(id.clone())])
                .map_err(failed("finding the key"))?;
            if found.is_empty() && !inner.token_present() {
                return Err(KeystoreError::Unavailable(format!(
                    "the token {:?} is not there any more",
                    inner.sessions.token_label
                )));
            }
            let _writing = writing(&inner.sessions.token_label);
            for handle in found {
                s.destroy_object(handle)
                    .map_err(failed("destroying the key"))?;
            }
            Ok(())
        })
        .await
    }

    async fn key_by_label(&self, label: &str) -> Result<KeyRef, KeystoreError> {
        let label = label.to_owned();
        self.with_session(move |s, _| {
            let found = s
                .find_objects(&[
                    Attribute::Class(ObjectClass::PRIVATE_KEY),
                    Attribute::Label(label.as_bytes().to_vec()),
                ])
                .map_err(failed("finding the key"))?;
            let [handle] = found.as_slice() else {
                return Err(KeystoreError::BadKey(format!(
                    "{} private keys are labelled {label:?} in the token; exactly one is needed",
                    found.len()
                )));
            };
            let attrs = s
                .get_attributes(*handle, &[AttributeType::Id])
                .map_err(failed("reading the key's id"))?;
            let id = attrs
                .into_iter()
                .find_map(|a| {
                    if let Attribute::Id(id) = a {
                        Some(id)
                    } else {
                        None
                    }
                })
                .filter(|id| !id.is_empty())
                .ok_or_else(|| {
                    KeystoreError::BadKey(format!("the key labelled {label:?} has no CKA_ID"))
                })?;
            let mut key_ref = MAGIC.to_vec();
            key_ref.extend_from_slice(&id);
            Ok(KeyRef::from_bytes(key_ref))
        })
        .await
    }

    async fn sign(
        &self,
        key: &KeyRef,
        algorithm: KeyAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, KeystoreError> {
        let id = key_id(key)?;
        let message = message.to_vec();
        self.with_session(move |s, inner| {
            with_key(s, inner, &id, |k| {
                sign_with_handle(s, k, algorithm, &message)
            })
        })
        .await
    }

    async fn sign_digests(
        &self,
        key: &KeyRef,
        algorithm: KeyAlgorithm,
        scheme: DigestSigning,
        digests: &[Sha256Digest],
    ) -> Result<Vec<Vec<u8>>, KeystoreError> {
        scheme.check(algorithm)?;
        let id = key_id(key)?;
        let digests = digests.to_vec();
        self.with_session(move |s, inner| {
            with_key(s, inner, &id, |k| {
                digests
                    .iter()
                    .map(|d| sign_digest_with_handle(s, k, scheme, d))
                    .collect()
            })
        })
        .await
    }
}

fn key_id(key: &KeyRef) -> Result<Vec<u8>, KeystoreError> {
    Ok(key
        .as_bytes()
        .strip_prefix(MAGIC)
        .ok_or_else(|| KeystoreError::BadKey("not a key of a PKCS#11 keystore".into()))?
        .to_vec())
}

/// Whether the token marks a key sensitive and never extractable (for tests and `ca show`).
impl Pkcs11Keystore {
    pub async fn is_protected(&self, key: &KeyRef) -> Result<bool, KeystoreError> {
        let id = key_id(key)?;
        self.with_session(move |s, inner| {
            let h = find_private(s, inner, &id)?;
            let attrs = s
                .get_attributes(
                    h,
                    &[
                        AttributeType::Sensitive,
                        AttributeType::Extractable,
                        AttributeType::NeverExtractable,
                    ],
                )
                .map_err(failed("reading attributes"))?;
            Ok(attrs.iter().all(|a| match a {
                Attribute::Sensitive(v) | Attribute::NeverExtractable(v) => *v,
                Attribute::Extractable(v) => !*v,
                _ => true,
            }))
        })
        .await
    }
}
