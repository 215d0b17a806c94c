//! The tamper-evident audit log: every state change appends an event whose hash covers the
//! previous event's hash. See `docs/audit-log.md` for the format and the checkpoints.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Who caused a state change: `cli:<os user>`, `operator:<name>`, `holder:<username>`, `system`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    pub fn cli(os_user: &str) -> Self {
        Self(format!("cli:{os_user}"))
    }
    pub fn operator(name: &str) -> Self {
        Self(format!("operator:{name}"))
    }
    /// Someone on a holder-facing page, known only by the client address.
    pub fn client(address: &str) -> Self {
        Self(format!("client:{address}"))
    }
    pub fn system() -> Self {
        Self("system".to_owned())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub mod catalogue;
pub use catalogue::Action;

/// An event about to be appended. `details` is a JSON object kept as the exact text hashed.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent {
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub action: Action,
    pub target: String,
    pub details: String,
}

impl AuditEvent {
    pub fn new(
        at: DateTime<Utc>,
        actor: &Actor,
        action: Action,
        target: impl Into<String>,
        details: serde_json::Value,
    ) -> Self {
        Self {
            // The log keeps microseconds; truncate now so the hash covers what is stored.
            at: DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at),
            actor: actor.clone(),
            action,
            target: target.into(),
            details: details.to_string(),
        }
    }
}

/// The hash that starts the chain.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// SHA-256 over a domain tag, the previous hash and the length-prefixed fields, so that no two
/// different events share an encoding.
pub fn event_hash(
    prev: &[u8; 32],
    at_micros: i64,
    actor: &str,
    action: &str,
    target: &str,
    details: &str,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"hpki-second audit v1\0");
    h.update(prev);
    h.update(at_micros.to_be_bytes());
    for field in [actor, action, target, details] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.finalize().into()
}

/// An event as stored, with its place in the chain. Hashes are lowercase hex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: i64,
    pub at_micros: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl StoredEvent {
    /// Links `event` after `head`: the store calls this, so chaining lives in one place.
    pub fn chain(head: &ChainHead, event: &AuditEvent) -> Self {
        let prev = head.hash_bytes().unwrap_or(GENESIS_HASH);
        let at_micros = event.at.timestamp_micros();
        let hash = event_hash(
            &prev,
            at_micros,
            event.actor.as_str(),
            event.action.as_str(),
            &event.target,
            &event.details,
        );
        Self {
            seq: head.seq + 1,
            at_micros,
            actor: event.actor.as_str().to_owned(),
            action: event.action.as_str().to_owned(),
            target: event.target.clone(),
            details: event.details.clone(),
            prev_hash: hex::encode(prev),
            hash: hex::encode(hash),
        }
    }

    pub fn head(&self) -> ChainHead {
        ChainHead {
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }

    fn recomputed_hash(&self) -> Option<String> {
        let prev = decode_hash(&self.prev_hash)?;
        Some(hex::encode(event_hash(
            &prev,
            self.at_micros,
            &self.actor,
            &self.action,
            &self.target,
            &self.details,
        )))
    }

    /// The JSON Lines form used by `audit export`.
    pub fn to_export(&self) -> ExportedEvent {
        ExportedEvent {
            seq: self.seq,
            at: DateTime::from_timestamp_micros(self.at_micros)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
                .unwrap_or_default(),
            at_micros: self.at_micros,
            actor: self.actor.clone(),
            action: self.action.clone(),
            target: self.target.clone(),
            details: serde_json::from_str(&self.details)
                .unwrap_or(serde_json::Value::String(self.details.clone())),
            details_text: self.details.clone(),
            prev_hash: self.prev_hash.clone(),
            hash: self.hash.clone(),
        }
    }
}

/// One line of `audit export`. `details_text` is the exact hashed text, so an exported log can
/// be re-verified without the database.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExportedEvent {
    pub seq: i64,
    pub at: String,
    pub at_micros: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub details: serde_json::Value,
    pub details_text: String,
    pub prev_hash: String,
    pub hash: String,
}

fn decode_hash(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// The last event of the chain: sequence number and hash. Sequence 0 is the empty chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

impl ChainHead {
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: hex::encode(GENESIS_HASH),
        }
    }
    fn hash_bytes(&self) -> Option<[u8; 32]> {
        decode_hash(&self.hash)
    }
}

/// A head recorded outside the database (see `docs/audit-log.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub at: String,
}

