//! Printed sheets from the command line, read back by poppler (pdftotext, pdftoppm, pdfinfo)
//! and zbar (zbarimg): what the operator hands out is what the service checks.

use std::path::Path;
use std::process::Command;

use crate::support::*;

fn tool(name: &str, args: &[&str]) -> String {
    let out = Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name} is needed (Debian poppler-utils / zbar-tools): {e}"));
    assert!(
        out.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn pages(pdf: &Path) -> usize {
    let info = tool("pdfinfo", &[pdf.to_str().expect("path")]);
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no page count: {info}"))
}

fn page_text(pdf: &Path, page: usize) -> String {
    let p = page.to_string();
    tool(
        "pdftotext",
        &["-f", &p, "-l", &p, pdf.to_str().expect("path"), "-"],
    )
    .chars()
    .filter(|c| !c.is_whitespace())
    .collect()
}

fn page_qr(pdf: &Path, page: usize, dir: &Path) -> String {
    let p = page.to_string();
    let png = dir.join(format!("qr-{page}"));
    tool(
        "pdftoppm",
        &[
            "-f",
            &p,
            "-l",
            &p,
            "-r",
            "150",
            "-png",
            "-singlefile",
            pdf.to_str().expect("path"),
            png.to_str().expect("path"),
        ],
    );
    tool(
        "zbarimg",
        &["--quiet", "--raw", &format!("{}.png", png.display())],
    )
    .trim_end()
    .to_owned()
}

fn audit_count(data: &Path, action: &str) -> usize {
    ok(data, &["audit", "export"])
        .matches(&format!("\"{action}\""))
        .count()
}

#[test]
fn a_printed_sheet_carries_the_holder_the_password_and_a_qr_code_of_the_url() {
    let dir = TempDir::new();
    let data = dir.data();
    ok(&data, &["init", "--public-url", "https://hpki.example.jp"]);
    let face = dir.path().join("face.png");
    std::fs::write(&face, png(300, 400)).expect("write");
    let face = face.to_str().expect("path");
    ok(&data, &[HOLDER, &["--photo", face]].concat());
    let pdf = dir.path().join("sheet.pdf");
    let issued = json(&ok(
        &data,
        &[
            "sheet",
            "issue",
            "--holder",
            "999999",
            "--out",
            pdf.to_str().expect("path"),
            "--json",
        ],
    ));
    let url = issued["url"].as_str().expect("url");
    let password = issued["password"].as_str().expect("password");
    assert_eq!(pages(&pdf), 1);
    let text = page_text(&pdf, 1);
    for needle in [
        "薬剤太郎",
        "ヤクザイタロウ",
        "999999-jpa",
        "薬剤師",
        password,
        url,
        "登録の手順",
    ] {
        assert!(text.contains(needle), "the sheet lacks {needle:?}: {text}");
    }
    // The issuer defaults to the signing CA's organization.
    assert!(text.contains("発行：hpki-seconddemo"), "{text}");
    assert_eq!(page_qr(&pdf, 1, dir.path()), url);
    assert!(!dir.path().join("sheet.pdf.partial").exists());
    // It carries the password: the owner's alone.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&pdf).expect("pdf").permissions().mode();
    assert_eq!(
        mode & 0o077,
        0,
        "the sheet PDF is readable by others: {mode:o}"
    );
}

#[test]
fn a_print_run_issues_for_every_pending_holder_or_for_none() {
    let dir = TempDir::new();
    let data = dir.data();
    ok(
        &data,
        &["init", "--public-url", "https://hpki.example.jp", "--no-ca"],
    );
    std::fs::write(dir.path().join("face.png"), png(240, 320)).expect("write");
    let csv = dir.path().join("holders.csv");
    std::fs::write(
        &csv,
        "registry_number,name_kanji,name_kana,date_of_birth,qualification,photo\n\
         100001,薬剤 一郎,ヤクザイ イチロウ,1970-01-01,Pharmacist,face.png\n\
         100002,調剤 花子,チョウザイ ハナコ,1971-02-02,Pharmacist,face.png\n\
         100003,医師 三郎,イシ サブロウ,1972-03-03,Medical Doctor,\n\
         100004,歯科 四郎,シカ シロウ,1973-04-04,Dentist,face.png\n",
    )
    .expect("csv");
    // The import says at once which holders cannot be printed yet.
    let import = cli(&data, &["holder", "import", csv.to_str().expect("path")]);
    assert!(import.status.success(), "{}", stderr(&import));
    let note = stderr(&import);
    assert!(
        note.contains("4 holder(s) wait for a sheet; 1 cannot be printed yet")
            && note.contains("100003-jpa has no face photo"),
        "{note}"
    );
    // 100004 already has a usable sheet: not pending.
    ok(&data, &["sheet", "issue", "--holder", "100004"]);
    let pdf = dir.path().join("run.pdf");
    let pdf_s = pdf.to_str().expect("path");

    // One holder has no photo: nothing is issued, no file is left.
    let issued_before = audit_count(&data, "sheet.issued");
    let (_, err) = fails(&data, &["sheet", "issue", "--all-pending", "--out", pdf_s]);
    assert!(err.contains("no sheet was issued"), "{err}");
    assert!(err.contains("100003-jpa has no face photo"), "{err}");
    assert!(err.contains("holder photo 100003-jpa"), "{err}");
    assert!(!pdf.exists() && !dir.path().join("run.pdf.partial").exists());
    assert_eq!(audit_count(&data, "sheet.issued"), issued_before);
    let (_, err) = fails(&data, &["sheet", "issue", "--all-pending"]);
    assert!(err.contains("--out"), "{err}");
    // `sheet check` finds the same without issuing anything, and exits 1.
    let check = cli(&data, &["sheet", "check"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(
        stdout(&check).contains("3 holder(s) wait for a sheet; 1 cannot be printed yet")
            && stdout(&check).contains("100003-jpa has no face photo"),
        "{}",
        stdout(&check)
    );
    assert_eq!(audit_count(&data, "sheet.issued"), issued_before);

    ok(
        &data,
        &[
            "holder",
            "photo",
            "100003",
            dir.path().join("face.png").to_str().expect("path"),
        ],
    );
    let check = json(&ok(&data, &["sheet", "check", "--json"]));
    assert_eq!(check["pending"], 3);
    assert_eq!(check["unprintable"], 0);
    let run = json(&ok(
        &data,
        &["sheet", "issue", "--all-pending", "--out", pdf_s, "--json"],
    ));
    assert_eq!(run["printed"], 3);
    assert_eq!(pages(&pdf), 3);
    for (page, (number, kanji)) in [
        ("100001", "薬剤一郎"),
        ("100002", "調剤花子"),
        ("100003", "医師三郎"),
    ]
    .into_iter()
    .enumerate()
    {
        let text = page_text(&pdf, page + 1);
        assert!(
            text.contains(kanji) && text.contains(&format!("{number}-jpa")),
            "{text}"
        );
        let qr = page_qr(&pdf, page + 1, dir.path());
        assert!(
            qr.starts_with("https://hpki.example.jp/r/") && text.contains(&qr),
            "{qr}"
        );
    }
    assert!(page_text(&pdf, 3).contains("医師"));
    for (number, state) in [
        ("100001", "active"),
        ("100003", "active"),
        ("100004", "active"),
    ] {
        let shown = json(&ok(&data, &["sheet", "show", "--holder", number, "--json"]));
        let all = shown.as_array().expect("array");
        assert_eq!(all.len(), 1, "{number}: one sheet, none superseded");
        assert_eq!(all[0]["state"], state);
    }
    assert_eq!(audit_count(&data, "sheet.issued"), issued_before + 3);

    // Nothing pending any more: no file.
    let again = dir.path().join("again.pdf");
    let out = ok(
        &data,
        &[
            "sheet",
            "issue",
            "--all-pending",
            "--out",
            again.to_str().expect("path"),
        ],
    );
    assert!(out.contains("nothing was printed"), "{out}");
    assert!(!again.exists());
    // Sheets are good for 90 days: none expires within 14, so nothing again.
    let soon = [
        "sheet",
        "issue",
        "--all-pending",
        "--out",
        again.to_str().expect("path"),
    ];
    let out = ok(&data, &[&soon[..], &["--expiring-within", "14d"]].concat());
    assert!(out.contains("nothing was printed"), "{out}");
    // Within 91 days every sheet expires: all four are reissued in one run (manual 2.1.2),
    // each new sheet superseding the old one.
    let run = json(&ok(
        &data,
        &[&soon[..], &["--expiring-within", "91d", "--json"]].concat(),
    ));
    assert_eq!(run["printed"], 4, "{run}");
    assert_eq!(pages(&again), 4);
    for number in ["100001", "100002", "100003", "100004"] {
        let shown = json(&ok(&data, &["sheet", "show", "--holder", number, "--json"]));
        let states: Vec<&str> = shown
            .as_array()
            .expect("array")
            .iter()
            .map(|s| s["state"].as_str().expect("state"))
            .collect();
        assert!(
            states.contains(&"active") && states.contains(&"superseded"),
            "{number}: {states:?}"
        );
    }
    std::fs::remove_file(&again).expect("rm");

    // A name the sheet font cannot draw: `holder add` says so (the holder is registered), and
    // `sheet check` names the character.
    let face = dir.path().join("face.png");
    let yoshida = HolderArgs {
        number: "100005",
        kanji: "\u{20BB7}田 太郎",
        kana: "ヨシダ タロウ",
        date_of_birth: "1975-05-05",
        ..HolderArgs::default()
    };
    let added = cli(
        &data,
        &yoshida.args(&["--photo", face.to_str().expect("path")]),
    );
    assert!(added.status.success(), "{}", stderr(&added));
    assert!(
        stderr(&added).contains("the sheet cannot be printed yet")
            && stderr(&added).contains("U+20BB7"),
        "{}",
        stderr(&added)
    );
    let (code, _) = fails(&data, &["sheet", "check"]);
    assert_eq!(code, 1);
    let check = json(&stdout(&cli(&data, &["sheet", "check", "--json"])));
    assert_eq!(check["unprintable"], 1);
    assert!(
        check["problems"][0]
            .as_str()
            .is_some_and(|p| p.starts_with("100005-jpa:") && p.contains("U+20BB7")),
        "{check}"
    );
    let out = ok(&data, &["audit", "verify"]);
    assert!(out.contains("audit log intact"), "{out}");
}

#[test]
fn the_password_page_counts_only_real_attempts_and_opens_the_sign_in_screen() {
    let dir = TempDir::new();
    let data = dir.data();
    ok(&data, &["init", "--public-url", "https://hpki.example.jp"]);
    ok(&data, HOLDER);
    let (url, password) = issued(&data, "999999");
    let server = Server::start(&data);

    let (visit, page) = Visit::open(&server, &url);
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(
        html.contains("パスワードの入力")
            && html.contains("HPKI カード申請時の暗証番号とは異なります"),
        "{html}"
    );
    assert!(
        !html.contains("999999") && !html.contains("薬剤"),
        "no holder data before the password"
    );
    // The public URL is https: __Host- cookies, Secure.
    assert!(
        visit.cookie.starts_with("__Host-hpki-csrf="),
        "{}",
        visit.cookie
    );
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );

    // Not attempts: no CSRF value, a foreign one, no password, a 10 KB password.
    let r = visit.post(&format!("password={password}"));
    assert_eq!(r.status, 403);
    assert!(r.text().contains("ページを開き直してください"));
    let r = visit.post(&format!("csrf={}&password={password}", "0".repeat(64)));
    assert_eq!(r.status, 403);
    let r = visit.post(&format!("csrf={}", visit.csrf));
    assert_eq!(r.status, 422);
    assert!(r.text().contains("パスワードを入力してください"));
    let r = visit.password(&"x".repeat(10 * 1024));
    assert_eq!(r.status, 422);
    assert!(r.text().contains("入力が長すぎます"));
    assert_eq!(attempts_used(&data, "999999"), 0, "none of these counted");

    // Input that cannot be the printed password is explained and not counted: a character the
    // sheet never uses, the wrong length. The field is marked, tied to the message, focused.
    let r = visit.password("WRANGPATH3470");
    assert_eq!(r.status, 422);
    let html = r.text();
    assert!(
        html.contains("「0」はパスワードに使われていない文字です")
            && html.contains("回数に数えていません"),
        "{html}"
    );
    assert!(
        html.contains("aria-invalid=\"true\"")
            && html.contains("aria-describedby=\"password-error attempts\"")
            && html.contains("autofocus"),
        "{html}"
    );
    assert!(html.contains("<title>エラー："), "{html}");
    let r = visit.password("WRANGPATH34");
    assert_eq!(r.status, 422);
    assert!(r
        .text()
        .contains("パスワードは 13 文字です（入力は 11 文字でした）"));
    assert_eq!(attempts_used(&data, "999999"), 0, "none of these counted");

    // A wrong password says how many remain.
    let r = visit.password("WRANGPATH3477");
    assert_eq!(r.status, 403);
    assert!(
        r.text().contains("あと <strong>4 回</strong>"),
        "{}",
        r.text()
    );
    assert_eq!(attempts_used(&data, "999999"), 1);
    let (_, again) = Visit::open(&server, &url);
    assert!(
        again.text().contains("あと 4 回間違えると"),
        "the page remembers"
    );

    // The right password, typed in lower case, full-width and letter-spaced as a Japanese
    // keyboard may (the sheet prints capitals; case does not matter): a session cookie, a
    // redirect to a URL without the token.
    assert!(
        password.len() == 13
            && password
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b"34679".contains(&b)),
        "{password}"
    );
    let typed: String = password
        .to_ascii_lowercase()
        .chars()
        .map(|c| char::from_u32(c as u32 - 0x21 + 0xFF01).expect("full-width form"))
        .flat_map(|c| [c, '\u{3000}'])
        .collect();
    let r = visit.password(&form_encode(&typed));
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/register"));
    let set = r
        .headers
        .iter()
        .find(|(k, v)| k.eq_ignore_ascii_case("set-cookie") && v.starts_with("__Host-hpki-reg="))
        .map(|(_, v)| v.clone())
        .expect("a session cookie");
    // As long as the session: 30 minutes.
    for attr in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        "Secure",
        "Max-Age=1800",
    ] {
        assert!(set.contains(attr), "{set} lacks {attr}");
    }
    let session = set.split(';').next().expect("pair").to_owned();
    let signin = request_with(
        &server.addr,
        "GET",
        "/register",
        &[("Cookie", &session)],
        b"",
    );
    assert_eq!(signin.status, 200);
    assert!(
        signin.text().contains("value=\"999999-jpa\""),
        "Username is filled in"
    );
    // Reloading keeps it filled in; without the cookie there is no registration.
    let reload = request_with(
        &server.addr,
        "GET",
        "/register",
        &[("Cookie", &session)],
        b"",
    );
    assert!(reload.text().contains("value=\"999999-jpa\""));
    let none = server.get("/register", None);
    assert_eq!(none.status, 401);
    assert!(!none.text().contains("999999"));

    // The sheet stays usable (scanning again must work: manual step 8).
    let (_, again) = Visit::open(&server, &url);
    assert_eq!(again.status, 200);
    let audit = ok(&data, &["audit", "export"]);
    assert!(audit.contains("sheet.password_failed") && audit.contains("sheet.password_accepted"));
    assert!(
        audit.contains("client:127.0.0.1"),
        "attempts are audited with the address"
    );
    assert!(!audit.contains(&password), "the password is never logged");
}

