//! After the database is restored from a backup: nothing the CA published before is taken back
//! (a revocation it published stays, a CRL number it used is never used again). Whether every
//! key is where it should be is [`super::keys`]'s.

use chrono::{DateTime, Utc};
use der::{Decode, Encode};
use hpki_core::audit::Action;
use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::domain::{CaRole, Revocation, RevocationReason, Serial};
use hpki_core::Error;
use serde::Serialize;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::{CrlNumber, CrlReason};

use crate::profile;
use crate::verify::verify_signature;

use super::CaService;

const CRL_NUMBER: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.5.29.20");
const REASON_CODE: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.5.29.21");

/// A CRL this CA published, as read back (its signature checked with the CA's key).
#[derive(Clone, Debug, Serialize)]
pub struct PublishedCrl {
    pub ca: CaRole,
    pub number: i64,
    pub this_update: DateTime<Utc>,
    pub entries: Vec<(Serial, Revocation)>,
}

/// What the published CRLs told a restored CA, and what it did about it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Reconciled {
    /// Each CRL read: its CA, number and entries.
    pub crls: Vec<(CaRole, i64, usize)>,
    /// Certificates the restored database had as not revoked, revoked again as published.
    pub revoked_again: Vec<String>,
    /// Serials the restored database does not know (issued after the backup) that a CRL
    /// listed: recorded, so that every later CRL lists them too.
    pub lost_certificates: Vec<String>,
    /// The CRLs issued after the reconciliation: (CA, number).
    pub issued: Vec<(CaRole, i64)>,
}

fn refused(what: &str, why: impl std::fmt::Display) -> Error {
    Error::Invalid(vec![hpki_core::domain::InvalidInput::new(
        "crl",
        format!("{what}: {why}"),
    )])
}

impl CaService {
    /// Checks that `der` is a CRL of the `role` CA whose signature verifies with its key.
    pub(super) async fn check_crl_signature(&self, role: CaRole, der: &[u8]) -> Result<(), Error> {
        let read = self.read_published_crl(der).await.map_err(|e| {
            Error::Conflict(format!(
                "the key given is not the {} CA's: the CRL it signed does not verify ({e}); nothing was published",
                role.as_str()
            ))
        })?;
        if read.ca != role {
            return Err(Error::Internal(format!(
                "a CRL signed for the {} CA names the {} CA",
                role.as_str(),
                read.ca.as_str()
            )));
        }
        Ok(())
    }

