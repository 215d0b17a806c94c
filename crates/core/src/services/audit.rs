//! Verifying, exporting and checkpointing the audit log.

use std::sync::Arc;

use futures_util::StreamExt;

use crate::audit::{
    Action, ChainHead, ChainVerifier, Checkpoint, LostEvents, StoredEvent, VerifyReport,
    RESTORE_TARGET,
};
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

    /// Walks the whole chain, then compares it with the head and the given checkpoints. A
    /// checkpoint taken before a restore of an event the backup did not have records history
    /// the restore lost: it is reported as lost (with the restore that lost it), not as
    /// tampering.
    pub async fn verify(&self, checkpoints: &[Checkpoint]) -> Result<VerifyReport, Error> {
        // Read the head first: events appended while we walk are then past the head and ignored.
        let head = self.store.audit_head().await?;
        let restores = self.restores().await?;
        let mut lost: Vec<LostEvents> = Vec::new();
        let mut kept = Vec::new();
        for cp in checkpoints {
            let taken = chrono::DateTime::parse_from_rfc3339(&cp.at).ok();
            let lost_by = restores
                .iter()
                .find(|r| cp.seq > r.backup_seq && taken.is_some_and(|t| t < r.at));
            match lost_by {
                None => kept.push(cp.clone()),
                Some(r) => match lost.iter_mut().find(|l| l.restore_seq == r.seq) {
                    Some(l) if l.last < cp.seq => {
                        l.last = cp.seq;
                        l.checkpoint_at.clone_from(&cp.at);
                    }
                    Some(_) => {}
                    None => lost.push(LostEvents {
                        restore_seq: r.seq,
                        restored_at: r.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        backup_seq: r.backup_seq,
                        first: r.backup_seq + 1,
                        last: cp.seq,
                        checkpoint_at: cp.at.clone(),
                    }),
                },
            }
        }
        let mut report = self.walk(&head, &kept).await?;
        report.lost = lost;
        Ok(report)
    }

    /// The restores from backups the log records, oldest first.
    async fn restores(&self) -> Result<Vec<Restore>, Error> {
        let events = self
            .store
            .audit_events_of(
                RESTORE_TARGET,
                Action::DATABASE_RESTORED.as_str(),
                None,
                1000,
            )
            .await?;
        let mut out = Vec::new();
        for ev in events.into_iter().rev() {
            let details: serde_json::Value = serde_json::from_str(&ev.details).unwrap_or_default();
            let (Some(backup_seq), Some(at)) = (
                details["backup_head"]["seq"].as_i64(),
                chrono::DateTime::from_timestamp_micros(ev.at_micros),
            ) else {
                return Err(Error::Internal(format!(
                    "the restore event {} has no backup head",
                    ev.seq
                )));
            };
            out.push(Restore {
                seq: ev.seq,
                at,
                backup_seq,
            });
        }
        Ok(out)
    }

    async fn walk(
        &self,
        head: &ChainHead,
        checkpoints: &[Checkpoint],
    ) -> Result<VerifyReport, Error> {
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
        Ok(verifier.finish(head))
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

    /// Records that the database was restored from a backup whose last event was `backup`,
    /// with what the restore found (`details`). Later verifications report checkpoints of the
    /// events the backup lacked as lost by this restore.
    pub async fn record_restore(
        &self,
        actor: &crate::audit::Actor,
        backup: &ChainHead,
        mut details: serde_json::Value,
    ) -> Result<(), Error> {
        details["backup_head"] = serde_json::json!({ "seq": backup.seq, "hash": backup.hash });
        let event = crate::audit::AuditEvent::new(
            self.clock.now(),
            actor,
            Action::DATABASE_RESTORED,
            RESTORE_TARGET,
            details,
        );
        Ok(self.store.record_event(&event).await?)
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

/// A restore the log records: its event, when, and the backup's last event.
struct Restore {
    seq: i64,
    at: chrono::DateTime<chrono::Utc>,
    backup_seq: i64,
}