/// Sheets printed before the one-case passwords: 12 characters of both cases. The letters
/// whose cases look alike in the sheet's font (c k m p u v w x y) are taken in either case;
/// a case mistake on another letter is a wrong password, counted as before.
#[test]
fn a_first_format_sheet_takes_its_look_alike_letters_in_either_case() {
    let dir = TempDir::new();
    let data = dir.data();
    ok(&data, &["init", "--public-url", "https://hpki.example.jp"]);
    ok(&data, HOLDER);
    let server = Server::start(&data);
    // As the first sheets stored it: a bare PHC string of the mixed-case password.
    let first_format = |printed: &str| {
        let (url, _) = issued(&data, "999999");
        let phc = hpki_core::domain::sheet::phc_of(printed).expect("hash");
        let db = data.join("hpki-second.db");
        let out = std::process::Command::new("sqlite3")
            .arg(&db)
            .arg(format!(
                "UPDATE sheets SET password_hash = '{phc}' WHERE id = (SELECT MAX(id) FROM sheets)"
            ))
            .output()
            .expect("sqlite3 is installed (scripts/test installs it)");
        assert!(out.status.success(), "{out:?}");
        url
    };
    let url = first_format("3dXpqCFa7kTm");
    let (visit, _) = Visit::open(&server, &url);
    // D is not a look-alike: another password, counted.
    let r = visit.password("3DXpqCFa7kTm");
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(attempts_used(&data, "999999"), 1);
    // x p k m are: typed in the other case, it is the password.
    let r = visit.password("3dxPqCFa7KTM");
    assert_eq!(r.status, 303, "{}", r.text());
    // A 13-character input is not this sheet's length: explained, not counted.
    let url = first_format("3dXpqCFa7kTm");
    let (visit, _) = Visit::open(&server, &url);
    let r = visit.password("3dXpqCFa7kTmA");
    assert_eq!(r.status, 422);
    assert!(r
        .text()
        .contains("パスワードは 12 文字です（入力は 13 文字でした）"));
    assert_eq!(attempts_used(&data, "999999"), 0);
}

