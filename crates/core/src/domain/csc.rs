//! Remote signing through the Cloud Signature Consortium API: which relying systems may sign
//! how, the holder's credential, signature activation data (SAD).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::oidc::ClientId;
use super::{InvalidInput, Username};
use crate::keystore::{DigestSigning, Sha256Digest};

/// How a relying system may have a holder's signatures made (`client add --signing`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SigningModes {
    /// SCAL1: the signing session of a sign-in authorizes signatures for its whole length
    /// (the live service's 18 hours), without asking the holder again.
    pub session: bool,
    /// SCAL2: each signature is authorized by the holder for exactly the hashes to be signed.
    pub consent: bool,
}

impl SigningModes {
    pub const NONE: Self = Self {
        session: false,
        consent: false,
    };

    /// `none`, `scal1`, `scal2`, or both (`scal1,scal2`).
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let mut modes = Self::NONE;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.to_ascii_lowercase().as_str() {
                "none" => {}
                "scal1" | "session" => modes.session = true,
                "scal2" | "consent" => modes.consent = true,
                other => {
                    return Err(InvalidInput::new(
                        "signing",
                        format!("{other:?} must be none, scal1, scal2 or scal1,scal2"),
                    ))
                }
            }
        }
        Ok(modes)
    }

    pub fn as_str(self) -> &'static str {
        match (self.session, self.consent) {
            (false, false) => "none",
            (true, false) => "scal1",
            (false, true) => "scal2",
            (true, true) => "scal1,scal2",
        }
    }

    pub fn allows(self, mode: SigningMode) -> bool {
        match mode {
            SigningMode::Session => self.session,
            SigningMode::Consent => self.consent,
        }
    }
}

/// How one signature was authorized.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum SigningMode {
    /// SCAL1: within the signing session of a sign-in.
    #[serde(rename = "scal1")]
    Session,
    /// SCAL2: the holder confirmed these very hashes with the passkey.
    #[serde(rename = "scal2")]
    Consent,
}

impl SigningMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "scal1",
            Self::Consent => "scal2",
        }
    }

    pub fn from_stored(s: &str) -> Option<Self> {
        match s {
            "scal1" => Some(Self::Session),
            "scal2" => Some(Self::Consent),
            _ => None,
        }
    }

    /// The CSC `SCAL` value.
    pub fn scal(self) -> u8 {
        match self {
            Self::Session => 1,
            Self::Consent => 2,
        }
    }
}

/// A holder's CSC credential: their second certificate and its key. The ID names the holder,
/// not a certificate, so it stays the same when the certificate is renewed (`credentials/info`
/// then shows the new certificate).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CredentialId(Username);

const CREDENTIAL_SUFFIX: &str = "/second";

impl CredentialId {
    pub fn of(holder: &Username) -> Self {
        Self(holder.clone())
    }

    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let bad = || {
            InvalidInput::new(
                "credentialID",
                format!(
                    "{s:?} is not a credential of this service (they look like 123456-jpa/second)"
                ),
            )
        };
        let username = s.trim().strip_suffix(CREDENTIAL_SUFFIX).ok_or_else(bad)?;
        Username::parse(username).map(Self).map_err(|_| bad())
    }

    pub fn holder(&self) -> &Username {
        &self.0
    }
}

impl std::fmt::Display for CredentialId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{CREDENTIAL_SUFFIX}", self.0)
    }
}

/// Object identifiers of the CSC API's algorithms.
pub mod oids {
    pub const SHA256: &str = "2.16.840.1.101.3.4.2.1";
    pub const RSA: &str = "1.2.840.113549.1.1.1";
    pub const SHA256_WITH_RSA: &str = "1.2.840.113549.1.1.11";
    pub const RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
    pub const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
    pub const ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";
}

impl DigestSigning {
    /// The `signAlgo` OID that names this scheme in `credentials/info` and `signHash`.
    pub fn oid(self) -> &'static str {
        match self {
            Self::RsaPkcs1 => oids::SHA256_WITH_RSA,
            Self::RsaPss => oids::RSASSA_PSS,
            Self::Ecdsa => oids::ECDSA_WITH_SHA256,
        }
    }
}

/// Signature activation data, as stored: the SAD itself only as its hash.
#[derive(Clone, Debug)]
pub struct NewSad {
    pub sad_hash: String,
    /// The signing session (OIDC authorization) it was given in.
    pub session_id: i64,
    pub holder_id: i64,
    pub client_id: ClientId,
    pub mode: SigningMode,
    /// The hashes it may sign, when bound to hashes; each signs once.
    pub hashes: Option<Vec<Sha256Digest>>,
    /// How many signatures it may still make.
    pub remaining: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct Sad {
    pub id: i64,
    pub sad: NewSad,
}

/// Hex of the stored hash list (the JSON kept in the database).
pub fn hashes_to_stored(hashes: &[Sha256Digest]) -> String {
    let hex: Vec<String> = hashes.iter().map(hex::encode).collect();
    serde_json::to_string(&hex).unwrap_or_else(|_| "[]".to_owned())
}

pub fn hashes_from_stored(s: &str) -> Option<Vec<Sha256Digest>> {
    let hex: Vec<String> = serde_json::from_str(s).ok()?;
    hex.iter()
        .map(|h| hex::decode(h).ok()?.try_into().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_modes_read_and_write_back() {
        for s in ["none", "scal1", "scal2", "scal1,scal2"] {
            assert_eq!(SigningModes::parse(s).expect(s).as_str(), s);
        }
        assert_eq!(
            SigningModes::parse(" SCAL2 , scal1 ")
                .expect("both")
                .as_str(),
            "scal1,scal2"
        );
        assert!(SigningModes::parse("scal3").is_err());
    }

    #[test]
    fn credential_ids_name_the_holder() {
        let id = CredentialId::parse("123456-jpa/second").expect("parses");
        assert_eq!(id.holder().to_string(), "123456-jpa");
        assert_eq!(id.to_string(), "123456-jpa/second");
        for bad in ["123456-jpa", "x/second", "", "123456-jpa/second/x"] {
            assert!(CredentialId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stored_hashes_round_trip() {
        let h = vec![[1u8; 32], [2u8; 32]];
        assert_eq!(hashes_from_stored(&hashes_to_stored(&h)), Some(h));
        assert_eq!(hashes_from_stored("[\"00\"]"), None);
    }
}
