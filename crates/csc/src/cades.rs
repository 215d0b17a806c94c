//! CAdES-B-B: a detached CMS SignedData (RFC 5652) over a document's SHA-256 digest, with the
//! signed attributes CAdES asks for: content type, signing time, message digest and
//! `SigningCertificateV2` (RFC 5035) naming the signer's certificate. Also the ESS
//! `IssuerSerial` that XAdES's `IssuerSerialV2` carries.

use chrono::{DateTime, Utc};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec, UtcTime};
use der::{Any, Decode, Encode, Sequence};
use hpki_core::keystore::{DigestSigning, Sha256Digest};
use hpki_core::Error;
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::{Attribute, Attributes};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const SHA256_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

/// ESS IssuerSerial (RFC 5035): the issuer as GeneralNames, and the serial number.
#[derive(Clone, Debug, Sequence)]
pub(crate) struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial_number: SerialNumber,
}

/// ESSCertIDv2 with the default hash algorithm (SHA-256, left out as DER asks).
#[derive(Clone, Debug, Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
    issuer_serial: IssuerSerial,
}

#[derive(Clone, Debug, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

fn der_error(e: der::Error) -> Error {
    Error::Internal(format!("encoding a signature: {e}"))
}

/// The signer's certificate, parsed.
pub(crate) fn parse(cert_der: &[u8]) -> Result<Certificate, Error> {
    Certificate::from_der(cert_der)
        .map_err(|e| Error::Internal(format!("a stored certificate: {e}")))
}

/// The certificate's ESS IssuerSerial, DER.
pub(crate) fn issuer_serial(cert: &Certificate) -> Result<Vec<u8>, Error> {
    ess_issuer_serial(cert).to_der().map_err(der_error)
}

fn ess_issuer_serial(cert: &Certificate) -> IssuerSerial {
    IssuerSerial {
        issuer: vec![GeneralName::DirectoryName(
            cert.tbs_certificate.issuer.clone(),
        )],
        serial_number: cert.tbs_certificate.serial_number.clone(),
    }
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, Error> {
    let mut values = SetOfVec::new();
    values.insert(value).map_err(der_error)?;
    Ok(Attribute { oid, values })
}

fn any<T: Encode>(value: &T) -> Result<Any, Error> {
    Any::from_der(&value.to_der().map_err(der_error)?).map_err(der_error)
}

/// The signed attributes of a CAdES-B-B signature over `digest` at `at`.
pub(crate) fn signed_attributes(
    digest: &Sha256Digest,
    cert_der: &[u8],
    at: DateTime<Utc>,
) -> Result<Attributes, Error> {
    let cert = parse(cert_der)?;
    let time = UtcTime::from_unix_duration(std::time::Duration::from_secs(
        u64::try_from(at.timestamp()).map_err(|_| Error::Internal("time before 1970".into()))?,
    ))
    .map_err(der_error)?;
    let signing_certificate = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            cert_hash: OctetString::new(Sha256::digest(cert_der).to_vec()).map_err(der_error)?,
            issuer_serial: ess_issuer_serial(&cert),
        }],
    };
    let mut attrs = SetOfVec::new();
    for a in [
        attribute(CONTENT_TYPE, any(&ID_DATA)?)?,
        attribute(SIGNING_TIME, any(&time)?)?,
        attribute(
            MESSAGE_DIGEST,
            any(&OctetString::new(digest.to_vec()).map_err(der_error)?)?,
        )?,
        attribute(SIGNING_CERTIFICATE_V2, any(&signing_certificate)?)?,
    ] {
        attrs.insert(a).map_err(der_error)?;
    }
    Ok(attrs)
}

/// What the signature is computed over: the DER of the signed attributes as a SET.
pub(crate) fn to_be_signed(attrs: &Attributes) -> Result<Sha256Digest, Error> {
    Ok(Sha256::digest(attrs.to_der().map_err(der_error)?).into())
}

/// The detached SignedData (a ContentInfo, DER) with the signer's certificate and chain.
pub(crate) fn assemble(
    attrs: Attributes,
    signature: Vec<u8>,
    scheme: DigestSigning,
    cert_der: &[u8],
    chain: &[Vec<u8>],
) -> Result<Vec<u8>, Error> {
    let cert = parse(cert_der)?;
    let sha256 = AlgorithmIdentifierOwned {
        oid: SHA256_OID,
        parameters: None,
    };
    let signature_algorithm = crate::algorithms::algorithm_identifier(scheme).map_err(der_error)?;
    let signer = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: cert.tbs_certificate.issuer.clone(),
            serial_number: cert.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: sha256.clone(),
        signed_attrs: Some(attrs),
        signature_algorithm,
        signature: OctetString::new(signature).map_err(der_error)?,
        unsigned_attrs: None,
    };
    let mut certificates = vec![CertificateChoices::Certificate(cert)];
    for c in chain {
        certificates.push(CertificateChoices::Certificate(parse(c)?));
    }
    let mut digest_algorithms = SetOfVec::new();
    digest_algorithms.insert(sha256).map_err(der_error)?;
    let signed = SignedData {
        version: CmsVersion::V1,
        digest_algorithms,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(
            SetOfVec::try_from(certificates).map_err(der_error)?,
        )),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer]).map_err(der_error)?),
    };
    ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: any(&signed)?,
    }
    .to_der()
    .map_err(der_error)
}
