//! The audit tamper tests: change the database behind the service's back, then verify.

use crate::support::*;

fn setup(dir: &TempDir) -> std::path::PathBuf {
    let data = init(dir, None);
    let base = audit_seq(&data);
    for i in 0..8 {
        let number = format!("{}", 300_001 + i);
        let holder = HolderArgs {
            number: &number,
            kanji: "監査 太郎",
            kana: "カンサ タロウ",
            ..HolderArgs::default()
        };
        ok(&data, &holder.args(&[]));
    }
    assert_audit_intact(&data, base + 8);
    data
}

/// Runs `statements` as someone who owns the database file: first dropping the triggers that
/// keep events from being changed or deleted (anyone with the file can).
async fn sql(data: &std::path::Path, statements: &[&str]) {
    let pool = sqlite_pool(data).await;
    let owner = [
        "DROP TRIGGER IF EXISTS audit_events_no_update",
        "DROP TRIGGER IF EXISTS audit_events_no_delete",
    ];
    for s in owner.iter().chain(statements) {
        sqlx::query(s)
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    pool.close().await;
}

fn verify_fails(data: &std::path::Path) -> serde_json::Value {
    let o = cli(data, &["audit", "verify", "--json"]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "verify must exit 3 on tampering: {}{}",
        stdout(&o),
        stderr(&o)
    );
    json(&stdout(&o))["finding"].clone()
}

#[tokio::test]
async fn an_edited_event_is_found() {
    let dir = TempDir::new();
    let data = setup(&dir);
    sql(
        &data,
        &["UPDATE audit_events SET actor = 'operator:mallory' WHERE seq = 4"],
    )
    .await;
    let f = verify_fails(&data);
    assert_eq!(
        (f["seq"].as_i64(), f["kind"].as_str()),
        (Some(4), Some("edited")),
        "{f}"
    );
}

#[tokio::test]
async fn a_deleted_event_is_found() {
    let dir = TempDir::new();
    let data = setup(&dir);
    sql(&data, &["DELETE FROM audit_events WHERE seq = 5"]).await;
    let f = verify_fails(&data);
    assert_eq!(
        (f["seq"].as_i64(), f["kind"].as_str()),
        (Some(5), Some("deleted")),
        "{f}"
    );
}

#[tokio::test]
async fn an_inserted_event_is_found() {
    let dir = TempDir::new();
    let data = setup(&dir);
    let forged = format!(
        "INSERT INTO audit_events (seq, at_micros, actor, action, target, details, prev_hash, hash) \
         SELECT 3, at_micros, 'operator:mallory', 'holder.created', '1-jpa', '{{}}', hash, '{}' FROM audit_events WHERE seq = 2",
        "ab".repeat(32)
    );
    sql(
        &data,
        &[
            "UPDATE audit_events SET seq = seq + 100 WHERE seq >= 3",
            "UPDATE audit_events SET seq = seq - 99 WHERE seq >= 103",
            &forged,
        ],
    )
    .await;
    let f = verify_fails(&data);
    assert_eq!(
        (f["seq"].as_i64(), f["kind"].as_str()),
        (Some(3), Some("inserted")),
        "{f}"
    );
}

#[tokio::test]
async fn reordered_events_are_found() {
    let dir = TempDir::new();
    let data = setup(&dir);
    sql(
        &data,
        &[
            "UPDATE audit_events SET seq = 100 WHERE seq = 5",
            "UPDATE audit_events SET seq = 5 WHERE seq = 6",
            "UPDATE audit_events SET seq = 6 WHERE seq = 100",
        ],
    )
    .await;
    let f = verify_fails(&data);
    assert_eq!(
        (f["seq"].as_i64(), f["kind"].as_str()),
        (Some(5), Some("reordered")),
        "{f}"
    );
}

#[tokio::test]
async fn a_truncated_tail_is_found_by_the_head_and_by_a_checkpoint() {
    let dir = TempDir::new();
    let data = setup(&dir);
    ok(&data, &["audit", "checkpoint"]);
    sql(&data, &["DELETE FROM audit_events WHERE seq > 6"]).await;
    let f = verify_fails(&data);
    assert_eq!(
        (f["seq"].as_i64(), f["kind"].as_str()),
        (Some(7), Some("truncated")),
        "{f}"
    );
    // An attacker who also rewinds the head is still caught by the checkpoint kept outside.
    sql(
        &data,
        &["UPDATE audit_head SET seq = 6, hash = (SELECT hash FROM audit_events WHERE seq = 6)"],
    )
    .await;
    let f = verify_fails(&data);
    assert_eq!(
        (f["seq"].as_i64(), f["kind"].as_str()),
        (Some(7), Some("truncated")),
        "{f}"
    );
    assert!(
        f["message"].as_str().expect("msg").contains("checkpoint"),
        "{f}"
    );
}

#[test]
fn export_writes_json_lines_that_match_the_chain() {
    let dir = TempDir::new();
    let data = setup(&dir);
    let total = audit_seq(&data) as usize;
    let out = ok(&data, &["audit", "export"]);
    let lines: Vec<serde_json::Value> = out.lines().map(json).collect();
    assert_eq!(lines.len(), total);
    for w in lines.windows(2) {
        assert_eq!(w[1]["prev_hash"], w[0]["hash"]);
        assert_eq!(w[1]["seq"].as_i64(), w[0]["seq"].as_i64().map(|s| s + 1));
    }
    assert_eq!(lines[0]["action"], "ca.created");
    let last = &lines[total - 1];
    assert_eq!(last["action"], "holder.created");
    assert_eq!(last["details"]["via"], "add");
}
