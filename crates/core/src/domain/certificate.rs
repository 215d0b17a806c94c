//! Certificates as the registry keeps them: which CA issued them, for whom, and their status.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::InvalidInput;
use crate::keystore::{KeyAlgorithm, KeyRef};

/// The three CAs of the hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaRole {
    Root,
    /// Issues signing certificates (nonRepudiation): second certificates and card signing ones.
    Signing,
    /// Issues authentication certificates (digitalSignature) for HPKI cards.
    Authentication,
}

impl CaRole {
    pub const ALL: [CaRole; 3] = [CaRole::Root, CaRole::Signing, CaRole::Authentication];

    /// Also the name of its CRL: `/crl/{as_str}.crl`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::Signing => "sign",
            Self::Authentication => "auth",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What a certificate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateKind {
    Ca(CaRole),
    /// The holder's second certificate: key held by the service, signing profile.
    Second,
    /// An HPKI card's signing certificate (key on the card).
    CardSigning,
    /// An HPKI card's authentication certificate (key on the card).
    CardAuthentication,
    /// The delegated OCSP responder of an issuing CA (id-kp-OCSPSigning, ocsp-nocheck).
    OcspResponder(CaRole),
}

impl CertificateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ca(CaRole::Root) => "ca-root",
            Self::Ca(CaRole::Signing) => "ca-sign",
            Self::Ca(CaRole::Authentication) => "ca-auth",
            Self::Second => "second",
            Self::CardSigning => "card-sign",
            Self::CardAuthentication => "card-auth",
            Self::OcspResponder(CaRole::Root) => "ocsp-root",
            Self::OcspResponder(CaRole::Signing) => "ocsp-sign",
            Self::OcspResponder(CaRole::Authentication) => "ocsp-auth",
        }
    }

    pub fn from_stored(s: &str) -> Option<Self> {
        Some(match s {
            "ca-root" => Self::Ca(CaRole::Root),
            "ca-sign" => Self::Ca(CaRole::Signing),
            "ca-auth" => Self::Ca(CaRole::Authentication),
            "second" => Self::Second,
            "card-sign" => Self::CardSigning,
            "card-auth" => Self::CardAuthentication,
            "ocsp-root" => Self::OcspResponder(CaRole::Root),
            "ocsp-sign" => Self::OcspResponder(CaRole::Signing),
            "ocsp-auth" => Self::OcspResponder(CaRole::Authentication),
            _ => return None,
        })
    }
}

/// A certificate serial number as lowercase hex (as `openssl x509 -serial` prints it, lowercased).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Serial(String);

impl Serial {
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let t = s
            .trim()
            .trim_start_matches("0x")
            .replace(':', "")
            .to_ascii_lowercase();
        if t.is_empty() || t.len() > 40 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InvalidInput::new(
                "serial",
                format!("{s:?} is not a serial number in hex (at most 20 bytes)"),
            ));
        }
        // One canonical form: no leading zero nibbles beyond what a byte needs.
        let t = t.trim_start_matches('0');
        let t = if t.is_empty() {
            "0".to_owned()
        } else {
            t.to_owned()
        };
        Ok(Self(t))
    }

    /// A serial read back from storage, already in the canonical form (checked, not rebuilt).
    pub fn from_stored(s: String) -> Option<Self> {
        let canonical = !s.is_empty()
            && s.len() <= 40
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && (s == "0" || !s.starts_with('0'));
        canonical.then_some(Self(s))
    }

    pub fn from_bytes(bytes: &[u8]) -> Self {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let t = hex.trim_start_matches('0');
        Self(if t.is_empty() {
            "0".to_owned()
        } else {
            t.to_owned()
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// RFC 5280 CRLReason values the CA uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    PrivilegeWithdrawn,
}

impl RevocationReason {
    const ALL: [RevocationReason; 7] = [
        Self::Unspecified,
        Self::KeyCompromise,
        Self::CaCompromise,
        Self::AffiliationChanged,
        Self::Superseded,
        Self::CessationOfOperation,
        Self::PrivilegeWithdrawn,
    ];

    /// The CRLReason enumeration value.
    pub fn code(self) -> u8 {
        match self {
            Self::Unspecified => 0,
            Self::KeyCompromise => 1,
            Self::CaCompromise => 2,
            Self::AffiliationChanged => 3,
            Self::Superseded => 4,
            Self::CessationOfOperation => 5,
            Self::PrivilegeWithdrawn => 9,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "keyCompromise",
            Self::CaCompromise => "cACompromise",
            Self::AffiliationChanged => "affiliationChanged",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessationOfOperation",
            Self::PrivilegeWithdrawn => "privilegeWithdrawn",
        }
    }

    /// The name as stored (exactly [`Self::as_str`]).
    pub fn from_stored(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The reason of a CRLReason code (RFC 5280, 5.3.1), if it is one this CA uses.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// Accepts the RFC 5280 names in any case, with or without dashes.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let norm = |x: &str| {
            x.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_ascii_lowercase()
        };
        let want = norm(s);
        Self::ALL
            .into_iter()
            .find(|r| norm(r.as_str()) == want)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|r| r.as_str()).collect();
                InvalidInput::new(
                    "reason",
                    format!(
                        "{s:?} is not a revocation reason; use one of {}",
                        names.join(", ")
                    ),
                )
            })
    }
}