#[test]
fn unknown_superseded_revoked_and_locked_sheets_each_get_their_page() {
    let dir = TempDir::new();
    let data = dir.data();
    ok(&data, &["init", "--public-url", "https://hpki.example.jp"]);
    ok(&data, HOLDER);
    let (old_url, _) = issued(&data, "999999");
    let (url, password) = issued(&data, "999999");
    let server = Server::start(&data);

    // Unknown: the same page for a well-formed token that never existed and for garbage.
    let never = server.get(&format!("/r/{}", "0".repeat(32)), None);
    let garbage = server.get("/r/..%2F..%2Fetc%2Fpasswd", None);
    assert_eq!((never.status, garbage.status), (404, 404));
    assert_eq!(never.text(), garbage.text());
    assert!(never.text().contains("この QR コードは使用できません"));

    let (_, superseded) = Visit::open(&server, &old_url);
    assert_eq!(superseded.status, 410);
    assert!(superseded
        .text()
        .contains("新しい初期登録用 QR が発行されています"));

    // Locked after exactly five wrong passwords; then even the right one is refused.
    let (visit, _) = Visit::open(&server, &url);
    for _ in 0..4 {
        assert_eq!(visit.password("WRANGPATH3477").status, 403);
    }
    let r = visit.password("WRANGPATH3477");
    assert_eq!(r.status, 423);
    assert!(r.text().contains("パスワードの入力回数が上限に達しました"));
    assert!(r
        .text()
        .contains("認証局に新しい初期登録用 QR の発行を申し込んでください"));
    let r = visit.password(&password);
    assert_eq!(
        r.status, 423,
        "the right password cannot open a locked sheet"
    );
    assert_eq!(attempts_used(&data, "999999"), 5);
    for page in [&r.text(), &superseded.text()] {
        assert!(!page.contains("999999") && !page.contains("薬剤") && !page.contains(&password));
    }

    let (url, _) = issued(&data, "999999");
    ok(&data, &["sheet", "revoke", "--holder", "999999"]);
    let (_, revoked) = Visit::open(&server, &url);
    assert_eq!(revoked.status, 410);
    assert!(revoked.text().contains("この QR コードは取り消されました"));
    let audit = ok(&data, &["audit", "export"]);
    assert_eq!(audit.matches("\"sheet.password_failed\"").count(), 5);
    assert_eq!(audit.matches("\"sheet.locked\"").count(), 1);
}

