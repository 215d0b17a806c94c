//! The CA's rules: who gets which certificate, when a key may sign, what a CRL lists.
//!
//! One file per use case: [`hierarchy`] sets up or imports the CA hierarchy, [`issue`] issues
//! holders' certificates and signs with the second certificate's key, [`revocation`] revokes
//! certificates, [`crl`] issues, publishes and serves CRLs, [`ocsp`] answers OCSP requests,
//! [`keys`] checks and destroys keys, [`recovery`] reconciles a restored database.
//! This file holds what they share: the settings, the service itself, and building, signing
//! and storing one certificate.

mod crl;
mod hierarchy;
mod issue;
mod keys;
mod ocsp;
mod recovery;
mod remote;
mod revocation;
mod vitals;

use hpki_core::audit::Action;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::clock::Clock;
use hpki_core::domain::{
    CaRole, CertificateKind, CertificateStatus, NewCertificate, Serial, StoredCertificate,
};
use hpki_core::keystore::{KeyAlgorithm, KeyRef, Keystore};
use hpki_core::store::{CertificateStore, Store};
use hpki_core::Error;
use serde::Serialize;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::name::Name;

use crate::ocsp::OcspState;
use crate::profile::{self, CertificateRequest, Profile};

pub use crl::ServedCrl;
pub use hierarchy::{
    already_set_up, import_fingerprint, ImportFingerprint, ImportedCa, ImportedCertificate,
    ImportedKey,
};
pub use issue::CardKind;
pub use keys::{KeyCheck, MissingKey};
pub use recovery::{PublishedCrl, Reconciled};
pub use vitals::CaVitals;

/// The CA's configuration, checked.
#[derive(Clone, Debug)]
pub struct CaSettings {
    pub algorithm: KeyAlgorithm,
    pub root_name: String,
    pub signing_ca_name: String,
    pub authentication_ca_name: String,
    pub signing_policy: ObjectIdentifier,
    pub authentication_policy: ObjectIdentifier,
    /// The coding scheme of qualification codes in hcRole.
    pub qualification_scheme: ObjectIdentifier,
    pub root_validity_years: u32,
    pub ca_validity_years: u32,
    /// Holders' certificates run from 00:00:00 JST of the issuing day to 23:59:59 JST of the
    /// same day this many years later, as real HPKI certificates (never beyond the issuer).
    pub end_entity_validity_years: u32,
    /// The CPS qualifier of end-entity certificates' policy (`[ca] cps_uri`).
    pub cps_uri: String,
    /// Whether end-entity certificates name the OCSP responder (authorityInformationAccess),
    /// which real HPKI certificates do not.
    pub ocsp_in_certificates: bool,
    pub crl_validity: Duration,
    /// An OCSP answer's nextUpdate - thisUpdate.
    pub ocsp_validity: Duration,
    /// How long a delegated OCSP responder certificate is valid (it is renewed before it ends).
    pub ocsp_responder_validity_days: u32,
    /// The service's public base URL.
    pub public_url: hpki_core::PublicUrl,
}

impl CaSettings {
    pub fn crl_url(&self, role: CaRole) -> String {
        self.public_url.join(&format!("/crl/{}.crl", role.as_str()))
    }

    pub fn ocsp_url(&self) -> String {
        self.public_url.join("/ocsp")
    }

    /// Where relying systems fetch a CA's certificate (DER; `.pem` beside it).
    pub fn certificate_url(&self, role: CaRole) -> String {
        self.public_url.join(&format!("/ca/{}.crt", role.as_str()))
    }

    fn name(&self, role: CaRole) -> &str {
        match role {
            CaRole::Root => &self.root_name,
            CaRole::Signing => &self.signing_ca_name,
            CaRole::Authentication => &self.authentication_ca_name,
        }
    }
}

/// A certificate as shown to operators and scripts.
#[derive(Clone, Debug, Serialize)]
pub struct IssuedCertificate {
    pub serial: String,
    pub kind: &'static str,
    pub issuer: &'static str,
    pub subject: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    #[serde(flatten)]
    pub status: CertificateStatus,
    pub pem: String,
    /// A revocation whose CRL could not be published at once (the issuer's key did not sign):
    /// it is recorded and answered by OCSP, and upkeep publishes the CRL once the key signs.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub crl_pending: bool,
}

/// One CA of the hierarchy, for `ca show`.
#[derive(Clone, Debug, Serialize)]
pub struct CaSummary {
    pub role: CaRole,
    pub keystore: &'static str,
    pub algorithm: Option<KeyAlgorithm>,
    pub crl_url: String,
    /// Where the server gives the certificate out (`/ca/{role}.crt`, and `.pem`).
    pub certificate_url: String,
    #[serde(flatten)]
    pub certificate: IssuedCertificate,
    /// The CA's current delegated OCSP responder (issuing CAs only).
    pub ocsp_responder: Option<IssuedCertificate>,
}

/// The certificate in PEM, as operators and scripts are given it.
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der)
        .unwrap_or_else(|e| format!("({label} could not be encoded: {e})"))
}

fn describe(c: &StoredCertificate, now: DateTime<Utc>) -> IssuedCertificate {
    IssuedCertificate {
        serial: c.cert.serial.to_string(),
        kind: c.cert.kind.as_str(),
        issuer: c.cert.issuer.as_str(),
        subject: c.cert.subject.clone(),
        not_before: c.cert.not_before,
        not_after: c.cert.not_after,
        status: c.status_at(now),
        pem: pem("CERTIFICATE", &c.cert.der),
        crl_pending: false,
    }
}

/// The CA's operations. Web and CLI call these.
#[derive(Clone)]
pub struct CaService {
    holders: Arc<dyn Store>,
    certs: Arc<dyn CertificateStore>,
    keystore: Arc<dyn Keystore>,
    clock: Arc<dyn Clock>,
    settings: Arc<CaSettings>,
    ocsp: Arc<OcspState>,
    crls: Arc<crl::CrlMemory>,
}

