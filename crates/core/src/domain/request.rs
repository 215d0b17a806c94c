//! What an operator asks for, as one value: a case of the manual's section 2, a sheet reissue,
//! a renewal, or a CA import. A request under dual control holds one (`ApprovalRequest`); the
//! store parses it once, when it reads the row, so nothing above it handles the stored text.

use serde::{Deserialize, Serialize};

use super::{RevocationReason, Serial, Username};

/// A change to one holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "case")]
pub enum Case {
    Suspend,
    Resume,
    /// HPKI card lost (2.2.1): its certificates revoked, and the second one with `also_second`.
    LostCard {
        also_second: bool,
    },
    /// Phone lost (2.2.2): this device credential deleted.
    LostPhoneDevice {
        device: i64,
    },
    /// Phone lost (2.2.2): the second certificate revoked.
    LostPhoneSecond,
    /// A new sheet (2.1.2, 2.1.3); the usable one stops working.
    ReissueSheet,
    /// After a revocation: a second certificate with a new key, and a new sheet.
    RenewSecond,
    /// A second certificate (a new key), without a sheet (`cert issue-second`).
    IssueSecond,
}

impl Case {
    /// Every case, for lists and tests.
    pub const ALL: [Case; 9] = [
        Self::Suspend,
        Self::Resume,
        Self::LostCard { also_second: false },
        Self::LostCard { also_second: true },
        Self::LostPhoneDevice { device: 0 },
        Self::LostPhoneSecond,
        Self::ReissueSheet,
        Self::RenewSecond,
        Self::IssueSecond,
    ];

    /// Its name, as the console's addresses, the stored request and the CLI's list say it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Suspend => "suspend",
            Self::Resume => "resume",
            Self::LostCard { also_second: false } => "lost-card",
            Self::LostCard { also_second: true } => "lost-card-all",
            Self::LostPhoneDevice { .. } => "lost-phone-device",
            Self::LostPhoneSecond => "lost-phone-second",
            Self::ReissueSheet => "reissue",
            Self::RenewSecond => "renew",
            Self::IssueSecond => "issue-second",
        }
    }

    /// The case a name says; `lost-phone-device` needs the device.
    pub fn from_name(name: &str, device: Option<i64>) -> Option<Self> {
        if name == "lost-phone-device" {
            return device.map(|device| Self::LostPhoneDevice { device });
        }
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Whether it revokes a certificate (dual control `revoke`; a fresh assertion first).
    pub fn revokes(self) -> bool {
        matches!(self, Self::LostCard { .. } | Self::LostPhoneSecond)
    }

    /// Whether it issues a second certificate (dual control `issue-second`).
    pub fn issues_second(self) -> bool {
        matches!(self, Self::RenewSecond | Self::IssueSecond)
    }

    /// Whether it gives a new sheet (printed at once when it can be).
    pub fn gives_sheet(self) -> bool {
        matches!(self, Self::ReissueSheet | Self::RenewSecond)
    }
}

/// What an import would take in, named so that two people can agree on it before it happens
/// (dual control): each CA's certificate and where its key comes from, and one digest over
/// all of it. The key itself is not in it: an import takes a key only if it belongs to the
/// certificate, so the certificates name the keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportFingerprint {
    /// SHA-256 (hex) over every CA's role, certificate digest and key source.
    pub digest: String,
    pub certificates: Vec<ImportedCertificate>,
}

/// One CA of an import, as its fingerprint shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedCertificate {
    pub role: String,
    pub subject: String,
    /// SHA-256 (hex) of the certificate's DER.
    pub sha256: String,
    /// `pkcs8` (a key file) or `label:NAME` (a key in the PKCS#11 token).
    pub key: String,
}

/// What an operator asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Holder {
        holder: Username,
        case: Case,
    },
    /// One certificate revoked by its serial (`cert revoke`), with its CRL reason.
    Revoke {
        serial: Serial,
        reason: RevocationReason,
    },
    /// `ca import` of the CAs this fingerprint names (the key material is never stored).
    CaImport {
        fingerprint: ImportFingerprint,
    },
}

/// The actions stored for a CA import and a revocation by serial.
const CA_IMPORT: &str = "ca-import";
const REVOKE: &str = "revoke-certificate";

/// How a revocation by serial is stored.
#[derive(Serialize, Deserialize)]
struct StoredRevoke {
    serial: String,
    reason: String,
}

