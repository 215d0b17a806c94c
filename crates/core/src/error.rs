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
    /// Something the service needs was never set up (e.g. the CA hierarchy): `{0}` names it.
    #[error("{0} is not set up yet")]
    NotSetUp(String),
    /// A bug or a broken environment; details are logged, not shown.
    #[error("internal error: {0}")]
    Internal(String),
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
            StoreError::Other(why) => Self::Internal(why),
        }
    }
}