#[test]
fn password_guessing_is_rate_limited_per_address_before_hashing() {
    let dir = TempDir::new();
    let data = dir.data();
    ok(&data, &["init", "--public-url", "https://hpki.example.jp"]);
    ok(&data, HOLDER);
    let (url, _) = issued(&data, "999999");
    let server = Server::start_with(
        &data,
        &[
            ("HPKI_SECOND__LOG__LEVEL", "warn"),
            ("HPKI_SECOND__SHEETS__PASSWORD_ATTEMPTS_BURST", "3"),
            ("HPKI_SECOND__SHEETS__PASSWORD_ATTEMPTS_PER_MINUTE", "1"),
        ],
        std::process::Stdio::null(),
    );
    let (visit, _) = Visit::open(&server, &url);
    for _ in 0..3 {
        assert_eq!(visit.password("WRANGPATH3477").status, 403);
    }
    let r = visit.password("WRANGPATH3477");
    assert_eq!(r.status, 429);
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(r.text().contains("しばらく待ってから入力してください"));
    assert_eq!(
        attempts_used(&data, "999999"),
        3,
        "the refused attempt was not counted"
    );
    // A forwarded-for header from the client itself changes nothing (no trusted proxy).
    let r = visit.post_with(
        &format!("csrf={}&password=WRANGPATH3477", visit.csrf),
        &[("X-Forwarded-For", "203.0.113.50")],
    );
    assert_eq!(r.status, 429);
}