/// What kind of tampering a finding points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TamperKind {
    Edited,
    Deleted,
    Inserted,
    Reordered,
    Truncated,
}

/// The first place where the log is not what the service wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub seq: i64,
    pub kind: TamperKind,
    pub message: String,
}

/// The outcome of a verification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub events: u64,
    pub last_seq: i64,
    pub last_hash: String,
    pub checkpoints_checked: usize,
    pub finding: Option<Finding>,
    /// Events a restore from a backup lost, as the checkpoints taken before it show: history
    /// that was, not tampering.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lost: Vec<LostEvents>,
}

/// The events a restore lost: those after the backup's last event, through the last checkpoint
/// taken of them before the restore (events after that checkpoint may have been lost too; no
/// record outside the database names them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LostEvents {
    /// The `database.restored` event.
    pub restore_seq: i64,
    pub restored_at: String,
    /// The backup's last event: the restored log continues from it.
    pub backup_seq: i64,
    /// The first and last event known lost.
    pub first: i64,
    pub last: i64,
    /// When the checkpoint that records `last` was taken.
    pub checkpoint_at: String,
}

impl std::fmt::Display for LostEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the restore recorded at event {} ({}) went back to the backup's event {}: events {} to {} were lost (the last of them recorded by the checkpoint of {}), and any written after them",
            self.restore_seq, self.restored_at, self.backup_seq, self.first, self.last, self.checkpoint_at
        )
    }
}

/// The target of the events about the database as a whole (`database.restored`, whose details
/// carry `backup_head` (`seq`, `hash`), and `database.backed_up`).
pub const RESTORE_TARGET: &str = "database";

/// Checks the chain one event at a time, in sequence order, with one event of look-ahead so
/// that it can tell an edit from an insertion or a reordering. Memory does not grow with the log.
pub struct ChainVerifier {
    expected_prev: String,
    before_prev: Option<String>,
    last_seq: i64,
    events: u64,
    pending: Option<StoredEvent>,
    finding: Option<Finding>,
    wanted: BTreeMap<i64, String>,
    seen_at_checkpoints: BTreeMap<i64, String>,
}

impl ChainVerifier {
    pub fn new(checkpoints: &[Checkpoint]) -> Self {
        Self {
            expected_prev: hex::encode(GENESIS_HASH),
            before_prev: None,
            last_seq: 0,
            events: 0,
            pending: None,
            finding: None,
            wanted: checkpoints
                .iter()
                .map(|c| (c.seq, c.hash.clone()))
                .collect(),
            seen_at_checkpoints: BTreeMap::new(),
        }
    }

    /// Whether a finding was made (the rest of the log need not be read).
    pub fn has_finding(&self) -> bool {
        self.finding.is_some()
    }

    pub fn push(&mut self, event: StoredEvent) {
        if self.finding.is_some() {
            return;
        }
        if let Some(current) = self.pending.take() {
            self.check(current, Some(&event));
        }
        self.pending = Some(event);
    }

    fn found(&mut self, seq: i64, kind: TamperKind, message: String) {
        self.finding = Some(Finding { seq, kind, message });
    }

    fn check(&mut self, cur: StoredEvent, next: Option<&StoredEvent>) {
        let next_links_to = |h: &str| next.is_some_and(|n| n.prev_hash == h);
        if cur.recomputed_hash().as_deref() != Some(cur.hash.as_str()) {
            if !next_links_to(&cur.hash) && next_links_to(&self.expected_prev) {
                let msg = format!(
                    "event {} is not part of the chain: it was inserted (the next event links to event {})",
                    cur.seq, self.last_seq
                );
                return self.found(cur.seq, TamperKind::Inserted, msg);
            }
            let msg = format!(
                "event {} was edited: its content no longer matches its hash",
                cur.seq
            );
            return self.found(cur.seq, TamperKind::Edited, msg);
        }
        if cur.prev_hash != self.expected_prev {
            if self.before_prev.as_deref() == Some(cur.prev_hash.as_str()) {
                let msg = format!(
                    "event {} was inserted: event {} links to the event before it",
                    self.last_seq, cur.seq
                );
                return self.found(self.last_seq, TamperKind::Inserted, msg);
            }
            if next_links_to(&self.expected_prev) {
                let msg = format!(
                    "event {} is out of order: the event that follows event {} comes after it",
                    cur.seq, self.last_seq
                );
                return self.found(cur.seq, TamperKind::Reordered, msg);
            }
            if cur.seq > self.last_seq + 1 {
                let msg = if cur.seq == self.last_seq + 2 {
                    format!("event {} was deleted", self.last_seq + 1)
                } else {
                    format!(
                        "events {} to {} were deleted",
                        self.last_seq + 1,
                        cur.seq - 1
                    )
                };
                return self.found(self.last_seq + 1, TamperKind::Deleted, msg);
            }
            let msg = format!(
                "the chain breaks between events {} and {}: event {} was edited and re-hashed, or events between them were deleted and the rest renumbered",
                self.last_seq, cur.seq, self.last_seq
            );
            return self.found(cur.seq, TamperKind::Deleted, msg);
        }
        if cur.seq != self.last_seq + 1 {
            let msg = format!(
                "event {} carries sequence number {} although it links to event {}: sequence numbers were edited",
                self.last_seq + 1,
                cur.seq,
                self.last_seq
            );
            return self.found(cur.seq, TamperKind::Edited, msg);
        }
        if self.wanted.contains_key(&cur.seq) {
            self.seen_at_checkpoints.insert(cur.seq, cur.hash.clone());
        }
        self.before_prev = Some(std::mem::replace(&mut self.expected_prev, cur.hash));
        self.last_seq = cur.seq;
        self.events += 1;
    }

