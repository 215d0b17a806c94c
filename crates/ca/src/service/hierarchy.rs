//! Setting up the CA hierarchy, or taking in an existing one; showing it.

use chrono::{DateTime, Months, Utc};
use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use hpki_core::audit::Action;
use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::domain::{CaRole, CertificateKind, NewCertificate, Serial};
use hpki_core::keystore::KeyAlgorithm;
use hpki_core::store::StoreError;
use hpki_core::Error;

use crate::profile::{self, Profile};

use super::{describe, spki_of, CaService, CaSummary, Issuer, ToIssue};

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

/// An import into a service that has its hierarchy.
pub fn already_set_up() -> Error {
    Error::Conflict(
        "this service already has a CA hierarchy; import into a new data directory".into(),
    )
}

/// A refusal of an import, naming the CA.
fn invalid(role: CaRole, m: String) -> Error {
    Error::Invalid(vec![hpki_core::domain::InvalidInput::new(
        "ca",
        format!("the {} CA: {m}", role.as_str()),
    )])
}

/// An imported CA certificate, PEM or DER.
fn parse_imported(role: CaRole, bytes: &[u8]) -> Result<x509_cert::Certificate, Error> {
    let text = std::str::from_utf8(bytes)
        .ok()
        .filter(|t| t.contains("-----BEGIN"));
    let cert = match text {
        Some(t) => <x509_cert::Certificate as der::DecodePem>::from_pem(t.trim()),
        None => x509_cert::Certificate::from_der(bytes),
    };
    cert.map_err(|e| invalid(role, format!("not an X.509 certificate: {e}")))
}

pub use hpki_core::domain::request::{ImportFingerprint, ImportedCertificate};

/// The fingerprint of an import of these three CAs (root, signing, authentication); refuses
/// what is not a certificate.
pub fn import_fingerprint(cas: [&ImportedCa; 3]) -> Result<ImportFingerprint, Error> {
    use sha2::Digest;
    let mut all = sha2::Sha256::new();
    all.update(b"hpki-second ca import v1\n");
    let mut certificates = Vec::with_capacity(3);
    for (role, ca) in [CaRole::Root, CaRole::Signing, CaRole::Authentication]
        .into_iter()
        .zip(cas)
    {
        let cert = parse_imported(role, &ca.certificate)?;
        let der = cert.to_der().map_err(|e| Error::Internal(e.to_string()))?;
        let c = ImportedCertificate {
            role: role.as_str().to_owned(),
            subject: cert.tbs_certificate.subject.to_string(),
            sha256: hex::encode(sha2::Sha256::digest(&der)),
            key: match &ca.key {
                ImportedKey::Pkcs8(_) => "pkcs8".to_owned(),
                ImportedKey::Label(l) => format!("label:{l}"),
            },
        };
        all.update(format!("{}\n{}\n{}\n", c.role, c.sha256, c.key).as_bytes());
        certificates.push(c);
    }
    Ok(ImportFingerprint {
        digest: hex::encode(all.finalize()),
        certificates,
    })
}

impl CaService {
    /// Creates the root and the two issuing CAs, unless they exist (then nothing changes).
    pub async fn init_hierarchy(&self, actor: &Actor) -> Result<Vec<CaSummary>, Error> {
        if self.certs.ca_certificate(CaRole::Root).await?.is_some() {
            return self.show().await;
        }
        let s = &self.settings;
        let now = self.clock.now();
        let years = |y: u32| now.checked_add_months(Months::new(12 * y)).unwrap_or(now);
        // From the start of the day in Japan, so that what they issue today (which starts
        // then, as real HPKI certificates) does not begin before its issuer.
        let not_before = profile::jst_day_start(now);
        let root_key = self
            .keystore
            .generate(s.algorithm, "root-ca")
            .await
            .map_err(Error::from)?;
        let root_spki = spki_of(&root_key.spki_der)?;
        let root_name = profile::parse_name(&s.root_name)?;
        let root_not_after = years(s.root_validity_years);
        let root = Issuer {
            key_id: profile::key_identifier(&root_spki),
            name: root_name.clone(),
            certificate: None,
            not_before,
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
                    not_before,
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
                .map_err(Error::from)?;
            let spki = spki_of(&key.spki_der)?;
            let issued = ToIssue {
                kind: CertificateKind::Ca(role),
                subject: profile::parse_name(s.name(role))?,
                spki: &spki,
                not_before,
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
        let events = self.ca_events(now, actor, Action::CA_CREATED, &certs);
        match self.certs.insert_certificates(&certs, &events).await {
            Ok(()) => {}
            // Another process created it first: theirs stands.
            Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
        self.publish_first_crls(actor).await?;
        self.show().await
    }

    /// Signs a test message with each issuing CA's key: fails clearly when this instance's
    /// keystore cannot use the keys (another instance's key-encryption key, a missing HSM
    /// token). The root's key is not needed to serve (it may be offline).
    pub async fn check_keys(&self) -> Result<(), Error> {
        for role in [CaRole::Signing, CaRole::Authentication] {
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

    /// Whether this service has its CA hierarchy (made or imported).
    pub async fn has_hierarchy(&self) -> Result<bool, Error> {
        Ok(self.certs.ca_certificate(CaRole::Root).await?.is_some())
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
        if self.has_hierarchy().await? {
            return Err(already_set_up());
        }
        let parsed = parse_imported;
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
        let events = self.ca_events(now, actor, Action::CA_IMPORTED, &certs);
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
        action: Action,
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

    /// A CA's certificate (DER), as relying systems fetch it.
    pub async fn ca_certificate_der(&self, role: CaRole) -> Result<Vec<u8>, Error> {
        self.certs
            .ca_certificate(role)
            .await?
            .map(|c| c.cert.der)
            .ok_or(Error::NotSetUp(hpki_core::Unset::CaHierarchy))
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
                    certificate_url: self.settings.certificate_url(role),
                    certificate: describe(&c, now),
                    ocsp_responder: responder.map(|r| describe(&r, now)),
                });
            }
        }
        if out.is_empty() {
            return Err(Error::NotSetUp(hpki_core::Unset::CaHierarchy));
        }
        Ok(out)
    }
}
