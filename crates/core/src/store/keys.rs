//! Every key reference the database keeps, for a rotation of the software keystore's
//! key-encryption key (each sealed key sealed again under the new one, all in one transaction).

use async_trait::async_trait;

use crate::audit::AuditEvent;
use crate::keystore::{KeyAlgorithm, KeyRef};
use crate::store::StoreError;

/// Where a key reference is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyPlace {
    /// A certificate's key (a CA, an OCSP responder, a second certificate): its row id.
    Certificate(i64),
    /// One of the OpenID Connect provider's token-signing keys: its key id.
    OidcSigningKey(String),
}

/// A key reference as stored.
#[derive(Clone, Debug)]
pub struct StoredKey {
    pub place: KeyPlace,
    pub algorithm: KeyAlgorithm,
    pub key: KeyRef,
}

#[async_trait]
pub trait KeyRefStore: Send + Sync + 'static {
    /// Every key reference kept, wherever it is.
    async fn stored_keys(&self) -> Result<Vec<StoredKey>, StoreError>;

    /// Replaces key references in one transaction with its event. Each must still be the
    /// reference read (`Conflict`, and nothing written, if any changed meanwhile).
    async fn replace_keys(
        &self,
        replaced: &[(StoredKey, KeyRef)],
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
}
