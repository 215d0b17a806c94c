//! Storage of operators, their console (enrolment links, sessions) and dual control.

use async_trait::async_trait;

use super::StoreError;
use crate::audit::AuditEvent;

/// What an operator may do (issue 14): `operator` the daily work of the manual's section 2,
/// `approver` that and approving another operator's request (dual control), `auditor` only
/// read (holders, certificates, the audit log and its exports).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorRole {
    Operator,
    Approver,
    Auditor,
}

impl OperatorRole {
    pub const ALL: [Self; 3] = [Self::Operator, Self::Approver, Self::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Approver => "approver",
            Self::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s.trim())
    }

    /// Whether the role may change anything (an auditor only reads).
    pub fn may_change(self) -> bool {
        self != Self::Auditor
    }
}

/// An operator's id: what their passkeys, enrolment links and console sessions belong to
/// (never a holder's id, though both are numbers in the database).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct OperatorId(pub i64);

/// An operator of the certificate authority, who authenticates with a bearer token.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Operator {
    pub id: OperatorId,
    pub name: String,
    /// What the operator may do.
    pub role: OperatorRole,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The token stops working then (none: it does not expire).
    pub token_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The token was revoked then (a rotation issues a new one).
    pub token_revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The operator was disabled then: no token of theirs works until they are enabled.
    pub disabled_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the token was last used (kept to the nearest few minutes).
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A change to an operator's access, audited with its event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperatorChange {
    /// The current token stops working at once.
    RevokeToken,
    /// No token of theirs works until enabled.
    Disable,
    Enable,
}

/// An enrolment link of an operator (`operator add` prints it): single-use, short-lived; only
/// its hash is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorEnrolment {
    pub operator_id: OperatorId,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub used_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A signed-in operator's console session (its cookie's hash is the key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleSession {
    pub token_hash: String,
    pub operator_id: OperatorId,
    /// The operator's passkey it was opened with.
    pub credential_id: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The last request (kept to the minute): the idle timeout counts from it.
    pub seen_at: chrono::DateTime<chrono::Utc>,
    /// The absolute end.
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// The last fresh passkey assertion (a revocation needs a recent one).
    pub reauth_at: chrono::DateTime<chrono::Utc>,
    pub ended_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Operators' enrolment links and console sessions.
#[async_trait]
pub trait ConsoleStore: Send + Sync + 'static {
    /// Stores an enrolment link (by hash) with its event.
    async fn insert_enrolment(
        &self,
        token_hash: &str,
        enrolment: &OperatorEnrolment,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    async fn enrolment(&self, token_hash: &str) -> Result<Option<OperatorEnrolment>, StoreError>;

    /// Marks a link used, if it was not and has not expired at `at`; `false` otherwise.
    async fn use_enrolment(
        &self,
        token_hash: &str,
        at: chrono::DateTime<chrono::Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    async fn insert_console_session(
        &self,
        session: &ConsoleSession,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    async fn console_session(&self, token_hash: &str)
        -> Result<Option<ConsoleSession>, StoreError>;

    /// Notes a request (not audited: like a token's last use).
    async fn touch_console_session(
        &self,
        token_hash: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError>;

    /// Records a fresh passkey assertion in a session that has not ended.
    async fn reauthenticated(
        &self,
        token_hash: &str,
        at: chrono::DateTime<chrono::Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Ends a session (sign-out); `false` if it had ended.
    async fn end_console_session(
        &self,
        token_hash: &str,
        at: chrono::DateTime<chrono::Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;
}

/// Where a request under dual control stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    Pending,
    /// Approved and carried out (or attempted: `result` says).
    Approved,
    Rejected,
}

impl ApprovalState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }

    pub fn from_stored(s: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Rejected]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// An action waiting for a second operator (dual control).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalRequest {
    pub id: i64,
    /// What is asked, for whom (parsed once, by the store).
    pub request: crate::domain::request::Request,
    pub reason: String,
    pub requested_by: String,
    pub requested_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub state: ApprovalState,
    pub decided_by: Option<String>,
    pub decided_at: Option<chrono::DateTime<chrono::Utc>>,
    /// What carrying it out gave (or why it failed).
    pub result: Option<String>,
}

/// As the operator API and `--json` show a request: the stored columns (`action`, `holder`,
/// and `params` as JSON text), as they always have.
impl serde::Serialize for ApprovalRequest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Wire<'a> {
            id: i64,
            action: &'a str,
            holder: String,
            params: String,
            reason: &'a str,
            requested_by: &'a str,
            requested_at: chrono::DateTime<chrono::Utc>,
            expires_at: chrono::DateTime<chrono::Utc>,
            state: ApprovalState,
            decided_by: Option<&'a str>,
            decided_at: Option<chrono::DateTime<chrono::Utc>>,
            result: Option<&'a str>,
        }
        let (action, holder, params) = self.request.to_stored();
        Wire {
            id: self.id,
            action,
            holder,
            params,
            reason: &self.reason,
            requested_by: &self.requested_by,
            requested_at: self.requested_at,
            expires_at: self.expires_at,
            state: self.state,
            decided_by: self.decided_by.as_deref(),
            decided_at: self.decided_at,
            result: self.result.as_deref(),
        }
        .serialize(s)
    }
}

/// Requests under dual control.
#[async_trait]
pub trait ApprovalStore: Send + Sync + 'static {
    /// Stores a pending request with its event; returns its id.
    async fn insert_request(
        &self,
        request: &ApprovalRequest,
        event: &AuditEvent,
    ) -> Result<i64, StoreError>;

    async fn request(&self, id: i64) -> Result<Option<ApprovalRequest>, StoreError>;

    /// Pending requests that have not expired at `now`, oldest first.
    async fn pending_requests(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<ApprovalRequest>, StoreError>;

    /// Decides a pending, unexpired request (`Approved` or `Rejected`) with its event;
    /// `false` if it was decided meanwhile or has expired.
    async fn decide_request(
        &self,
        id: i64,
        to: ApprovalState,
        by: &str,
        at: chrono::DateTime<chrono::Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Takes an approved request that has no `result` yet for the one use it allows, before
    /// it expires at `now`, writing `result`, with its event; `false` if it is not approved,
    /// was used already, or has expired.
    async fn claim_request(
        &self,
        id: i64,
        result: &str,
        now: chrono::DateTime<chrono::Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Records what carrying out an approved request gave, with its event.
    async fn record_result(
        &self,
        id: i64,
        result: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
}
