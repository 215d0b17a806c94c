//! What the services need from storage. Each method that changes state takes the audit
//! event(s) describing the change and appends them in the same transaction.

use async_trait::async_trait;
use futures_util::stream::BoxStream;

use crate::audit::{AuditEvent, ChainHead, StoredEvent};
use crate::domain::{Holder, NewHolder, Photo, Username};

/// Storage failures, in terms the services can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule refused the change; the text says which.
    #[error("{0}")]
    Conflict(String),
    /// The database cannot be reached or refused the connection.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else: a bug, a corrupt row, a failed migration.
    #[error("{0}")]
    Other(String),
}

/// What an all-or-nothing import did.
#[derive(Debug, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Everything was written.
    Imported { inserted: u64, unchanged: u64 },
    /// Rows (by index into the input) that contradict stored holders; nothing was written.
    Conflicts(Vec<(usize, String)>),
}

/// An operator of the certificate authority, who authenticates with a bearer token.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Operator {
    pub id: i64,
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Registers a holder; `Conflict` if the username is taken.
    async fn insert_holder(
        &self,
        holder: &NewHolder,
        event: &AuditEvent,
    ) -> Result<Holder, StoreError>;

    /// Registers many holders in one transaction. Rows equal to a stored holder are left alone
    /// (and get no event); rows that contradict one refuse the whole import.
    async fn import_holders(
        &self,
        rows: &[(NewHolder, AuditEvent)],
    ) -> Result<ImportOutcome, StoreError>;

    /// Replaces a holder's photo; `Ok(false)` if there is no such holder.
    async fn set_holder_photo(
        &self,
        username: &Username,
        photo: &Photo,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    async fn holder(&self, username: &Username) -> Result<Option<Holder>, StoreError>;

    async fn holder_photo(&self, username: &Username) -> Result<Option<Photo>, StoreError>;

    /// Holders in registration order, `limit` after the holder with id `after_id`.
    async fn list_holders(&self, after_id: i64, limit: u32) -> Result<Vec<Holder>, StoreError>;

    async fn count_holders(&self) -> Result<u64, StoreError>;

    /// The last event of the audit chain as recorded by the database.
    async fn audit_head(&self) -> Result<ChainHead, StoreError>;

    /// Events with sequence number above `after_seq`, in order, streamed.
    fn audit_events(&self, after_seq: i64) -> BoxStream<'_, Result<StoredEvent, StoreError>>;

    /// Adds an operator with the hash of their token; `Conflict` if the name is taken.
    async fn insert_operator(
        &self,
        name: &str,
        token_hash: &str,
        event: &AuditEvent,
    ) -> Result<Operator, StoreError>;

    async fn operator_by_token_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<Operator>, StoreError>;
}
