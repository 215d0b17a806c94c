//! Reading a CA's certificate and key from a PKCS#12 file (RFC 7292) as OpenSSL 3 writes them:
//! PBES2 (PBKDF2 + AES) for the key bag and for the encrypted certificate bag. Older files
//! (RC2/3DES) are refused with a way out. The file's MAC (HMAC with a key from the password,
//! RFC 7292 appendix B) is checked before anything in it is read, so a changed file is refused
//! as such; the import then also checks that the key belongs to the certificate and that the
//! certificate chains to the root.

use aws_lc_rs::hmac;
use cms::content_info::ContentInfo;
use der::asn1::{Any, OctetString};
use der::{Decode, Encode};
use pkcs12::kdf::{derive_key_utf8, Pkcs12KeyType};
use pkcs12::mac_data::MacData;
use pkcs12::pfx::Pfx;
use pkcs12::safe_bag::SafeBag;

const ID_DATA: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_ENCRYPTED_DATA: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");
const ID_SHA1: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const ID_SHA256: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

/// Above this the file is refused rather than spending minutes deriving its MAC key.
const MAX_MAC_ITERATIONS: i32 = 10_000_000;

/// Why a PKCS#12 file could not be read: a sentence for the operator, with the way out where
/// there is one (the CLI puts the file's name in front).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Pkcs12Error(String);

