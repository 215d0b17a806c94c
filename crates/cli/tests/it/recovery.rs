//! The restore drill (docs/disaster-recovery.md), on SQLite and on PostgreSQL: serve, issue,
//! revoke, back up while serving, revoke more, lose the database, restore with the checkpoints
//! and the published CRL kept elsewhere, and check with openssl that nothing was un-revoked,
//! no CRL number was reused, the audit log verifies and names what the restore lost, and
//! every key is there.

use std::path::Path;

use crate::support::*;

/// Registers holder `number` and issues their second certificate: (serial, PEM file).
fn second_of(data: &Path, dir: &Path, number: &str) -> (String, std::path::PathBuf) {
    let holder = HolderArgs {
        number,
        roman: Some("Taro Yakuzai"),
        ..HolderArgs::default()
    };
    ok(data, &holder.args(&[]));
    let cert = json(&ok(
        data,
        &["cert", "issue-second", "--holder", number, "--json"],
    ));
    let serial = cert["serial"].as_str().expect("serial").to_owned();
    let pem = write(
        dir,
        &format!("{number}.pem"),
        cert["pem"].as_str().expect("pem"),
    );
    (serial, pem)
}

/// A CRL's number and the serials it lists, as openssl reads it.
fn crl_text(der_file: &Path) -> (i64, String) {
    let (good, text) = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        path(der_file),
        "-noout",
        "-text",
    ]);
    assert!(good, "{text}");
    let number = text
        .lines()
        .skip_while(|l| !l.contains("X509v3 CRL Number"))
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no CRL number: {text}"));
    (number, text.to_ascii_lowercase())
}

fn listed(text: &str, serial: &str) -> bool {
    let even = if serial.len() % 2 == 1 {
        format!("0{serial}")
    } else {
        serial.to_owned()
    };
    text.contains(&format!("serial number: {even}"))
}

fn fetch_crl(server: &Server, dir: &Path, name: &str) -> std::path::PathBuf {
    let r = server.get("/crl/sign.crl", None);
    assert_eq!(r.status, 200);
    let file = dir.join(name);
    std::fs::write(&file, &r.body).expect("write");
    file
}

