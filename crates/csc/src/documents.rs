//! v2 `signatures/signDoc`: the service makes the whole signature. CAdES-B-B (a detached CMS)
//! over a document or its SHA-256 digest (`signature_format` `C`), and the e-prescription's
//! XAdES-BES (`X`): a prescription document comes back with `PrescriptionSign` filled, the
//! digest of its `PrescriptionDocument` comes back as the `PrescriptionSign` element; any
//! other XML document comes back with an enveloped XAdES-B-B signature over the whole of it.
//! Each document is one signature of the SAD, authorized (and audited) by its digest.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hpki_core::audit::Actor;
use hpki_core::domain::oidc::OAuthErrorCode;
use hpki_core::keystore::{DigestSigning, KeyAlgorithm, Sha256Digest};
use hpki_core::Error;
use hpki_oidc::dpop::AccessToken;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::xades::{EnvelopedXml, Prescription, SignatureParts, XmlToSign};
use crate::{cades, refusal, CscService, SignAlgorithm};

/// Documents given whole (Base64).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct DocumentToSign {
    pub document: Option<String>,
    #[serde(flatten)]
    pub how: SignatureFormat,
}

/// Documents given by their digests.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct DocumentDigests {
    #[serde(alias = "hash")]
    pub hashes: Option<Vec<String>>,
    #[serde(rename = "hashAlgorithmOID", alias = "hashAlgo")]
    pub hash_algorithm: Option<String>,
    #[serde(flatten)]
    pub how: SignatureFormat,
}

/// How a document is to be signed.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SignatureFormat {
    /// `C` (CAdES) or `X` (XAdES).
    pub signature_format: Option<String>,
    pub conformance_level: Option<String>,
    #[serde(rename = "signAlgo")]
    pub sign_algo: Option<String>,
    #[serde(rename = "signAlgoParams")]
    pub sign_algo_params: Option<String>,
    pub signed_envelope_property: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct SignDocRequest {
    #[serde(rename = "credentialID")]
    pub credential_id: Option<String>,
    #[serde(rename = "SAD")]
    pub sad: Option<String>,
    #[serde(rename = "documentDigests")]
    pub document_digests: Option<Vec<DocumentDigests>>,
    pub documents: Option<Vec<DocumentToSign>>,
}

fn invalid(description: impl Into<String>) -> Error {
    refusal(OAuthErrorCode::InvalidRequest, description)
}

/// What one signature is made of, and what it becomes.
enum Job {
    /// A detached CMS over this digest, answered as a SignatureObject.
    Cades(Sha256Digest),
    /// A prescription, answered whole as a DocumentWithSignature.
    Prescription(Prescription),
    /// The PrescriptionSign element for this data digest, answered as a SignatureObject.
    PrescriptionSign(Sha256Digest),
    /// Any other XML document, signed whole (enveloped), answered as a DocumentWithSignature.
    Xml(EnvelopedXml),
}

impl Job {
    /// What the SAD authorizes and the audit log records for it.
    fn digest(&self) -> Sha256Digest {
        match self {
            Self::Cades(d) | Self::PrescriptionSign(d) => *d,
            Self::Prescription(p) => p.digest,
            Self::Xml(x) => x.digest,
        }
    }

    fn format(&self) -> &'static str {
        match self {
            Self::Cades(_) => "CAdES-B-B",
            Self::Prescription(_) => "XAdES-B-B prescription",
            Self::PrescriptionSign(_) => "XAdES-B-B PrescriptionSign",
            Self::Xml(_) => "XAdES-B-B enveloped",
        }
    }
}

/// A job's signature before its value: what the key signs over.
enum Unsigned {
    Cades(x509_cert::attr::Attributes),
    Xades(SignatureParts),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Cades,
    Xades,
}