    /// Ends the walk and compares the last event with the head the database records.
    pub fn finish(mut self, head: &ChainHead) -> VerifyReport {
        if let Some(last) = self.pending.take() {
            if self.finding.is_none() {
                self.check(last, None);
            }
        }
        if self.finding.is_none() {
            self.check_head(head);
        }
        if self.finding.is_none() {
            self.check_checkpoints();
        }
        VerifyReport {
            events: self.events,
            last_seq: self.last_seq,
            last_hash: self.expected_prev.clone(),
            checkpoints_checked: self.seen_at_checkpoints.len(),
            finding: self.finding,
            lost: Vec::new(),
        }
    }

    fn check_head(&mut self, head: &ChainHead) {
        if head.seq > self.last_seq {
            let msg = format!(
                "the log ends at event {} but its head records event {}: events {} to {} were removed",
                self.last_seq,
                head.seq,
                self.last_seq + 1,
                head.seq
            );
            self.found(self.last_seq + 1, TamperKind::Truncated, msg);
        } else if head.seq < self.last_seq {
            let msg = format!(
                "events after {} were appended without moving the head: event {} was inserted",
                head.seq,
                head.seq + 1
            );
            self.found(head.seq + 1, TamperKind::Inserted, msg);
        } else if head.hash != self.expected_prev {
            let msg = format!(
                "the head's hash does not match event {}: it was edited",
                head.seq
            );
            self.found(head.seq, TamperKind::Edited, msg);
        }
    }

