//! Certificate and CRL profiles, written out field by field so that what we issue is exactly
//! what `docs/certificate-profiles.md` says. Signing is left to the keystore: these functions
//! build the to-be-signed structures and assemble the signed result.

use std::time::Duration;

use chrono::{DateTime, Datelike, FixedOffset, Months, NaiveDate, Utc};
use der::asn1::{
    Any, BitString, GeneralizedTime, Ia5String, ObjectIdentifier, OctetString, PrintableStringRef,
    SetOfVec, UtcTime, Utf8StringRef,
};
use der::oid::AssociatedOid;
use der::{Decode, Encode};
use hpki_core::keystore::KeyAlgorithm;
use sha2::{Digest, Sha256};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::ext::pkix::certpolicy::{PolicyInformation, PolicyQualifierInfo};
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
    CertificatePolicies, CrlDistributionPoints, CrlNumber, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::CaError;

pub const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
pub const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OCSP_ACCESS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
pub const OCSP_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");
const OCSP_NOCHECK: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.5");
const SUBJECT_DIRECTORY_ATTRIBUTES: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.9");

fn asn1(e: der::Error) -> CaError {
    CaError::Encoding(e.to_string())
}

/// The signature algorithm identifier for a key type.
pub fn signature_algorithm(alg: KeyAlgorithm) -> AlgorithmIdentifierOwned {
    match alg {
        // RFC 4055: the parameters of sha256WithRSAEncryption are an explicit NULL.
        KeyAlgorithm::Rsa2048 => AlgorithmIdentifierOwned {
            oid: SHA256_WITH_RSA,
            parameters: Some(Any::null()),
        },
        KeyAlgorithm::EcdsaP256 => AlgorithmIdentifierOwned {
            oid: ECDSA_WITH_SHA256,
            parameters: None,
        },
    }
}

/// A distinguished name written from the top, e.g. `C=JP, O=Example, CN=Example Root CA`.
/// Supported attributes: C, ST, L, O, OU, CN, serialNumber. Values may not contain commas.
pub fn parse_name(s: &str) -> Result<Name, CaError> {
    let mut rdns = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| CaError::Config(format!("{part:?} in name {s:?} is not KEY=value")))?;
        let (key, value) = (key.trim(), value.trim());
        if value.is_empty() {
            return Err(CaError::Config(format!("{key} in name {s:?} is empty")));
        }
        rdns.push(attribute(key, value).map_err(|e| CaError::Config(format!("name {s:?}: {e}")))?);
    }
    if rdns.is_empty() {
        return Err(CaError::Config(format!("name {s:?} is empty")));
    }
    Ok(RdnSequence(rdns))
}

/// One RDN. Country and serialNumber are PrintableString, everything else UTF8String (RFC 5280).
pub fn attribute(key: &str, value: &str) -> Result<RelativeDistinguishedName, String> {
    // The upper bounds are X.520's (RFC 5280 appendix A), in characters.
    let (oid, printable, max) = match key.to_ascii_lowercase().as_str() {
        "c" => (ObjectIdentifier::new_unwrap("2.5.4.6"), true, 2),
        "st" => (ObjectIdentifier::new_unwrap("2.5.4.8"), false, 128),
        "l" => (ObjectIdentifier::new_unwrap("2.5.4.7"), false, 128),
        "o" => (ObjectIdentifier::new_unwrap("2.5.4.10"), false, 64),
        "ou" => (ObjectIdentifier::new_unwrap("2.5.4.11"), false, 64),
        "cn" => (ObjectIdentifier::new_unwrap("2.5.4.3"), false, 64),
        "serialnumber" => (ObjectIdentifier::new_unwrap("2.5.4.5"), true, 64),
        other => {
            return Err(format!(
                "unsupported attribute {other:?} (use C, ST, L, O, OU, CN, serialNumber)"
            ))
        }
    };
    let chars = value.chars().count();
    if chars > max {
        return Err(format!(
            "{key}={value:?} has {chars} characters; at most {max} are allowed"
        ));
    }
    if printable
        && key.eq_ignore_ascii_case("c")
        && (value.len() != 2 || !value.bytes().all(|b| b.is_ascii_uppercase()))
    {
        return Err(format!(
            "C={value:?} must be a two-letter country code such as JP"
        ));
    }
    let value = if printable {
        Any::encode_from(
            &PrintableStringRef::new(value)
                .map_err(|_| format!("{key}={value:?} must be printable ASCII"))?,
        )
    } else {
        Any::encode_from(&Utf8StringRef::new(value).map_err(|e| e.to_string())?)
    }
    .map_err(|e| e.to_string())?;
    let atv = AttributeTypeAndValue { oid, value };
    Ok(RelativeDistinguishedName(
        SetOfVec::try_from(vec![atv]).map_err(|e| e.to_string())?,
    ))
}

/// RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
pub fn x509_time(t: DateTime<Utc>) -> Result<Time, CaError> {
    let secs =
        u64::try_from(t.timestamp()).map_err(|_| CaError::Config("time before 1970".into()))?;
    let d = Duration::from_secs(secs);
    if t.year() < 2050 {
        Ok(Time::UtcTime(UtcTime::from_unix_duration(d).map_err(asn1)?))
    } else {
        Ok(Time::GeneralTime(
            GeneralizedTime::from_unix_duration(d).map_err(asn1)?,
        ))
    }
}

fn ext<T: Encode + AssociatedOid>(critical: bool, value: &T) -> Result<Extension, CaError> {
    Ok(Extension {
        extn_id: T::OID,
        critical,
        extn_value: OctetString::new(value.to_der().map_err(asn1)?).map_err(asn1)?,
    })
}

/// The key identifier a CA certificate carries (its SKI), or ours computed from its key.
pub fn certificate_key_id(cert: &x509_cert::Certificate) -> Vec<u8> {
    match cert.tbs_certificate.get::<SubjectKeyIdentifier>() {
        Ok(Some((_, ski))) => ski.0.as_bytes().to_vec(),
        _ => key_identifier(&cert.tbs_certificate.subject_public_key_info),
    }
}

/// RFC 7093 method 1 with SHA-256: the leftmost 160 bits of the hash of the public key bits.
pub fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    Sha256::digest(spki.subject_public_key.raw_bytes())[..20].to_vec()
}

fn uri(s: &str) -> Result<GeneralName, CaError> {
    Ok(GeneralName::UniformResourceIdentifier(
        Ia5String::new(s).map_err(asn1)?,
    ))
}

/// What differs between the certificates the CA issues.
pub enum Profile<'a> {
    /// A self-signed root.
    Root,
    /// An issuing CA under the root.
    IssuingCa {
        policy: ObjectIdentifier,
        crl_url: &'a str,
    },
    /// An end-entity signing certificate (the second certificate, or an HPKI card's):
    /// nonRepudiation only, with the holder's Japanese name and qualification.
    Signing(EndEntity<'a>),
    /// An end-entity authentication certificate (an HPKI card's): digitalSignature only.
    Authentication(EndEntity<'a>),
    /// A delegated OCSP responder (RFC 6960 4.2.2.2): id-kp-OCSPSigning, and ocsp-nocheck
    /// because a responder's own status is not checked (its validity is kept short).
    OcspResponder,
}

/// The holder-specific parts of an end-entity certificate.
pub struct EndEntity<'a> {
    pub policy: ObjectIdentifier,
    /// The CPS qualifier of the certificate policy (`[ca] cps_uri`).
    pub cps_uri: &'a str,
    pub crl_url: &'a str,
    /// The OCSP responder, when certificates name it (`[ca] ocsp_in_certificates`; real HPKI
    /// certificates carry no authorityInformationAccess).
    pub ocsp_url: Option<&'a str>,
    /// The subjectAltName's directoryName: C=JP, the organisation in kanji, the kanji name
    /// (family name, U+3000, given name) and the HPKI ID.
    pub alt_name: Name,
    pub qualification_scheme: ObjectIdentifier,
    /// The qualification as hcRole's codeDataFreeText, e.g. "Pharmacist".
    pub qualification: &'a str,
    /// The issuing CA's certificate: its issuer's name and its serial number, which the
    /// authorityKeyIdentifier names beside the key identifier (as real HPKI certificates do).
    pub authority_cert_issuer: &'a Name,
    pub authority_cert_serial: &'a SerialNumber,
}