/// The whole drill on the database `url` (None: SQLite in the data directory); `lose` takes
/// the database away once the server is stopped.
fn drill(database_url: Option<&str>, lose: &dyn Fn(&Path)) {
    let dir = TempDir::new();
    let elsewhere = TempDir::new();
    let data = init(&dir, database_url);
    let (first, first_pem) = second_of(&data, dir.path(), "900001");
    let (second, second_pem) = second_of(&data, dir.path(), "900002");
    let (_, third_pem) = second_of(&data, dir.path(), "900003");
    let (root, signing, _) = ca_files(&data, dir.path());
    let server = Server::start(&data);

    ok(
        &data,
        &["cert", "revoke", &first, "--reason", "keyCompromise"],
    );
    // The backup, taken while serve runs.
    let backup = elsewhere.path().join("hpki.backup");
    let taken = json(&ok(&data, &["backup", "--out", path(&backup), "--json"]));
    let backup_seq = taken["audit_head"]["seq"].as_i64().expect("head");
    assert!(backup_seq > 0);
    // After the backup: another revocation, which relying parties (and the CDN) saw, and a
    // certificate issued and revoked that the backup will not know at all.
    ok(
        &data,
        &["cert", "revoke", &second, "--reason", "keyCompromise"],
    );
    let (late, late_pem) = second_of(&data, dir.path(), "900004");
    ok(
        &data,
        &["cert", "revoke", &late, "--reason", "keyCompromise"],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let published = loop {
        let file = fetch_crl(&server, elsewhere.path(), "published-sign.crl");
        let (number, text) = crl_text(&file);
        if listed(&text, &second) && listed(&text, &late) {
            break (file, number);
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    // A checkpoint after the backup, kept off the machine.
    let cp = json(&ok(&data, &["audit", "checkpoint", "--json"]));
    let checkpoints = write(elsewhere.path(), "checkpoints.jsonl", &format!("{cp}\n"));
    let lost_through = cp["seq"].as_i64().expect("seq");
    assert!(lost_through > backup_seq);
    assert!(server.stop());

    // The database is lost.
    lose(&data);
    // No command puts an empty database in place of the lost one.
    let (_, err) = fails(&data, &["keystore", "check"]);
    assert!(err.contains("does not exist or is empty"), "{err}");

    let restored = json(&ok(
        &data,
        &[
            "restore",
            path(&backup),
            "--checkpoints",
            path(&checkpoints),
            "--crl",
            path(&published.0),
            "--json",
        ],
    ));
    assert_eq!(restored["revoked_again"], serde_json::json!([second]));
    assert_eq!(restored["lost_certificates"], serde_json::json!([late]));
    let lost = restored["lost_events"][0].as_str().expect("lost events");
    assert!(
        lost.contains(&format!(
            "events {} to {lost_through} were lost",
            backup_seq + 1
        )),
        "{lost}"
    );
    assert_eq!(restored["keys"]["missing"], serde_json::json!([]));
    assert!(!data.join("restore-in-progress").exists());

    // The audit log verifies; with the checkpoints, it names the loss instead of tampering.
    assert!(ok(&data, &["audit", "verify"]).contains("intact"));
    let verified = ok(
        &data,
        &["audit", "verify", "--checkpoints", path(&checkpoints)],
    );
    assert!(
        verified.contains("intact") && verified.contains("were lost"),
        "{verified}"
    );
    let export = ok(&data, &["audit", "export"]);
    assert!(
        export.contains("database.restored"),
        "the restore is audited"
    );
    assert!(
        export.contains("revoked again after a restore"),
        "so is the revocation"
    );
    assert!(ok(&data, &["keystore", "check"]).contains("every key is present"));

    // Served again: OCSP and the CRL, by openssl.
    let server = Server::start(&data);
    let url = format!("http://{}/ocsp", server.addr);
    for (pem, status) in [
        (&first_pem, "revoked"),
        (&second_pem, "revoked"),
        (&late_pem, "revoked"),
        (&third_pem, "good"),
    ] {
        let (_, out) = openssl(&[
            "ocsp",
            "-issuer",
            path(&signing),
            "-CAfile",
            path(&root),
            "-url",
            &url,
            "-cert",
            path(pem),
        ]);
        assert!(
            out.contains("Response verify OK") && out.contains(&format!(": {status}")),
            "{out}"
        );
    }
    let file = fetch_crl(&server, dir.path(), "after.crl");
    let (number, text) = crl_text(&file);
    assert!(
        number > published.1,
        "CRL number {number} after {}",
        published.1
    );
    assert!(
        listed(&text, &first) && listed(&text, &second) && listed(&text, &late),
        "{text}"
    );
    assert!(server.stop());

    // A restore that did not finish keeps serve from starting; running the same restore
    // again finishes it, without a second restore event.
    let sha = taken["payload_sha256"].as_str().expect("sha");
    write(&data, "restore-in-progress", sha);
    let (_, err) = fails(&data, &["serve", "--listen", "127.0.0.1:0"]);
    assert!(err.contains("a restore did not finish"), "{err}");
    let again = json(&ok(
        &data,
        &[
            "restore",
            path(&backup),
            "--crl",
            path(&published.0),
            "--json",
        ],
    ));
    assert_eq!(again["revoked_again"], serde_json::json!([]));
    assert!(!data.join("restore-in-progress").exists());
    let export = ok(&data, &["audit", "export"]);
    assert_eq!(
        export.matches("\"database.restored\"").count(),
        1,
        "{export}"
    );
    // Another backup's marker is not taken for this one's.
    write(&data, "restore-in-progress", "x");
    let (_, err) = fails(&data, &["restore", path(&backup)]);
    assert!(err.contains("another backup's restore"), "{err}");
}

#[test]
fn restore_drill_on_sqlite() {
    drill(None, &|data| {
        for f in ["hpki-second.db", "hpki-second.db-wal", "hpki-second.db-shm"] {
            let _ = std::fs::remove_file(data.join(f));
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_drill_on_postgres() {
    let url = hpki_test_support::fresh_postgres_database("hpki_drill").await;
    let name = url.rsplit_once('/').expect("a database name").1.to_owned();
    let admin = hpki_test_support::required_env("HPKI_TEST_DATABASE_URL");
    tokio::task::spawn_blocking(move || {
        drill(Some(&url), &|_| {
            // The cluster lost the database: an empty one of the same name is all there is.
            let (admin, name) = (admin.clone(), name.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    use sqlx::Connection;
                    let mut conn = sqlx::AnyConnection::connect(&admin).await.expect("admin");
                    for sql in [
                        format!("DROP DATABASE {name} WITH (FORCE)"),
                        format!("CREATE DATABASE {name}"),
                    ] {
                        sqlx::query(&sql)
                            .execute(&mut conn)
                            .await
                            .expect("drop and create");
                    }
                });
            })
            .join()
            .expect("drop the database");
        })
    })
    .await
    .expect("drill");
}
