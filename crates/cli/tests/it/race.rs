//! Two `hpki-second serve` processes on one PostgreSQL, raced: the audit chain's head and the
//! holder uniqueness must hold across processes.

use std::sync::Arc;

use sqlx::Connection;

use crate::helpers::*;

/// A fresh database on the test PostgreSQL (scripts/test starts one; no skipping without it).
async fn fresh_postgres() -> String {
    let admin = std::env::var("HPKI_TEST_DATABASE_URL").expect(
        "HPKI_TEST_DATABASE_URL is not set: the two-process race test needs PostgreSQL \
         (scripts/test starts a private one); it does not skip",
    );
    sqlx::any::install_default_drivers();
    let name = format!("hpki_race_{}", random_hex(6));
    let mut conn = sqlx::AnyConnection::connect(&admin)
        .await
        .expect("connect to the test PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create database");
    conn.close().await.expect("close");
    let (base, _) = admin.rsplit_once('/').expect("URL with a database name");
    format!("{base}/{name}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_keep_one_chain() {
    let url = fresh_postgres().await;
    let (dir_a, dir_b) = (TempDir::new(), TempDir::new());
    let data_a = init(&dir_a, Some(&url));
    // Every instance needs the key-encryption key the CA keys were sealed under.
    std::fs::create_dir_all(dir_b.data()).expect("mkdir");
    std::fs::copy(
        data_a.join("keystore.kek"),
        dir_b.data().join("keystore.kek"),
    )
    .expect("copy the KEK");
    let data_b = init(&dir_b, Some(&url));
    let token = operator_token(&data_a, "racer");
    let base = audit_seq(&data_a);
    let a = Arc::new(Server::start(&data_a));
    let b = Arc::new(Server::start(&data_b));

    // 120 requests at once, alternating servers: 60 distinct holders, and 60 that all want
    // the same registry number.
    const N: usize = 120;
    let mut handles = Vec::new();
    for i in 0..N {
        let server = if i % 2 == 0 { a.clone() } else { b.clone() };
        let token = token.clone();
        handles.push(std::thread::spawn(move || {
            let number = if i % 2 == 0 { 800_000 + i } else { 999_999 };
            let body = serde_json::json!({
                "registry_number": number.to_string(),
                "name_kanji": "競争 太郎",
                "name_kana": "キョウソウ タロウ",
                "date_of_birth": "1980-04-01",
                "qualification": "Pharmacist"
            });
            server
                .post_json("/api/v1/holders", Some(&token), &body)
                .status
        }));
    }
    let statuses: Vec<u16> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let created = statuses.iter().filter(|s| **s == 201).count();
    let conflicts = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!((created, conflicts), (61, 59), "statuses: {statuses:?}");

    drop(a);
    drop(b);
    let report = json(&ok(&data_a, &["audit", "verify", "--json"]));
    assert!(report["finding"].is_null(), "{report}");
    // 61 holder.created on top: one chain written by two processes.
    assert_eq!(report["last_seq"].as_i64(), Some(base + 61));
    let list = json(&ok(
        &data_b,
        &["holder", "list", "--limit", "1000", "--json"],
    ));
    assert_eq!(list["holders"].as_array().expect("array").len(), 61);
}
