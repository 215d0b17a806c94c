//! The CA's rules: who gets which certificate, when a key may sign, what a CRL lists.

use std::sync::Arc;

use chrono::{DateTime, Duration, Months, Utc};
use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::clock::Clock;
use hpki_core::domain::{
    CaRole, CertificateKind, CertificateStatus, HolderStatus, NewCertificate, Revocation,
    RevocationReason, Serial, StoredCertificate,
};
use hpki_core::keystore::{KeyAlgorithm, KeyRef, Keystore};
use hpki_core::store::{CertificateStore, Store, StoreError, StoredCrl};
use hpki_core::Error;
use serde::Serialize;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::name::Name;

use crate::ocsp::{self as ocsp_parts, Found, OcspState, Responder};
use crate::profile::{self, CertificateRequest, EndEntity, Profile, RevokedEntry};
use crate::CaError;

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
    pub end_entity_validity_days: u32,
    pub crl_validity: Duration,
    /// An OCSP answer's nextUpdate - thisUpdate.
    pub ocsp_validity: Duration,
    /// How long a delegated OCSP responder certificate is valid (it is renewed before it ends).
    pub ocsp_responder_validity_days: u32,
    /// The service's public base URL, without a trailing slash.
    pub public_url: String,
}

impl CaSettings {
    pub fn crl_url(&self, role: CaRole) -> String {
        format!("{}/crl/{}.crl", self.public_url, role.as_str())
    }

    pub fn ocsp_url(&self) -> String {
        format!("{}/ocsp", self.public_url)
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
}

/// One CA of the hierarchy, for `ca show`.
#[derive(Clone, Debug, Serialize)]
pub struct CaSummary {
    pub role: CaRole,
    pub keystore: &'static str,
    pub algorithm: Option<KeyAlgorithm>,
    pub crl_url: String,
    #[serde(flatten)]
    pub certificate: IssuedCertificate,
    /// The CA's current delegated OCSP responder (issuing CAs only).
    pub ocsp_responder: Option<IssuedCertificate>,
}

pub fn pem(label: &str, der: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::with_capacity(der.len() * 4 / 3 + 4);
    for chunk in der.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
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
    }
}

/// One CA of a hierarchy being imported.
pub struct ImportedCa {
    /// The certificate, PEM or DER.
    pub certificate: Vec<u8>,
    pub key: ImportedKey,
}

/// Where an imported CA's private key comes from.
pub enum ImportedKey {
    /// An unencrypted PKCS#8 private key (DER), for the software keystore.
    Pkcs8(Vec<u8>),
    /// The label of a private key already in the PKCS#11 token.
    Label(String),
}

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

