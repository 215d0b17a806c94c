//! Issuing holders' certificates (the second certificate, HPKI card certificates from CSRs)
//! and signing with the second certificate's key.

use hpki_core::audit::Actor;
use hpki_core::domain::Username;
use hpki_core::domain::{CaRole, CertificateKind, CertificateStatus, HolderStatus, Serial};
use hpki_core::keystore::{KeyAlgorithm, KeyRef};
use hpki_core::Error;
use spki::SubjectPublicKeyInfoOwned;

use crate::profile::{self, EndEntity, Profile};
use crate::CaError;

use super::{describe, spki_of, CaService, IssuedCertificate, ToIssue};

/// Which HPKI card certificate a request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardKind {
    Signing,
    Authentication,
}

fn kind_name(kind: CertificateKind) -> &'static str {
    match kind {
        CertificateKind::Second => "second",
        CertificateKind::CardSigning => "card signing",
        CertificateKind::CardAuthentication => "card authentication",
        _ => "CA",
    }
}

impl CaService {
    /// Issues the holder's second certificate: a key generated in the keystore, the HPKI signing
    /// profile. Refused while the holder has a second certificate that is still usable.
    pub async fn issue_second(
        &self,
        actor: &Actor,
        username: &Username,
    ) -> Result<IssuedCertificate, Error> {
        let holder = self.holder_for(username, CertificateKind::Second).await?;
        let alg = self.settings.algorithm;
        let key = self
            .keystore
            .generate(alg, &format!("second-{}", holder.username))
            .await
            .map_err(Error::from)?;
        let spki = spki_of(&key.spki_der)?;
        self.issue_for_holder(
            actor,
            &holder,
            CertificateKind::Second,
            &spki,
            Some((alg, key.key_ref)),
        )
        .await
    }

    /// Issues an HPKI card's signing or authentication certificate from the card's PKCS#10
    /// request. The key stays on the card; only its public key is taken from the request, after
    /// the request's signature proves possession.
    pub async fn issue_card(
        &self,
        actor: &Actor,
        username: &Username,
        csr: &[u8],
        kind: CardKind,
    ) -> Result<IssuedCertificate, Error> {
        let kind = match kind {
            CardKind::Signing => CertificateKind::CardSigning,
            CardKind::Authentication => CertificateKind::CardAuthentication,
        };
        let spki = crate::csr::public_key_from_csr(csr)?;
        let holder = self.holder_for(username, kind).await?;
        self.issue_for_holder(actor, &holder, kind, &spki, None)
            .await
    }

    pub(super) async fn holder(
        &self,
        username: &Username,
    ) -> Result<hpki_core::domain::Holder, Error> {
        hpki_core::services::find_holder(self.holders.as_ref(), username).await
    }

    /// The holder, if they may get a certificate of this kind now.
    async fn holder_for(
        &self,
        username: &Username,
        kind: CertificateKind,
    ) -> Result<hpki_core::domain::Holder, Error> {
        let holder = self.holder(username).await?;
        let username = &holder.username;
        if holder.status != HolderStatus::Active {
            return Err(Error::Conflict(format!(
                "holder {username} is {}; only active holders get certificates",
                holder.status.as_str()
            )));
        }
        if holder.name_roman.is_none() {
            return Err(Error::Invalid(vec![hpki_core::domain::InvalidInput::new(
                "name_roman",
                format!("holder {username} has no romanized name, which the certificate's subject needs"),
            )]));
        }
        let now = self.clock.now();
        if let Some(existing) = self
            .certs
            .certificates_of_holder(holder.id)
            .await?
            .into_iter()
            .find(|c| c.cert.kind == kind && c.status_at(now) == CertificateStatus::Valid)
        {
            return Err(Error::Conflict(format!(
                "holder {username} already has a valid {} certificate (serial {}); revoke it first",
                kind_name(kind),
                existing.cert.serial
            )));
        }
        Ok(holder)
    }

    async fn issue_for_holder(
        &self,
        actor: &Actor,
        holder: &hpki_core::domain::Holder,
        kind: CertificateKind,
        spki: &SubjectPublicKeyInfoOwned,
        key: Option<(KeyAlgorithm, KeyRef)>,
    ) -> Result<IssuedCertificate, Error> {
        let s = &self.settings;
        let (role, policy) = match kind {
            CertificateKind::CardAuthentication => {
                (CaRole::Authentication, s.authentication_policy)
            }
            _ => (CaRole::Signing, s.signing_policy),
        };
        let issuer = self.issuer(role).await?;
        let now = self.clock.now();
        let serial_number = holder.username.to_string();
        let rdn = |key: &str, value: &str| profile::attribute(key, value).map_err(CaError::Config);
        // Subject: C, O (romanized, optional), CN (romanized, given name first, as
        // registered), serialNumber (the HPKI ID).
        let mut subject = profile::parse_name("C=JP")?;
        if let Some(o) = &holder.organization_roman {
            subject.0.push(rdn("O", o.as_str())?);
        }
        let roman = holder
            .name_roman
            .as_ref()
            .map(|r| r.as_str())
            .unwrap_or_default();
        subject.0.push(rdn("CN", roman)?);
        subject.0.push(rdn("serialNumber", &serial_number)?);
        // subjectAltName: the same in kanji, family name first with U+3000 between the parts.
        let mut alt_name = profile::parse_name("C=JP")?;
        if let Some(o) = &holder.organization_kanji {
            alt_name.0.push(rdn("O", o.as_str())?);
        }
        alt_name.0.push(rdn("CN", &holder.name_kanji.written())?);
        alt_name.0.push(rdn("serialNumber", &serial_number)?);
        // Japan's day boundaries, never before or beyond the issuer.
        let not_before = profile::jst_day_start(now).max(issuer.not_before);
        let not_after = profile::jst_last_second_after_years(now, s.end_entity_validity_years)
            .min(issuer.not_after);
        let (crl_url, ocsp_url) = (s.crl_url(role), s.ocsp_url());
        let (authority_cert_issuer, authority_cert_serial) = issuer
            .certificate
            .as_ref()
            .ok_or_else(|| Error::Internal("the issuing CA's certificate is not read".into()))?;
        let ee = EndEntity {
            policy,
            cps_uri: &s.cps_uri,
            crl_url: &crl_url,
            ocsp_url: s.ocsp_in_certificates.then_some(ocsp_url.as_str()),
            alt_name,
            qualification_scheme: s.qualification_scheme,
            qualification: holder.qualification.code(),
            authority_cert_issuer,
            authority_cert_serial,
        };
        let issued = ToIssue {
            kind,
            subject,
            spki,
            not_before,
            not_after,
            profile: if role == CaRole::Authentication {
                Profile::Authentication(ee)
            } else {
                Profile::Signing(ee)
            },
            holder_id: Some(holder.id),
            key,
        };
        let cert = self.sign_certificate(&issuer, role, issued).await?;
        let details = serde_json::json!({
            "holder": holder.username.to_string(),
            "qualification": holder.qualification.code(),
        });
        let stored = self.store_issued(actor, cert, details).await?;
        Ok(describe(&stored, now))
    }

    pub async fn show_certificate(&self, serial: &Serial) -> Result<IssuedCertificate, Error> {
        let c = self
            .certs
            .certificate(serial)
            .await?
            .ok_or_else(|| Error::NotFound(format!("certificate {serial}")))?;
        Ok(describe(&c, self.clock.now()))
    }
}
