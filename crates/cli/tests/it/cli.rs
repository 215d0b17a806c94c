use crate::support::*;

fn head_seq(data: &std::path::Path) -> i64 {
    json(&ok(data, &["audit", "checkpoint", "--json"]))["seq"]
        .as_i64()
        .expect("seq")
}

#[test]
fn init_writes_a_private_config_and_is_idempotent() {
    let dir = TempDir::new();
    let data = dir.data();
    let out = json(&ok(
        &data,
        &[
            "init",
            "--public-url",
            "https://hpki.example.test",
            "--json",
        ],
    ));
    assert_eq!(out["public_url"], "https://hpki.example.test/");
    let config = std::fs::read_to_string(data.join("hpki-second.toml")).expect("config");
    assert!(config.contains("public_url = \"https://hpki.example.test\""));
    assert!(
        config.contains("# The one public base URL"),
        "the config is commented"
    );
    assert!(data.join("hpki-second.db").is_file());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(data.join("hpki-second.toml"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "config readable by others: {mode:o}");
    // Again: nothing changes.
    ok(&data, &["init"]);
    assert_eq!(
        std::fs::read_to_string(data.join("hpki-second.toml")).expect("config"),
        config
    );
}

#[test]
fn commands_refuse_an_uninitialised_directory() {
    let dir = TempDir::new();
    let (_, err) = fails(&dir.data(), &["holder", "list"]);
    assert!(err.contains("run `hpki-second init"), "{err}");
}

#[test]
fn bad_configuration_names_the_file_and_the_key() {
    let dir = TempDir::new();
    let data = init(&dir, None);
    let path = data.join("hpki-second.toml");
    std::fs::write(&path, "[server]\nlisten = \"not an address\"\n").expect("write");
    let (_, err) = fails(&data, &["holder", "list"]);
    assert!(
        err.contains("hpki-second.toml") && err.contains("server.listen"),
        "{err}"
    );

    std::fs::write(&path, "[server\nlisten = 1\n").expect("write");
    let (_, err) = fails(&data, &["holder", "list"]);
    assert!(
        err.contains("hpki-second.toml") && err.contains("line 1"),
        "{err}"
    );

    std::fs::write(&path, "[database]\nurl = \"postgres://hpki:hunter2@127.0.0.1:1/hpki\"\nconnect_timeout_secs = 2\n").expect("write");
    let (_, err) = fails(&data, &["holder", "list"]);
    assert!(err.contains("127.0.0.1:1"), "{err}");
    assert!(!err.contains("hunter2"), "the password leaked: {err}");

    // Passkeys need a domain name: an IP address is refused when the file is read, by every
    // command, not first by the server.
    std::fs::write(&path, "[server]\npublic_url = \"http://127.0.0.1:8080\"\n").expect("write");
    let (_, err) = fails(&data, &["holder", "list"]);
    assert!(
        err.contains("server.public_url") && err.contains("IP address"),
        "{err}"
    );
}

#[test]
fn holders_are_added_shown_listed_and_duplicates_refused() {
    let dir = TempDir::new();
    let data = init(&dir, None);
    let h = json(&ok(&data, HOLDER));
    assert_eq!(h["username"], "999999-jpa");
    assert_eq!(h["qualification"], "Pharmacist");
    let shown = json(&ok(&data, &["holder", "show", "999999", "--json"]));
    assert_eq!(shown["name_kana"], "ヤクザイ タロウ");
    let (_, err) = fails(&data, HOLDER);
    assert!(err.contains("999999-jpa is already registered"), "{err}");

    let before = head_seq(&data);
    let bad = HolderArgs {
        number: "12a",
        kanji: "x",
        kana: "abc",
        date_of_birth: "1980-02-30",
        qualification: "Wizard",
        roman: None,
    };
    let (_, err) = fails(&data, &bad.args(&[]));
    for field in [
        "registry_number",
        "name_kana",
        "date_of_birth",
        "qualification",
    ] {
        assert!(err.contains(field), "{field} missing from {err}");
    }
    assert_eq!(head_seq(&data), before, "a refused holder leaves no event");
    let list = json(&ok(&data, &["holder", "list", "--json"]));
    assert_eq!(list["holders"].as_array().expect("array").len(), 1);
    let (_, err) = fails(&data, &["holder", "show", "123-jpa"]);
    assert!(err.contains("not found"), "{err}");

    // The kanji name in two parts (no note), or one word (kept whole, and said so).
    let o = cli(
        &data,
        &[
            "holder",
            "add",
            "--registry-number",
            "100001",
            "--family-name-kanji",
            "神楽坂",
            "--given-name-kanji",
            "四十",
            "--name-kana",
            "カグラザカ シジュウ",
            "--name-roman",
            "Shiju Kagurazaka",
            "--date-of-birth",
            "1980-04-01",
            "--qualification",
            "Pharmacist",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json(&stdout(&o))["name_kanji"], "神楽坂\u{3000}四十");
    assert_eq!(json(&stdout(&o))["name_roman"], "Shiju Kagurazaka");
    assert!(!stderr(&o).contains("name_kanji"), "{}", stderr(&o));
    let one_word = HolderArgs {
        number: "100002",
        kanji: "一語",
        ..HolderArgs::default()
    };
    let o = cli(&data, &one_word.args(&["--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        json(&stdout(&o))["given_name_kanji"],
        serde_json::Value::Null
    );
    assert!(
        stderr(&o).contains("kept whole as the family name"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn photos_are_checked_and_reencoded() {
    let dir = TempDir::new();
    let data = init(&dir, None);
    let big = dir.path().join("big.jpg");
    std::fs::write(&big, vec![0xFFu8; 50 * 1024 * 1024]).expect("write");
    let fake = dir.path().join("photo.png");
    std::fs::write(&fake, b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00").expect("write");
    let good = dir.path().join("face.png");
    std::fs::write(&good, png(600, 800)).expect("write");

    let with_photo = |p: &std::path::Path| {
        let mut args: Vec<String> = HOLDER.iter().map(|s| s.to_string()).collect();
        args.extend(["--photo".to_owned(), p.display().to_string()]);
        args
    };
    let run = |args: Vec<String>| cli(&data, &args.iter().map(String::as_str).collect::<Vec<_>>());

    let o = run(with_photo(&big));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("52428800 bytes; at most 5242880"),
        "{}",
        stderr(&o)
    );
    let o = run(with_photo(&fake));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("not a JPEG or PNG image (it looks like an ELF executable)"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        json(&ok(&data, &["holder", "list", "--json"]))["holders"]
            .as_array()
            .expect("a")
            .len(),
        0
    );

    let o = run(with_photo(&good));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(json(&stdout(&o))["photo_sha256"].is_string());
}

#[test]
fn import_is_all_or_nothing_and_idempotent() {
    let dir = TempDir::new();
    let data = init(&dir, None);
    std::fs::write(dir.path().join("face.png"), png(300, 400)).expect("write");
    let good = dir.path().join("holders.csv");
    std::fs::write(
        &good,
        "registry_number,name_kanji,name_kana,date_of_birth,qualification,photo\n\
         100001,薬剤 一郎,ヤクザイ イチロウ,1970-01-01,Pharmacist,face.png\n\
         100002,医師 二郎,イシ ジロウ,1971-02-02,Medical Doctor,\n",
    )
    .expect("write");
    let o = cli(
        &data,
        &["holder", "import", good.to_str().expect("path"), "--json"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r = json(&stdout(&o));
    assert_eq!(
        (r["inserted"].as_u64(), r["unchanged"].as_u64()),
        (Some(2), Some(0))
    );
    // Both kanji names came as one field: the import says it split them.
    assert_eq!(
        (r["names_split"].as_u64(), r["names_one_word"].as_u64()),
        (Some(2), Some(0))
    );
    assert!(
        stderr(&o).contains("split at its first space into family and given name in 2 rows"),
        "{}",
        stderr(&o)
    );
    let shown = json(&ok(&data, &["holder", "show", "100002", "--json"]));
    assert_eq!(
        (&shown["family_name_kanji"], &shown["given_name_kanji"]),
        (&serde_json::json!("医師"), &serde_json::json!("二郎"))
    );
    let seq = head_seq(&data);
    let r = json(&ok(
        &data,
        &["holder", "import", good.to_str().expect("path"), "--json"],
    ));
    assert_eq!(
        (r["inserted"].as_u64(), r["unchanged"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(head_seq(&data), seq, "re-importing changes nothing");

    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "registry_number,name_kanji,name_kana,date_of_birth,qualification,photo\n\
         100003,新規 三郎,シンキ サブロウ,1972-03-03,Pharmacist,\n\
         100004,新規 四郎,シンキ シロウ,1972-13-03,Pharmacist,\n\
         100002,医師 二郎,イシ ジロウ,1971-02-02,Dentist,\n\
         100005,新規 五郎,シンキ ゴロウ,1972-03-03,Pharmacist,missing.png\n",
    )
    .expect("write");
    let (_, err) = fails(&data, &["holder", "import", bad.to_str().expect("path")]);
    assert!(err.contains("line 3: date_of_birth"), "{err}");
    assert!(err.contains("line 5: photo"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    // The conflict with a stored holder is found once the file itself is clean.
    let conflict = dir.path().join("conflict.csv");
    std::fs::write(
        &conflict,
        "registry_number,name_kanji,name_kana,date_of_birth,qualification\n\
         100003,新規 三郎,シンキ サブロウ,1972-03-03,Pharmacist\n\
         100002,医師 二郎,イシ ジロウ,1971-02-02,Dentist\n",
    )
    .expect("write");
    let (_, err) = fails(
        &data,
        &["holder", "import", conflict.to_str().expect("path")],
    );
    assert!(
        err.contains("line 3: holder 100002-jpa is already registered with different data"),
        "{err}"
    );
    let (_, err) = fails(&data, &["holder", "show", "100003-jpa"]);
    assert!(err.contains("not found"), "{err}");
    assert_eq!(head_seq(&data), seq, "a refused import leaves no event");

    let sjis = dir.path().join("sjis.csv");
    let mut bytes = b"registry_number,name_kanji,name_kana,date_of_birth,qualification\n".to_vec();
    bytes.extend_from_slice(b"100006,\x96\xf2\x8d\xdc,x,1980-01-01,Pharmacist\n");
    std::fs::write(&sjis, bytes).expect("write");
    let (_, err) = fails(&data, &["holder", "import", sjis.to_str().expect("path")]);
    assert!(err.contains("line 2: the file is not valid UTF-8"), "{err}");
}

#[test]
fn the_key_encryption_key_can_come_from_the_environment() {
    let dir = TempDir::new();
    let data = dir.data();
    let kek = random_hex(32);
    let run = |args: &[&str], with_kek: bool| {
        let mut c = std::process::Command::new(BIN);
        c.arg("--data-dir")
            .arg(&data)
            .args(args)
            .env_remove("HPKI_SECOND_DATA_DIR");
        if with_kek {
            c.env("HPKI_SECOND_KEK", &kek);
        } else {
            c.env_remove("HPKI_SECOND_KEK");
        }
        c.output().expect("run")
    };
    let o = run(&["init"], true);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !data.join("keystore.kek").exists(),
        "no KEK file when the environment has it"
    );
    assert!(run(&["ca", "show"], true).status.success());
    let o = run(&["ca", "show"], false);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("keystore.kek"), "{}", stderr(&o));
    assert!(!stderr(&o).contains(&kek));
}

#[test]
fn sheets_are_issued_superseded_shown_and_revoked() {
    let dir = TempDir::new();
    let data = dir.data();
    ok(
        &data,
        &["init", "--public-url", "https://hpki.example.jp", "--no-ca"],
    );
    ok(&data, HOLDER);
    let first = json(&ok(
        &data,
        &["sheet", "issue", "--holder", "999999", "--json"],
    ));
    let url = first["url"].as_str().expect("url");
    assert!(
        url.starts_with("https://hpki.example.jp/r/")
            && url.len() == "https://hpki.example.jp/r/".len() + 32,
        "{url}"
    );
    let password = first["password"].as_str().expect("password");
    assert_eq!(password.len(), 13);
    // Neither secret is stored: the database has only their hashes.
    let mut db = std::fs::read(data.join("hpki-second.db")).expect("db");
    db.extend(std::fs::read(data.join("hpki-second.db-wal")).unwrap_or_default());
    let token = url.rsplit('/').next().expect("token");
    assert!(
        !db.windows(token.len()).any(|w| w == token.as_bytes()),
        "the token is stored in the clear"
    );
    assert!(
        !db.windows(password.len()).any(|w| w == password.as_bytes()),
        "the password is stored in the clear"
    );

    ok(&data, &["sheet", "reissue", "--holder", "999999-jpa"]);
    let shown = json(&ok(
        &data,
        &["sheet", "show", "--holder", "999999", "--json"],
    ));
    let states: Vec<&str> = shown
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["state"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(states, vec!["superseded", "active"]);
    let expiring = json(&ok(
        &data,
        &["sheet", "list", "--expiring-within", "91d", "--json"],
    ));
    assert_eq!(expiring.as_array().expect("array").len(), 1);
    assert!(json(&ok(
        &data,
        &["sheet", "list", "--expiring-within", "14d", "--json"]
    ))
    .as_array()
    .expect("a")
    .is_empty());
    let revoked = json(&ok(
        &data,
        &["sheet", "revoke", "--holder", "999999", "--json"],
    ));
    assert_eq!(revoked["state"], "revoked");
    let (_, err) = fails(&data, &["sheet", "revoke", "--holder", "999999"]);
    assert!(err.contains("no usable sheet"), "{err}");
    let (_, err) = fails(&data, &["sheet", "issue", "--holder", "123456"]);
    assert!(err.contains("not found"), "{err}");
    let out = ok(&data, &["audit", "export"]);
    for action in ["sheet.issued", "sheet.superseded", "sheet.revoked"] {
        assert!(out.contains(action), "{action} not audited");
    }
}

/// What the CLI reads and writes is bounded and never half done: a span beyond any sheet, an
/// endless device as a photo or CSR, a CSV that points outside its directory, an init that
/// cannot reach its database; the SQLite file is the owner's alone.
#[test]
fn the_cli_reads_within_limits_and_leaves_nothing_half_done() {
    let dir = TempDir::new();
    let data = init(&dir, None);
    ok(&data, HOLDER);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("hpki-second.db"))
            .expect("the database file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the SQLite file is {mode:o}");
    }
    let (code, err) = fails(&data, &["sheet", "list", "--expiring-within", "100000000d"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("at most 3650d"), "{err}");
    let (code, err) = fails(&data, &["holder", "photo", "999999", "/dev/zero"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("larger than"), "{err}");
    let (code, err) = fails(
        &data,
        &[
            "cert",
            "issue-card",
            "--holder",
            "999999",
            "--kind",
            "auth",
            "--csr",
            "/dev/urandom",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("larger than 65536 bytes"), "{err}");

    // A CSV's photos are files inside its directory.
    let csv_dir = dir.path().join("import");
    std::fs::create_dir_all(&csv_dir).expect("mkdir");
    std::fs::write(dir.path().join("outside.png"), png(200, 200)).expect("photo");
    for photo in ["../outside.png", "/etc/passwd"] {
        let csv = csv_dir.join("holders.csv");
        std::fs::write(
            &csv,
            format!("registry_number,name_kanji,name_kana,date_of_birth,qualification,photo\n424242,写真 一郎,シャシン イチロウ,1980-04-01,Pharmacist,{photo}\n"),
        )
        .expect("csv");
        let (_, err) = fails(&data, &["holder", "import", csv.to_str().expect("path")]);
        assert!(
            err.contains("inside the CSV file's directory"),
            "{photo}: {err}"
        );
    }

    // An init that cannot reach its database leaves no directory behind, so that the next
    // attempt starts clean (it used to leave a config with the bad URL and a key).
    let fresh = dir.path().join("fresh");
    let failed_init = |data: &std::path::Path| {
        let o = std::process::Command::new(BIN)
            .arg("--data-dir")
            .arg(data)
            .args([
                "init",
                "--database-url",
                "postgres://nobody:pw@127.0.0.1:1/none",
            ])
            // Nothing listens on port 1: no need to wait the default 10 s to be sure.
            .env("HPKI_SECOND__DATABASE__CONNECT_TIMEOUT_SECS", "1")
            .output()
            .expect("run hpki-second");
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(!stderr(&o).contains(":pw@"), "{}", stderr(&o));
    };
    failed_init(&fresh);
    assert!(!fresh.exists(), "a failed init left {fresh:?} behind");
    // In a directory that existed: only what the failed init added goes.
    std::fs::create_dir_all(&fresh).expect("mkdir");
    std::fs::write(fresh.join("notes.txt"), "mine").expect("write");
    failed_init(&fresh);
    let left: Vec<_> = std::fs::read_dir(&fresh)
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, ["notes.txt"], "only the operator's own file stays");
    ok(&fresh, &["init"]);
}

/// What a CA engineer stumbled on at the command line: arguments without help, an error that
/// named one of two choices, a Rust debug form in `ca show`, a date that "is not YYYY-MM-DD",
/// times in UTC beside Japan's, a lost-card report that said only "0 certificate(s) revoked",
/// and the CA certificates only as PEM mixed into text.
#[test]
fn the_command_line_explains_itself() {
    let dir = TempDir::new();
    let data = init(&dir, None);
    ok(&data, HOLDER);

    let help = stdout(&cli(&data, &["holder", "lost-phone", "--help"]));
    for said in [
        "The holder: a username (999999-jpa) or a registry number (999999)",
        "--revoke-second",
        "Revoke the second certificate instead",
    ] {
        assert!(help.contains(said), "{said}: {help}");
    }
    let help = stdout(&cli(&data, &["holder", "lost-card", "--help"]));
    assert!(help.contains("Revoke the second certificate too"), "{help}");
    assert!(help.contains("The holder: a username"), "{help}");

    let (_, e) = fails(&data, &["holder", "lost-phone", "999999", "--reason", "x"]);
    assert!(
        e.contains("--device") && e.contains("--revoke-second"),
        "both choices are named: {e}"
    );

    let shown = ok(&data, &["ca", "show"]);
    assert!(!shown.contains("Some("), "{shown}");
    assert!(
        shown.contains("root CA (software keystore, rsa-2048)"),
        "{shown}"
    );
    assert!(shown.contains("/ca/root.crt"), "{shown}");

    let (_, e) = fails(
        &data,
        &[
            "holder",
            "add",
            "--registry-number",
            "999998",
            "--name-kanji",
            "薬剤 次郎",
            "--name-kana",
            "ヤクザイ ジロウ",
            "--date-of-birth",
            "1985-02-30",
            "--qualification",
            "Pharmacist",
        ],
    );
    assert!(e.contains("1985-02 has 28 days, not 30"), "{e}");

    let added = ok(&data, &["operator", "add", "--name", "alice"]);
    assert!(added.contains(" JST"), "{added}");
    assert!(!added.contains("UTC"), "{added}");

    // With an operator, dual control binds the command line too: a request, unless the
    // glass is broken (with a reason).
    let lost = ok(
        &data,
        &["holder", "lost-card", "999999", "--reason", "lost"],
    );
    assert!(
        lost.contains("waits for an approver") && lost.contains("approval approve"),
        "{lost}"
    );
    let lost = ok(
        &data,
        &[
            "holder",
            "lost-card",
            "999999",
            "--reason",
            "lost",
            "--break-glass",
            "nobody else is here",
        ],
    );
    assert!(
        lost.contains("nothing to revoke: the holder has no valid card certificate"),
        "{lost}"
    );
    // So are the certificate commands: a second certificate, a revocation by serial.
    let mut roman = HOLDER.to_vec();
    roman[3] = "999997";
    roman.extend(["--name-roman", "Taro Yakuzai"]);
    ok(&data, &roman);
    let asked = ok(&data, &["cert", "issue-second", "--holder", "999997"]);
    assert!(asked.contains("waits for an approver"), "{asked}");
    let issued = json(&ok(
        &data,
        &[
            "cert",
            "issue-second",
            "--holder",
            "999997",
            "--break-glass",
            "the approver is ill",
            "--json",
        ],
    ));
    let serial = issued["serial"].as_str().expect("serial").to_owned();
    let asked = ok(
        &data,
        &["cert", "revoke", &serial, "--reason", "superseded"],
    );
    assert!(asked.contains("waits for an approver"), "{asked}");
    let listed = ok(&data, &["approval", "list"]);
    assert!(
        listed.contains("issue-second")
            && listed.contains(&format!("revoke-certificate  {serial}")),
        "{listed}"
    );
    let shown = json(&ok(&data, &["cert", "show", &serial, "--json"]));
    assert_eq!(shown["status"], "valid", "nothing revoked before approval");

    // The CA certificates as files, one each, and from the server at stable URLs.
    let out = dir.path().join("cas");
    let written = ok(
        &data,
        &["ca", "show", "--out-dir", out.to_str().expect("path")],
    );
    for role in ["root", "sign", "auth"] {
        let file = out.join(format!("{role}.pem"));
        assert!(written.contains(file.to_str().expect("path")), "{written}");
        let o = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-in"])
            .arg(&file)
            .output()
            .expect("openssl");
        assert!(o.status.success(), "{role}.pem is one certificate: {o:?}");
    }
    let server = Server::start(&data);
    let der = server.get("/ca/root.crt", None);
    assert_eq!(der.status, 200);
    assert_eq!(der.header("content-type"), Some("application/pkix-cert"));
    let file = dir.path().join("root.der");
    std::fs::write(&file, &der.body).expect("write");
    let o = std::process::Command::new("openssl")
        .args(["x509", "-inform", "DER", "-noout", "-subject", "-in"])
        .arg(&file)
        .output()
        .expect("openssl");
    assert!(o.status.success(), "{o:?}");
    let pem = server.get("/ca/sign.pem", None);
    assert_eq!(pem.status, 200);
    assert_eq!(
        pem.text(),
        std::fs::read_to_string(out.join("sign.pem")).expect("read")
    );
    assert_eq!(server.get("/ca/other.crt", None).status, 404);
    assert_eq!(server.get("/ca/root.txt", None).status, 404);
}

/// `demo` tells a newcomer where everything is: the holder's sheet, the operator console with
/// a link that enrols the demo operator's passkey, how to add operators, the other port; the
/// desktop application's client for `hpki-second sign`.
#[test]
fn demo_names_the_console_and_how_to_enrol_an_operator() {
    use std::io::{BufRead, BufReader};
    let dir = TempDir::new();
    let data = dir.path().join("hpki-data");
    let port = free_port();
    let mut child = std::process::Command::new(BIN)
        .arg("--data-dir")
        .arg(&data)
        .args(["demo", "--listen", &format!("127.0.0.1:{port}")])
        .env("HPKI_SECOND__LOG__LEVEL", "warn")
        .env("HPKI_SECOND__SERVER__DRAIN_SECS", "0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("demo");
    let mut banner = String::new();
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    while !banner.contains("stop with Ctrl-C") {
        let mut line = String::new();
        if out.read_line(&mut line).expect("read") == 0 {
            break;
        }
        banner.push_str(&line);
    }
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    let console = format!("console:        http://localhost:{port}/admin");
    for said in [
        console.as_str(),
        "/admin/enrol/",
        "operator add --name NAME",
        "demo --listen",
        "desktop app:",
        "hpki-second sign --url",
    ] {
        assert!(banner.contains(said), "{said}: {banner}");
    }
}

/// Nothing migrates implicitly: with its schema one version behind (as after installing a new
/// release), commands and `serve` refuse the database and name `db migrate`; `db migrate` on an
/// up-to-date database says its version.
#[test]
fn commands_refuse_an_older_schema_and_name_db_migrate() {
    let dir = TempDir::new();
    let data = init(&dir, None);
    let migrated = json(&ok(&data, &["db", "migrate", "--json"]));
    let version = migrated["schema_version"].as_i64().expect("version");
    assert!(version > 1, "{migrated}");
    let db = data.join("hpki-second.db");
    let forget = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg(format!(
            "DELETE FROM schema_migrations WHERE version = {version}"
        ))
        .output()
        .expect("sqlite3");
    assert!(forget.status.success(), "{forget:?}");
    for args in [
        &["holder", "list"][..],
        &["serve", "--listen", "127.0.0.1:0"],
    ] {
        let (_, e) = fails(&data, args);
        assert!(
            e.contains(&format!("at version {}", version - 1)) && e.contains("db migrate"),
            "{args:?}: {e}"
        );
    }
}
