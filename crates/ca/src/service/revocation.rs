//! Revocation and CRLs: a revoked certificate is on its issuer's next CRL, published at once.

use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::domain::{CaRole, CertificateKind, Revocation, RevocationReason, Serial};
use hpki_core::store::StoredCrl;
use hpki_core::Error;

use crate::profile::{self, RevokedEntry};

use super::{describe, CaService, IssuedCertificate};

impl CaService {
    /// Revokes a certificate with a reason; revoking again changes nothing. The root cannot be
    /// revoked (it has no issuer to list it). The issuer's CRL is published anew at once.
    pub async fn revoke(
        &self,
        actor: &Actor,
        serial: &Serial,
        reason: RevocationReason,
    ) -> Result<IssuedCertificate, Error> {
        self.revoke_noted(actor, serial, reason, None).await
    }

    /// [`Self::revoke`], with what the operator typed (the case, why) in the event.
    pub async fn revoke_noted(
        &self,
        actor: &Actor,
        serial: &Serial,
        reason: RevocationReason,
        note: Option<&str>,
    ) -> Result<IssuedCertificate, Error> {
        let current = self
            .certs
            .certificate(serial)
            .await?
            .ok_or_else(|| Error::NotFound(format!("certificate {serial}")))?;
        if current.cert.kind == CertificateKind::Ca(CaRole::Root) {
            return Err(Error::Conflict(
                "the root CA cannot be revoked; retire the hierarchy instead".into(),
            ));
        }
        let now = self.clock.now();
        if current.revocation.is_some() {
            return Ok(describe(&current, now));
        }
        let event = AuditEvent::new(
            now,
            actor,
            "certificate.revoked",
            serial.to_string(),
            serde_json::json!({ "reason": reason.as_str(), "kind": current.cert.kind.as_str(), "note": note }),
        );
        let revoked = self
            .certs
            .revoke_certificate(serial, Revocation { at: now, reason }, &event)
            .await?
            .ok_or_else(|| Error::NotFound(format!("certificate {serial}")))?;
        self.ocsp.forget_all();
        // Publish at once, so that the CRL never lags a revocation.
        self.issue_crl(actor, revoked.cert.issuer).await?;
        Ok(describe(&revoked, now))
    }

    /// Revokes the holder's certificates of these kinds that are not revoked yet (a lost card:
    /// both card certificates; a lost phone: the second certificate), each with its own event
    /// and the CRLs published at once. Returns those revoked now, in issue order. Running it
    /// again after an interruption revokes what is left.
    pub async fn revoke_holder_certificates(
        &self,
        actor: &Actor,
        holder: &hpki_core::domain::Holder,
        kinds: &[CertificateKind],
        reason: RevocationReason,
        note: &str,
    ) -> Result<Vec<IssuedCertificate>, Error> {
        let mut revoked = Vec::new();
        for c in self.certs.certificates_of_holder(holder.id).await? {
            if kinds.contains(&c.cert.kind) && c.revocation.is_none() {
                revoked.push(
                    self.revoke_noted(actor, &c.cert.serial, reason, Some(note))
                        .await?,
                );
            }
        }
        Ok(revoked)
    }

    /// The holder's certificates, in issue order, with their status now.
    pub async fn holder_certificates(
        &self,
        holder: &hpki_core::domain::Holder,
    ) -> Result<Vec<IssuedCertificate>, Error> {
        let now = self.clock.now();
        Ok(self
            .certs
            .certificates_of_holder(holder.id)
            .await?
            .iter()
            .map(|c| describe(c, now))
            .collect())
    }

    /// Issues a new CRL for a CA: the next CRL number, every certificate it revoked.
    pub async fn issue_crl(&self, actor: &Actor, role: CaRole) -> Result<Vec<u8>, Error> {
        let issuer = self.issuer(role).await?;
        let now = self.clock.now();
        let revoked = self.certs.revoked_by(role).await?;
        let event = AuditEvent::new(
            now,
            actor,
            "crl.issued",
            role.as_str(),
            serde_json::json!({ "entries": revoked.len() }),
        );
        let number = self.certs.next_crl_number(role, &event).await?;
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
        let next_update = (now + self.settings.crl_validity).min(issuer.not_after);
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
        self.certs
            .save_crl(
                role,
                &StoredCrl {
                    number,
                    der: der.clone(),
                    this_update: now,
                    next_update,
                },
            )
            .await?;
        Ok(der)
    }

    /// The CRL to serve: the newest issued one, or a new one once half its validity has passed
    /// (so relying parties always fetch one well before its nextUpdate).
    pub async fn current_crl(&self, role: CaRole) -> Result<Vec<u8>, Error> {
        let now = self.clock.now();
        if let Some(crl) = self.certs.latest_crl(role).await? {
            let half = (crl.next_update - crl.this_update) / 2;
            if now < crl.this_update + half {
                return Ok(crl.der);
            }
        }
        self.issue_crl(&Actor::system(), role).await
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
