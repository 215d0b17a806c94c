//! Reading a CA's certificate and key from a PKCS#12 file (RFC 7292) as OpenSSL 3 writes them:
//! PBES2 (PBKDF2 + AES) for the key bag and for the encrypted certificate bag. Older files
//! (RC2/3DES) are refused with a way out. The MAC is not checked: the import itself checks that
//! the key belongs to the certificate and that the certificate chains to the root.

use cms::content_info::ContentInfo;
use der::asn1::{Any, OctetString};
use der::{Decode, Encode};
use pkcs12::pfx::Pfx;
use pkcs12::safe_bag::SafeBag;

const ID_DATA: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_ENCRYPTED_DATA: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");

/// The certificate (DER) and the private key (PKCS#8 DER) in a PKCS#12 file.
pub fn read(bytes: &[u8], password: &str) -> Result<(Vec<u8>, Vec<u8>), String> {
    let pfx = Pfx::from_der(bytes).map_err(|e| format!("not a PKCS#12 file: {e}"))?;
    if pfx.auth_safe.content_type != ID_DATA {
        return Err(
            "a public-key-protected PKCS#12 file is not supported; export it with a password"
                .into(),
        );
    }
    let data: OctetString = pfx
        .auth_safe
        .content
        .decode_as()
        .map_err(|e| e.to_string())?;
    let safes = Vec::<ContentInfo>::from_der(data.as_bytes()).map_err(|e| e.to_string())?;
    let (mut cert, mut key) = (None, None);
    for safe in safes {
        let contents = match safe.content_type {
            ID_DATA => safe
                .content
                .decode_as::<OctetString>()
                .map_err(|e| e.to_string())?
                .as_bytes()
                .to_vec(),
            ID_ENCRYPTED_DATA => {
                let ed: cms::encrypted_data::EncryptedData =
                    safe.content.decode_as().map_err(|e| e.to_string())?;
                let info = ed.enc_content_info;
                let alg = info.content_enc_alg.to_der().map_err(|e| e.to_string())?;
                let scheme = pkcs5::EncryptionScheme::from_der(&alg).map_err(|_| {
                    "the file is encrypted with a legacy cipher (RC2/3DES); re-export it with OpenSSL 3 defaults (openssl pkcs12 -export)".to_owned()
                })?;
                let ciphertext = info
                    .encrypted_content
                    .ok_or("an encrypted bag without content")?;
                scheme
                    .decrypt(password, ciphertext.as_bytes())
                    .map_err(|_| "wrong password, or an unsupported cipher".to_owned())?
            }
            other => return Err(format!("an unsupported PKCS#12 content type {other}")),
        };
        for bag in Vec::<SafeBag>::from_der(&contents).map_err(|e| e.to_string())? {
            // bagValue is [0] EXPLICIT: the inner element is the wrapper's value.
            let inner = Any::from_der(&bag.bag_value).map_err(|e| e.to_string())?;
            match bag.bag_id {
                pkcs12::PKCS_12_PKCS8_KEY_BAG_OID => {
                    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(inner.value())
                        .map_err(|e| e.to_string())?;
                    let clear = info.decrypt(password.as_bytes()).map_err(|_| {
                        "wrong password for the key, or an unsupported cipher".to_owned()
                    })?;
                    key = Some(clear.as_bytes().to_vec());
                }
                pkcs12::PKCS_12_KEY_BAG_OID => key = Some(inner.value().to_vec()),
                pkcs12::PKCS_12_CERT_BAG_OID => {
                    let bag = pkcs12::cert_type::CertBag::from_der(inner.value())
                        .map_err(|e| e.to_string())?;
                    // Files with the chain hold several certificates: the first is the owner's
                    // as OpenSSL writes them; the import checks key and chain anyway.
                    if bag.cert_id == pkcs12::PKCS_12_X509_CERT_OID && cert.is_none() {
                        cert = Some(bag.cert_value.as_bytes().to_vec());
                    }
                }
                _ => {}
            }
        }
    }
    match (cert, key) {
        (Some(c), Some(k)) => Ok((c, k)),
        (None, _) => Err("the file holds no certificate".into()),
        (_, None) => Err("the file holds no private key".into()),
    }
}
