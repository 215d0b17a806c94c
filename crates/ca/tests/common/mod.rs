//! What the CA's test files share: settings, a holder, OCSP requests.
#![allow(dead_code)]

use hpki_ca::CaService;

pub use hpki_ca::testing::settings;

/// The signing CA's certificate.
pub async fn signing_ca(ca: &CaService) -> x509_cert::Certificate {
    use der::DecodePem;
    let signing = ca
        .show()
        .await
        .expect("hierarchy")
        .into_iter()
        .find(|c| c.role == hpki_core::domain::CaRole::Signing)
        .expect("signing CA");
    x509_cert::Certificate::from_pem(signing.certificate.pem.as_bytes())
        .expect("signing CA certificate")
}

/// A serial as shown (hex, a leading zero nibble dropped) in whole bytes again.
pub fn serial_bytes(shown: &str) -> Vec<u8> {
    let even = if shown.len() % 2 == 1 {
        format!("0{shown}")
    } else {
        shown.to_owned()
    };
    hex::decode(&even).expect("a serial's hex digits")
}

/// An OCSP request (no nonce) for `serial` issued by the signing CA.
pub fn ocsp_request(signing_ca: &x509_cert::Certificate, serial: &[u8]) -> Vec<u8> {
    use der::Encode;
    use sha1::Digest;
    let tbs = &signing_ca.tbs_certificate;
    let name = tbs.subject.to_der().expect("name");
    let key = tbs.subject_public_key_info.subject_public_key.raw_bytes();
    let cert_id = x509_ocsp::CertId {
        hash_algorithm: spki::AlgorithmIdentifierOwned {
            oid: "1.3.14.3.2.26".parse().expect("sha1"),
            parameters: Some(der::asn1::Null.into()),
        },
        issuer_name_hash: der::asn1::OctetString::new(sha1::Sha1::digest(&name).to_vec())
            .expect("hash"),
        issuer_key_hash: der::asn1::OctetString::new(sha1::Sha1::digest(key).to_vec())
            .expect("hash"),
        serial_number: x509_cert::serial_number::SerialNumber::new(serial).expect("serial"),
    };
    x509_ocsp::OcspRequest {
        tbs_request: x509_ocsp::TbsRequest {
            version: x509_ocsp::Version::V1,
            requestor_name: None,
            request_list: vec![x509_ocsp::Request {
                req_cert: cert_id,
                single_request_extensions: None,
            }],
            request_extensions: None,
        },
        optional_signature: None,
    }
    .to_der()
    .expect("request")
}
