//! CRLs: issued with a number that only goes up, published in the database (where a revocation
//! marks its issuer's CRL due in its own transaction), and served from memory.
//!
//! Whoever can sign publishes a due CRL: the revoking process at once, any `serve` instance's
//! upkeep (every second, backing off while the issuer's key fails), `crl publish`. Every entry
//! stays on the CRL for good, also after the certificate's end (RFC 5280, 5.1.2.6 allows an
//! entry to leave only after one regular CRL beyond the certificate's validity; keeping it is
//! the simple choice that relying parties with old signatures are served best by).

use hpki_core::audit::Action;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Duration, Utc};
use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::domain::{CaRole, Serial};
use hpki_core::keystore::{KeyAlgorithm, KeyRef};
use hpki_core::store::{CrlState, StoredCrl};
use hpki_core::Error;

use crate::profile::{self, RevokedEntry};

use super::CaService;

/// A published CRL as served over HTTP: its DER, and what conditional requests compare.
#[derive(Debug)]
pub struct ServedCrl {
    pub number: i64,
    pub der: bytes::Bytes,
    pub this_update: DateTime<Utc>,
    pub next_update: DateTime<Utc>,
    /// A strong HTTP entity tag of the DER.
    pub etag: String,
}

impl ServedCrl {
    fn new(crl: StoredCrl) -> Self {
        Self {
            number: crl.number,
            etag: crate::ocsp::entity_tag(&crl.der),
            der: bytes::Bytes::from(crl.der),
            this_update: crl.this_update,
            next_update: crl.next_update,
        }
    }
}

/// The newest published CRL of each CA, and how publishing has been failing.
#[derive(Default)]
pub(crate) struct CrlMemory {
    served: RwLock<HashMap<CaRole, Arc<ServedCrl>>>,
    failing: Mutex<HashMap<CaRole, Failing>>,
    warned: Mutex<HashMap<CaRole, DateTime<Utc>>>,
}

/// A CA whose CRL could not be published: how often in a row, and when to try again.
#[derive(Clone, Copy)]
struct Failing {
    times: u32,
    retry_at: DateTime<Utc>,
}

/// The longest wait between two attempts to publish a due CRL.
const MOST_BACKOFF_SECS: i64 = 30;

impl CrlMemory {
    fn get(&self, role: CaRole) -> Option<Arc<ServedCrl>> {
        self.served
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&role)
            .cloned()
    }

    /// Keeps `crl` unless a CRL with a higher number is kept already.
    fn keep(&self, role: CaRole, crl: Arc<ServedCrl>) {
        let mut served = self.served.write().unwrap_or_else(|p| p.into_inner());
        if served
            .get(&role)
            .is_none_or(|kept| kept.number < crl.number)
        {
            served.insert(role, crl);
        }
    }

    fn may_try(&self, role: CaRole, now: DateTime<Utc>) -> bool {
        let failing = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        failing.get(&role).is_none_or(|f| now >= f.retry_at)
    }

    fn failed(&self, role: CaRole, now: DateTime<Utc>) -> u32 {
        let mut failing = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        let times = failing.get(&role).map_or(0, |f| f.times) + 1;
        let wait = (1i64 << times.min(5)).min(MOST_BACKOFF_SECS);
        failing.insert(
            role,
            Failing {
                times,
                retry_at: now + Duration::seconds(wait),
            },
        );
        times
    }

    /// Whether to warn about a CA now: at most once an hour.
    fn should_warn(&self, role: CaRole, now: DateTime<Utc>) -> bool {
        let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        if warned
            .get(&role)
            .is_some_and(|at| now < *at + Duration::hours(1))
        {
            return false;
        }
        warned.insert(role, now);
        true
    }

    fn succeeded(&self, role: CaRole) {
        self.failing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&role);
    }
}

impl CaService {
    /// Issues and publishes a new CRL for a CA: every certificate it revoked, under a number
    /// higher than any it took before and at least the current Unix time in seconds.
    pub async fn issue_crl(&self, actor: &Actor, role: CaRole) -> Result<Arc<ServedCrl>, Error> {
        self.issue_crl_with(actor, role, self.settings.crl_validity, None)
            .await
    }