/// A certificate about to be stored.
#[derive(Clone, Debug)]
pub struct NewCertificate {
    pub serial: Serial,
    pub kind: CertificateKind,
    /// The issuing CA (a root is issued by itself).
    pub issuer: CaRole,
    pub holder_id: Option<i64>,
    /// Set when the service holds the key (CAs, second certificates).
    pub key: Option<(KeyAlgorithm, KeyRef)>,
    pub subject: String,
    pub der: Vec<u8>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

/// Revocation as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Revocation {
    pub at: DateTime<Utc>,
    pub reason: RevocationReason,
}

/// A stored certificate.
#[derive(Clone, Debug)]
pub struct StoredCertificate {
    pub id: i64,
    pub cert: NewCertificate,
    pub revocation: Option<Revocation>,
}

/// The status a relying party sees, at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum CertificateStatus {
    Valid,
    NotYetValid,
    Expired,
    Revoked {
        at: DateTime<Utc>,
        reason: RevocationReason,
    },
}

impl CertificateStatus {
    /// The status's name, as its JSON says it (`valid`, `not_yet_valid`, `expired`, `revoked`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::NotYetValid => "not_yet_valid",
            Self::Expired => "expired",
            Self::Revoked { .. } => "revoked",
        }
    }
}

impl StoredCertificate {
    /// Revocation wins over expiry: a revoked certificate stays revoked in CRLs and OCSP.
    pub fn status_at(&self, now: DateTime<Utc>) -> CertificateStatus {
        match self.revocation {
            Some(r) => CertificateStatus::Revoked {
                at: r.at,
                reason: r.reason,
            },
            None if now < self.cert.not_before => CertificateStatus::NotYetValid,
            None if now > self.cert.not_after => CertificateStatus::Expired,
            None => CertificateStatus::Valid,
        }
    }

    /// The second certificate that signs for a holder now, from their certificates in issue
    /// order: the newest valid one. `Err` says why there is none (for the holder's username).
    pub fn signing_second(
        certificates: Vec<StoredCertificate>,
        now: DateTime<Utc>,
    ) -> Result<StoredCertificate, &'static str> {
        let mut seconds: Vec<StoredCertificate> = certificates
            .into_iter()
            .filter(|c| c.cert.kind == CertificateKind::Second)
            .collect();
        let last = seconds
            .last()
            .map(|c| (c.status_at(now), c.cert.key.is_none()));
        if let Some(i) = seconds
            .iter()
            .rposition(|c| c.status_at(now) == CertificateStatus::Valid)
        {
            return Ok(seconds.swap_remove(i));
        }
        Err(match last {
            None => "has no second certificate",
            Some((CertificateStatus::Revoked { .. }, true)) => {
                "has only a revoked second certificate, whose key was destroyed"
            }
            Some((CertificateStatus::Revoked { .. }, false)) => {
                "has only a revoked second certificate"
            }
            Some((CertificateStatus::Expired, true)) => {
                "has only an expired second certificate, whose key was destroyed"
            }
            Some((CertificateStatus::Expired, false)) => "has only an expired second certificate",
            Some(_) => "has no second certificate valid now",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_have_one_form() {
        assert_eq!(Serial::parse("0A:1B:ff").expect("ok").as_str(), "a1bff");
        assert_eq!(Serial::from_bytes(&[0x00, 0x0a, 0x1b]).as_str(), "a1b");
        assert!(Serial::parse("xyz").is_err());
        assert!(Serial::parse(&"a".repeat(41)).is_err());
    }

    #[test]
    fn reasons_parse_by_name() {
        assert_eq!(
            RevocationReason::parse("key-compromise").ok(),
            Some(RevocationReason::KeyCompromise)
        );
        assert_eq!(
            RevocationReason::parse("cACompromise").ok(),
            Some(RevocationReason::CaCompromise)
        );
        assert_eq!(RevocationReason::PrivilegeWithdrawn.code(), 9);
        assert!(RevocationReason::parse("bored").is_err());
    }
}
