//! The operator console over HTTP against the real server, with the software authenticator as
//! the operator's security key: enrolment through the single-use link, sign-in, a session
//! needed for everything, CSRF on every form, an auditor who only reads, a revocation only
//! after a fresh assertion, a reissued sheet. (e2e/console.mjs does it in Chromium.)

use base64::Engine;
use hpki_passkey::soft::{Authenticator, Faults};

use crate::support::*;

fn csrf_meta(html: &str) -> String {
    between(html, "name=\"csrf-token\" content=\"", "\"").to_owned()
}

fn csrf_field(html: &str) -> String {
    between(html, "name=\"csrf\" value=\"", "\"").to_owned()
}

/// An operator of `role` with an enrolled key, signed in: their browser and key.
fn operator(w: &World, name: &str, role: &str) -> (Browser, Authenticator) {
    let added = json(&ok(
        &w.data,
        &["operator", "add", "--name", name, "--role", role, "--json"],
    ));
    let link = added["enrolment_url"]
        .as_str()
        .expect("enrolment_url")
        .to_owned();
    let path = url::Url::parse(&link).expect("url").path().to_owned();
    let port = w.server.addr.rsplit(':').next().expect("port");
    let mut key = Authenticator::new(&format!("http://localhost:{port}"), "localhost");
    let mut b = Browser::new(&w.server);
    let page = b.get(&path);
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains(name), "the page names the operator");
    let csrf = csrf_meta(&page.text());
    let options = b.post_json(&format!("{path}/options"), &csrf, b"{}");
    assert_eq!(options.status, 200, "{}", options.text());
    let answer = key.create(&public_key(options.json()), Faults::default());
    let done = b.post_json(&format!("{path}/finish"), &csrf, &answer);
    assert_eq!(done.status, 200, "{}", done.text());
    // The link is used up.
    assert_eq!(b.get(&path).status, 404);
    sign_in(&mut b, &mut key, name);
    (b, key)
}

fn sign_in(b: &mut Browser, key: &mut Authenticator, name: &str) {
    let page = b.get("/admin/login");
    let csrf = csrf_meta(&page.text());
    let body = serde_json::json!({ "name": name }).to_string();
    let options = b.post_json("/admin/login/options", &csrf, body.as_bytes());
    assert_eq!(options.status, 200, "{}", options.text());
    key.counter += 1;
    let answer = key.get(&public_key(options.json()), Faults::default());
    let credential: serde_json::Value = serde_json::from_slice(&answer).expect("json");
    let body = serde_json::json!({ "name": name, "credential": credential }).to_string();
    let done = b.post_json("/admin/login/finish", &csrf, body.as_bytes());
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(done.json()["next"], "/admin");
}

