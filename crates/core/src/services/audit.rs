//! Verifying, exporting and checkpointing the audit log.

use std::sync::Arc;

use futures_util::StreamExt;

use crate::audit::{ChainHead, ChainVerifier, Checkpoint, StoredEvent, VerifyReport};
use crate::clock::Clock;
use crate::store::Store;
use crate::Error;

#[derive(Clone)]
pub struct AuditService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl AuditService {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Walks the whole chain, then compares it with the head and the given checkpoints.
    pub async fn verify(&self, checkpoints: &[Checkpoint]) -> Result<VerifyReport, Error> {
        // Read the head first: events appended while we walk are then past the head and ignored.
        let head = self.store.audit_head().await?;
        let mut verifier = ChainVerifier::new(checkpoints);
        let mut events = self.store.audit_events(0);
        while let Some(ev) = events.next().await {
            let ev = ev?;
            if ev.seq > head.seq && ev.prev_hash == head.hash {
                break;
            }
            verifier.push(ev);
            if verifier.has_finding() {
                break;
            }
        }
        Ok(verifier.finish(&head))
    }

    /// Streams every event, in order, to `sink`.
    pub async fn export(
        &self,
        mut sink: impl FnMut(&StoredEvent) -> std::io::Result<()>,
    ) -> Result<u64, Error> {
        let mut n = 0;
        let mut events = self.store.audit_events(0);
        while let Some(ev) = events.next().await {
            sink(&ev?).map_err(|e| Error::Internal(format!("writing the export failed: {e}")))?;
            n += 1;
        }
        Ok(n)
    }

    /// The events about any of `targets`, newest first (a holder's trail in the console).
    pub async fn trail(
        &self,
        targets: &[String],
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<crate::audit::StoredEvent>, Error> {
        Ok(self
            .store
            .audit_trail(targets, before_seq, limit.clamp(1, 500))
            .await?)
    }

    pub async fn head(&self) -> Result<ChainHead, Error> {
        Ok(self.store.audit_head().await?)
    }

    /// The current head as a checkpoint to keep outside the database.
    pub async fn checkpoint(&self) -> Result<Checkpoint, Error> {
        let head = self.store.audit_head().await?;
        Ok(Checkpoint {
            seq: head.seq,
            hash: head.hash,
            at: self
                .clock
                .now()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
    }
}