    fn check_checkpoints(&mut self) {
        let wanted = std::mem::take(&mut self.wanted);
        for (seq, hash) in wanted {
            match self.seen_at_checkpoints.get(&seq) {
                Some(seen) if *seen == hash => {}
                Some(_) => {
                    let msg = format!(
                        "event {seq} differs from the checkpoint taken of it: the log was rewritten from event {seq} or earlier"
                    );
                    return self.found(seq, TamperKind::Edited, msg);
                }
                None if seq > self.last_seq => {
                    let msg = format!(
                        "a checkpoint records event {seq} but the log ends at event {}: the tail was truncated",
                        self.last_seq
                    );
                    return self.found(self.last_seq + 1, TamperKind::Truncated, msg);
                }
                None => {
                    let msg = format!("event {seq}, recorded in a checkpoint, is missing");
                    return self.found(seq, TamperKind::Deleted, msg);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> (Vec<StoredEvent>, ChainHead) {
        let mut head = ChainHead::genesis();
        let mut out = Vec::new();
        for i in 0..n {
            let at = DateTime::from_timestamp(1_800_000_000 + i as i64, 0).expect("time");
            let ev = AuditEvent::new(
                at,
                &Actor::system(),
                Action::HOLDER_CREATED,
                format!("t{i}"),
                serde_json::json!({ "i": i }),
            );
            let stored = StoredEvent::chain(&head, &ev);
            head = stored.head();
            out.push(stored);
        }
        (out, head)
    }

    fn verify(rows: &[StoredEvent], head: &ChainHead, cps: &[Checkpoint]) -> VerifyReport {
        let mut v = ChainVerifier::new(cps);
        for r in rows {
            v.push(r.clone());
        }
        v.finish(head)
    }

    fn finding(rows: &[StoredEvent], head: &ChainHead) -> (i64, TamperKind) {
        let f = verify(rows, head, &[])
            .finding
            .expect("tampering must be found");
        (f.seq, f.kind)
    }

    #[test]
    fn intact_chain_verifies() {
        let (rows, head) = chain(10);
        let r = verify(&rows, &head, &[]);
        assert_eq!(r.finding, None);
        assert_eq!((r.events, r.last_seq), (10, 10));
        let r = verify(&[], &ChainHead::genesis(), &[]);
        assert_eq!(r.finding, None);
    }

    #[test]
    fn edit_is_found_at_the_edited_event() {
        let (mut rows, head) = chain(10);
        rows[4].details = "{\"i\":99}".into();
        assert_eq!(finding(&rows, &head), (5, TamperKind::Edited));
        let (mut rows, head) = chain(10);
        rows[9].actor = "operator:mallory".into();
        assert_eq!(finding(&rows, &head), (10, TamperKind::Edited));
    }

    #[test]
    fn deletion_is_found() {
        let (mut rows, head) = chain(10);
        rows.remove(4);
        assert_eq!(finding(&rows, &head), (5, TamperKind::Deleted));
    }

    #[test]
    fn insertion_is_found() {
        let (mut rows, head) = chain(10);
        // A forged event with its own consistent hash, spliced in after event 4.
        let forged_head = rows[3].head();
        let ev = AuditEvent::new(
            Utc::now(),
            &Actor::system(),
            Action::HOLDER_CREATED,
            "x",
            serde_json::json!({}),
        );
        let mut forged = StoredEvent::chain(&forged_head, &ev);
        forged.seq = 5;
        for r in rows.iter_mut().skip(4) {
            r.seq += 1;
        }
        rows.insert(4, forged.clone());
        assert_eq!(finding(&rows, &head), (5, TamperKind::Inserted));
        // The same with a made-up hash.
        forged.hash = "ab".repeat(32);
        rows[4] = forged;
        assert_eq!(finding(&rows, &head), (5, TamperKind::Inserted));
    }

    #[test]
    fn reordering_is_found() {
        let (mut rows, head) = chain(10);
        rows.swap(4, 5);
        let (a, b) = (rows[4].seq, rows[5].seq);
        rows[4].seq = b;
        rows[5].seq = a;
        assert_eq!(finding(&rows, &head), (5, TamperKind::Reordered));
    }

    #[test]
    fn truncation_is_found_by_the_head_and_by_checkpoints() {
        let (mut rows, head) = chain(10);
        rows.truncate(7);
        assert_eq!(finding(&rows, &head), (8, TamperKind::Truncated));
        // Head rewritten too: only a checkpoint kept outside the database shows it.
        let new_head = rows[6].head();
        assert_eq!(verify(&rows, &new_head, &[]).finding, None);
        let cp = Checkpoint {
            seq: head.seq,
            hash: head.hash.clone(),
            at: String::new(),
        };
        let f = verify(&rows, &new_head, &[cp]).finding.expect("found");
        assert_eq!((f.seq, f.kind), (8, TamperKind::Truncated));
    }

    #[test]
    fn rewritten_chain_contradicts_a_checkpoint() {
        let (rows, head) = chain(10);
        let cp = Checkpoint {
            seq: 5,
            hash: rows[4].hash.clone(),
            at: String::new(),
        };
        assert_eq!(
            verify(&rows, &head, std::slice::from_ref(&cp)).checkpoints_checked,
            1
        );
        // Re-hash everything from event 3 on, as an attacker with database access could.
        let mut forged = rows[..2].to_vec();
        let mut h = forged[1].head();
        for r in &rows[2..] {
            let ev = AuditEvent {
                at: DateTime::from_timestamp_micros(r.at_micros).expect("t"),
                actor: Actor::system(),
                action: Action::HOLDER_CREATED,
                target: r.target.clone(),
                details: if r.seq == 3 {
                    "{}".into()
                } else {
                    r.details.clone()
                },
            };
            let s = StoredEvent::chain(&h, &ev);
            h = s.head();
            forged.push(s);
        }
        assert_eq!(verify(&forged, &h, &[]).finding, None);
        let f = verify(&forged, &h, &[cp]).finding.expect("found");
        assert_eq!((f.seq, f.kind), (5, TamperKind::Edited));
    }
}
