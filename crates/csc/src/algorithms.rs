//! What a `signHash` call's `signAlgo`, `signAlgoParams` and `hashAlgo` name, read into one
//! of the ways the keystore signs a SHA-256 digest.

use base64::Engine;
use der::asn1::ObjectIdentifier;
use der::{Decode, Sequence, Tagged};
use hpki_core::domain::csc::oids;
use hpki_core::keystore::{DigestSigning, KeyAlgorithm};
use spki::AlgorithmIdentifierOwned;

/// A signature algorithm this service signs hashes with (always over SHA-256).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignAlgorithm(pub DigestSigning);

/// RSASSA-PSS-params (RFC 8017 A.2.3); absent fields take their (SHA-1) defaults, which this
/// service does not sign with.
#[derive(Sequence)]
struct PssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mask_gen: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt_length: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer_field: Option<u32>,
}

const MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap(oids::SHA256);
/// RFC 8017's default salt length (with its default hash, SHA-1, which is never used here).
const DEFAULT_SALT: u16 = 20;

/// The AlgorithmIdentifier that names `scheme` in a signature a service makes (CMS): for
/// RSA-PSS with its RSASSA-PSS-params (SHA-256, MGF1 with SHA-256, the salt; DER leaves out a
/// salt of 20, the default).
pub(crate) fn algorithm_identifier(
    scheme: DigestSigning,
) -> Result<AlgorithmIdentifierOwned, der::Error> {
    let oid = |s: &str| ObjectIdentifier::new(s);
    Ok(match scheme {
        DigestSigning::RsaPkcs1 => AlgorithmIdentifierOwned {
            oid: oid(oids::SHA256_WITH_RSA)?,
            parameters: Some(der::Any::null()),
        },
        DigestSigning::Ecdsa => AlgorithmIdentifierOwned {
            oid: oid(oids::ECDSA_WITH_SHA256)?,
            parameters: None,
        },
        DigestSigning::RsaPss { salt } => {
            let sha256 = AlgorithmIdentifierOwned {
                oid: SHA256,
                parameters: Some(der::Any::null()),
            };
            let params = PssParams {
                hash: Some(sha256.clone()),
                mask_gen: Some(AlgorithmIdentifierOwned {
                    oid: MGF1,
                    parameters: Some(der::Any::encode_from(&sha256)?),
                }),
                salt_length: (salt != DEFAULT_SALT).then_some(u32::from(salt)),
                trailer_field: None,
            };
            AlgorithmIdentifierOwned {
                oid: oid(oids::RSASSA_PSS)?,
                parameters: Some(der::Any::encode_from(&params)?),
            }
        }
    })
}

impl SignAlgorithm {
    pub const ALL: [SignAlgorithm; 3] = [
        Self(DigestSigning::RsaPkcs1),
        Self(DigestSigning::RSA_PSS_SHA256),
        Self(DigestSigning::Ecdsa),
    ];

