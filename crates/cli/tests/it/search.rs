//! Holder search (operators): partial, full-width/half-width, hiragana/katakana and case
//! insensitive, from the CLI and the operator API; a holder registered by another process is
//! found by the running server's next search; statuses are current.

use crate::support::*;

fn usernames(found: &serde_json::Value) -> Vec<String> {
    found["holders"]
        .as_array()
        .expect("holders")
        .iter()
        .map(|h| h["username"].as_str().expect("username").to_owned())
        .collect()
}

#[test]
fn holders_are_found_however_the_query_is_typed() {
    let dir = TempDir::new();
    let data = dir.data();
    ok(&data, &["init"]);
    let taro = HolderArgs {
        roman: Some("Taro Yakuzai"),
        ..HolderArgs::default()
    };
    ok(&data, &taro.args(&[]));
    let hanako = HolderArgs {
        number: "888888",
        kanji: "調剤 花子",
        kana: "チョウザイ ハナコ",
        date_of_birth: "1985-05-05",
        ..HolderArgs::default()
    };
    ok(&data, &hanako.args(&[]));
    let search = |q: &str| json(&ok(&data, &["holder", "search", q, "--json"]));
    for (query, expected) in [
        ("ﾔｸｻﾞｲ", vec!["999999-jpa"]),             // half-width katakana
        ("やくざい", vec!["999999-jpa"]),         // hiragana
        ("ヤクザイ　タロウ", vec!["999999-jpa"]), // full-width space
        ("ざいたろ", vec!["999999-jpa"]),         // across the space
        ("９９９９", vec!["999999-jpa"]),         // full-width digits
        ("8888", vec!["888888-jpa"]),
        ("888888-JPA", vec!["888888-jpa"]),
        ("花子", vec!["888888-jpa"]),
        ("TARO", vec!["999999-jpa"]),
        ("ざい", vec!["999999-jpa", "888888-jpa"]),
        ("zzz", vec![]),
    ] {
        let found = search(query);
        assert_eq!(usernames(&found), expected, "{query}: {found}");
        assert_eq!(
            found["total"].as_u64(),
            Some(expected.len() as u64),
            "{query}"
        );
    }
    // A query that is only spaces: said, not a search of everything.
    let (_, err) = fails(&data, &["holder", "search", "　 "]);
    assert!(err.contains("registry number"), "{err}");
    // --limit: the first ones, and the total.
    let found = json(&ok(
        &data,
        &["holder", "search", "ざい", "--limit", "1", "--json"],
    ));
    assert_eq!(usernames(&found), vec!["999999-jpa"]);
    assert_eq!(found["total"], 2);

    // Every match as CSV, read back with Python's csv module (a reader nobody here wrote).
    let out = ok(&data, &["holder", "search", "ｻﾞｲ", "--csv"]);
    let py = std::process::Command::new("python3")
        .args([
            "-c",
            "import csv,sys; rows=list(csv.DictReader(sys.stdin)); print(len(rows)); print(';'.join(r['username']+'='+r['family_name_kanji']+r['given_name_kanji']+'/'+r['name_kana'] for r in rows))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write as _;
    py.stdin
        .as_ref()
        .expect("stdin")
        .write_all(out.as_bytes())
        .expect("write");
    let read = py.wait_with_output().expect("python3");
    let text = String::from_utf8_lossy(&read.stdout);
    assert_eq!(
        text.trim(),
        "2\n999999-jpa=薬剤太郎/ヤクザイ タロウ;888888-jpa=調剤花子/チョウザイ ハナコ",
        "{out}"
    );

    // Through the operator API of a running server; another process registers a holder and
    // the server's next search finds it; a suspension shows at once.
    let server = Server::start(&data);
    let token = operator_token(&data, "desk");
    let api = |q: &str| {
        let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
        let r = server.get(&format!("/api/v1/holders?q={q}"), Some(&token));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    };
    assert_eq!(usernames(&api("ﾁｮｳｻﾞｲ")), vec!["888888-jpa"]);
    let third = HolderArgs {
        number: "777777",
        kanji: "薬局 次郎",
        kana: "ヤッキョク ジロウ",
        date_of_birth: "1990-01-01",
        ..HolderArgs::default()
    };
    ok(&data, &third.args(&[]));
    assert_eq!(usernames(&api("じろう")), vec!["777777-jpa"]);
    ok(&data, &["holder", "suspend", "888888", "--reason", "test"]);
    assert_eq!(api("ハナコ")["holders"][0]["status"], "suspended");
    let r = server.get("/api/v1/holders?q=%20", Some(&token));
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(server.get("/api/v1/holders?q=x", None).status, 401);
}

/// Markup in a name is refused by every door (the CLI, the CSV import, the operator API), each
/// refusal naming the field and the character; a cell a spreadsheet would evaluate (a name
/// that starts with `-`) is written as text in `holder search --csv`.
#[test]
fn names_take_only_name_characters_and_csv_cells_are_not_formulas() {
    let dir = TempDir::new();
    let data = init(&dir, None);
    let script = HolderArgs {
        kanji: "<script>alert(1)</script> 太郎",
        ..HolderArgs::default()
    };
    let (_, e) = fails(&data, &script.args(&[]));
    assert!(e.contains("name_kanji") && e.contains("'<'"), "{e}");
    let csv = dir.path().join("holders.csv");
    std::fs::write(
        &csv,
        "registry_number,name_kanji,name_kana,date_of_birth,qualification\n777777,=HYPERLINK(\"http://x\") 太郎,ヤクザイ タロウ,1980-04-01,Pharmacist\n",
    )
    .expect("write");
    let (_, e) = fails(&data, &["holder", "import", csv.to_str().expect("path")]);
    assert!(e.contains("line 2") || e.contains("row 2"), "{e}");
    assert!(e.contains("'='"), "{e}");
    let server = Server::start(&data);
    let token = operator_token(&data, "api");
    let r = server.post_json(
        "/api/v1/holders",
        Some(&token),
        &serde_json::json!({
            "registry_number": "666666", "name_kanji": "薬剤 <b>太郎</b>",
            "name_kana": "ヤクザイ タロウ", "date_of_birth": "1980-04-01",
            "qualification": "Pharmacist"
        }),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.json()["fields"][0]["field"], "name_kanji", "{}", r.text());
    drop(server);

    std::fs::write(
        &csv,
        "registry_number,name_kanji,name_kana,date_of_birth,qualification\n555555,-Smith John,スミス ジョン,1980-04-01,Pharmacist\n",
    )
    .expect("write");
    ok(&data, &["holder", "import", csv.to_str().expect("path")]);
    let out = ok(&data, &["holder", "search", "555555", "--csv"]);
    assert!(out.contains("555555,555555-jpa,'-Smith,John,"), "{out}");
}