/// The signature's format, and the scheme its key signs with (the document's `signAlgo`, or the
/// key's usual one).
fn format_of(how: &SignatureFormat, key: KeyAlgorithm) -> Result<(Format, DigestSigning), Error> {
    let format = match how.signature_format.as_deref().map(str::trim) {
        Some("C") | Some("c") => Format::Cades,
        Some("X") | Some("x") => Format::Xades,
        Some("P") | Some("p") => {
            return Err(invalid(
                "signature_format P (PAdES) is not made here: sign PDFs through signatures/signHash (pyHanko's CSC signer does)",
            ))
        }
        Some(other) => {
            return Err(invalid(format!(
                "Invalid parameter signature_format: {other:?} must be C (CAdES) or X (XAdES)"
            )))
        }
        None => return Err(invalid("Missing parameter signature_format: C (CAdES) or X (XAdES)")),
    };
    match how.conformance_level.as_deref().map(str::trim) {
        None | Some("") => {}
        Some(level) if level.eq_ignore_ascii_case("ades-b-b") || level.eq_ignore_ascii_case("ades-b") => {}
        Some(other) => {
            return Err(invalid(format!(
                "Invalid parameter conformance_level: {other} is not made here; the service makes AdES-B-B (long-term forms add time-stamps and validation data later)"
            )))
        }
    }
    let envelope = how.signed_envelope_property.as_deref().map(str::trim);
    match (format, envelope) {
        (_, None | Some("")) | (Format::Cades, Some("Detached")) | (Format::Xades, Some("Enveloped")) => {}
        (Format::Cades, Some(other)) => {
            return Err(invalid(format!(
                "Invalid parameter signed_envelope_property: CAdES signatures are made Detached, not {other}"
            )))
        }
        (Format::Xades, Some(other)) => {
            return Err(invalid(format!(
                "Invalid parameter signed_envelope_property: XML documents and prescriptions are signed Enveloped, not {other}"
            )))
        }
    }
    let requested = match how.sign_algo.as_deref() {
        None => None,
        some => Some(
            SignAlgorithm::parse(some, how.sign_algo_params.as_deref(), None)
                .map_err(invalid)?
                .0,
        ),
    };
    let scheme = match (format, key, requested) {
        (Format::Xades, KeyAlgorithm::EcdsaP256, _) => return Err(invalid(
            "XAdES signatures (e-prescriptions, XML documents) are made with rsa-sha256 here, and this credential's key is ECDSA",
        )),
        // The e-prescription's signature method is rsa-sha256 (PKCS#1 v1.5), for XML too.
        (Format::Xades, KeyAlgorithm::Rsa2048, None | Some(DigestSigning::RsaPkcs1)) => {
            DigestSigning::RsaPkcs1
        }
        (Format::Xades, KeyAlgorithm::Rsa2048, Some(_)) => {
            return Err(invalid(format!(
                "Invalid parameter signAlgo: XAdES signatures (e-prescriptions, XML documents) are made with {} (rsa-sha256)",
                DigestSigning::RsaPkcs1.oid()
            )))
        }
        (Format::Cades, KeyAlgorithm::Rsa2048, None) => DigestSigning::RsaPkcs1,
        (Format::Cades, KeyAlgorithm::EcdsaP256, None) => DigestSigning::Ecdsa,
        // CAdES: PKCS#1 v1.5 or PSS (any salt the key can carry) for RSA, ECDSA for EC.
        (Format::Cades, _, Some(wanted)) => {
            wanted.check(key).map_err(|e| {
                invalid(format!(
                    "Invalid parameter signAlgo: {e}; this credential signs CAdES with {}",
                    DigestSigning::for_key(key)
                        .iter()
                        .map(|s| s.oid())
                        .collect::<Vec<_>>()
                        .join(" or ")
                ))
            })?;
            wanted
        }
    };
    Ok((format, scheme))
}

/// One entry to sign, before any XML of it is parsed.
enum Entry {
    Ready(Job),
    Xml(Vec<u8>),
}