/// Everything needed to build a certificate except its signature.
pub struct CertificateRequest<'a> {
    pub serial: &'a [u8],
    pub issuer: &'a Name,
    /// The issuer's key identifier (its certificate's SKI), for the authority key identifier.
    pub issuer_key_id: &'a [u8],
    pub issuer_algorithm: KeyAlgorithm,
    pub subject: &'a Name,
    pub subject_spki: &'a SubjectPublicKeyInfoOwned,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub profile: Profile<'a>,
}

const ID_QT_CPS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.2.1");

/// An end-entity certificate's extensions, in the order of real HPKI certificates: AKI, SKI,
/// keyUsage, subjectAltName, CRL distribution points, subjectDirectoryAttributes (hcRole),
/// certificatePolicies (critical, with the CPS); then, only if configured, the OCSP address.
fn end_entity_extensions(
    ee: &EndEntity<'_>,
    usage: KeyUsages,
    issuer_key_id: &[u8],
    subject_key_id: Vec<u8>,
) -> Result<Vec<Extension>, CaError> {
    let mut out = vec![
        ext(
            false,
            &AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(issuer_key_id).map_err(asn1)?),
                authority_cert_issuer: Some(vec![GeneralName::DirectoryName(
                    ee.authority_cert_issuer.clone(),
                )]),
                authority_cert_serial_number: Some(ee.authority_cert_serial.clone()),
            },
        )?,
        ext(
            false,
            &SubjectKeyIdentifier(OctetString::new(subject_key_id).map_err(asn1)?),
        )?,
        ext(true, &KeyUsage(usage.into()))?,
        ext(
            false,
            &SubjectAltName(vec![GeneralName::DirectoryName(ee.alt_name.clone())]),
        )?,
        crl_dp(ee.crl_url)?,
    ];
    let hc_role = crate::hcrole::hc_role_attribute(ee.qualification_scheme, ee.qualification)
        .map_err(asn1)?;
    out.push(Extension {
        extn_id: SUBJECT_DIRECTORY_ATTRIBUTES,
        critical: false,
        extn_value: OctetString::new(vec![hc_role].to_der().map_err(asn1)?).map_err(asn1)?,
    });
    out.push(ext(
        true,
        &CertificatePolicies(vec![PolicyInformation {
            policy_identifier: ee.policy,
            policy_qualifiers: Some(vec![PolicyQualifierInfo {
                policy_qualifier_id: ID_QT_CPS,
                qualifier: Some(
                    Any::encode_from(&Ia5String::new(ee.cps_uri).map_err(asn1)?).map_err(asn1)?,
                ),
            }]),
        }]),
    )?);
    if let Some(ocsp) = ee.ocsp_url {
        out.push(ext(
            false,
            &AuthorityInfoAccessSyntax(vec![AccessDescription {
                access_method: OCSP_ACCESS,
                access_location: uri(ocsp)?,
            }]),
        )?);
    }
    Ok(out)
}

fn crl_dp(url: &str) -> Result<Extension, CaError> {
    ext(
        false,
        &CrlDistributionPoints(vec![DistributionPoint {
            distribution_point: Some(DistributionPointName::FullName(vec![uri(url)?])),
            reasons: None,
            crl_issuer: None,
        }]),
    )
}

fn aki(issuer_key_id: &[u8]) -> Result<Extension, CaError> {
    ext(
        false,
        &AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(issuer_key_id).map_err(asn1)?),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        },
    )
}

/// Japan Standard Time (UTC+9, no daylight saving): real HPKI certificates begin and end on
/// its day boundaries.
const JST: FixedOffset = match FixedOffset::east_opt(9 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+9 is a valid offset"),
};

/// 00:00:00 JST of the day `t` falls on in Japan.
pub fn jst_day_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let day = t.with_timezone(&JST).date_naive();
    jst_instant(day, 0, 0, 0).unwrap_or(t)
}