/// 16 random bytes, the top bit clear so the INTEGER is positive: 127 random bits.
fn new_serial() -> Result<Vec<u8>, Error> {
    let mut s = [0u8; 16];
    hpki_core::secret::os_random(&mut s)?;
    s[0] &= 0x7f;
    if s[0] == 0 {
        s[0] = 0x01;
    }
    Ok(s.to_vec())
}

fn spki_of(der: &[u8]) -> Result<SubjectPublicKeyInfoOwned, Error> {
    SubjectPublicKeyInfoOwned::from_der(der)
        .map_err(|e| Error::Internal(format!("public key: {e}")))
}

/// What a new certificate is, apart from who signs it.
struct ToIssue<'a> {
    kind: CertificateKind,
    subject: Name,
    spki: &'a SubjectPublicKeyInfoOwned,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    profile: Profile<'a>,
    holder_id: Option<i64>,
    key: Option<(KeyAlgorithm, KeyRef)>,
}

/// The issuer's name, key identifier and key, read back from its stored certificate.
struct Issuer {
    name: Name,
    /// Its certificate's issuer and serial number, which the AKI of end-entity certificates
    /// names (`None` for a root still being made, which issues no end-entity certificate).
    certificate: Option<(Name, x509_cert::serial_number::SerialNumber)>,
    not_before: DateTime<Utc>,
    /// Its certificate's SKI: what the AKI of everything it issues must carry.
    key_id: Vec<u8>,
    algorithm: KeyAlgorithm,
    key: KeyRef,
    not_after: DateTime<Utc>,
}

impl CaService {
    pub fn new(
        holders: Arc<dyn Store>,
        certs: Arc<dyn CertificateStore>,
        keystore: Arc<dyn Keystore>,
        clock: Arc<dyn Clock>,
        settings: CaSettings,
    ) -> Self {
        Self {
            holders,
            certs,
            keystore,
            clock,
            settings: Arc::new(settings),
            ocsp: Arc::default(),
            crls: Arc::default(),
        }
    }

    pub fn settings(&self) -> &CaSettings {
        &self.settings
    }

    /// The CA's clock: what HTTP caching of its answers counts from.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn sign(&self, key: &KeyRef, alg: KeyAlgorithm, tbs: &[u8]) -> Result<Vec<u8>, Error> {
        self.keystore.sign(key, alg, tbs).await.map_err(Error::from)
    }

    async fn issuer(&self, role: CaRole) -> Result<Issuer, Error> {
        self.issuer_keyed(role, None).await
    }

    /// The issuer, signing with `key` when given (the root's key brought to a ceremony) rather
    /// than the key the database names.
    async fn issuer_keyed(
        &self,
        role: CaRole,
        key: Option<(KeyAlgorithm, KeyRef)>,
    ) -> Result<Issuer, Error> {
        let ca = self
            .certs
            .ca_certificate(role)
            .await?
            .ok_or(Error::NotSetUp(hpki_core::Unset::Ca(role)))?;
        let cert = profile::parse_certificate(&ca.cert.der)?;
        let (algorithm, key) = key
            .or_else(|| ca.cert.key.clone())
            .ok_or(Error::KeyOffline(role))?;
        Ok(Issuer {
            key_id: profile::certificate_key_id(&cert),
            certificate: Some((
                cert.tbs_certificate.issuer,
                cert.tbs_certificate.serial_number,
            )),
            not_before: ca.cert.not_before,
            name: cert.tbs_certificate.subject,
            algorithm,
            key,
            not_after: ca.cert.not_after,
        })
    }

    /// Builds a certificate and has the issuer's key sign it. Nothing is stored.
    async fn sign_certificate(
        &self,
        issuer: &Issuer,
        issuer_role: CaRole,
        t: ToIssue<'_>,
    ) -> Result<NewCertificate, Error> {
        let serial = new_serial()?;
        let tbs = CertificateRequest {
            serial: &serial,
            issuer: &issuer.name,
            issuer_key_id: &issuer.key_id,
            issuer_algorithm: issuer.algorithm,
            subject: &t.subject,
            subject_spki: t.spki,
            not_before: t.not_before,
            not_after: t.not_after,
            profile: t.profile,
        }
        .tbs()?;
        let sig = self
            .sign(
                &issuer.key,
                issuer.algorithm,
                &tbs.to_der().map_err(|e| Error::Internal(e.to_string()))?,
            )
            .await?;
        Ok(NewCertificate {
            serial: Serial::from_bytes(&serial),
            kind: t.kind,
            issuer: issuer_role,
            holder_id: t.holder_id,
            key: t.key,
            subject: t.subject.to_string(),
            der: profile::assemble_certificate(tbs, &sig)?,
            not_before: t.not_before,
            not_after: t.not_after,
        })
    }

    /// Stores one issued certificate with its `certificate.issued` event; returns it as stored.
    async fn store_issued(
        &self,
        actor: &Actor,
        cert: NewCertificate,
        mut details: serde_json::Value,
    ) -> Result<StoredCertificate, Error> {
        details["kind"] = cert.kind.as_str().into();
        details["not_after"] = cert.not_after.to_rfc3339().into();
        let event = AuditEvent::new(
            self.clock.now(),
            actor,
            Action::CERTIFICATE_ISSUED,
            cert.serial.to_string(),
            details,
        );
        self.certs
            .insert_certificates(std::slice::from_ref(&cert), &[event])
            .await?;
        self.certs
            .certificate(&cert.serial)
            .await?
            .ok_or_else(|| Error::Internal("the certificate just stored is missing".into()))
    }
}