impl CscService {
    /// The jobs of a call, in order, with the scheme each signs with. Digests and CAdES
    /// documents are read here; XML documents are parsed and canonicalized on the service's
    /// XML workers, never on the async runtime's threads (a worst-case document within
    /// [`crate::xml_bounds::SIGN_DOC`] costs well under a second, but that is a second no
    /// other request should wait for).
    async fn read_documents(
        &self,
        r: &SignDocRequest,
        key: KeyAlgorithm,
    ) -> Result<(Vec<Job>, Vec<DigestSigning>), Error> {
        let mut entries = Vec::new();
        let mut schemes = Vec::new();
        for d in r.document_digests.iter().flatten() {
            let (format, scheme) = format_of(&d.how, key)?;
            if d.hash_algorithm
                .as_deref()
                .is_some_and(|h| h.trim() != hpki_core::domain::csc::oids::SHA256)
            {
                return Err(invalid(
                    "Invalid parameter hashAlgorithmOID: document digests must be SHA-256",
                ));
            }
            for h in d.hashes.iter().flatten() {
                let digest = STANDARD
                    .decode(h.trim())
                    .ok()
                    .and_then(|v| Sha256Digest::try_from(v.as_slice()).ok())
                    .ok_or_else(|| {
                        invalid(format!(
                            "Invalid parameter hashes: {h:?} is not the Base64 of a SHA-256 digest (32 bytes)"
                        ))
                    })?;
                schemes.push(scheme);
                entries.push(Entry::Ready(match format {
                    Format::Cades => Job::Cades(digest),
                    Format::Xades => Job::PrescriptionSign(digest),
                }));
            }
        }
        for d in r.documents.iter().flatten() {
            let (format, scheme) = format_of(&d.how, key)?;
            let bytes = d
                .document
                .as_deref()
                .and_then(|b| STANDARD.decode(b.trim()).ok())
                .ok_or_else(|| {
                    invalid("Invalid parameter document: give the document in Base64")
                })?;
            schemes.push(scheme);
            entries.push(match format {
                Format::Cades => Entry::Ready(Job::Cades(Sha256::digest(&bytes).into())),
                Format::Xades => Entry::Xml(bytes),
            });
        }
        let xml: Vec<Vec<u8>> = entries
            .iter_mut()
            .filter_map(|e| match e {
                Entry::Xml(bytes) => Some(std::mem::take(bytes)),
                Entry::Ready(_) => None,
            })
            .collect();
        let mut read = if xml.is_empty() {
            Vec::new()
        } else {
            self.xml
                .run(move || {
                    xml.iter()
                        .map(|bytes| XmlToSign::read(bytes))
                        .collect::<Vec<_>>()
                })
                .await
                .map_err(|e| Error::Internal(format!("reading an XML document: {e}")))?
        }
        .into_iter();
        let mut jobs = Vec::with_capacity(entries.len());
        for entry in entries {
            jobs.push(match entry {
                Entry::Ready(job) => job,
                Entry::Xml(_) => match read.next() {
                    Some(Ok(XmlToSign::Prescription(p))) => Job::Prescription(p),
                    Some(Ok(XmlToSign::Enveloped(x))) => Job::Xml(x),
                    Some(Err(e)) => {
                        return Err(invalid(format!("Invalid parameter document: {}", e.0)))
                    }
                    None => return Err(Error::Internal("an XML document was not read".into())),
                },
            });
        }
        Ok((jobs, schemes))
    }

