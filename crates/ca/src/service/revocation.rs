//! Revocation: a revoked certificate is answered "revoked" by every instance within a second
//! and is on its issuer's next CRL (see [`super::crl`]), published at once or as soon as the
//! issuer's key can sign.

use hpki_core::audit::Action;
use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::domain::{CaRole, CertificateKind, Revocation, RevocationReason, Serial};
use hpki_core::Error;

use super::{describe, CaService, IssuedCertificate};

impl CaService {
    /// Revokes a certificate with a reason; revoking again changes nothing but publishes a CRL
    /// still due. The root cannot be revoked (it has no issuer to list it). The issuer's CRL is
    /// published anew at once; if its key cannot sign now, `crl_pending` says so and upkeep
    /// publishes it once it can.
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
            // Running a revocation again publishes its CRL if that is still due.
            let crl_pending = self
                .publish_due_crl(actor, current.cert.issuer)
                .await
                .is_err();
            return Ok(IssuedCertificate {
                crl_pending,
                ..describe(&current, now)
            });
        }
        let event = AuditEvent::new(
            now,
            actor,
            Action::CERTIFICATE_REVOKED,
            serial.to_string(),
            serde_json::json!({ "reason": reason.as_str(), "kind": current.cert.kind.as_str(), "note": note }),
        );
        let revoked = self
            .certs
            .revoke_certificate(serial, Revocation { at: now, reason }, &event)
            .await?
            .ok_or_else(|| Error::NotFound(format!("certificate {serial}")))?;
        // This instance's cached answers go at once; the others' within a second (upkeep).
        if let Err(e) = self.refresh_revocations().await {
            tracing::warn!(error = %e, "reading the revocation generation failed");
            self.ocsp.forget_all();
        }
        // Published at once when the issuer's key can sign; otherwise the CRL stays due (in the
        // revocation's own transaction) and upkeep publishes it as soon as the key is back.
        let crl_pending = self
            .publish_due_crl(actor, revoked.cert.issuer)
            .await
            .is_err();
        // A revoked second certificate's key never signs again: it is destroyed at once (or
        // by upkeep's hourly sweep, if the keystore cannot now).
        if revoked.cert.kind == CertificateKind::Second {
            if let Err(e) = self.destroy_key(actor, &revoked).await {
                tracing::warn!(error = %e, serial = %serial, "destroying the revoked key failed; upkeep tries again");
            }
        }
        Ok(IssuedCertificate {
            crl_pending,
            ..describe(&revoked, now)
        })
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
}
