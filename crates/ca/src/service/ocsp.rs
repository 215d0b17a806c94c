//! Answering OCSP requests with delegated responders (the DER parts are in `crate::ocsp`).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use der::Encode;
use hpki_core::audit::Actor;
use hpki_core::domain::{CaRole, CertificateKind, StoredCertificate};
use hpki_core::Error;

use crate::ocsp::{self as ocsp_parts, Found, OcspAnswer, Responder};
use crate::profile::{self, Profile};
use crate::CaError;

use super::{spki_of, CaService, ToIssue};

impl CaService {
    /// Makes sure each issuing CA has a current delegated OCSP responder (issuing one when it is
    /// missing, revoked or within a third of its end), then loads them for answering.
    pub async fn ensure_ocsp_responders(&self, actor: &Actor) -> Result<(), Error> {
        let now = self.clock.now();
        let s = &self.settings;
        let validity = Duration::days(i64::from(s.ocsp_responder_validity_days.max(1)));
        let mut loaded = Vec::new();
        for role in [CaRole::Signing, CaRole::Authentication] {
            let kind = CertificateKind::OcspResponder(role);
            let current = self.certs.newest_of_kind(kind).await?.filter(|c| {
                c.revocation.is_none()
                    && c.cert.key.is_some()
                    && now + validity / 3 < c.cert.not_after
            });
            let responder = match current {
                Some(c) => c,
                None => self.issue_responder(actor, role, now, validity).await?,
            };
            let issuer = self
                .certs
                .ca_certificate(role)
                .await?
                .ok_or_else(|| Error::NotFound(format!("the {} CA", role.as_str())))?;
            let (algorithm, key) = responder
                .cert
                .key
                .clone()
                .ok_or_else(|| Error::Internal("responder without key".into()))?;
            let r = Responder::new(
                role,
                &profile::parse_certificate(&issuer.cert.der)?,
                profile::parse_certificate(&responder.cert.der)?,
                key,
                algorithm,
                responder.cert.not_after,
            )
            .map_err(|e| Error::Internal(e.to_string()))?;
            loaded.push(Arc::new(r));
        }
        *self
            .ocsp
            .responders
            .write()
            .unwrap_or_else(|p| p.into_inner()) = loaded;
        self.ocsp.forget_all();
        Ok(())
    }

    async fn issue_responder(
        &self,
        actor: &Actor,
        role: CaRole,
        now: DateTime<Utc>,
        validity: Duration,
    ) -> Result<StoredCertificate, Error> {
        let issuer = self.issuer(role).await?;
        let s = &self.settings;
        let key = self
            .keystore
            .generate(s.algorithm, &format!("ocsp-{}", role.as_str()))
            .await
            .map_err(Error::from)?;
        let spki = spki_of(&key.spki_der)?;
        // The issuer's name with its last attribute (the CN) replaced: a CN has at most 64
        // characters, so the responder's cannot simply extend the CA's.
        let mut subject = issuer.name.clone();
        subject.0.pop();
        let cn = match role {
            CaRole::Authentication => "OCSP Responder for the Authentication CA",
            _ => "OCSP Responder for the Signing CA",
        };
        subject
            .0
            .push(profile::attribute("CN", cn).map_err(CaError::Config)?);
        let issued = ToIssue {
            kind: CertificateKind::OcspResponder(role),
            subject,
            spki: &spki,
            not_before: now,
            not_after: (now + validity).min(issuer.not_after),
            profile: Profile::OcspResponder,
            holder_id: None,
            key: Some((s.algorithm, key.key_ref)),
        };
        let cert = self.sign_certificate(&issuer, role, issued).await?;
        self.store_issued(actor, cert, serde_json::json!({})).await
    }

