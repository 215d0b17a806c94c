//! An HPKI card (or any PKCS#11 token) on the holder's computer, for the card sign-in client:
//! its certificates read, and a message signed with the private key beside one (same CKA_ID),
//! inside the card, after the holder's PIN.

use std::path::Path;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, CertificateType, KeyType, ObjectClass};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use hpki_core::keystore::KeystoreError;
use sha2::{Digest, Sha256};

use crate::{module_for, unavailable, SHA256_DIGEST_INFO};

/// A certificate on the card.
#[derive(Clone, Debug)]
pub struct CardCertificate {
    pub id: Vec<u8>,
    pub label: String,
    pub der: Vec<u8>,
}

/// A logged-in session with the card.
pub struct Card {
    session: Session,
}

impl Card {
    /// Opens the token in `slot` (its ID), or the only slot with a token, and logs in.
    pub fn open(module: &Path, slot: Option<u64>, pin: &str) -> Result<Self, KeystoreError> {
        let context = module_for(module)?.context.clone();
        // Slots with a card that is set up (SoftHSM always adds an empty one).
        let slots: Vec<Slot> = context
            .get_slots_with_token()
            .map_err(unavailable)?
            .into_iter()
            .filter(|s| {
                context
                    .get_token_info(*s)
                    .is_ok_and(|t| t.token_initialized())
            })
            .collect();
        let slot: Slot = match slot {
            Some(id) => slots.into_iter().find(|s| s.id() == id).ok_or_else(|| {
                unavailable(format!("no token in slot {id} of {}", module.display()))
            })?,
            None => match slots.as_slice() {
                [only] => *only,
                [] => {
                    return Err(unavailable(format!(
                        "no card found through {} (is the card in the reader?)",
                        module.display()
                    )))
                }
                many => {
                    let ids: Vec<String> = many.iter().map(|s| s.id().to_string()).collect();
                    return Err(unavailable(format!(
                        "tokens are in several slots ({}); choose one with --slot",
                        ids.join(", ")
                    )));
                }
            },
        };
        let session = context.open_ro_session(slot).map_err(unavailable)?;
        session
            .login(UserType::User, Some(&AuthPin::new(pin.to_owned().into())))
            .map_err(|e| unavailable(format!("the card refused the PIN: {e}")))?;
        Ok(Self { session })
    }

    /// The X.509 certificates on the card.
    pub fn certificates(&self) -> Result<Vec<CardCertificate>, KeystoreError> {
        let handles = self
            .session
            .find_objects(&[
                Attribute::Class(ObjectClass::CERTIFICATE),
                Attribute::CertificateType(CertificateType::X_509),
            ])
            .map_err(unavailable)?;
        let mut found = Vec::new();
        for h in handles {
            let attrs = self
                .session
                .get_attributes(
                    h,
                    &[
                        AttributeType::Id,
                        AttributeType::Label,
                        AttributeType::Value,
                    ],
                )
                .map_err(unavailable)?;
            let mut c = CardCertificate {
                id: Vec::new(),
                label: String::new(),
                der: Vec::new(),
            };
            for a in attrs {
                match a {
                    Attribute::Id(v) => c.id = v,
                    Attribute::Label(v) => c.label = String::from_utf8_lossy(&v).into_owned(),
                    Attribute::Value(v) => c.der = v,
                    _ => {}
                }
            }
            if !c.der.is_empty() {
                found.push(c);
            }
        }
        Ok(found)
    }

    /// Signs `message` with the private key whose CKA_ID is the certificate's: RSA PKCS#1
    /// v1.5 with SHA-256 (CKM_RSA_PKCS over the DigestInfo, which every card offers), or ECDSA
    /// P-256 with SHA-256 (CKM_ECDSA over the digest; r‖s).
    pub fn sign(
        &self,
        certificate: &CardCertificate,
        message: &[u8],
    ) -> Result<Vec<u8>, KeystoreError> {
        let keys = self
            .session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Id(certificate.id.clone()),
            ])
            .map_err(unavailable)?;
        let [key] = keys.as_slice() else {
            return Err(KeystoreError::BadKey(format!(
                "{} private keys on the card have the certificate {:?}'s ID; exactly one is needed",
                keys.len(),
                certificate.label
            )));
        };
        let key_type = self
            .session
            .get_attributes(*key, &[AttributeType::KeyType])
            .map_err(unavailable)?
            .into_iter()
            .find_map(|a| match a {
                Attribute::KeyType(t) => Some(t),
                _ => None,
            });
        let digest = Sha256::digest(message);
        let signed = match key_type {
            Some(KeyType::RSA) => {
                let mut info = SHA256_DIGEST_INFO.to_vec();
                info.extend_from_slice(&digest);
                self.session.sign(&Mechanism::RsaPkcs, *key, &info)
            }
            Some(KeyType::EC) => self.session.sign(&Mechanism::Ecdsa, *key, &digest),
            other => {
                return Err(KeystoreError::BadKey(format!(
                    "the card's key is of type {other:?}; RSA or EC is needed"
                )))
            }
        };
        signed.map_err(|e| KeystoreError::Failed(format!("the card could not sign: {e}")))
    }
}