#[test]
fn operators_enrol_sign_in_and_carry_out_cases_in_the_console() {
    // A fresh assertion counts for 2 seconds here (5 minutes by default).
    let w = world_with(&[("HPKI_SECOND__CONSOLE__REAUTH_SECONDS", "2")]);
    // No session: the sign-in page, for pages and for actions.
    let mut nobody = Browser::new(&w.server);
    for path in ["/admin", "/admin/holders/999999-jpa"] {
        let r = nobody.get(path);
        assert_eq!(r.status, 303, "{path}");
        assert_eq!(r.header("location"), Some("/admin/login"));
    }
    let r = nobody.post_form("/admin/holders/999999-jpa/do/suspend", "reason=x");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/admin/login"));

    let (mut b, mut key) = operator(&w, "desk", "operator");
    // Search by half-width kana, the holder's page.
    let found = b.get("/admin?q=%EF%BE%94%EF%BD%B8%EF%BD%BB%EF%BE%9E%EF%BD%B2");
    assert_eq!(found.status, 200, "{}", found.text());
    assert!(
        found.text().contains("/admin/holders/999999-jpa"),
        "{}",
        found.text()
    );
    assert!(
        found.text().contains("/admin/export.csv?q="),
        "the results can be exported"
    );
    let csv = b.get("/admin/export.csv?q=%E3%82%84%E3%81%8F%E3%81%96%E3%81%84");
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(
        csv.text().starts_with("registry_number,username,")
            && csv.text().contains("999999,999999-jpa,薬剤,太郎"),
        "{}",
        csv.text()
    );
    let page = b.get("/admin/holders/999999-jpa");
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    for expected in [
        "薬剤　太郎",
        "セカンド電子証明書",
        &w.serial,
        "監査ログ",
        "sheet.issued",
        "初期登録用 QR を再発行",
    ] {
        assert!(html.contains(expected), "{expected} missing:\n{html}");
    }
    let csrf = csrf_field(&html);

    // A form without its CSRF value changes nothing.
    let r = b.post_form("/admin/holders/999999-jpa/do/suspend", "reason=test");
    assert_eq!(r.status, 303);
    assert_eq!(
        json(&ok(&w.data, &["holder", "show", "999999", "--json"]))["status"],
        "active"
    );
    // The confirmation, then without a reason: asked again.
    let confirm = b.post_form(
        "/admin/holders/999999-jpa/confirm/suspend",
        &format!("csrf={csrf}"),
    );
    assert_eq!(confirm.status, 200);
    assert!(confirm.text().contains("利用の停止"));
    let r = b.post_form(
        "/admin/holders/999999-jpa/do/suspend",
        &format!("csrf={csrf}&reason=+"),
    );
    assert_eq!(r.status, 422);
    let r = b.post_form(
        "/admin/holders/999999-jpa/do/suspend",
        &format!("csrf={csrf}&reason=%E7%A2%BA%E8%AA%8D%E4%B8%AD"),
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(
        r.header("location"),
        Some("/admin/holders/999999-jpa?done=suspend")
    );
    assert_eq!(
        json(&ok(&w.data, &["holder", "show", "999999", "--json"]))["status"],
        "suspended"
    );
    let r = b.post_form(
        "/admin/holders/999999-jpa/do/resume",
        &format!("csrf={csrf}&reason=ok"),
    );
    assert_eq!(r.status, 303);

    // A revocation needs a fresh assertion: refused once the sign-in's is too old, done
    // right after a new one.
    let card = CardToken::issue(&w.data, "999999", "auth");
    advance_clock(&w.data, 3);
    let r = b.post_form(
        "/admin/holders/999999-jpa/do/lost-card",
        &format!("csrf={csrf}&reason=lost"),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("もう一度本人確認"), "{}", r.text());
    assert_eq!(
        json(&ok(&w.data, &["cert", "show", &card.serial, "--json"]))["status"],
        "valid"
    );
    let reauth = b.post_json("/admin/reauth/options", &csrf, b"{}");
    assert_eq!(reauth.status, 200, "{}", reauth.text());
    key.counter += 1;
    let answer = key.get(&public_key(reauth.json()), Faults::default());
    assert_eq!(
        b.post_json("/admin/reauth/finish", &csrf, &answer).status,
        200
    );
    let r = b.post_form(
        "/admin/holders/999999-jpa/do/lost-card",
        &format!("csrf={csrf}&reason=lost"),
    );
    assert_eq!(r.status, 303, "{}", r.text());
    // Dual control: a request, and nothing revoked until an approver approves.
    let to = r.header("location").expect("location").to_owned();
    assert!(
        to.starts_with("/admin/holders/999999-jpa?requested="),
        "{to}"
    );
    let id = to.rsplit('=').next().expect("id").to_owned();
    assert!(b.get(&to).text().contains("承認を待っています"));
    let status =
        |serial: &str| json(&ok(&w.data, &["cert", "show", serial, "--json"]))["status"].clone();
    assert_eq!(status(&card.serial), "valid");
    // The requester cannot approve their own request.
    let r = b.post_form(
        &format!("/admin/approvals/{id}/approve"),
        &format!("csrf={csrf}"),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(status(&card.serial), "valid");
    // An approver sees it, approves (fresh from signing in), and it is carried out at once.
    let (mut boss, _) = operator(&w, "boss", "approver");
    let list = boss.get("/admin/approvals");
    assert!(
        list.text().contains(&format!("依頼 {id}")),
        "{}",
        list.text()
    );
    let bcsrf = csrf_field(&list.text());
    let r = boss.post_form(
        &format!("/admin/approvals/{id}/approve"),
        &format!("csrf={bcsrf}"),
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(status(&card.serial), "revoked");
    assert_eq!(status(&w.serial), "valid");
    let page = b.get("/admin/holders/999999-jpa");
    assert!(
        page.text().contains("approval.carried_out"),
        "the trail shows it"
    );

    // Reissue: refused while the holder has no face photo for the sheet (nothing issued) …
    let issued_before = ok(&w.data, &["audit", "export"])
        .matches("sheet.issued")
        .count();
    let r = b.post_form(
        "/admin/holders/999999-jpa/do/reissue",
        &format!("csrf={csrf}&reason=locked"),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("photo"), "{}", r.text());
    assert_eq!(
        ok(&w.data, &["audit", "export"])
            .matches("sheet.issued")
            .count(),
        issued_before
    );
    // … then a new sheet, shown once with its PDF; the old one is superseded.
    let dir = TempDir::new();
    let face = dir.path().join("face.png");
    std::fs::write(&face, png(240, 320)).expect("write");
    ok(
        &w.data,
        &["holder", "photo", "999999", face.to_str().expect("path")],
    );
    let r = b.post_form(
        "/admin/holders/999999-jpa/do/reissue",
        &format!("csrf={csrf}&reason=locked"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let html = r.text();
    assert!(html.contains("用紙を発行しました") && html.contains("/r/"));
    let text = sheet_text(&html, &dir);
    let password = between(&html, "<code class=\"password\">", "</code>");
    assert!(
        text.contains("999999-jpa") && text.contains(password),
        "the PDF is this sheet: {text}"
    );
    let sheets = json(&ok(
        &w.data,
        &["sheet", "show", "--holder", "999999", "--json"],
    ));
    let states: Vec<&str> = sheets
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["state"].as_str().expect("state"))
        .collect();
    assert!(
        states.contains(&"superseded") && states.contains(&"active"),
        "{states:?}"
    );

    // The batch screen: sheets expiring within 91 days (all of them: sheets last 90), then
    // reissued and printed in one run, the PDF the answer.
    let list = b.get("/admin/sheets?within=%EF%BC%99%EF%BC%91");
    assert_eq!(list.status, 200);
    assert!(
        list.text().contains("91 日以内に期限が切れる用紙：1 件")
            && list.text().contains("999999-jpa"),
        "{}",
        list.text()
    );
    assert!(b
        .get("/admin/sheets?within=abc")
        .text()
        .contains("1 から 365"));
    let r = b.post_form("/admin/sheets/reissue", &format!("csrf={csrf}&within=91"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/pdf"));
    let run = dir.path().join("run.pdf");
    std::fs::write(&run, &r.body).expect("write");
    let text = std::process::Command::new("pdftotext")
        .args([run.to_str().expect("path"), "-"])
        .output()
        .expect("pdftotext");
    assert!(String::from_utf8_lossy(&text.stdout).contains("999999-jpa"));
    let sheets = json(&ok(
        &w.data,
        &["sheet", "show", "--holder", "999999", "--json"],
    ));
    assert_eq!(
        sheets
            .as_array()
            .expect("array")
            .iter()
            .filter(|s| s["state"] == "active")
            .count(),
        1,
        "one usable sheet, the new one: {sheets}"
    );

    // An auditor reads and changes nothing.
    let (mut auditor, _) = operator(&w, "audit-1", "auditor");
    let page = auditor.get("/admin/holders/999999-jpa");
    assert_eq!(page.status, 200);
    assert!(
        !page.text().contains("/confirm/"),
        "no action for an auditor"
    );
    let acsrf = csrf_field(&page.text());
    let r = auditor.post_form("/admin/sheets/reissue", &format!("csrf={acsrf}&within=91"));
    assert_eq!(r.status, 403, "{}", r.text());
    let r = auditor.post_form(
        "/admin/holders/999999-jpa/do/suspend",
        &format!("csrf={acsrf}&reason=x"),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        json(&ok(&w.data, &["holder", "show", "999999", "--json"]))["status"],
        "active"
    );

    // Signing out ends the session at once.
    let r = b.post_form("/admin/sign-out", &format!("csrf={csrf}"));
    assert_eq!(r.status, 303);
    let r = b.get("/admin");
    assert_eq!(r.header("location"), Some("/admin/login"));

    // Sign-in calls are limited per address: names cannot be probed at speed.
    let mut probe = Browser::new(&w.server);
    let page = probe.get("/admin/login");
    let pcsrf = csrf_meta(&page.text());
    let limited = (0..40).any(|i| {
        let body = serde_json::json!({ "name": format!("guess-{i}") }).to_string();
        probe
            .post_json("/admin/login/options", &pcsrf, body.as_bytes())
            .status
            == 429
    });
    assert!(limited, "40 sign-in attempts in a row are not all answered");

    let log = ok(&w.data, &["audit", "export"]);
    for action in [
        "operator.enrolment_issued",
        "operator.passkey_registered",
        "operator.enrolment_used",
        "console.signed_in",
        "console.reauthenticated",
        "console.signed_out",
        "holder.suspended",
        "approval.requested",
        "approval.approved",
    ] {
        assert!(log.contains(action), "{action} was not audited");
    }
    assert!(
        log.contains("operator:desk"),
        "the operator is the actor of what they did"
    );
}

/// The text of the sheet PDF a console page offers for download.
fn sheet_text(html: &str, dir: &TempDir) -> String {
    let pdf = between(html, "href=\"data:application/pdf;base64,", "\"");
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(pdf)
        .expect("base64");
    assert!(pdf.starts_with(b"%PDF"), "a PDF");
    let file = dir.path().join("sheet.pdf");
    std::fs::write(&file, &pdf).expect("write");
    let text = std::process::Command::new("pdftotext")
        .args([file.to_str().expect("path"), "-"])
        .output()
        .expect("pdftotext (poppler-utils)");
    String::from_utf8_lossy(&text.stdout).into_owned()
}

#[test]
fn a_renewal_approved_in_the_console_gives_the_new_sheet_as_a_pdf() {
    let w = world_with(&[]);
    ok(
        &w.data,
        &["cert", "revoke", &w.serial, "--reason", "keyCompromise"],
    );
    let (mut b, _) = operator(&w, "desk", "operator");
    let page = b.get("/admin/holders/999999-jpa");
    let csrf = csrf_field(&page.text());
    let r = b.post_form(
        "/admin/holders/999999-jpa/do/renew",
        &format!("csrf={csrf}&reason=phone+lost"),
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let to = r.header("location").expect("location").to_owned();
    let id = to.rsplit('=').next().expect("id").to_owned();
    // The second certificates issued so far (the revoked one).
    let seconds = || {
        ok(&w.data, &["audit", "export"])
            .lines()
            .filter(|l| l.contains("\"certificate.issued\"") && l.contains("\"second\""))
            .count()
    };
    assert_eq!(seconds(), 1, "nothing issued before approval");

    // The holder has no face photo: the approval is refused while still undecided, and
    // nothing is issued.
    let (mut boss, _) = operator(&w, "boss", "approver");
    let list = boss.get("/admin/approvals");
    let bcsrf = csrf_field(&list.text());
    let approve = |boss: &mut Browser| {
        boss.post_form(
            &format!("/admin/approvals/{id}/approve"),
            &format!("csrf={bcsrf}"),
        )
    };
    let r = approve(&mut boss);
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("photo"), "{}", r.text());
    assert_eq!(seconds(), 1);
    assert!(boss
        .get("/admin/approvals")
        .text()
        .contains(&format!("依頼 {id}")));

    // With a photo: a new second certificate and a new sheet, the sheet's PDF on the page.
    let dir = TempDir::new();
    let face = dir.path().join("face.png");
    std::fs::write(&face, png(240, 320)).expect("write");
    ok(
        &w.data,
        &["holder", "photo", "999999", face.to_str().expect("path")],
    );
    let r = approve(&mut boss);
    assert_eq!(r.status, 200, "{}", r.text());
    let html = r.text();
    assert!(html.contains("用紙を発行しました"), "{html}");
    let password = between(&html, "<code class=\"password\">", "</code>");
    let text = sheet_text(&html, &dir);
    assert!(
        text.contains("999999-jpa") && text.contains(password),
        "the PDF is the new sheet: {text}"
    );
    assert_eq!(seconds(), 2, "a new second certificate");
}

/// What an operator stumbled on in the console: refusals in raw English on a page without the
/// console's links; no way to set a face photo; no worklist of phones reported lost; a delete
/// confirmation that did not name the device; an approval that showed only a username;
/// enrolment ending on an empty sign-in form without a word; a trail without the reasons
/// typed; 資格 as "Pharmacist".
#[test]
fn the_console_speaks_japanese_and_has_what_an_operator_needs() {
    let w = world_with(&[]);
    // Enrolment ends on the sign-in page, which says what happened and what to do.
    let added = json(&ok(
        &w.data,
        &[
            "operator", "add", "--name", "desk", "--role", "operator", "--json",
        ],
    ));
    let link = added["enrolment_url"].as_str().expect("link").to_owned();
    let path = url::Url::parse(&link).expect("url").path().to_owned();
    let port = w.server.addr.rsplit(':').next().expect("port").to_owned();
    let mut key = Authenticator::new(&format!("http://localhost:{port}"), "localhost");
    let mut b = Browser::new(&w.server);
    let csrf = csrf_meta(&b.get(&path).text());
    let options = b.post_json(&format!("{path}/options"), &csrf, b"{}");
    let answer = key.create(&public_key(options.json()), Faults::default());
    let done = b.post_json(&format!("{path}/finish"), &csrf, &answer);
    let next = done.json()["next"].as_str().expect("next").to_owned();
    let login = b.get(&next);
    assert!(
        login.text().contains("パスキーを登録しました"),
        "{}",
        login.text()
    );
    sign_in(&mut b, &mut key, "desk");

    let page = b.get("/admin/holders/999999-jpa").text();
    assert!(
        page.contains("薬剤師") && !page.contains(">Pharmacist<"),
        "{page}"
    );
    assert!(
        page.contains("/admin/lost-phones"),
        "the worklist is linked"
    );

    // No face photo: the reissue is refused in Japanese, naming the holder and what to do,
    // on a page with the console's links (the service's words kept for the record).
    let csrf = csrf_field(&page);
    let r = b.post_form(
        "/admin/holders/999999-jpa/do/reissue",
        &format!("csrf={csrf}&reason=%E6%9C%9F%E9%99%90%E5%88%87%E3%82%8C"),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let html = r.text();
    assert!(
        html.contains("999999-jpa：顔写真が登録されていません")
            && html.contains("href=\"/admin/approvals\"")
            && html.contains("詳細（記録用）"),
        "{html}"
    );
    // The photo, set in the console: refused when it is no image, then set.
    let csrf_meta_value = csrf_meta(&page);
    let r = b.post_json(
        "/admin/holders/999999-jpa/photo",
        &csrf_meta_value,
        b"not an image",
    );
    assert!(r.status >= 400 && r.status < 500, "{}", r.text());
    assert_eq!(
        json(&ok(&w.data, &["holder", "show", "999999", "--json"]))["photo_sha256"],
        serde_json::Value::Null
    );
    let r = b.post_json(
        "/admin/holders/999999-jpa/photo",
        &csrf_meta_value,
        &png(240, 320),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let after = b.get(r.json()["next"].as_str().expect("next")).text();
    assert!(after.contains("顔写真を登録しました"), "{after}");
    assert!(
        json(&ok(&w.data, &["holder", "show", "999999", "--json"]))["photo_sha256"].is_string()
    );
    let log = ok(&w.data, &["audit", "export"]);
    assert!(
        log.contains("operator:desk"),
        "the upload is audited in the operator's name"
    );

    // The delete confirmation names the device.
    let devices = json(&ok(
        &w.data,
        &["device", "list", "--holder", "999999", "--json"],
    ));
    let device = &devices[0];
    let id = device["id"].as_i64().expect("id");
    let csrf = csrf_field(&after);
    let confirm = b.post_form(
        "/admin/holders/999999-jpa/confirm/lost-phone-device",
        &format!("csrf={csrf}&device={id}"),
    );
    let text = confirm.text();
    assert!(
        text.contains(device["label"].as_str().expect("label"))
            && text.contains(&format!("ID {id}")),
        "{text}"
    );

    // A reason typed for a case is in the trail.
    let r = b.post_form(
        "/admin/holders/999999-jpa/do/suspend",
        &format!(
            "csrf={csrf}&reason=%E6%9C%AC%E4%BA%BA%E3%81%8B%E3%82%89%E3%81%AE%E9%9B%BB%E8%A9%B1"
        ),
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let trail = b.get("/admin/holders/999999-jpa").text();
    assert!(trail.contains("理由：本人からの電話"), "{trail}");
    ok(&w.data, &["holder", "resume", "999999"]);

    // A revocation waits for an approver, who sees the holder's name and the serial (the
    // sign-in a moment ago is the fresh assertion a revocation needs).
    let r = b.post_form(
        "/admin/holders/999999-jpa/do/lost-phone-second",
        &format!("csrf={csrf}&reason=lost"),
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let request = r
        .header("location")
        .and_then(|l| l.rsplit_once("requested="))
        .map(|(_, id)| id.to_owned())
        .expect("a request");
    let (mut boss, _) = operator(&w, "boss", "approver");
    let list = boss.get("/admin/approvals").text();
    assert!(
        list.contains("薬剤　太郎") && list.contains(&w.serial) && list.contains("失効する証明書"),
        "{list}"
    );
    // The requester cannot approve it: said in Japanese.
    let r = b.post_form(
        &format!("/admin/approvals/{request}/approve"),
        &format!("csrf={csrf}"),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        r.text().contains("承認者（approver）ではありません"),
        "{}",
        r.text()
    );

    // The worklist of phones reported lost (as the holder's page leaves them).
    let db = w.data.join("hpki-second.db");
    let out = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg(format!(
            "UPDATE device_credentials SET state = 'reported_lost' WHERE id = {id}"
        ))
        .output()
        .expect("sqlite3");
    assert!(out.status.success(), "{out:?}");
    let list = b.get("/admin/lost-phones").text();
    assert!(
        list.contains("紛失が届け出られた端末")
            && list.contains("/admin/holders/999999-jpa")
            && list.contains(device["label"].as_str().expect("label"))
            && list.contains("1 件"),
        "{list}"
    );
}