    /// The root CA's CRL, issued at a ceremony with a long validity (so that `serve` never
    /// needs the root key), signed with the root key given (from its offline file) or the one
    /// the keystore holds. The CRL's signature is checked against the root certificate before
    /// it is published: a wrong key publishes nothing.
    pub async fn issue_root_crl(
        &self,
        actor: &Actor,
        validity: Duration,
        key: Option<(KeyAlgorithm, KeyRef)>,
    ) -> Result<Arc<ServedCrl>, Error> {
        if validity <= Duration::zero() || validity > Duration::days(3 * 366) {
            return Err(Error::Invalid(vec![hpki_core::domain::InvalidInput::new(
                "validity",
                "a root CRL is valid for more than nothing and at most three years",
            )]));
        }
        self.issue_crl_with(actor, CaRole::Root, validity, key)
            .await
    }

    async fn issue_crl_with(
        &self,
        actor: &Actor,
        role: CaRole,
        validity: Duration,
        key: Option<(KeyAlgorithm, KeyRef)>,
    ) -> Result<Arc<ServedCrl>, Error> {
        let check_signature = key.is_some();
        let issuer = self.issuer_keyed(role, key).await?;
        let now = self.clock.now();
        // The due mark is read before the entries: a revocation after this read keeps the CRL
        // due even if this one is published.
        let due = self.crl_state(role).await?.and_then(|s| s.due);
        let revoked = self.certs.revoked_by(role).await?;
        let number = self.certs.next_crl_number(role, now.timestamp()).await?;
        let entries = revoked
            .iter()
            .map(|(serial, r)| {
                Ok(RevokedEntry {
                    serial: serial_bytes(serial)?,
                    at: r.at,
                    reason_code: r.reason.code(),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let next_update = (now + validity).min(issuer.not_after);
        let tbs = profile::crl_tbs(
            &issuer.name,
            &issuer.key_id,
            issuer.algorithm,
            number,
            now,
            next_update,
            &entries,
        )?;
        let sig = self.sign(&issuer.key, issuer.algorithm, &tbs).await?;
        let der = profile::assemble_crl(&tbs, issuer.algorithm, &sig)?;
        if check_signature {
            self.check_crl_signature(role, &der).await?;
        }
        let event = AuditEvent::new(
            now,
            actor,
            Action::CRL_ISSUED,
            role.as_str(),
            serde_json::json!({ "entries": revoked.len(), "number": number, "next_update": next_update.to_rfc3339() }),
        );
        let crl = StoredCrl {
            number,
            der,
            this_update: now,
            next_update,
        };
        if self.certs.save_crl(role, &crl, due, &event).await? {
            let served = Arc::new(ServedCrl::new(crl));
            self.crls.keep(role, served.clone());
            return Ok(served);
        }
        // Another process published a newer one meanwhile: that one is the CRL.
        self.reload_crl(role)
            .await?
            .ok_or_else(|| Error::Internal(format!("the {} CRL vanished", role.as_str())))
    }

    /// Publishes the CA's CRL if a revocation marked it due.
    pub(super) async fn publish_due_crl(&self, actor: &Actor, role: CaRole) -> Result<(), Error> {
        if self.crl_state(role).await?.is_some_and(|s| s.due.is_some()) {
            if let Err(e) = self.issue_crl(actor, role).await {
                tracing::warn!(error = %e, ca = role.as_str(),
                    "the CRL could not be published now; it stays due and upkeep publishes it");
                return Err(e);
            }
        }
        Ok(())
    }

    /// The CRL to serve: the newest published one, from memory (upkeep keeps it current; the
    /// database is read only when this instance has none yet).
    pub async fn current_crl(&self, role: CaRole) -> Result<Arc<ServedCrl>, Error> {
        if let Some(crl) = self.crls.get(role) {
            return Ok(crl);
        }
        match self.reload_crl(role).await? {
            Some(crl) => Ok(crl),
            None => self.issue_crl(&Actor::system(), role).await,
        }
    }

    /// One round of CRL upkeep (`serve` runs it every second): a CA's CRL is issued when a
    /// revocation made it due, when none was published yet, or once half its validity has
    /// passed; after a failure the next try waits (2, 4, … up to 30 seconds). A CA whose key is
    /// offline (the root after its ceremony) is not tried: its CRL comes from ceremonies, and
    /// upkeep warns (hourly) when one is due or within 30 days of its end. A CRL another
    /// process published is loaded into memory. Returns the CAs whose CRL is still not
    /// published as it should be.
    pub async fn crl_upkeep(&self) -> Result<Vec<CaRole>, Error> {
        let now = self.clock.now();
        let states = self.certs.crl_states().await?;
        let mut behind = Vec::new();
        for role in CaRole::ALL {
            let state = states.iter().find(|s| s.issuer == role);
            let published = state.and_then(|s| s.published);
            let due = state.is_some_and(|s| s.due.is_some());
            let stale = published.is_none_or(|(_, this, next)| now >= this + (next - this) / 2);
            let offline = (due || stale) && self.key_offline(role).await?;
            if (due || stale) && !offline {
                if !self.crls.may_try(role, now) {
                    behind.push(role);
                    continue;
                }
                match self.issue_crl(&Actor::system(), role).await {
                    Ok(_) => self.crls.succeeded(role),
                    Err(e) => {
                        let times = self.crls.failed(role, now);
                        // The first failure, then about once an hour (every 120th try).
                        if times == 1 || times.is_multiple_of(120) {
                            tracing::warn!(error = %e, ca = role.as_str(), attempts = times,
                                due, "publishing the CRL failed; trying again");
                        }
                        behind.push(role);
                    }
                }
                continue;
            }
            if offline {
                // The root's key is kept off this machine: its CRL comes from ceremonies.
                let ends = published.map(|(_, _, next)| next);
                if due || ends.is_none_or(|next| now + Duration::days(30) >= next) {
                    if self.crls.should_warn(role, now) {
                        tracing::warn!(ca = role.as_str(), due, next_update = ?ends,
                            "the CA's key is offline: issue its CRL at a ceremony (ca root-crl --root-key)");
                    }
                    if due {
                        behind.push(role);
                    }
                }
            }
            if let Some((number, ..)) = published {
                if self.crls.get(role).is_none_or(|c| c.number != number) {
                    self.reload_crl(role).await?;
                }
            }
        }
        Ok(behind)
    }

    /// Whether the CA's key was taken off this machine (`ca root-key offline`).
    pub(super) async fn key_offline(&self, role: CaRole) -> Result<bool, Error> {
        Ok(self
            .certs
            .ca_certificate(role)
            .await?
            .is_some_and(|c| c.cert.key.is_none()))
    }

    async fn crl_state(&self, role: CaRole) -> Result<Option<CrlState>, Error> {
        Ok(self
            .certs
            .crl_states()
            .await?
            .into_iter()
            .find(|s| s.issuer == role))
    }

    async fn reload_crl(&self, role: CaRole) -> Result<Option<Arc<ServedCrl>>, Error> {
        let Some(stored) = self.certs.latest_crl(role).await? else {
            return Ok(None);
        };
        self.crls.keep(role, Arc::new(ServedCrl::new(stored)));
        Ok(self.crls.get(role))
    }
}

/// A serial's DER INTEGER content: its hex digits as bytes, kept positive.
fn serial_bytes(serial: &Serial) -> Result<Vec<u8>, Error> {
    let digits = serial.as_str();
    let padded = if digits.len() % 2 == 1 {
        format!("0{digits}")
    } else {
        digits.to_owned()
    };
    let mut out =
        hex::decode(padded).map_err(|e| Error::Internal(format!("serial {serial}: {e}")))?;
    // A DER INTEGER is signed: keep it positive.
    if out.first().is_some_and(|b| b & 0x80 != 0) {
        out.insert(0, 0);
    }
    Ok(out)
}
