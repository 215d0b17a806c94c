use crate::domain::{InvalidInput, PhotoError};
use crate::store::StoreError;

/// A problem with one line of an imported file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Every error a service returns. The web layer maps each variant to one HTTP status in one
/// place; the CLI prints it and exits non-zero.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// One or more fields are not acceptable.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<InvalidInput>),
    /// A photo was refused.
    #[error("photo: {0}")]
    Photo(#[from] PhotoError),
    /// An import file was refused as a whole; nothing was written.
    #[error("the import was refused and nothing was written:\n{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    ImportRejected(Vec<RowError>),
    /// The thing asked for does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The change contradicts what is stored (a duplicate, a stale state).
    #[error("{0}")]
    Conflict(String),
    /// Sheets could not be printed (no photo, a broken photo, a character the font lacks);
    /// the failure says which sheets, if any, stay issued.
    #[error("{0}")]
    Unprintable(#[from] crate::services::PrintFailure),
    /// A WebAuthn ceremony was refused; `refusal` tells the page which explanation to show.
    #[error("{detail}")]
    Ceremony {
        refusal: crate::domain::device::CeremonyRefusal,
        detail: String,
    },
    /// An OAuth / OpenID Connect request was refused (the relying system's side).
    #[error("{0}")]
    OAuth(#[from] crate::domain::oidc::OAuthError),
    /// A holder's login to a relying system was refused after the passkey or card answered.
    #[error("{detail}")]
    Login {
        refusal: crate::domain::oidc::LoginRefusal,
        detail: String,
    },
    /// No or bad credentials.
    #[error("authentication required")]
    Unauthenticated,
    /// Authenticated, but not allowed to do this (an auditor changing something).
    #[error("{0}")]
    Forbidden(String),
    /// An operator may not do this, for a reason each door words itself (the console in
    /// Japanese, the CLI and the API in English).
    #[error("{0}")]
    OperatorRefused(OperatorRefusal),
    /// Too many calls from one address: wait a moment.
    #[error("too many attempts from this address; wait a moment and try again")]
    RateLimited,
    /// The database cannot be reached.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The keystore cannot be reached (an HSM that is down or whose token is missing): like
    /// an unreachable database, worth trying again later.
    #[error("the keystore is unavailable: {0}")]
    KeystoreUnavailable(String),
    /// The CA's key is kept off this machine (its root, after the key ceremony): what needs it
    /// waits for the next ceremony.
    #[error("the {} CA's key is offline (kept off this machine)", .0.as_str())]
    KeyOffline(crate::domain::CaRole),
    /// Something the service needs was never set up: `{0}` names it.
    #[error("{0} is not set up yet")]
    NotSetUp(Unset),
    /// A bug or a broken environment; details are logged, not shown.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What was never set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unset {
    #[error("the CA hierarchy")]
    CaHierarchy,
    /// One CA of it.
    #[error("the {} CA", .0.as_str())]
    Ca(crate::domain::CaRole),
    /// The OpenID Connect provider's token-signing key.
    #[error("the token-signing key")]
    TokenSigningKey,
    /// The database's schema at `want` (it is at `have`).
    #[error("this release's database schema (version {want}; the database is at version {have})")]
    Schema { have: i64, want: i64 },
}

/// Why an operator may not do what they asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OperatorRefusal {
    /// The operator's role (auditor) only reads.
    #[error("operator {operator} is an auditor: this role only reads")]
    ReadOnlyRole { operator: String },
    /// Deciding a request takes the approver role.
    #[error("operator {operator} is not an approver")]
    NotAnApprover { operator: String },
    /// The requester cannot approve their own request (dual control).
    #[error("nobody approves their own request: another approver must")]
    OwnRequest,
    /// A revocation or a CA import, done or approved in the console, follows a recent passkey
    /// assertion.
    #[error(
        "confirm it is you with your passkey first: the last confirmation is too old for this"
    )]
    StaleAssertion,
    /// Operators exist and dual control covers CA imports: an operator asks first.
    #[error("operators exist, so an import waits for an approver (dual control)")]
    ImportNeedsRequest,
    /// Only the operator who asked runs an approved CA import.
    #[error("request {request} is {requested_by}'s: only its requester runs an approved import")]
    NotTheRequester { request: i64, requested_by: String },
    #[error("request {request} is not approved yet")]
    NotApproved { request: i64 },
    #[error("request {request} was rejected")]
    RequestRejected { request: i64 },
    /// The files of a CA import are not those approved.
    #[error("these files are not the ones request {request} approved (fingerprint {approved} there, {given} here)")]
    OtherFiles {
        request: i64,
        approved: String,
        given: String,
    },
    /// An approved CA import runs once, before its request expires.
    #[error("request {request} was used already, or expired at {}; ask again", expires_at.to_rfc3339())]
    UsedOrExpired {
        request: i64,
        expires_at: chrono::DateTime<chrono::Utc>,
    },
}

impl From<InvalidInput> for Error {
    fn from(e: InvalidInput) -> Self {
        Self::Invalid(vec![e])
    }
}

impl From<crate::keystore::KeystoreError> for Error {
    fn from(e: crate::keystore::KeystoreError) -> Self {
        use crate::keystore::KeystoreError as K;
        match e {
            K::Unavailable(why) => Self::KeystoreUnavailable(why),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Self::Conflict(what),
            e @ StoreError::DeviceLimit { .. } => Self::Conflict(e.to_string()),
            StoreError::Unavailable(why) => Self::Unavailable(why),
            StoreError::SchemaBehind { have, want } => Self::NotSetUp(Unset::Schema { have, want }),
            StoreError::Other(why) => Self::Internal(why),
        }
    }
}