/// The CA's operations. Web and CLI call these.
#[derive(Clone)]
pub struct CaService {
    holders: Arc<dyn Store>,
    certs: Arc<dyn CertificateStore>,
    keystore: Arc<dyn Keystore>,
    clock: Arc<dyn Clock>,
    settings: Arc<CaSettings>,
    ocsp: Arc<OcspState>,
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
        }
    }

    pub fn settings(&self) -> &CaSettings {
        &self.settings
    }

    async fn sign(&self, key: &KeyRef, alg: KeyAlgorithm, tbs: &[u8]) -> Result<Vec<u8>, Error> {
        self.keystore
            .sign(key, alg, tbs)
            .await
            .map_err(|e| Error::Internal(e.to_string()))
    }

    async fn issuer(&self, role: CaRole) -> Result<Issuer, Error> {
        let ca = self.certs.ca_certificate(role).await?.ok_or_else(|| {
            Error::NotFound(format!(
                "the {} CA (run `hpki-second init` to create the hierarchy)",
                role.as_str()
            ))
        })?;
        let cert = profile::parse_certificate(&ca.cert.der)?;
        let (algorithm, key) = ca
            .cert
            .key
            .clone()
            .ok_or_else(|| Error::Internal(format!("the {} CA has no key", role.as_str())))?;
        Ok(Issuer {
            key_id: profile::certificate_key_id(&cert),
            name: cert.tbs_certificate.subject,
            algorithm,
            key,
            not_after: ca.cert.not_after,
        })
    }

    /// Creates the root and the two issuing CAs, unless they exist (then nothing changes).
    pub async fn init_hierarchy(&self, actor: &Actor) -> Result<Vec<CaSummary>, Error> {
        if self.certs.ca_certificate(CaRole::Root).await?.is_some() {
            return self.show().await;
        }
        let s = &self.settings;
        let now = self.clock.now();
        let years = |y: u32| now.checked_add_months(Months::new(12 * y)).unwrap_or(now);
        let root_key = self
            .keystore
            .generate(s.algorithm, "root-ca")
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        let root_spki = spki_of(&root_key.spki_der)?;
        let root_name = profile::parse_name(&s.root_name)?;
        let root_not_after = years(s.root_validity_years);
        let root = Issuer {
            key_id: profile::key_identifier(&root_spki),
            name: root_name.clone(),
            algorithm: s.algorithm,
            key: root_key.key_ref.clone(),
            not_after: root_not_after,
        };
        let mut certs = vec![
            self.sign_certificate(
                &root,
                CaRole::Root,
                ToIssue {
                    kind: CertificateKind::Ca(CaRole::Root),
                    subject: root_name,
                    spki: &root_spki,
                    not_before: now,
                    not_after: root_not_after,
                    profile: Profile::Root,
                    holder_id: None,
                    key: Some((s.algorithm, root_key.key_ref.clone())),
                },
            )
            .await?,
        ];
        let crl_url = s.crl_url(CaRole::Root);
        for (role, policy) in [
            (CaRole::Signing, s.signing_policy),
            (CaRole::Authentication, s.authentication_policy),
        ] {
            let key = self
                .keystore
                .generate(s.algorithm, role.as_str())
                .await
                .map_err(|e| Error::Internal(e.to_string()))?;
            let spki = spki_of(&key.spki_der)?;
            let issued = ToIssue {
                kind: CertificateKind::Ca(role),
                subject: profile::parse_name(s.name(role))?,
                spki: &spki,
                not_before: now,
                not_after: years(s.ca_validity_years).min(root_not_after),
                profile: Profile::IssuingCa {
                    policy,
                    crl_url: &crl_url,
                },
                holder_id: None,
                key: Some((s.algorithm, key.key_ref)),
            };
            certs.push(self.sign_certificate(&root, CaRole::Root, issued).await?);
        }
        let events = self.ca_events(now, actor, "ca.created", &certs);
        match self.certs.insert_certificates(&certs, &events).await {
            Ok(()) => {}
            // Another process created it first: theirs stands.
            Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
        self.publish_first_crls(actor).await?;
        self.show().await
    }

    /// Signs a test message with each CA key: fails clearly when this instance's keystore cannot
    /// use the keys (another instance's key-encryption key, a missing HSM token).
    pub async fn check_keys(&self) -> Result<(), Error> {
        for role in CaRole::ALL {
            let issuer = self.issuer(role).await?;
            self.keystore.sign(&issuer.key, issuer.algorithm, b"hpki-second key check").await.map_err(|e| {
                Error::Internal(format!(
                    "the {} CA's key cannot be used here: {e}; every instance needs the same key-encryption key (ca.kek_file)",
                    role.as_str()
                ))
            })?;
        }
        Ok(())
    }

    /// Takes in an existing hierarchy instead of creating one: the three CA certificates and
    /// their keys (PKCS#8 files for the software keystore, labels for a PKCS#11 token). Checked
    /// before anything is stored: each a CA certificate, the root self-signed, the issuing CAs
    /// signed by it, and each key the one its certificate certifies.
    pub async fn import_hierarchy(
        &self,
        actor: &Actor,
        root: ImportedCa,
        signing: ImportedCa,
        authentication: ImportedCa,
    ) -> Result<Vec<CaSummary>, Error> {
        if self.certs.ca_certificate(CaRole::Root).await?.is_some() {
            return Err(Error::Conflict(
                "this service already has a CA hierarchy; import into a new data directory".into(),
            ));
        }
        let invalid = |role: CaRole, m: String| {
            Error::Invalid(vec![hpki_core::domain::InvalidInput::new(
                "ca",
                format!("the {} CA: {m}", role.as_str()),
            )])
        };
        let parsed = |role: CaRole, der: &[u8]| -> Result<x509_cert::Certificate, Error> {
            let text = std::str::from_utf8(der)
                .ok()
                .filter(|t| t.contains("-----BEGIN"));
            let cert = match text {
                Some(t) => <x509_cert::Certificate as der::DecodePem>::from_pem(t.trim()),
                None => x509_cert::Certificate::from_der(der),
            };
            cert.map_err(|e| invalid(role, format!("not an X.509 certificate: {e}")))
        };
        let root_cert = parsed(CaRole::Root, &root.certificate)?;
        let root_spki = root_cert.tbs_certificate.subject_public_key_info.clone();
        let mut certs = Vec::new();
        let now = self.clock.now();
        for (role, import) in [
            (CaRole::Root, &root),
            (CaRole::Signing, &signing),
            (CaRole::Authentication, &authentication),
        ] {
            let cert = parsed(role, &import.certificate)?;
            let tbs = &cert.tbs_certificate;
            let is_ca = tbs
                .get::<x509_cert::ext::pkix::BasicConstraints>()
                .map_err(|e| invalid(role, e.to_string()))?
                .is_some_and(|(_, bc)| bc.ca);
            if !is_ca {
                return Err(invalid(
                    role,
                    "the certificate is not a CA certificate (basicConstraints cA)".into(),
                ));
            }
            if role != CaRole::Root && tbs.subject == root_cert.tbs_certificate.subject {
                return Err(invalid(
                    role,
                    "this is the root certificate itself, not an issuing CA".into(),
                ));
            }
            if certs.iter().any(|c: &NewCertificate| {
                c.der == import.certificate
                    || c.serial.as_str()
                        == Serial::from_bytes(tbs.serial_number.as_bytes()).as_str()
            }) {
                return Err(invalid(
                    role,
                    "the same certificate is given for two CAs".into(),
                ));
            }
            if tbs.issuer != root_cert.tbs_certificate.subject {
                return Err(invalid(
                    role,
                    format!(
                        "issued by {}, not by the root {}",
                        tbs.issuer, root_cert.tbs_certificate.subject
                    ),
                ));
            }
            let tbs_der = tbs.to_der().map_err(|e| Error::Internal(e.to_string()))?;
            let sig = cert
                .signature
                .as_bytes()
                .ok_or_else(|| invalid(role, "a signature with unused bits".into()))?;
            crate::verify::verify_signature(
                &root_spki,
                cert.signature_algorithm.oid,
                &tbs_der,
                sig,
            )
            .map_err(|m| invalid(role, format!("its signature by the root: {m}")))?;
            let spki = &tbs.subject_public_key_info;
            let algorithm = crate::verify::key_algorithm(spki, 2048..=2048).map_err(|m| {
                invalid(
                    role,
                    format!("its key is {m}; RSA-2048 or ECDSA P-256 is needed"),
                )
            })?;
            let key = match &import.key {
                ImportedKey::Pkcs8(bytes) => self.keystore.import_pkcs8(algorithm, bytes).await,
                ImportedKey::Label(label) => self.keystore.key_by_label(label).await,
            }
            .map_err(|e| invalid(role, e.to_string()))?;
            // The key must be the certificate's: sign with one, verify with the other.
            let probe = b"hpki-second: does this key belong to this certificate?";
            let probe_sig = self
                .keystore
                .sign(&key, algorithm, probe)
                .await
                .map_err(|e| invalid(role, e.to_string()))?;
            let sig_alg = if algorithm == KeyAlgorithm::Rsa2048 {
                profile::SHA256_WITH_RSA
            } else {
                profile::ECDSA_WITH_SHA256
            };
            crate::verify::verify_signature(spki, sig_alg, probe, &probe_sig)
                .map_err(|_| invalid(role, "the key does not belong to the certificate".into()))?;
            let time = |t: x509_cert::time::Time| DateTime::<Utc>::from(t.to_system_time());
            let (not_before, not_after) =
                (time(tbs.validity.not_before), time(tbs.validity.not_after));
            if not_after <= now {
                return Err(invalid(
                    role,
                    format!("the certificate expired on {not_after}"),
                ));
            }
            certs.push(NewCertificate {
                serial: Serial::from_bytes(tbs.serial_number.as_bytes()),
                kind: CertificateKind::Ca(role),
                issuer: CaRole::Root,
                holder_id: None,
                key: Some((algorithm, key)),
                subject: tbs.subject.to_string(),
                der: cert.to_der().map_err(|e| Error::Internal(e.to_string()))?,
                not_before,
                not_after,
            });
        }
        let events = self.ca_events(now, actor, "ca.imported", &certs);
        self.certs.insert_certificates(&certs, &events).await?;
        self.ensure_ocsp_responders(actor).await?;
        self.publish_first_crls(actor).await?;
        self.show().await
    }

    /// A new hierarchy publishes its first CRLs at once, so that they exist before anyone asks.
    async fn publish_first_crls(&self, actor: &Actor) -> Result<(), Error> {
        for role in CaRole::ALL {
            if self.certs.latest_crl(role).await?.is_none() {
                self.issue_crl(actor, role).await?;
            }
        }
        Ok(())
    }

    /// One event per CA certificate of a new hierarchy.
    fn ca_events(
        &self,
        now: DateTime<Utc>,
        actor: &Actor,
        action: &'static str,
        certs: &[NewCertificate],
    ) -> Vec<AuditEvent> {
        certs
            .iter()
            .map(|c| {
                let details = serde_json::json!({
                    "kind": c.kind.as_str(),
                    "subject": c.subject,
                    "keystore": self.keystore.backend(),
                    "algorithm": c.key.as_ref().map(|(a, _)| a.as_str()),
                });
                AuditEvent::new(now, actor, action, c.serial.to_string(), details)
            })
            .collect()
    }

    /// How holders see the signing CA on paper: the organization (O) of its certificate's
    /// subject, else its common name (CN); `None` before there is a signing CA.
    pub async fn signing_ca_display_name(&self) -> Result<Option<String>, Error> {
        let Some(c) = self.certs.ca_certificate(CaRole::Signing).await? else {
            return Ok(None);
        };
        let cert = x509_cert::Certificate::from_der(&c.cert.der)
            .map_err(|e| Error::Internal(format!("the stored signing CA certificate: {e}")))?;
        let subject = &cert.tbs_certificate.subject;
        let value = |oid: ObjectIdentifier| {
            subject
                .0
                .iter()
                .flat_map(|rdn| rdn.0.iter())
                .find(|a| a.oid == oid)
                .and_then(|a| {
                    a.value
                        .decode_as::<der::asn1::Utf8StringRef<'_>>()
                        .map(|v| v.as_str().to_owned())
                        .or_else(|_| {
                            a.value
                                .decode_as::<der::asn1::PrintableStringRef<'_>>()
                                .map(|v| v.as_str().to_owned())
                        })
                        .ok()
                })
        };
        Ok(value(const_oid::db::rfc4519::O).or_else(|| value(const_oid::db::rfc4519::CN)))
    }

    /// The hierarchy as it stands.
    pub async fn show(&self) -> Result<Vec<CaSummary>, Error> {
        let now = self.clock.now();
        let mut out = Vec::new();
        for role in CaRole::ALL {
            if let Some(c) = self.certs.ca_certificate(role).await? {
                let responder = match role {
                    CaRole::Root => None,
                    _ => {
                        self.certs
                            .newest_of_kind(CertificateKind::OcspResponder(role))
                            .await?
                    }
                };
                out.push(CaSummary {
                    role,
                    keystore: self.keystore.backend(),
                    algorithm: c.cert.key.as_ref().map(|(a, _)| *a),
                    crl_url: self.settings.crl_url(role),
                    certificate: describe(&c, now),
                    ocsp_responder: responder.map(|r| describe(&r, now)),
                });
            }
        }
        if out.is_empty() {
            return Err(Error::NotFound(
                "the CA hierarchy (run `hpki-second init`)".into(),
            ));
        }
        Ok(out)
    }

    /// Issues the holder's second certificate: a key generated in the keystore, the HPKI signing
    /// profile. Refused while the holder has a second certificate that is still usable.
    pub async fn issue_second(
        &self,
        actor: &Actor,
        username: &str,
    ) -> Result<IssuedCertificate, Error> {
        let holder = self.holder_for(username, CertificateKind::Second).await?;
        let alg = self.settings.algorithm;
        let key = self
            .keystore
            .generate(alg, &format!("second-{}", holder.username))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
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
        username: &str,
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

    async fn holder(&self, username: &str) -> Result<hpki_core::domain::Holder, Error> {
        hpki_core::services::find_holder(self.holders.as_ref(), username).await
    }

    /// The holder, if they may get a certificate of this kind now.
    async fn holder_for(
        &self,
        username: &str,
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
        let roman = holder
            .name_roman
            .as_ref()
            .map(|r| r.as_str())
            .unwrap_or_default();
        let mut subject = profile::parse_name("C=JP")?;
        subject
            .0
            .push(profile::attribute("CN", roman).map_err(CaError::Config)?);
        subject.0.push(
            profile::attribute("serialNumber", &holder.username.to_string())
                .map_err(CaError::Config)?,
        );
        // Never beyond the issuer.
        let not_after =
            (now + Duration::days(i64::from(s.end_entity_validity_days))).min(issuer.not_after);
        let (crl_url, ocsp_url) = (s.crl_url(role), s.ocsp_url());
        let ee = EndEntity {
            policy,
            crl_url: &crl_url,
            ocsp_url: &ocsp_url,
            name_kanji: holder.name_kanji.as_str(),
            qualification_scheme: s.qualification_scheme,
            qualification_code: holder.qualification.code(),
        };
        let issued = ToIssue {
            kind,
            subject,
            spki,
            not_before: now,
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

    /// Signs with the holder's second certificate's key, which only a certificate that is valid
    /// right now may do: once revoked or expired, the key never signs again. Returns the
    /// signature and the certificate (DER) it belongs to.
    pub async fn sign_with_second_certificate(
        &self,
        username: &str,
        message: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), Error> {
        let holder = self.holder(username).await?;
        let username = &holder.username;
        let now = self.clock.now();
        let seconds: Vec<StoredCertificate> = self
            .certs
            .certificates_of_holder(holder.id)
            .await?
            .into_iter()
            .filter(|c| c.cert.kind == CertificateKind::Second)
            .collect();
        let usable = seconds
            .iter()
            .rev()
            .find(|c| c.status_at(now) == CertificateStatus::Valid);
        let Some(cert) = usable else {
            let why = match seconds.last().map(|c| c.status_at(now)) {
                None => "has no second certificate".to_owned(),
                Some(CertificateStatus::Revoked { .. }) => {
                    "has only a revoked second certificate".to_owned()
                }
                Some(CertificateStatus::Expired) => {
                    "has only an expired second certificate".to_owned()
                }
                Some(_) => "has no second certificate valid now".to_owned(),
            };
            return Err(Error::Conflict(format!(
                "holder {username} {why}: its key cannot sign"
            )));
        };
        let (alg, key) = cert
            .cert
            .key
            .clone()
            .ok_or_else(|| Error::Internal("second certificate without key".into()))?;
        let signature = self.sign(&key, alg, message).await?;
        Ok((signature, cert.cert.der.clone()))
    }

    pub async fn show_certificate(&self, serial: &str) -> Result<IssuedCertificate, Error> {
        let serial = Serial::parse(serial)?;
        let c = self
            .certs
            .certificate(&serial)
            .await?
            .ok_or_else(|| Error::NotFound(format!("certificate {serial}")))?;
        Ok(describe(&c, self.clock.now()))
    }

    /// Revokes a certificate with a reason; revoking again changes nothing. The root cannot be
    /// revoked (it has no issuer to list it). The issuer's CRL is published anew at once.
    pub async fn revoke(
        &self,
        actor: &Actor,
        serial: &str,
        reason: &str,
    ) -> Result<IssuedCertificate, Error> {
        let serial = Serial::parse(serial)?;
        let reason = RevocationReason::parse(reason)?;
        let current = self
            .certs
            .certificate(&serial)
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
            serde_json::json!({ "reason": reason.as_str(), "kind": current.cert.kind.as_str() }),
        );
        let revoked = self
            .certs
            .revoke_certificate(&serial, Revocation { at: now, reason }, &event)
            .await?
            .ok_or_else(|| Error::NotFound(format!("certificate {serial}")))?;
        self.ocsp.forget_all();
        // Publish at once, so that the CRL never lags a revocation.
        self.issue_crl(actor, revoked.cert.issuer).await?;
        Ok(describe(&revoked, now))
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
            .map_err(|e| Error::Internal(e.to_string()))?;
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
            "certificate.issued",
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

    /// Answers an OCSP request (DER). Always an OCSPResponse: malformed input gets
    /// malformedRequest, a certificate of another CA unauthorized, a failure internalError.
    pub async fn ocsp_response(&self, request: &[u8]) -> Arc<Vec<u8>> {
        match self.try_ocsp_response(request).await {
            Ok(der) => der,
            Err(status) => Arc::new(ocsp_parts::status_only(status)),
        }
    }

    async fn try_ocsp_response(
        &self,
        request: &[u8],
    ) -> Result<Arc<Vec<u8>>, x509_ocsp::OcspResponseStatus> {
        use x509_ocsp::OcspResponseStatus as S;
        let internal = |e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, "OCSP response failed");
            S::InternalError
        };
        let parsed = self.ocsp.parse(request)?;
        let now = self.clock.now();
        if let Some(der) = self.ocsp.cached(&parsed, now) {
            return Ok(der);
        }
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
                    _ => Found::Unknown,
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
        // Reused until a tenth of the validity before nextUpdate.
        let use_until = next_update - validity / 10;
        self.ocsp
            .finish(parsed, data, &sig, use_until)
            .map_err(|e| internal(&e))
    }

    /// Drops cached OCSP answers if any instance revoked something since the last call.
    pub async fn refresh_revocations(&self) -> Result<(), Error> {
        let latest = self.certs.last_revocation().await?;
        self.ocsp.note_revocation(latest);
        Ok(())
    }
}

fn serial_bytes(serial: &Serial) -> Result<Vec<u8>, Error> {
    let hex = serial.as_str();
    let hex = if hex.len() % 2 == 1 {
        format!("0{hex}")
    } else {
        hex.to_owned()
    };
    let mut out = Vec::with_capacity(hex.len() / 2);
    for i in (0..hex.len()).step_by(2) {
        out.push(
            u8::from_str_radix(&hex[i..i + 2], 16).map_err(|e| Error::Internal(e.to_string()))?,
        );
    }
    // A DER INTEGER is signed: keep it positive.
    if out.first().is_some_and(|b| b & 0x80 != 0) {
        out.insert(0, 0);
    }
    Ok(out)
}
