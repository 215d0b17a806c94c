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
    /// The holder reported the phone lost on their own page: it can no longer sign in; the
    /// certification authority deletes it (or the holder registers a new phone).
    ReportedLost,
}

impl DeviceState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspect => "suspect",
            Self::Deleted => "deleted",
            Self::ReportedLost => "reported_lost",
        }
    }

    pub fn from_stored(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "suspect" => Some(Self::Suspect),
            "deleted" => Some(Self::Deleted),
            "reported_lost" => Some(Self::ReportedLost),
            _ => None,
        }
    }
}

/// A registered device credential.
#[derive(Clone, Debug)]
pub struct DeviceCredential {
    pub id: i64,
    /// Whose it is: a holder's id, or, in the operators' store, an operator's (see
    /// `hpki_passkey::CredentialOwner`).
    pub owner_id: i64,
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
    /// Whose it will be (a holder's or an operator's id, as its store keeps them).
    pub owner_id: i64,
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
    /// Signing in to a relying system with a discoverable passkey: the holder is not known
    /// until the answer names its credential.
    Login,
}

impl CeremonyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Authentication => "authentication",
            Self::Login => "login",
        }
    }

    pub fn from_stored(s: &str) -> Option<Self> {
        match s {
            "registration" => Some(Self::Registration),
            "authentication" => Some(Self::Authentication),
            "login" => Some(Self::Login),
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
    /// The holder it is for; none for a login, whose holder the answer tells.
    pub holder_id: Option<i64>,
    /// The session that started it (hash: a registration's, or a login's), so another browser
    /// cannot finish it.
    pub session_hash: String,
    /// The RP library's encoded server state.
    pub state: Vec<u8>,
    pub expires_at: DateTime<Utc>,
}

/// Why a WebAuthn ceremony (registering a passkey, or signing in with one) was refused. The
/// code is the contract with the pages: `register.js` has a message for each, in Japanese and
/// English (a test in the web crate checks that), and the web layer picks the HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CeremonyRefusal {
    /// The authenticator did not verify the user (no biometrics or screen lock).
    NoUserVerification,
    /// The challenge is older than the ceremony's time limit.
    ChallengeExpired,
    /// The challenge was never issued, was used already, or belongs to another session.
    ChallengeUnknown,
    /// The holder has as many devices as allowed.
    TooManyDevices,
    /// This passkey is registered already.
    CredentialExists,
    /// The signature counter went backwards: the passkey may be cloned; it was stopped.
    CounterRegression,
    /// The passkey was stopped before (suspect or suspended).
    DeviceSuspect,
    /// The passkey belongs to another holder.
    OtherHolder,
    /// The passkey is not registered (deleted, or never).
    UnknownCredential,
    /// The passkey was used by another sign-in at the same moment, or stopped meanwhile.
    DeviceChanged,
    /// The holder has no registered device to sign in with.
    NoDevice,
    /// The response was made on another origin.
    WrongOrigin,
    /// The passkey was made for another relying party ID.
    WrongRp,
    /// The assertion's signature does not verify.
    BadSignature,
    /// The response is not a WebAuthn response.
    Malformed,
    /// Another check of the response failed.
    VerificationFailed,
}

impl CeremonyRefusal {
    pub const ALL: [Self; 16] = [
        Self::NoUserVerification,
        Self::ChallengeExpired,
        Self::ChallengeUnknown,
        Self::TooManyDevices,
        Self::CredentialExists,
        Self::CounterRegression,
        Self::DeviceSuspect,
        Self::OtherHolder,
        Self::UnknownCredential,
        Self::DeviceChanged,
        Self::NoDevice,
        Self::WrongOrigin,
        Self::WrongRp,
        Self::BadSignature,
        Self::Malformed,
        Self::VerificationFailed,
    ];

    /// The code the pages receive as `error`.
    pub fn code(self) -> &'static str {
        match self {
            Self::NoUserVerification => "no_user_verification",
            Self::ChallengeExpired => "challenge_expired",
            Self::ChallengeUnknown => "challenge_unknown",
            Self::TooManyDevices => "too_many_devices",
            Self::CredentialExists => "credential_exists",
            Self::CounterRegression => "counter_regression",
            Self::DeviceSuspect => "device_suspect",
            Self::OtherHolder => "other_holder",
            Self::UnknownCredential => "unknown_credential",
            Self::DeviceChanged => "device_changed",
            Self::NoDevice => "no_device",
            Self::WrongOrigin => "wrong_origin",
            Self::WrongRp => "wrong_rp",
            Self::BadSignature => "bad_signature",
            Self::Malformed => "malformed",
            Self::VerificationFailed => "verification_failed",
        }
    }
}

impl std::fmt::Display for CeremonyRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}