impl Request {
    /// The action as stored and listed: the case's name, or `ca-import`.
    pub fn action(&self) -> &'static str {
        match self {
            Self::Holder { case, .. } => case.name(),
            Self::Revoke { .. } => REVOKE,
            Self::CaImport { .. } => CA_IMPORT,
        }
    }

    /// Whom it is about, as the audit log's target says it: the holder, the certificate's
    /// serial, or `ca`.
    pub fn target(&self) -> String {
        match self {
            Self::Holder { holder, .. } => holder.to_string(),
            Self::Revoke { serial, .. } => serial.as_str().to_owned(),
            Self::CaImport { .. } => "ca".to_owned(),
        }
    }

    /// The holder it changes, if it changes one.
    pub fn holder(&self) -> Option<&Username> {
        match self {
            Self::Holder { holder, .. } => Some(holder),
            Self::Revoke { .. } | Self::CaImport { .. } => None,
        }
    }

    pub fn case(&self) -> Option<Case> {
        match self {
            Self::Holder { case, .. } => Some(*case),
            Self::Revoke { .. } | Self::CaImport { .. } => None,
        }
    }

    /// Whether it revokes a certificate (dual control `revoke`).
    pub fn revokes(&self) -> bool {
        match self {
            Self::Holder { case, .. } => case.revokes(),
            Self::Revoke { .. } => true,
            Self::CaImport { .. } => false,
        }
    }

    /// Whether an operator in the console confirms it is them (a fresh passkey assertion)
    /// before doing or approving it: a revocation, a CA import.
    pub fn needs_fresh_assertion(&self) -> bool {
        self.revokes() || matches!(self, Self::CaImport { .. })
    }

    /// The three stored columns: action, holder (empty for an import) and parameters (JSON).
    pub fn to_stored(&self) -> (&'static str, String, String) {
        let params = match self {
            Self::Holder { case, .. } => serde_json::to_string(case),
            Self::Revoke { serial, reason } => serde_json::to_string(&StoredRevoke {
                serial: serial.as_str().to_owned(),
                reason: reason.as_str().to_owned(),
            }),
            Self::CaImport { fingerprint } => serde_json::to_string(fingerprint),
        }
        // Plain structs and enums of strings and integers always serialize.
        .unwrap_or_default();
        let holder = self.holder().map(Username::to_string).unwrap_or_default();
        (self.action(), holder, params)
    }

    /// The request the stored columns hold; `None` if they do not make one.
    pub fn from_stored(action: &str, holder: &str, params: &str) -> Option<Self> {
        if action == CA_IMPORT {
            let fingerprint = serde_json::from_str(params).ok()?;
            return holder.is_empty().then_some(Self::CaImport { fingerprint });
        }
        if action == REVOKE {
            let stored: StoredRevoke = serde_json::from_str(params).ok()?;
            return holder.is_empty().then_some(Self::Revoke {
                serial: Serial::from_stored(stored.serial)?,
                reason: RevocationReason::from_stored(&stored.reason)?,
            });
        }
        let case: Case = serde_json::from_str(params).ok()?;
        let holder = Username::parse(holder).ok()?;
        (case.name() == action).then_some(Self::Holder { holder, case })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_reads_back_as_it_was_stored_and_nothing_else_does() {
        let holder = Username::parse("999999-jpa").expect("username");
        let fingerprint = ImportFingerprint {
            digest: "ab".repeat(32),
            certificates: vec![ImportedCertificate {
                role: "root".into(),
                subject: "CN=x".into(),
                sha256: "cd".repeat(32),
                key: "pkcs8".into(),
            }],
        };
        let mut all: Vec<Request> = Case::ALL
            .into_iter()
            .map(|case| Request::Holder {
                holder: holder.clone(),
                case,
            })
            .collect();
        all.push(Request::CaImport { fingerprint });
        all.push(Request::Revoke {
            serial: Serial::parse("1f00").expect("serial"),
            reason: RevocationReason::Superseded,
        });
        for r in &all {
            let (action, holder, params) = r.to_stored();
            assert_eq!(
                Request::from_stored(action, &holder, &params).as_ref(),
                Some(r)
            );
        }
        // Rows written before sheet reissues were requests read as they did.
        assert_eq!(
            Request::from_stored(
                "lost-card-all",
                "999999-jpa",
                r#"{"case":"lost_card","also_second":true}"#
            ),
            Some(Request::Holder {
                holder: holder.clone(),
                case: Case::LostCard { also_second: true }
            })
        );
        for (action, h, params) in [
            ("lost-card", "999999-jpa", r#"{"case":"lost_phone_second"}"#),
            (
                "lost-card",
                "",
                r#"{"case":"lost_card","also_second":false}"#,
            ),
            ("ca-import", "999999-jpa", "{}"),
            ("ca-import", "", "not json"),
            ("delete-everything", "999999-jpa", r#"{"case":"suspend"}"#),
            (
                "revoke-certificate",
                "",
                r#"{"serial":"0x1F","reason":"superseded"}"#,
            ),
            (
                "revoke-certificate",
                "",
                r#"{"serial":"1f","reason":"bored"}"#,
            ),
        ] {
            assert_eq!(
                Request::from_stored(action, h, params),
                None,
                "{action} {params}"
            );
        }
    }

    #[test]
    fn names_say_one_case_each() {
        for case in Case::ALL {
            let device = matches!(case, Case::LostPhoneDevice { .. }).then_some(0);
            assert_eq!(Case::from_name(case.name(), device), Some(case));
        }
        assert_eq!(Case::from_name("lost-phone-device", None), None);
        assert_eq!(
            Case::from_name("lost-phone-device", Some(7)),
            Some(Case::LostPhoneDevice { device: 7 })
        );
        assert_eq!(Case::from_name("revoke-everything", None), None);
    }
}