/// 23:59:59 JST of the day `years` years after the day `t` falls on in Japan (29 February
/// becomes 28 February in a common year): the last second of a certificate that is valid
/// for `years` years from that day.
pub fn jst_last_second_after_years(t: DateTime<Utc>, years: u32) -> DateTime<Utc> {
    let day = t.with_timezone(&JST).date_naive();
    let last = day
        .checked_add_months(Months::new(12 * years))
        .unwrap_or(NaiveDate::MAX);
    jst_instant(last, 23, 59, 59).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn jst_instant(day: NaiveDate, h: u32, m: u32, s: u32) -> Option<DateTime<Utc>> {
    day.and_hms_opt(h, m, s)?
        .and_local_timezone(JST)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

impl CertificateRequest<'_> {
    /// The TBSCertificate, DER-encoded: the bytes the issuer's key signs.
    pub fn tbs(&self) -> Result<TbsCertificate, CaError> {
        let mut extensions = Vec::new();
        let subject_key_id = key_identifier(self.subject_spki);
        match &self.profile {
            Profile::Root => {
                extensions.push(ext(
                    true,
                    &BasicConstraints {
                        ca: true,
                        path_len_constraint: None,
                    },
                )?);
                extensions.push(ext(
                    true,
                    &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
                )?);
            }
            Profile::IssuingCa { policy, crl_url } => {
                extensions.push(ext(
                    true,
                    &BasicConstraints {
                        ca: true,
                        path_len_constraint: Some(0),
                    },
                )?);
                extensions.push(ext(
                    true,
                    &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
                )?);
                extensions.push(ext(
                    false,
                    &CertificatePolicies(vec![PolicyInformation {
                        policy_identifier: *policy,
                        policy_qualifiers: None,
                    }]),
                )?);
                extensions.push(crl_dp(crl_url)?);
                extensions.push(aki(self.issuer_key_id)?);
            }
            Profile::Signing(ee) | Profile::Authentication(ee) => {
                let usage = if matches!(self.profile, Profile::Signing(_)) {
                    KeyUsages::NonRepudiation
                } else {
                    KeyUsages::DigitalSignature
                };
                extensions =
                    end_entity_extensions(ee, usage, self.issuer_key_id, subject_key_id.clone())?;
            }
            Profile::OcspResponder => {
                extensions.push(ext(true, &KeyUsage(KeyUsages::DigitalSignature.into()))?);
                extensions.push(ext(false, &ExtendedKeyUsage(vec![OCSP_SIGNING]))?);
                extensions.push(Extension {
                    extn_id: OCSP_NOCHECK,
                    critical: false,
                    extn_value: OctetString::new(der::asn1::Null.to_der().map_err(asn1)?)
                        .map_err(asn1)?,
                });
                extensions.push(aki(self.issuer_key_id)?);
            }
        }
        if !matches!(
            self.profile,
            Profile::Signing(_) | Profile::Authentication(_)
        ) {
            extensions.push(ext(
                false,
                &SubjectKeyIdentifier(OctetString::new(subject_key_id).map_err(asn1)?),
            )?);
        }
        Ok(TbsCertificate {
            version: Version::V3,
            serial_number: SerialNumber::new(self.serial).map_err(asn1)?,
            signature: signature_algorithm(self.issuer_algorithm),
            issuer: self.issuer.clone(),
            validity: Validity {
                not_before: x509_time(self.not_before)?,
                not_after: x509_time(self.not_after)?,
            },
            subject: self.subject.clone(),
            subject_public_key_info: self.subject_spki.clone(),
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(extensions),
        })
    }
}

/// Puts a certificate together from its TBS and the issuer's signature.
pub fn assemble_certificate(tbs: TbsCertificate, signature: &[u8]) -> Result<Vec<u8>, CaError> {
    let cert = Certificate {
        signature_algorithm: tbs.signature.clone(),
        tbs_certificate: tbs,
        signature: BitString::from_bytes(signature).map_err(asn1)?,
    };
    cert.to_der().map_err(asn1)
}

/// Reads the pieces of an issued certificate that the CA needs again.
pub fn parse_certificate(der: &[u8]) -> Result<Certificate, CaError> {
    Certificate::from_der(der).map_err(asn1)
}

/// One revoked certificate for a CRL.
pub struct RevokedEntry {
    pub serial: Vec<u8>,
    pub at: DateTime<Utc>,
    pub reason_code: u8,
}

/// A DER tag and length.
fn header(tag: u8, len: usize, out: &mut Vec<u8>) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let first = bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bytes.len() - 1);
        out.push(0x80 | (bytes.len() - first) as u8);
        out.extend_from_slice(&bytes[first..]);
    }
}

fn wrap(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    header(tag, content.len(), &mut out);
    out.extend_from_slice(content);
    out
}

