//! The audit chain's SQL, in one place for both of its writers: every write transaction
//! (`write.rs`, through sqlx) and the group commit's SQLite thread (`group/sqlite.rs`, through
//! rusqlite). Statements use `$N` parameters, which both drivers bind by position.

/// Reads the head and, on PostgreSQL, locks its row until the transaction ends: every writer
/// of every process takes it first, which orders the appends (docs/audit-log.md).
pub(crate) const LOCK_HEAD: &str =
    "UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash";

/// Reads the head inside a transaction that holds SQLite's write lock already.
pub(crate) const READ_HEAD: &str = "SELECT seq, hash FROM audit_head WHERE id = 1";

/// Moves the head to the last event appended ($1 seq, $2 hash).
pub(crate) const MOVE_HEAD: &str = "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1";

macro_rules! insert_events {
    () => {
        "INSERT INTO audit_events (seq, at_micros, actor, action, target, details, prev_hash, hash) VALUES "
    };
}

/// The start of an INSERT of events; each row is [`EVENT_COLUMNS`] values in this order.
pub(crate) const INSERT_EVENTS: &str = insert_events!();

/// seq, at_micros, actor, action, target, details, prev_hash, hash.
pub(crate) const EVENT_COLUMNS: usize = 8;

/// One event's INSERT.
pub(crate) const INSERT_ONE_EVENT: &str =
    concat!(insert_events!(), "($1, $2, $3, $4, $5, $6, $7, $8)");

/// Counts events once their transaction committed (`hpki_audit_events_total` by action: the
/// catalogue bounds the labels), for both writers.
pub(crate) fn count_committed(actions: impl IntoIterator<Item = hpki_core::audit::Action>) {
    for action in actions {
        metrics::counter!("hpki_audit_events_total", "action" => action.as_str()).increment(1);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_event_has_a_parameter_per_column() {
        let count = super::INSERT_ONE_EVENT.matches('$').count();
        assert_eq!(count, super::EVENT_COLUMNS);
        assert_eq!(
            super::INSERT_EVENTS.split(',').count(),
            super::EVENT_COLUMNS,
            "the column list"
        );
    }
}