    /// Reads a CRL this CA published (DER or PEM): which CA issued it (its name and a signature
    /// that verifies with that CA's key), its number and its entries. Anything else is refused.
    pub async fn read_published_crl(&self, bytes: &[u8]) -> Result<PublishedCrl, Error> {
        let der = match std::str::from_utf8(bytes) {
            Ok(text) if text.contains("-----BEGIN X509 CRL-----") => {
                der::pem::decode_vec(text.trim().as_bytes())
                    .map_err(|e| refused("not a CRL in PEM", e))?
                    .1
            }
            _ => bytes.to_vec(),
        };
        let crl = CertificateList::from_der(&der).map_err(|e| refused("not a CRL", e))?;
        let tbs = &crl.tbs_cert_list;
        let mut issuer = None;
        for role in CaRole::ALL {
            let Some(ca) = self.certs.ca_certificate(role).await? else {
                continue;
            };
            let cert = profile::parse_certificate(&ca.cert.der)?;
            if cert.tbs_certificate.subject == tbs.issuer {
                issuer = Some((role, cert));
                break;
            }
        }
        let (role, cert) = issuer
            .ok_or_else(|| refused("not a CRL of this CA", format!("issued by {}", tbs.issuer)))?;
        let signed = tbs.to_der().map_err(|e| refused("not a CRL", e))?;
        let signature = crl
            .signature
            .as_bytes()
            .ok_or_else(|| refused("not a CRL", "a signature of partial bytes"))?;
        verify_signature(
            &cert.tbs_certificate.subject_public_key_info,
            crl.signature_algorithm.oid,
            &signed,
            signature,
        )
        .map_err(|e| refused(&format!("the {} CA's CRL", role.as_str()), e))?;
        let number = tbs
            .crl_extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id == CRL_NUMBER)
            .and_then(|e| CrlNumber::from_der(e.extn_value.as_bytes()).ok())
            .and_then(|n| {
                let bytes = n.0.as_bytes();
                (bytes.len() <= 8).then(|| {
                    bytes
                        .iter()
                        .fold(0i64, |acc, b| acc.wrapping_shl(8) | i64::from(*b))
                })
            })
            .ok_or_else(|| refused("the CRL", "no CRL number that fits 63 bits"))?;
        let mut entries = Vec::new();
        for entry in tbs.revoked_certificates.iter().flatten() {
            let code = entry
                .crl_entry_extensions
                .iter()
                .flatten()
                .find(|e| e.extn_id == REASON_CODE)
                .and_then(|e| CrlReason::from_der(e.extn_value.as_bytes()).ok())
                .map_or(0, |r| r as u8);
            let reason = RevocationReason::from_code(code).unwrap_or(RevocationReason::Unspecified);
            let at = DateTime::from_timestamp(
                i64::try_from(entry.revocation_date.to_unix_duration().as_secs()).unwrap_or(0),
                0,
            )
            .ok_or_else(|| refused("the CRL", "a revocation date out of range"))?;
            entries.push((
                Serial::from_bytes(entry.serial_number.as_bytes()),
                Revocation { at, reason },
            ));
        }
        Ok(PublishedCrl {
            ca: role,
            number,
            this_update: DateTime::from_timestamp(
                i64::try_from(tbs.this_update.to_unix_duration().as_secs()).unwrap_or(0),
                0,
            )
            .unwrap_or_default(),
            entries,
        })
    }

    /// After a restore, before anything is served: every revocation on the published CRLs given
    /// is made again (with its own date and reason) where the restored database lacks it, a
    /// serial it does not know at all is kept on later CRLs, the CRL numbers are raised above
    /// every number published, and each CA's CRL is issued anew.
    pub async fn reconcile_after_restore(
        &self,
        actor: &Actor,
        published: &[PublishedCrl],
    ) -> Result<Reconciled, Error> {
        let mut out = Reconciled::default();
        for crl in published {
            out.crls.push((crl.ca, crl.number, crl.entries.len()));
            for (serial, revocation) in &crl.entries {
                let details = serde_json::json!({
                    "reason": revocation.reason.as_str(),
                    "revoked_at": revocation.at.to_rfc3339(),
                    "note": format!("revoked again after a restore: the {} CA's CRL number {} listed it", crl.ca.as_str(), crl.number),
                });
                match self.certs.certificate(serial).await? {
                    Some(c) if c.cert.issuer == crl.ca => {
                        if c.revocation.is_some() {
                            continue;
                        }
                        let mut details = details;
                        details["kind"] = c.cert.kind.as_str().into();
                        let event = AuditEvent::new(
                            self.clock.now(),
                            actor,
                            Action::CERTIFICATE_REVOKED,
                            serial.to_string(),
                            details,
                        );
                        self.certs
                            .revoke_certificate(serial, *revocation, &event)
                            .await?;
                        out.revoked_again.push(serial.to_string());
                    }
                    _ => {
                        let event = AuditEvent::new(
                            self.clock.now(),
                            actor,
                            Action::CERTIFICATE_REVOKED_UNKNOWN,
                            serial.to_string(),
                            details,
                        );
                        if self
                            .certs
                            .revoke_lost_certificate(crl.ca, serial, *revocation, &event)
                            .await?
                        {
                            out.lost_certificates.push(serial.to_string());
                        }
                    }
                }
            }
            self.certs.raise_crl_number(crl.ca, crl.number).await?;
        }
        self.refresh_revocations().await?;
        for role in CaRole::ALL {
            // The root's CRL, with its key offline, stays the ceremony's (listing issuing CAs,
            // it changes only at a ceremony anyway).
            if self.key_offline(role).await? {
                continue;
            }
            let crl = self.issue_crl(actor, role).await?;
            out.issued.push((role, crl.number));
        }
        Ok(out)
    }
}