    pub fn oid(self) -> &'static str {
        self.0.oid()
    }

    /// The `key.algo` list of a key: what `signAlgo` may name for it.
    pub fn for_key(algorithm: KeyAlgorithm) -> Vec<&'static str> {
        let mut oids: Vec<&'static str> = DigestSigning::for_key(algorithm)
            .iter()
            .map(|s| s.oid())
            .collect();
        // v1 clients may name the key's algorithm and give the hash apart (hashAlgo).
        oids.push(match algorithm {
            KeyAlgorithm::Rsa2048 => oids::RSA,
            KeyAlgorithm::EcdsaP256 => oids::EC_PUBLIC_KEY,
        });
        oids
    }

    /// Reads `signAlgo` (an OID), `signAlgoParams` (Base64 DER, for RSA-PSS) and `hashAlgo`
    /// (an OID; needed when `signAlgo` names only the key's algorithm). The error says what
    /// to send instead.
    pub fn parse(
        sign_algo: Option<&str>,
        params: Option<&str>,
        hash_algo: Option<&str>,
    ) -> Result<Self, String> {
        let Some(sign_algo) = sign_algo.map(str::trim).filter(|s| !s.is_empty()) else {
            return Err("Missing (or invalid type) string parameter signAlgo".into());
        };
        let hash = hash_algo.map(str::trim).filter(|s| !s.is_empty());
        if let Some(h) = hash {
            if h != oids::SHA256 {
                return Err(format!(
                    "Invalid parameter hashAlgo: {h} is not supported; hashes must be SHA-256 ({})",
                    oids::SHA256
                ));
            }
        }
        let scheme = match sign_algo {
            oids::SHA256_WITH_RSA => DigestSigning::RsaPkcs1,
            oids::ECDSA_WITH_SHA256 => DigestSigning::Ecdsa,
            oids::RSA | oids::EC_PUBLIC_KEY if hash.is_none() => {
                return Err(format!(
                    "Missing parameter hashAlgo: signAlgo {sign_algo} needs hashAlgo {}",
                    oids::SHA256
                ))
            }
            oids::RSA => DigestSigning::RsaPkcs1,
            oids::EC_PUBLIC_KEY => DigestSigning::Ecdsa,
            oids::RSASSA_PSS => {
                let salt = pss_salt(params)?;
                return Ok(Self(DigestSigning::RsaPss { salt }));
            }
            other => {
                return Err(format!(
                    "Invalid parameter signAlgo: {other} is not supported (use {}, {} or {})",
                    oids::SHA256_WITH_RSA,
                    oids::RSASSA_PSS,
                    oids::ECDSA_WITH_SHA256
                ))
            }
        };
        if params.is_some_and(|p| !p.trim().is_empty()) {
            return Err(format!(
                "Invalid parameter signAlgoParams: signAlgo {sign_algo} takes none"
            ));
        }
        Ok(Self(scheme))
    }
}