/// UTCTime through 2049, GeneralizedTime from 2050, written straight into `out`.
fn write_time(t: DateTime<Utc>, out: &mut Vec<u8>) {
    use std::io::Write;
    if t.year() < 2050 {
        out.extend_from_slice(&[0x17, 13]);
        let _ = write!(out, "{}", t.format("%y%m%d%H%M%SZ"));
    } else {
        out.extend_from_slice(&[0x18, 15]);
        let _ = write!(out, "{}", t.format("%Y%m%d%H%M%SZ"));
    }
}

/// A CRL's to-be-signed part (RFC 5280 v2 with CRL number, AKI and reason codes), DER.
///
/// The revoked list is written by hand, straight into one buffer: a CRL of a million entries
/// built as a million small structures spent most of its time in the allocator. A unit test
/// checks the bytes against the same CRL built with x509-cert's types.
pub fn crl_tbs(
    issuer: &Name,
    issuer_key_id: &[u8],
    issuer_algorithm: KeyAlgorithm,
    number: i64,
    this_update: DateTime<Utc>,
    next_update: DateTime<Utc>,
    revoked: &[RevokedEntry],
) -> Result<Vec<u8>, CaError> {
    let mut list = Vec::with_capacity(revoked.len() * 48);
    let mut entry = Vec::with_capacity(64);
    for r in revoked {
        if r.serial.is_empty() || r.serial.len() > 21 || r.serial[0] & 0x80 != 0 {
            return Err(CaError::Encoding(
                "a serial number is not a positive INTEGER of at most 20 bytes".into(),
            ));
        }
        entry.clear();
        header(0x02, r.serial.len(), &mut entry);
        entry.extend_from_slice(&r.serial);
        write_time(r.at, &mut entry);
        // RFC 5280: the reasonCode entry extension is absent rather than "unspecified".
        if r.reason_code != 0 {
            // SEQUENCE { SEQUENCE { OID 2.5.29.21, OCTET STRING { ENUMERATED code } } }
            entry.extend_from_slice(&[
                0x30,
                0x0c,
                0x30,
                0x0a,
                0x06,
                0x03,
                0x55,
                0x1d,
                0x15,
                0x04,
                0x03,
                0x0a,
                0x01,
                r.reason_code,
            ]);
        }
        header(0x30, entry.len(), &mut list);
        list.extend_from_slice(&entry);
    }
    let number_bytes = number.to_be_bytes();
    let first = number_bytes.iter().position(|b| *b != 0).unwrap_or(7);
    let extensions = vec![
        aki(issuer_key_id)?,
        ext(
            false,
            &CrlNumber(der::asn1::Uint::new(&number_bytes[first..]).map_err(asn1)?),
        )?,
    ];
    let mut body = Vec::with_capacity(list.len() + 1024);
    body.extend_from_slice(&[0x02, 0x01, 0x01]); // version v2
    body.extend_from_slice(
        &signature_algorithm(issuer_algorithm)
            .to_der()
            .map_err(asn1)?,
    );
    body.extend_from_slice(&issuer.to_der().map_err(asn1)?);
    write_time(this_update, &mut body);
    write_time(next_update, &mut body);
    if !revoked.is_empty() {
        header(0x30, list.len(), &mut body);
        body.extend_from_slice(&list);
    }
    drop(list);
    body.extend_from_slice(&wrap(0xa0, &extensions.to_der().map_err(asn1)?));
    Ok(wrap(0x30, &body))
}