    /// `signatures/signDoc` (v2).
    pub async fn sign_doc(
        &self,
        actor: &Actor,
        access: &AccessToken,
        r: &SignDocRequest,
    ) -> Result<Value, Error> {
        const ENDPOINT: &str = "signatures/signDoc";
        let token = access.token.as_str();
        let s = self.session_for_signing(actor, ENDPOINT, token).await?;
        self.presented(actor, ENDPOINT, &s, access).await?;
        let credential = self
            .credential_of(actor, ENDPOINT, &s, r.credential_id.as_deref())
            .await?;
        let key = self.signing_key(&s)?;
        // What is asked for, checked and counted before anything of it is read: a document
        // is decoded and parsed only for a caller whose SAD may pay for it.
        let mut count = 0usize;
        for d in r.document_digests.iter().flatten() {
            format_of(&d.how, key.algorithm)?;
            count += d.hashes.as_ref().map_or(0, Vec::len);
        }
        for d in r.documents.iter().flatten() {
            format_of(&d.how, key.algorithm)?;
            count += 1;
        }
        if count == 0 {
            return Err(invalid(
                "Missing parameter documents or documentDigests: give what to sign",
            ));
        }
        if count > self.settings.max_signatures as usize {
            return Err(invalid(format!(
                "at most {} documents in one call",
                self.settings.max_signatures
            )));
        }
        let sad = self
            .authorize_spend(actor, ENDPOINT, &s, token, r.sad.as_deref(), count)
            .await?;
        let (jobs, schemes) = self.read_documents(r, key.algorithm).await?;
        // CMS signatures carry the chain (read before anything is spent).
        // CMS signatures carry the chain (read before anything is spent).
        let chain = if jobs.iter().any(|j| matches!(j, Job::Cades(_))) {
            self.ca.signing_chain().await?
        } else {
            Vec::new()
        };
        let digests = jobs.iter().map(Job::digest).collect();
        let spend = self.bind_spend(actor, ENDPOINT, &s, sad, digests).await?;
        let now = self.clock.now();
        let cert_der = &key.certificate.cert.der;
        // What the key signs for each: CMS signed attributes, or XAdES SignedInfo.
        let mut unsigned = Vec::with_capacity(jobs.len());
        let mut to_sign = Vec::with_capacity(jobs.len());
        for job in &jobs {
            let digest = job.digest();
            match job {
                Job::Cades(_) => {
                    let attrs = cades::signed_attributes(&digest, cert_der, now)?;
                    to_sign.push(cades::to_be_signed(&attrs)?);
                    unsigned.push(Unsigned::Cades(attrs));
                }
                Job::Prescription(_) | Job::PrescriptionSign(_) | Job::Xml(_) => {
                    let parts = match job {
                        Job::Prescription(p) => {
                            SignatureParts::new(&p.document_id, &digest, cert_der, now)?
                        }
                        Job::Xml(x) => {
                            SignatureParts::enveloped(&digest, cert_der, now, &x.id_prefix)?
                        }
                        _ => {
                            SignatureParts::new(crate::xades::DOCUMENT_ID, &digest, cert_der, now)?
                        }
                    };
                    to_sign.push(parts.to_be_signed());
                    unsigned.push(Unsigned::Xades(parts));
                }
            }
        }
        // One keystore call per scheme (usually the only one), each signature to its job.
        let mut signatures = vec![Vec::new(); jobs.len()];
        let mut used: Vec<DigestSigning> = Vec::new();
        for &scheme in &schemes {
            if used.contains(&scheme) {
                continue;
            }
            used.push(scheme);
            let which: Vec<usize> = (0..jobs.len()).filter(|&i| schemes[i] == scheme).collect();
            let digests: Vec<Sha256Digest> = which.iter().map(|&i| to_sign[i]).collect();
            let made = self
                .sign_with(&s, &key, SignAlgorithm(scheme), &digests)
                .await?;
            for (i, signature) in which.into_iter().zip(made) {
                signatures[i] = signature;
            }
        }
        let mut algorithms: Vec<&str> = used.iter().map(|s| s.as_str()).collect();
        algorithms.sort_unstable();
        algorithms.dedup();
        let formats: Vec<&str> = jobs.iter().map(Job::format).collect();
        self.finish_spend(
            actor,
            ENDPOINT,
            &s,
            token,
            &credential,
            &key,
            spend,
            json!({ "algorithm": algorithms.join(", "), "formats": formats }),
        )
        .await?;
        let mut with_signature = Vec::new();
        let mut objects = Vec::new();
        for (((job, unsigned), signature), scheme) in
            jobs.iter().zip(unsigned).zip(signatures).zip(schemes)
        {
            match (job, unsigned) {
                (_, Unsigned::Cades(attrs)) => {
                    let cms = cades::assemble(attrs, signature, scheme, cert_der, &chain)?;
                    objects.push(STANDARD.encode(cms));
                }
                (Job::Prescription(p), Unsigned::Xades(parts)) => {
                    let element = parts.signature(&signature);
                    with_signature.push(STANDARD.encode(p.with_signature(&element)));
                }
                (Job::Xml(x), Unsigned::Xades(parts)) => {
                    let element = parts.signature(&signature);
                    with_signature.push(STANDARD.encode(x.with_signature(&element)));
                }
                (_, Unsigned::Xades(parts)) => {
                    let element = parts.signature(&signature);
                    let sign = format!("<PrescriptionSign>{element}</PrescriptionSign>");
                    objects.push(STANDARD.encode(sign));
                }
            }
        }
        Ok(json!({ "DocumentWithSignature": with_signature, "SignatureObject": objects }))
    }
}