/// RSA-PSS is signed with SHA-256 and MGF1 with SHA-256, with the salt length the parameters
/// name (absent, RFC 8017's default of 20 bytes); whether the key can carry that salt is the
/// keystore's rule ([`DigestSigning::fits`]).
fn pss_salt(params: Option<&str>) -> Result<u16, String> {
    const RULE: &str =
        "RSASSA-PSS is signed with SHA-256 and MGF1 with SHA-256 (with any salt length the key can carry)";
    let Some(b64) = params.map(str::trim).filter(|p| !p.is_empty()) else {
        return Err(format!("Missing parameter signAlgoParams: {RULE}"));
    };
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "Invalid parameter signAlgoParams: not Base64".to_owned())?;
    let p = PssParams::from_der(&der)
        .map_err(|_| "Invalid parameter signAlgoParams: not DER RSASSA-PSS-params".to_owned())?;
    let sha256 = |a: &AlgorithmIdentifierOwned| {
        a.oid == SHA256
            && a.parameters
                .as_ref()
                .is_none_or(|p| p.tag() == der::Tag::Null)
    };
    let mgf1_sha256 = |a: &AlgorithmIdentifierOwned| {
        a.oid == MGF1
            && a.parameters
                .as_ref()
                .and_then(|p| p.decode_as::<AlgorithmIdentifierOwned>().ok())
                .is_some_and(|h| sha256(&h))
    };
    let ok = p.hash.as_ref().is_some_and(sha256)
        && p.mask_gen.as_ref().is_some_and(mgf1_sha256)
        && p.trailer_field.is_none_or(|t| t == 1);
    if !ok {
        return Err(format!("Invalid parameter signAlgoParams: {RULE}"));
    }
    u16::try_from(p.salt_length.unwrap_or(u32::from(DEFAULT_SALT))).map_err(|_| {
        format!(
            "Invalid parameter signAlgoParams: a salt of {} bytes is longer than any key can carry",
            p.salt_length.unwrap_or_default()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RSASSA-PSS-params for SHA-256 / MGF1-SHA-256 / salt 32, as openssl and asn1crypto write
    /// them (hash parameters NULL).
    const PSS_SHA256: &str =
        "MDSgDzANBglghkgBZQMEAgEFAKEcMBoGCSqGSIb3DQEBCDANBglghkgBZQMEAgEFAKIDAgEg";
    /// The same with a salt of 222 bytes.
    const PSS_SHA256_SALT_222: &str =
        "MDWgDzANBglghkgBZQMEAgEFAKEcMBoGCSqGSIb3DQEBCDANBglghkgBZQMEAgEFAKIEAgIA3g==";

    #[test]
    fn sign_algorithms_are_read() {
        let p = |a: &str, params: Option<&str>, h: Option<&str>| {
            SignAlgorithm::parse(Some(a), params, h)
        };
        assert_eq!(
            p(oids::SHA256_WITH_RSA, None, Some(oids::SHA256)),
            Ok(SignAlgorithm(DigestSigning::RsaPkcs1))
        );
        assert_eq!(
            p(oids::RSA, None, Some(oids::SHA256)),
            Ok(SignAlgorithm(DigestSigning::RsaPkcs1))
        );
        assert_eq!(
            p(oids::ECDSA_WITH_SHA256, None, None),
            Ok(SignAlgorithm(DigestSigning::Ecdsa))
        );
        assert_eq!(
            p(oids::RSASSA_PSS, Some(PSS_SHA256), None),
            Ok(SignAlgorithm(DigestSigning::RsaPss { salt: 32 }))
        );
        // pyHanko's own choice for RSA-2048: the longest salt the key allows.
        assert_eq!(
            p(oids::RSASSA_PSS, Some(PSS_SHA256_SALT_222), None),
            Ok(SignAlgorithm(DigestSigning::RsaPss { salt: 222 }))
        );
        assert!(p(oids::RSA, None, None)
            .expect_err("refused")
            .contains("hashAlgo"));
        assert!(p(oids::SHA256_WITH_RSA, None, Some("1.3.14.3.2.26"))
            .expect_err("refused")
            .contains("SHA-256"));
        assert!(p("1.2.840.113549.1.1.5", None, None)
            .expect_err("refused")
            .contains("not supported"));
        assert!(p(oids::RSASSA_PSS, None, None)
            .expect_err("refused")
            .contains("Missing parameter signAlgoParams"));
        assert!(p(oids::RSASSA_PSS, Some("MAA="), None)
            .expect_err("refused")
            .contains("MGF1 with SHA-256"));
        assert!(p(oids::RSASSA_PSS, Some("!!"), None)
            .expect_err("refused")
            .contains("Base64"));
        assert!(SignAlgorithm::parse(None, None, None)
            .expect_err("refused")
            .contains("signAlgo"));
    }

    /// What the service writes into a CMS names the scheme as clients write it: the PSS
    /// parameters read back to the same salt, byte for byte as openssl and asn1crypto encode
    /// them.
    #[test]
    fn algorithm_identifiers_read_back_as_their_schemes() {
        use der::Encode;
        for salt in [0, 20, 32, 222] {
            let id = algorithm_identifier(DigestSigning::RsaPss { salt }).expect("encoded");
            assert_eq!(id.oid.to_string(), oids::RSASSA_PSS);
            let params = id.parameters.expect("params").to_der().expect("der");
            let b64 = base64::engine::general_purpose::STANDARD.encode(&params);
            assert_eq!(
                p_parse(&b64),
                Ok(SignAlgorithm(DigestSigning::RsaPss { salt })),
                "salt {salt}"
            );
            if salt == 32 {
                assert_eq!(b64, PSS_SHA256);
            }
            if salt == 222 {
                assert_eq!(b64, PSS_SHA256_SALT_222);
            }
        }
        let rsa = algorithm_identifier(DigestSigning::RsaPkcs1).expect("encoded");
        assert_eq!(rsa.oid.to_string(), oids::SHA256_WITH_RSA);
        let ec = algorithm_identifier(DigestSigning::Ecdsa).expect("encoded");
        assert_eq!(
            (ec.oid.to_string().as_str(), ec.parameters),
            (oids::ECDSA_WITH_SHA256, None)
        );
    }

    fn p_parse(params: &str) -> Result<SignAlgorithm, String> {
        SignAlgorithm::parse(Some(oids::RSASSA_PSS), Some(params), None)
    }
}