/// Puts a CRL together from its TBS (DER) and the issuer's signature.
pub fn assemble_crl(
    tbs: &[u8],
    algorithm: KeyAlgorithm,
    signature: &[u8],
) -> Result<Vec<u8>, CaError> {
    let alg = signature_algorithm(algorithm).to_der().map_err(asn1)?;
    let mut bits = Vec::with_capacity(signature.len() + 1);
    bits.push(0);
    bits.extend_from_slice(signature);
    let bits = wrap(0x03, &bits);
    let mut body = Vec::with_capacity(tbs.len() + alg.len() + bits.len());
    body.extend_from_slice(tbs);
    body.extend_from_slice(&alg);
    body.extend_from_slice(&bits);
    Ok(wrap(0x30, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_crl_matches_x509_cert() {
        use x509_cert::crl::{RevokedCert, TbsCertList};
        let name = parse_name("C=JP, O=test, CN=Test CA").expect("name");
        let spki = SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: ObjectIdentifier::new_unwrap("1.2.840.10045.2.1"),
                parameters: None,
            },
            subject_public_key: BitString::from_bytes(&[4u8; 65]).expect("bits"),
        };
        let t = |s: i64| DateTime::from_timestamp(s, 0).expect("time");
        let entries: Vec<RevokedEntry> = (0..300u32)
            .map(|i| RevokedEntry {
                serial: {
                    let mut v = vec![0x40];
                    v.extend_from_slice(&i.to_be_bytes());
                    v
                },
                at: t(1_800_000_000 + i64::from(i)),
                reason_code: [0u8, 1, 4, 9][i as usize % 4],
            })
            .chain(std::iter::once(RevokedEntry {
                serial: vec![0x00, 0x80, 1],
                at: t(2_600_000_000),
                reason_code: 5,
            }))
            .collect();
        let ours = crl_tbs(
            &name,
            &key_identifier(&spki),
            KeyAlgorithm::Rsa2048,
            300,
            t(1_800_000_000),
            t(2_600_000_000),
            &entries,
        )
        .expect("ours");
        let oracle = TbsCertList {
            version: Version::V2,
            signature: signature_algorithm(KeyAlgorithm::Rsa2048),
            issuer: name.clone(),
            this_update: x509_time(t(1_800_000_000)).expect("t"),
            next_update: Some(x509_time(t(2_600_000_000)).expect("t")),
            revoked_certificates: Some(
                entries
                    .iter()
                    .map(|r| RevokedCert {
                        serial_number: SerialNumber::new(&r.serial).expect("serial"),
                        revocation_date: x509_time(r.at).expect("t"),
                        crl_entry_extensions: (r.reason_code != 0).then(|| {
                            vec![ext(
                                false,
                                &crate::ocsp::crl_reason(r.reason_code).expect("reason"),
                            )
                            .expect("ext")]
                        }),
                    })
                    .collect(),
            ),
            crl_extensions: Some(vec![
                aki(&key_identifier(&spki)).expect("aki"),
                ext(
                    false,
                    &CrlNumber(der::asn1::Uint::new(&[1, 0x2c]).expect("n")),
                )
                .expect("ext"),
            ]),
        };
        assert_eq!(ours, oracle.to_der().expect("oracle"));
        let signed = assemble_crl(&ours, KeyAlgorithm::Rsa2048, &[7u8; 256]).expect("crl");
        let parsed = x509_cert::crl::CertificateList::from_der(&signed).expect("parses");
        assert_eq!(parsed.tbs_cert_list, oracle);
    }

    #[test]
    fn validity_follows_japans_day_boundaries() {
        // 00:30 JST on 7 February 2022 (still the 6th in UTC): a real MEDIS certificate of
        // that day runs 220206150000Z - 270207145959Z.
        let issued = "2022-02-06T15:30:00Z".parse::<DateTime<Utc>>().expect("t");
        let utc = |t: DateTime<Utc>| match x509_time(t).expect("time") {
            Time::UtcTime(u) => hex::encode(u.to_der().expect("der")),
            Time::GeneralTime(_) => panic!("UTCTime before 2050"),
        };
        assert_eq!(
            utc(jst_day_start(issued)),
            hex::encode("\x17\x0d220206150000Z")
        );
        assert_eq!(
            utc(jst_last_second_after_years(issued, 5)),
            hex::encode("\x17\x0d270207145959Z")
        );
        // 29 February ends on 28 February in a common year.
        let leap = "2024-02-29T03:00:00Z".parse::<DateTime<Utc>>().expect("t");
        assert_eq!(
            jst_last_second_after_years(leap, 1),
            "2025-02-28T14:59:59Z".parse::<DateTime<Utc>>().expect("t")
        );
    }

    #[test]
    fn names_are_parsed_from_the_top() {
        let n = parse_name("C=JP, O=hpki-second demo, CN=デモ ルート").expect("valid");
        assert_eq!(n.0.len(), 3);
        assert_eq!(n.to_string(), "CN=デモ ルート,O=hpki-second demo,C=JP");
        assert!(parse_name("C=Japan").is_err());
        let long = format!("CN={}", "x".repeat(65));
        assert!(parse_name(&long)
            .expect_err("too long")
            .to_string()
            .contains("at most 64"));
        assert!(parse_name("X=1").is_err());
        assert!(parse_name("").is_err());
    }
}
