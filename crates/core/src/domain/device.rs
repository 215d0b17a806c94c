//! Device credentials: the passkey a holder registered on a phone (manual 1.2 (5)-(8)). The
//! WebAuthn details (public key, counters) are kept as the relying-party library encodes them.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Where a device credential stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    Active,
    /// Its signature counter went backwards: possibly cloned; it can no longer sign in.
    Suspect,
    /// An operator deleted it (a lost phone, manual 2.2.2).
    Deleted,
}

impl DeviceState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspect => "suspect",
            Self::Deleted => "deleted",
        }
    }

    pub fn from_stored(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "suspect" => Some(Self::Suspect),
            "deleted" => Some(Self::Deleted),
            _ => None,
        }
    }
}

/// A registered device credential.
#[derive(Clone, Debug)]
pub struct DeviceCredential {
    pub id: i64,
    pub holder_id: i64,
    /// The WebAuthn credential ID.
    pub credential_id: Vec<u8>,
    /// The WebAuthn user handle (random, the same for all of a holder's credentials).
    pub user_handle: Vec<u8>,
    /// The public key and registration-time extensions, as the RP library encodes them.
    pub static_state: Vec<u8>,
    /// The signature counter and flags, as the RP library encodes them.
    pub dynamic_state: Vec<u8>,
    /// The transports the authenticator reported (the RP library's bit set).
    pub transports: u8,
    /// The authenticator model (AAGUID), hex; all zeros when the authenticator does not say.
    pub aaguid: String,
    pub label: String,
    pub state: DeviceState,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A device credential about to be stored.
#[derive(Clone, Debug)]
pub struct NewDeviceCredential {
    pub holder_id: i64,
    pub credential_id: Vec<u8>,
    pub user_handle: Vec<u8>,
    pub static_state: Vec<u8>,
    pub dynamic_state: Vec<u8>,
    pub transports: u8,
    pub aaguid: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
}

/// Which WebAuthn ceremony a stored challenge belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CeremonyKind {
    Registration,
    Authentication,
}

impl CeremonyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Authentication => "authentication",
        }
    }

    pub fn from_stored(s: &str) -> Option<Self> {
        match s {
            "registration" => Some(Self::Registration),
            "authentication" => Some(Self::Authentication),
            _ => None,
        }
    }
}

/// A WebAuthn ceremony in progress, stored so that any instance can finish it.
#[derive(Clone, Debug)]
pub struct Ceremony {
    /// The challenge as sent (base64url): the key it is found by.
    pub challenge: String,
    pub kind: CeremonyKind,
    pub holder_id: i64,
    /// The registration session that started it (hash), so another browser cannot finish it.
    pub session_hash: String,
    /// The RP library's encoded server state.
    pub state: Vec<u8>,
    pub expires_at: DateTime<Utc>,
}