    /// Answers an OCSP request (DER). Always an OCSPResponse: malformed input gets
    /// malformedRequest, a certificate of another CA unauthorized, a failure internalError.
    /// The answer says how long it may be reused (only a good or revoked answer to a request
    /// without a nonce may be).
    pub async fn ocsp_response(&self, request: &[u8]) -> OcspAnswer {
        match self.try_ocsp_response(request).await {
            Ok(answer) => answer,
            Err(status) => {
                let kind = match status {
                    x509_ocsp::OcspResponseStatus::MalformedRequest => "malformed",
                    x509_ocsp::OcspResponseStatus::Unauthorized => "unauthorized",
                    _ => "error",
                };
                metrics::counter!("hpki_ocsp_responses_total", "outcome" => kind).increment(1);
                OcspAnswer {
                    der: Arc::new(ocsp_parts::status_only(status)),
                    reuse: None,
                }
            }
        }
    }

    async fn try_ocsp_response(
        &self,
        request: &[u8],
    ) -> Result<OcspAnswer, x509_ocsp::OcspResponseStatus> {
        use x509_ocsp::OcspResponseStatus as S;
        let internal = |e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, "OCSP response failed");
            S::InternalError
        };
        let parsed = self.ocsp.parse(request)?;
        let now = self.clock.now();
        if let Some(answer) = self.ocsp.cached(&parsed, now) {
            metrics::counter!("hpki_ocsp_responses_total", "outcome" => "cached").increment(1);
            return Ok(answer);
        }
        // Taken before any status is read: if a revocation is noticed before the answer is
        // cached, it is not cached.
        let read_at = self.ocsp.generation();
        let mut found = Vec::with_capacity(parsed.requests.len());
        for (_, serial) in &parsed.requests {
            let status = match serial {
                None => Found::Unknown,
                Some(serial) => match self
                    .certs
                    .certificate(serial)
                    .await
                    .map_err(|e| internal(&e))?
                {
                    Some(c)
                        if c.cert.issuer == parsed.responder.role
                            && ocsp_parts::answerable(c.cert.kind) =>
                    {
                        match c.revocation {
                            Some(r) => Found::Revoked {
                                at: r.at,
                                reason_code: r.reason.code(),
                            },
                            None => Found::Good,
                        }
                    }
                    Some(_) => Found::Unknown,
                    // Not in the database: a serial a restored CA lost, which a CRL it had
                    // published lists, is still revoked.
                    None => match self
                        .certs
                        .lost_certificate(parsed.responder.role, serial)
                        .await
                        .map_err(|e| internal(&e))?
                    {
                        Some(r) => Found::Revoked {
                            at: r.at,
                            reason_code: r.reason.code(),
                        },
                        None => Found::Unknown,
                    },
                },
            };
            found.push(status);
        }
        let validity = self.settings.ocsp_validity;
        let next_update = (now + validity).min(parsed.responder.not_after);
        let data = self
            .ocsp
            .response_data(&parsed, &found, now, next_update)
            .map_err(|e| internal(&e))?;
        let tbs = data.to_der().map_err(|e| internal(&e))?;
        let sig = self
            .keystore
            .sign(&parsed.responder.key, parsed.responder.algorithm, &tbs)
            .await
            .map_err(|e| internal(&e))?;
        // Reused until a tenth of the validity before nextUpdate; only about certificates we
        // issued (an "unknown" answer is anyone's to ask for, any number of times).
        let use_until = next_update - validity / 10;
        let known = found.iter().all(|f| !matches!(f, Found::Unknown));
        for f in &found {
            let status = match f {
                Found::Good => "good",
                Found::Revoked { .. } => "revoked",
                Found::Unknown => "unknown",
            };
            metrics::counter!("hpki_ocsp_certificate_statuses_total", "status" => status)
                .increment(1);
        }
        metrics::counter!("hpki_ocsp_responses_total", "outcome" => "signed").increment(1);
        self.ocsp
            .finish(parsed, data, &sig, known, read_at, now, use_until)
            .map_err(|e| internal(&e))
    }

    /// How many OCSP answers are cached and the memory they take (bytes, roughly).
    pub fn ocsp_cache_size(&self) -> (usize, usize) {
        self.ocsp.size()
    }

    /// Drops cached OCSP answers if any instance revoked something since the last call (the
    /// revocation generation moved).
    pub async fn refresh_revocations(&self) -> Result<(), Error> {
        let generation = self.certs.revocation_generation().await?;
        self.ocsp.note_generation(generation);
        Ok(())
    }
}