/// A server that takes the client's address from `X-Forwarded-For`, with a small password
/// budget per address (2, then 1 a minute), and `env` besides.
fn behind_a_balancer(data: &Path, env: &[(&str, &str)]) -> Server {
    let base = [
        ("HPKI_SECOND__LOG__LEVEL", "error"),
        ("HPKI_SECOND__SERVER__CLIENT_IP_HEADER", "X-Forwarded-For"),
        ("HPKI_SECOND__SHEETS__PASSWORD_ATTEMPTS_BURST", "2"),
        ("HPKI_SECOND__SHEETS__PASSWORD_ATTEMPTS_PER_MINUTE", "1"),
    ];
    Server::start_with(
        data,
        &[&base[..], env].concat(),
        std::process::Stdio::null(),
    )
}

/// Behind a trusted load balancer only the entry it wrote (the last) decides the bucket: a
/// client cannot pick its own by adding entries, with or without a port, and a request whose
/// last entry is missing or no address is refused (400), never a 500. With the load balancers
/// listed, any other peer's header is not believed.
#[test]
fn behind_a_load_balancer_clients_cannot_choose_their_bucket() {
    let dir = TempDir::new();
    let data = dir.data();
    ok(&data, &["init", "--public-url", "https://hpki.example.jp"]);
    ok(&data, HOLDER);
    let (url, _) = issued(&data, "999999");
    let server = behind_a_balancer(&data, &[]);
    let (visit, page) = Visit::open_with(&server, &url, &[("X-Forwarded-For", "198.51.100.2")]);
    assert_eq!(page.status, 200);
    let guess = |forwarded: Option<&str>| visit.wrong_password_from(forwarded);
    // The load balancer wrote 198.51.100.2 (with a port, as some do); the client wrote the rest.
    assert_eq!(guess(Some("203.0.113.1, 198.51.100.2:5555")), 403);
    assert_eq!(guess(Some("203.0.113.2, 198.51.100.2:5556")), 403);
    assert_eq!(
        guess(Some("203.0.113.3, 198.51.100.2:5557")),
        429,
        "one bucket"
    );
    assert_eq!(guess(Some("203.0.113.4, unknown")), 400);
    assert_eq!(guess(None), 400);
    assert_eq!(attempts_used(&data, "999999"), 2);

    // With the load balancers listed (server.trusted_proxies), a peer that is not one of them
    // is a client: its header is not believed, and its own address is its bucket.
    drop(server);
    let server = behind_a_balancer(
        &data,
        &[("HPKI_SECOND__SERVER__TRUSTED_PROXIES", r#"["10.0.0.0/8"]"#)],
    );
    let (visit, page) = Visit::open_with(&server, &url, &[("X-Forwarded-For", "198.51.100.3")]);
    assert_eq!(page.status, 200);
    let guess = |forwarded: Option<&str>| visit.wrong_password_from(forwarded);
    assert_eq!(guess(None), 403, "no header from a client is no error");
    assert_eq!(guess(Some("203.0.113.5")), 403);
    assert_eq!(
        guess(Some("203.0.113.6")),
        429,
        "one bucket, the peer's, whatever it claims"
    );
    assert_eq!(attempts_used(&data, "999999"), 4);
}

/// The pages of a sheet that cannot be used are no dead end: the configured contact (name,
/// telephone, address) is on each of them.
#[test]
fn unusable_sheet_pages_say_whom_to_contact() {
    let dir = TempDir::new();
    let data = dir.data();
    ok(&data, &["init", "--public-url", "https://hpki.example.jp"]);
    ok(&data, HOLDER);
    let (url, _) = issued(&data, "999999");
    ok(&data, &["sheet", "revoke", "--holder", "999999"]);
    let server = Server::start_with(&data, CONTACT_ENV, std::process::Stdio::null());
    let revoked = url.trim_start_matches("https://hpki.example.jp");
    let unknown = format!("/r/{}", "0".repeat(32));
    for path in [revoked, unknown.as_str(), "/r/not-a-token"] {
        let page = server.get(path, None);
        assert!(page.status >= 400, "{path}: {}", page.status);
        let html = page.text();
        assert!(
            html.contains("お問い合わせ")
                && html.contains("日本薬剤師会 認証局")
                && html.contains("href=\"tel:0312345678\"")
                && html.contains("href=\"https://www.example.jp/hpki/\""),
            "{path}: {html}"
        );
    }
    // Without a contact configured, no empty block.
    drop(server);
    let plain = Server::start(&data);
    assert!(!plain.get(revoked, None).text().contains("お問い合わせ"));
}