impl From<String> for Pkcs12Error {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for Pkcs12Error {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl From<der::Error> for Pkcs12Error {
    fn from(e: der::Error) -> Self {
        Self(format!("a malformed PKCS#12 part: {e}"))
    }
}

/// HMAC over `content` with the PKCS#12 MAC key that `D` derives from `password` (RFC 7292
/// appendix B): equal to the file's MAC? (Compared in constant time.)
fn mac_matches<D>(
    mac: &MacData,
    algorithm: hmac::Algorithm,
    password: &str,
    content: &[u8],
) -> Result<bool, String>
where
    D: sha2::Digest + sha2::digest::FixedOutputReset + sha2::digest::core_api::BlockSizeUser,
{
    let key = derive_key_utf8::<D>(
        password,
        mac.mac_salt.as_bytes(),
        Pkcs12KeyType::Mac,
        mac.iterations,
        <D as sha2::Digest>::output_size(),
    )
    .map_err(|e| format!("the password cannot be used for PKCS#12: {e}"))?;
    let key = hmac::Key::new(algorithm, &key);
    Ok(hmac::verify(&key, content, mac.mac.digest.as_bytes()).is_ok())
}

/// Checks the file's MAC over `content` (the authenticated safe), refusing iteration counts
/// above `max_iterations`.
fn check_mac(
    mac: Option<&MacData>,
    password: &str,
    content: &[u8],
    max_iterations: i32,
) -> Result<(), String> {
    let Some(mac) = mac else {
        return Err(
            "the PKCS#12 file has no MAC, so a change to it could not be noticed; export it again without -nomac"
                .into(),
        );
    };
    if !(1..=max_iterations).contains(&mac.iterations) {
        return Err(format!(
            "the PKCS#12 MAC's iteration count {} is out of range",
            mac.iterations
        ));
    }
    let oid = mac.mac.algorithm.oid;
    let matches = match oid {
        ID_SHA256 => mac_matches::<sha2::Sha256>(mac, hmac::HMAC_SHA256, password, content)?,
        ID_SHA384 => mac_matches::<sha2::Sha384>(mac, hmac::HMAC_SHA384, password, content)?,
        ID_SHA512 => mac_matches::<sha2::Sha512>(mac, hmac::HMAC_SHA512, password, content)?,
        // Files of OpenSSL 1.1 (whose ciphers are refused further on, with a way out).
        ID_SHA1 => mac_matches::<sha1::Sha1>(
            mac,
            hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            password,
            content,
        )?,
        other => {
            return Err(format!(
                "the PKCS#12 MAC uses {other}, which is not supported; export the file with OpenSSL 3 defaults (openssl pkcs12 -export)"
            ))
        }
    };
    if matches {
        Ok(())
    } else {
        Err(
            "wrong password, or the file was changed after it was written (its MAC does not match)"
                .into(),
        )
    }
}

/// The certificate (DER) and the private key (PKCS#8 DER) in a PKCS#12 file.
pub fn read(bytes: &[u8], password: &str) -> Result<(Vec<u8>, Vec<u8>), Pkcs12Error> {
    let (mac, data) = authenticated_safe(bytes)?;
    check_mac(mac.as_ref(), password, &data, MAX_MAC_ITERATIONS)?;
    contents(&data, password)
}

/// The file's MAC and the authenticated safe's bytes (what the MAC covers).
fn authenticated_safe(bytes: &[u8]) -> Result<(Option<MacData>, Vec<u8>), Pkcs12Error> {
    let pfx = Pfx::from_der(bytes).map_err(|e| format!("not a PKCS#12 file: {e}"))?;
    if pfx.auth_safe.content_type != ID_DATA {
        return Err(
            "a public-key-protected PKCS#12 file is not supported; export it with a password"
                .into(),
        );
    }
    let data: OctetString = pfx.auth_safe.content.decode_as()?;
    Ok((pfx.mac_data, data.as_bytes().to_vec()))
}

/// The certificate and key in the authenticated safe (after its MAC was checked).
fn contents(data: &[u8], password: &str) -> Result<(Vec<u8>, Vec<u8>), Pkcs12Error> {
    let safes = Vec::<ContentInfo>::from_der(data)?;
    let (mut cert, mut key) = (None, None);
    for safe in safes {
        let contents = match safe.content_type {
            ID_DATA => safe.content.decode_as::<OctetString>()?.as_bytes().to_vec(),
            ID_ENCRYPTED_DATA => {
                let ed: cms::encrypted_data::EncryptedData = safe.content.decode_as()?;
                let info = ed.enc_content_info;
                let alg = info.content_enc_alg.to_der()?;
                let scheme = pkcs5::EncryptionScheme::from_der(&alg).map_err(|_| {
                    "the file is encrypted with a legacy cipher (RC2/3DES); re-export it with OpenSSL 3 defaults (openssl pkcs12 -export)"
                })?;
                let ciphertext = info
                    .encrypted_content
                    .ok_or("an encrypted bag without content")?;
                scheme
                    .decrypt(password, ciphertext.as_bytes())
                    .map_err(|_| "wrong password, or an unsupported cipher")?
            }
            other => return Err(format!("an unsupported PKCS#12 content type {other}").into()),
        };
        for bag in Vec::<SafeBag>::from_der(&contents)? {
            // bagValue is [0] EXPLICIT: the inner element is the wrapper's value.
            let inner = Any::from_der(&bag.bag_value)?;
            match bag.bag_id {
                pkcs12::PKCS_12_PKCS8_KEY_BAG_OID => {
                    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(inner.value())
                        .map_err(|e| format!("a malformed key bag: {e}"))?;
                    let clear = info
                        .decrypt(password.as_bytes())
                        .map_err(|_| "wrong password for the key, or an unsupported cipher")?;
                    key = Some(clear.as_bytes().to_vec());
                }
                pkcs12::PKCS_12_KEY_BAG_OID => key = Some(inner.value().to_vec()),
                pkcs12::PKCS_12_CERT_BAG_OID => {
                    let bag = pkcs12::cert_type::CertBag::from_der(inner.value())?;
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

/// The fuzz target's way in: the whole read with the MAC's iteration count capped low (so an
/// input is not a minutes-long key derivation), then the contents as if the MAC had matched
/// (a fuzzer cannot forge one, and the bag parsing behind it must not panic either).
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz(bytes: &[u8], password: &str) {
    if let Ok((mac, data)) = authenticated_safe(bytes) {
        let _ = check_mac(mac.as_ref(), password, &data, 64);
        let _ = contents(&data, password);
    }
    let _ = contents(bytes, password);
}
