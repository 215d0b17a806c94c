//! Keys where they belong: every certificate that needs a key has it ([`CaService::keystore_check`]),
//! and a second certificate's key is destroyed once its certificate is revoked or expired, so
//! that it exists nowhere a thief could use it.

use futures_util::StreamExt;
use hpki_core::audit::Action;
use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::domain::{CaRole, CertificateKind, StoredCertificate};
use hpki_core::keystore::{KeyAlgorithm, KeyRef};
use hpki_core::Error;
use serde::Serialize;

use super::CaService;

/// A certificate whose key the keystore does not have.
#[derive(Clone, Debug, Serialize)]
pub struct MissingKey {
    pub serial: String,
    pub kind: &'static str,
    pub subject: String,
    /// Why it matters: what stops working without the key.
    pub consequence: &'static str,
}

/// The outcome of [`CaService::keystore_check`].
#[derive(Clone, Debug, Serialize)]
pub struct KeyCheck {
    /// Certificates whose key was looked for.
    pub checked: usize,
    pub missing: Vec<MissingKey>,
    /// The root CA's key was taken off this machine (`ca root-key offline`): as intended.
    pub root_key_offline: bool,
}

impl CaService {
    /// Looks for the key of every certificate that still needs one: the CAs, the current OCSP
    /// responders, and second certificates that are neither revoked nor expired. Lists those
    /// whose key the keystore does not have.
    pub async fn keystore_check(&self) -> Result<KeyCheck, Error> {
        if !self.has_hierarchy().await? {
            return Err(Error::NotSetUp(hpki_core::Unset::CaHierarchy));
        }
        let now = self.clock.now();
        let needed: Vec<StoredCertificate> = self
            .certs
            .certificates_with_keys()
            .await?
            .into_iter()
            .filter(|c| {
                matches!(c.cert.kind, CertificateKind::Ca(_))
                    || (c.revocation.is_none() && now <= c.cert.not_after)
            })
            .collect();
        let checked = needed.len();
        // Several at once: the keystore's workers (one per core) open the keys in parallel.
        let looked: Vec<Result<Option<MissingKey>, Error>> = futures_util::stream::iter(needed)
            .map(|c| async move {
                let Some((algorithm, key)) = &c.cert.key else {
                    return Ok(None);
                };
                let present = self
                    .keystore
                    .has_key(key, *algorithm)
                    .await
                    .map_err(Error::from)?;
                Ok((!present).then(|| MissingKey {
                    serial: c.cert.serial.to_string(),
                    kind: c.cert.kind.as_str(),
                    subject: c.cert.subject.clone(),
                    consequence: consequence(c.cert.kind),
                }))
            })
            .buffered(16)
            .collect()
            .await;
        let mut missing = Vec::new();
        for m in looked {
            missing.extend(m?);
        }
        let root_key_offline = self
            .certs
            .ca_certificate(CaRole::Root)
            .await?
            .is_some_and(|r| r.cert.key.is_none());
        Ok(KeyCheck {
            checked,
            missing,
            root_key_offline,
        })
    }

    /// The root CA's key as the keystore names it: what an offline file keeps (the software
    /// keystore's sealed key, a token's key reference). `Conflict` if it is offline already.
    pub async fn root_key(&self) -> Result<(KeyAlgorithm, KeyRef), Error> {
        let root = self
            .certs
            .ca_certificate(CaRole::Root)
            .await?
            .ok_or(Error::NotSetUp(hpki_core::Unset::Ca(
                hpki_core::domain::CaRole::Root,
            )))?;
        root.cert
            .key
            .ok_or_else(|| Error::Conflict("the root CA's key is offline already".into()))
    }

    /// Takes the root key off this machine once its file is kept elsewhere: destroyed in the
    /// keystore (a token's object is destroyed: it must be in the HSM's own backup) and erased
    /// from the database, audited. From then on `serve` runs without it; its CRL is issued at
    /// ceremonies ([`Self::issue_root_crl`]).
    pub async fn take_root_key_offline(&self, actor: &Actor) -> Result<(), Error> {
        let root = self
            .certs
            .ca_certificate(CaRole::Root)
            .await?
            .ok_or(Error::NotSetUp(hpki_core::Unset::Ca(
                hpki_core::domain::CaRole::Root,
            )))?;
        let Some((_, key)) = &root.cert.key else {
            return Err(Error::Conflict(
                "the root CA's key is offline already".into(),
            ));
        };
        self.keystore.destroy(key).await.map_err(Error::from)?;
        let event = AuditEvent::new(
            self.clock.now(),
            actor,
            Action::CA_ROOT_KEY_OFFLINE,
            root.cert.serial.to_string(),
            serde_json::json!({ "keystore": self.keystore.backend() }),
        );
        self.certs.erase_key(&root.cert.serial, &event).await?;
        Ok(())
    }

    /// Destroys the key of every second certificate that is revoked or expired and still has
    /// one (the keystore's object, then the database's reference, each audited). Run after a
    /// revocation and by upkeep every hour; a key that could not be destroyed is tried again
    /// next time. Returns the serials whose key was destroyed now.
    pub async fn destroy_spent_keys(&self, actor: &Actor) -> Result<Vec<String>, Error> {
        let mut destroyed = Vec::new();
        for c in self.certs.spent_second_keys(self.clock.now()).await? {
            self.destroy_key(actor, &c).await?;
            destroyed.push(c.cert.serial.to_string());
        }
        Ok(destroyed)
    }

    /// Destroys one certificate's key: in the keystore (a token's `C_DestroyObject`; the
    /// software keystore forgets its unsealed copy), then the sealed key or reference in the
    /// database, with a `key.destroyed` event.
    pub(super) async fn destroy_key(
        &self,
        actor: &Actor,
        c: &StoredCertificate,
    ) -> Result<(), Error> {
        let Some((_, key)) = &c.cert.key else {
            return Ok(());
        };
        self.keystore.destroy(key).await.map_err(Error::from)?;
        let why = if c.revocation.is_some() {
            "revoked"
        } else {
            "expired"
        };
        let event = AuditEvent::new(
            self.clock.now(),
            actor,
            Action::KEY_DESTROYED,
            c.cert.serial.to_string(),
            serde_json::json!({ "kind": c.cert.kind.as_str(), "keystore": self.keystore.backend(), "certificate": why }),
        );
        self.certs.erase_key(&c.cert.serial, &event).await?;
        Ok(())
    }
}

/// What stops working without a certificate's key.
fn consequence(kind: CertificateKind) -> &'static str {
    match kind {
        CertificateKind::Ca(CaRole::Root) => "the root CA cannot sign its CRL or new CAs",
        CertificateKind::Ca(_) => "the CA cannot issue certificates or CRLs",
        CertificateKind::OcspResponder(_) => "OCSP cannot answer",
        _ => "the holder cannot sign with their second certificate",
    }
}
