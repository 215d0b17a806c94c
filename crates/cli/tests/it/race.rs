//! Two `hpki-second serve` processes on one PostgreSQL, raced: the audit chain's head and the
//! holder uniqueness must hold across processes.

use std::sync::Arc;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_keep_one_chain() {
    let url = hpki_test_support::fresh_postgres_database("hpki_race").await;
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
    let a = Arc::new(Server::start(&data_a));
    let b = Arc::new(Server::start(&data_b));
    // Counted once both have started (the first registers the holder page's relying system).
    let base = audit_seq(&data_a);

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

/// N concurrent wrong passwords, spread over two server processes on one PostgreSQL, lock the
/// sheet after exactly N: the count is one atomic update, not a read-modify-write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_lock_a_sheet_after_exactly_five_wrong_passwords() {
    let url = hpki_test_support::fresh_postgres_database("hpki_race").await;
    let (dir_a, dir_b) = (TempDir::new(), TempDir::new());
    let data_a = dir_a.data();
    ok(
        &data_a,
        &[
            "init",
            "--database-url",
            &url,
            "--public-url",
            "https://hpki.example.jp",
        ],
    );
    std::fs::create_dir_all(dir_b.data()).expect("mkdir");
    std::fs::copy(
        data_a.join("keystore.kek"),
        dir_b.data().join("keystore.kek"),
    )
    .expect("copy the KEK");
    let data_b = dir_b.data();
    ok(
        &data_b,
        &[
            "init",
            "--database-url",
            &url,
            "--public-url",
            "https://hpki.example.jp",
        ],
    );
    ok(&data_a, HOLDER);
    let sheet = json(&ok(
        &data_a,
        &["sheet", "issue", "--holder", "999999", "--json"],
    ));
    let path = sheet["url"]
        .as_str()
        .expect("url")
        .trim_start_matches("https://hpki.example.jp")
        .to_owned();
    // The attempts all come from 127.0.0.1: lift the per-address limit for this test.
    let env = [
        ("HPKI_SECOND__LOG__LEVEL", "warn"),
        ("HPKI_SECOND__SHEETS__PASSWORD_ATTEMPTS_BURST", "1000"),
    ];
    let a = Arc::new(Server::start_with(
        &data_a,
        &env,
        std::process::Stdio::inherit(),
    ));
    let b = Arc::new(Server::start_with(
        &data_b,
        &env,
        std::process::Stdio::inherit(),
    ));
    let page = a.get(&path, None);
    assert_eq!(page.status, 200);
    let cookie = page
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .and_then(|(_, v)| v.split(';').next())
        .expect("csrf cookie")
        .to_owned();
    let html = page.text();
    let at = html.find("name=\"csrf\" value=\"").expect("csrf field") + 19;
    let body = format!("csrf={}&password=WRANGPATH3477", &html[at..at + 64]);

    const N: usize = 20;
    let mut handles = Vec::new();
    for i in 0..N {
        let server = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (cookie, body, path) = (cookie.clone(), body.clone(), path.clone());
        handles.push(std::thread::spawn(move || {
            request_with(
                &server.addr,
                "POST",
                &path,
                &[
                    ("Content-Type", "application/x-www-form-urlencoded"),
                    ("Cookie", &cookie),
                ],
                body.as_bytes(),
            )
            .status
        }));
    }
    let mut statuses: Vec<u16> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    statuses.sort_unstable();
    // Four answers say how many remain, every other says locked.
    assert_eq!(
        statuses.iter().filter(|s| **s == 403).count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 423).count(),
        N - 4,
        "{statuses:?}"
    );
    drop(a);
    drop(b);

    let shown = json(&ok(
        &data_b,
        &["sheet", "show", "--holder", "999999", "--json"],
    ));
    assert_eq!(shown[0]["state"], "locked");
    assert_eq!(shown[0]["attempts_used"], 5);
    let audit = ok(&data_a, &["audit", "export"]);
    assert_eq!(audit.matches("\"sheet.password_failed\"").count(), 5);
    assert_eq!(audit.matches("\"sheet.locked\"").count(), 1);
    let report = json(&ok(&data_a, &["audit", "verify", "--json"]));
    assert!(report["finding"].is_null(), "{report}");
}
