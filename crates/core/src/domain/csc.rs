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
            Self::RsaPss { .. } => oids::RSASSA_PSS,
            Self::Ecdsa => oids::ECDSA_WITH_SHA256,
        }
    }
}

/// What a holder is asked to authorize with the passkey (SCAL2, CSC `oauth2/authorize` with
/// `scope=credential`): these hashes, with this credential, for the relying system of the
/// authorization. The labels (document names the relying system gives, one per hash, may be
/// empty) and the description are shown to the holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialConsent {
    pub credential: CredentialId,
    pub hashes: Vec<Sha256Digest>,
    pub labels: Vec<String>,
    pub description: Option<String>,
}

/// The most hashes one consent covers.
pub const MAX_CONSENT_HASHES: usize = 100;

impl CredentialConsent {
    /// What the holder authorized, as RFC 9396 `authorization_details` of type `credential`
    /// (CSC v2): what the token response says it grants.
    pub fn authorization_details(&self) -> serde_json::Value {
        use base64::Engine;
        let digests: Vec<serde_json::Value> = self
            .hashes
            .iter()
            .zip(
                self.labels
                    .iter()
                    .map(String::as_str)
                    .chain(std::iter::repeat("")),
            )
            .map(|(h, label)| {
                let mut d = serde_json::json!({
                    "hash": base64::engine::general_purpose::STANDARD.encode(h),
                });
                if !label.is_empty() {
                    d["label"] = serde_json::json!(label);
                }
                d
            })
            .collect();
        serde_json::json!([{
            "type": "credential",
            "credentialID": self.credential.to_string(),
            "hashAlgorithmOID": oids::SHA256,
            "documentDigests": digests,
        }])
    }

    /// Reads a CSC `oauth2/authorize` request for `scope=credential`: `credentialID`,
    /// `numSignatures`, the hashes (v1 `hash`, v2 `hashes`: comma-separated, Base64 or
    /// Base64url), `hashAlgorithmOID` (SHA-256 only), `description`, or v2's
    /// `authorization_details` (`[{"type": "credential", "credentialID", "documentDigests":
    /// [{"hash", "label"}], "hashAlgorithmOID"}]`), which also names the documents. The error
    /// is for the relying system.
    pub fn parse(r: &ConsentRequest) -> Result<Self, String> {
        use base64::Engine;
        let sha256_only = |oid: Option<&str>| match oid.map(str::trim) {
            None | Some("") => Ok(()),
            Some(oids::SHA256) => Ok(()),
            Some(other) => Err(format!(
                "hashAlgorithmOID {other} is not supported; hashes must be SHA-256 ({})",
                oids::SHA256
            )),
        };
        let decode = |h: &str| -> Result<Sha256Digest, String> {
            let h = h.trim();
            base64::engine::general_purpose::STANDARD
                .decode(h)
                .or_else(|_| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(h.trim_end_matches('='))
                })
                .ok()
                .and_then(|d| Sha256Digest::try_from(d.as_slice()).ok())
                .ok_or_else(|| format!("{h:?} is not the Base64 of a SHA-256 digest (32 bytes)"))
        };
        let (credential, hashes, labels) = if let Some(details) = r
            .authorization_details
            .as_deref()
            .filter(|d| !d.trim().is_empty())
        {
            let v: serde_json::Value = serde_json::from_str(details)
                .map_err(|e| format!("authorization_details is not JSON: {e}"))?;
            let detail = v
                .as_array()
                .and_then(|a| a.iter().find(|d| d["type"] == "credential"))
                .ok_or("authorization_details has no entry of type credential")?;
            sha256_only(detail["hashAlgorithmOID"].as_str())?;
            let digests = detail["documentDigests"]
                .as_array()
                .ok_or("authorization_details has no documentDigests")?;
            let mut hashes = Vec::new();
            let mut labels = Vec::new();
            for d in digests {
                hashes.push(decode(
                    d["hash"].as_str().ok_or("a documentDigest has no hash")?,
                )?);
                labels.push(d["label"].as_str().unwrap_or("").trim().to_owned());
            }
            (
                detail["credentialID"].as_str().map(str::to_owned),
                hashes,
                labels,
            )
        } else {
            sha256_only(r.hash_algorithm_oid.as_deref())?;
            let text = r.hashes.as_deref().or(r.hash.as_deref()).unwrap_or("");
            let hashes = text
                .split(',')
                .filter(|h| !h.trim().is_empty())
                .map(decode)
                .collect::<Result<Vec<_>, _>>()?;
            let labels = vec![String::new(); hashes.len()];
            (r.credential_id.clone(), hashes, labels)
        };
        let credential =
            CredentialId::parse(credential.as_deref().unwrap_or("")).map_err(|e| e.message)?;
        if hashes.is_empty() {
            return Err(
                "give the hashes to be signed (hash, hashes or authorization_details)".into(),
            );
        }
        if hashes.len() > MAX_CONSENT_HASHES {
            return Err(format!(
                "at most {MAX_CONSENT_HASHES} hashes in one authorization"
            ));
        }
        if let Some(n) = r
            .num_signatures
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            if n.parse::<usize>().ok() != Some(hashes.len()) {
                return Err(format!(
                    "numSignatures is {n}, but {} hashes were given",
                    hashes.len()
                ));
            }
        }
        if labels
            .iter()
            .any(|l| l.chars().count() > 200 || l.chars().any(char::is_control))
        {
            return Err(
                "a document label is longer than 200 characters or has control characters".into(),
            );
        }
        let description = r
            .description
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_owned);
        if description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 500 || d.chars().any(char::is_control))
        {
            return Err(
                "description is longer than 500 characters or has control characters".into(),
            );
        }
        Ok(Self {
            credential,
            hashes,
            labels,
            description,
        })
    }

    /// As stored with the authorization (JSON).
    pub fn to_stored(&self) -> String {
        serde_json::json!({
            "credential": self.credential.to_string(),
            "hashes": self.hashes.iter().map(hex::encode).collect::<Vec<_>>(),
            "labels": self.labels,
            "description": self.description,
        })
        .to_string()
    }

    pub fn from_stored(s: &str) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_str(s).ok()?;
        Some(Self {
            credential: CredentialId::parse(v["credential"].as_str()?).ok()?,
            hashes: hashes_from_stored(&v["hashes"].to_string())?,
            labels: v["labels"]
                .as_array()?
                .iter()
                .map(|l| l.as_str().map(str::to_owned))
                .collect::<Option<_>>()?,
            description: v["description"].as_str().map(str::to_owned),
        })
    }

    /// What the holder's passkey assertion is bound to: SHA-256 over the relying system, the
    /// credential and every hash, in order (recorded with the assertion's challenge in the
    /// audit event of the consent).
    pub fn commitment(&self, client_id: &ClientId) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"hpki-second credential consent\n");
        h.update(client_id.as_str().as_bytes());
        h.update(b"\n");
        h.update(self.credential.to_string().as_bytes());
        for d in &self.hashes {
            h.update(b"\n");
            h.update(d);
        }
        hex::encode(h.finalize())
    }
}

/// The CSC-specific parameters of an `oauth2/authorize` request, unchecked.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
pub struct ConsentRequest {
    #[serde(rename = "credentialID")]
    pub credential_id: Option<String>,
    #[serde(rename = "numSignatures")]
    pub num_signatures: Option<String>,
    pub hash: Option<String>,
    pub hashes: Option<String>,
    #[serde(rename = "hashAlgorithmOID")]
    pub hash_algorithm_oid: Option<String>,
    pub description: Option<String>,
    pub authorization_details: Option<String>,
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
    fn consents_round_trip_and_commit_to_everything() {
        let c = CredentialConsent {
            credential: CredentialId::parse("123456-jpa/second").expect("id"),
            hashes: vec![[1; 32], [2; 32]],
            labels: vec!["処方箋 1".into(), String::new()],
            description: Some("2 prescriptions".into()),
        };
        assert_eq!(
            CredentialConsent::from_stored(&c.to_stored()),
            Some(c.clone())
        );
        let client = ClientId::parse("hsc_0123456789abcdef01234567").expect("client");
        let other = ClientId::parse("hsc_fedcba9876543210fedcba98").expect("client");
        let swapped = CredentialConsent {
            hashes: vec![[2; 32], [1; 32]],
            ..c.clone()
        };
        assert_ne!(c.commitment(&client), c.commitment(&other));
        assert_ne!(c.commitment(&client), swapped.commitment(&client));
    }

    #[test]
    fn stored_hashes_round_trip() {
        let h = vec![[1u8; 32], [2u8; 32]];
        assert_eq!(hashes_from_stored(&hashes_to_stored(&h)), Some(h));
        assert_eq!(hashes_from_stored("[\"00\"]"), None);
    }
}
