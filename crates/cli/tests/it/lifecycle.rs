//! The manual's section 2 from the command line against the real server: a lost HPKI card
//! (card certificates only, then the second certificate too), a lost phone (its device
//! credential deleted, a new phone registered from a new sheet; the second certificate
//! revoked), and a suspended holder, with OCSP (openssl) and sign-ins saying what changed.

use std::path::Path;

use crate::support::*;

/// What OCSP (asked with openssl, checked against our root) says of the certificate in
/// `pem` issued by `issuer`: `good` or `revoked`, once the server has caught up (another
/// process revoked it; the server notices within a second).
fn ocsp_says(w: &World, dir: &Path, issuer: &Path, pem: &Path, expect: &str) {
    let (root, _, _) = ca_files(&w.data, dir);
    let url = format!("http://{}/ocsp", w.server.addr);
    let name = pem.file_name().and_then(|n| n.to_str()).expect("name");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (_, out) = openssl(&[
            "ocsp",
            "-issuer",
            path(issuer),
            "-CAfile",
            path(&root),
            "-url",
            &url,
            "-cert",
            path(pem),
        ]);
        if out.contains("Response verify OK") && out.contains(&format!("{name}: {expect}")) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "OCSP on {name}, expected {expect}: {out}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn pem_of(w: &World, dir: &Path, serial: &str, name: &str) -> std::path::PathBuf {
    let shown = ok(&w.data, &["cert", "show", serial, "--pem"]);
    let begin = shown.find("-----BEGIN CERTIFICATE-----").expect("PEM");
    write(dir, name, &shown[begin..])
}

#[test]
fn a_lost_card_revokes_the_card_certificates_and_the_passkey_still_signs_in() {
    let mut w = world();
    let dir = TempDir::new();
    let auth = CardToken::issue(&w.data, "999999", "auth");
    let signing = CardToken::issue(&w.data, "999999", "signing");
    let (_, signing_ca, auth_ca) = ca_files(&w.data, dir.path());
    let second = pem_of(&w, dir.path(), &w.serial.clone(), "second.pem");
    let auth_pem = pem_of(&w, dir.path(), &auth.serial, "card-auth.pem");
    let signing_pem = pem_of(&w, dir.path(), &signing.serial, "card-sign.pem");

    // A case without a reason is refused, and changes nothing.
    let (_, err) = fails(
        &w.data,
        &["holder", "lost-card", "999999", "--reason", "  "],
    );
    assert!(err.contains("reason"), "{err}");
    ocsp_says(&w, dir.path(), &auth_ca, &auth_pem, "good");

    let done = json(&ok(
        &w.data,
        &[
            "holder",
            "lost-card",
            "999999",
            "--reason",
            "紛失届（2026-12-01 電話）",
            "--json",
        ],
    ));
    let revoked: Vec<(&str, &str)> = done["revoked"]
        .as_array()
        .expect("revoked")
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().expect("kind"),
                c["serial"].as_str().expect("serial"),
            )
        })
        .collect();
    assert_eq!(revoked.len(), 2, "{done}");
    assert!(
        revoked.contains(&("card-auth", auth.serial.as_str())),
        "{done}"
    );
    assert!(
        revoked.contains(&("card-sign", signing.serial.as_str())),
        "{done}"
    );
    assert_eq!(done["also_second"], false);

    // OCSP at once: both card certificates revoked, the second certificate good.
    ocsp_says(&w, dir.path(), &auth_ca, &auth_pem, "revoked");
    ocsp_says(&w, dir.path(), &signing_ca, &signing_pem, "revoked");
    ocsp_says(&w, dir.path(), &signing_ca, &second, "good");
    // The passkey still signs in and the session signs; the card does not.
    let token = w.access_token();
    assert!(!token.is_empty());
    let log = ok(&w.data, &["audit", "export"]);
    assert!(
        log.contains("HPKI card lost: 紛失届（2026-12-01 電話）"),
        "the case and reason are in the revocation events"
    );

    // Again: nothing left to revoke on the card. With --also-second: the second certificate.
    let again = json(&ok(
        &w.data,
        &[
            "holder",
            "lost-card",
            "999999",
            "--reason",
            "again",
            "--json",
        ],
    ));
    assert_eq!(again["revoked"].as_array().map(Vec::len), Some(0));
    let both = json(&ok(
        &w.data,
        &[
            "holder",
            "lost-card",
            "999999",
            "--also-second",
            "--reason",
            "the phone went with it",
            "--json",
        ],
    ));
    assert_eq!(both["revoked"][0]["kind"], "second", "{both}");
    ocsp_says(&w, dir.path(), &signing_ca, &second, "revoked");
    let (_, challenge) = pkce();
    let r = w.login_with(&challenge);
    assert_eq!(r.json()["error"], "no_second_certificate", "{}", r.text());
}

#[test]
fn a_lost_phone_loses_its_device_credential_and_a_new_phone_registers_from_a_new_sheet() {
    let mut w = world();
    let devices = json(&ok(
        &w.data,
        &["device", "list", "--holder", "999999", "--json"],
    ));
    let lost = devices[0]["id"].as_i64().expect("id").to_string();
    // Not a device of this holder: said, nothing changed.
    let (_, err) = fails(
        &w.data,
        &[
            "holder",
            "lost-phone",
            "999999",
            "--device",
            "424242",
            "--reason",
            "lost",
        ],
    );
    assert!(err.contains("424242"), "{err}");
    // One of --device and --revoke-second is needed.
    let (_, err) = fails(
        &w.data,
        &["holder", "lost-phone", "999999", "--reason", "lost"],
    );
    assert!(
        err.contains("--device") || err.contains("--revoke-second"),
        "{err}"
    );

    let done = json(&ok(
        &w.data,
        &[
            "holder",
            "lost-phone",
            "999999",
            "--device",
            &lost,
            "--reason",
            "電車で紛失",
            "--json",
        ],
    ));
    assert_eq!(
        done["deleted_device"].as_i64().map(|d| d.to_string()),
        Some(lost.clone())
    );
    let (_, challenge) = pkce();
    let r = w.login_with(&challenge);
    assert_eq!(r.json()["error"], "unknown_credential", "{}", r.text());

    // A new sheet, a new phone: it registers and signs in; the old one still does not.
    let sheet = json(&ok(
        &w.data,
        &["sheet", "issue", "--holder", "999999", "--json"],
    ));
    let old_phone = std::mem::replace(&mut w.phone, register_phone(&w.server, &sheet));
    assert!(!w.access_token().is_empty());
    drop(old_phone);

    // The other choice: revoke the second certificate. Sign-ins then end there.
    let dir = TempDir::new();
    let (_, signing_ca, _) = ca_files(&w.data, dir.path());
    let second = pem_of(&w, dir.path(), &w.serial.clone(), "second.pem");
    let done = json(&ok(
        &w.data,
        &[
            "holder",
            "lost-phone",
            "999999",
            "--revoke-second",
            "--reason",
            "盗難",
            "--json",
        ],
    ));
    assert_eq!(
        done["revoked"][0]["serial"].as_str(),
        Some(w.serial.as_str())
    );
    ocsp_says(&w, dir.path(), &signing_ca, &second, "revoked");
    let (_, challenge) = pkce();
    assert_eq!(
        w.login_with(&challenge).json()["error"],
        "no_second_certificate"
    );
    // Nothing left to revoke: said.
    let (_, err) = fails(
        &w.data,
        &[
            "holder",
            "lost-phone",
            "999999",
            "--revoke-second",
            "--reason",
            "again",
        ],
    );
    assert!(err.contains("no second certificate left"), "{err}");

    // Renewed: a new certificate (a new key) and a new sheet together. The registered phone
    // (not deleted here) signs in again, and signs with the new certificate.
    let renewal = json(&ok(
        &w.data,
        &["holder", "renew-second", "999999", "--json"],
    ));
    let new_serial = renewal["certificate"]["serial"]
        .as_str()
        .expect("serial")
        .to_owned();
    assert_ne!(new_serial, w.serial);
    assert!(renewal["sheet"]["password"].as_str().is_some());
    assert!(!w.access_token().is_empty());
    // Again (as after an interruption): the valid certificate is kept, a sheet is issued.
    let again = json(&ok(
        &w.data,
        &["holder", "renew-second", "999999", "--json"],
    ));
    assert!(again["certificate"].is_null(), "{again}");
    assert!(again["sheet"]["url"]
        .as_str()
        .is_some_and(|u| u.contains("/r/")));
}

#[test]
fn a_suspended_holder_gets_a_clear_page_everywhere_until_resumed() {
    let mut w = world();
    let sheet = json(&ok(
        &w.data,
        &["sheet", "issue", "--holder", "999999", "--json"],
    ));
    let url = sheet["url"].as_str().expect("url");
    let sheet_path = url::Url::parse(url).expect("url").path().to_owned();
    // A browser with a registration session opened before the suspension.
    let mut b = Browser::new(&w.server);
    let page = b.get(&sheet_path);
    let csrf = between(&page.text(), "name=\"csrf\" value=\"", "\"").to_owned();
    let password = sheet["password"].as_str().expect("pw").to_owned();
    let r = b.post_form(&sheet_path, &format!("csrf={csrf}&password={password}"));
    assert_eq!(r.status, 303, "{}", r.text());

    ok(
        &w.data,
        &["holder", "suspend", "999999", "--reason", "資格確認中"],
    );
    // The sheet's page, its password (not counted), the registration site, sign-in.
    let page = b.get(&sheet_path);
    assert_eq!(page.status, 403, "{}", page.text());
    assert!(
        page.text().contains("利用が停止されている"),
        "{}",
        page.text()
    );
    // A wrong password the sheet could have printed (same characters, reversed): it would
    // count, were the holder not suspended.
    let wrong: String = password.chars().rev().collect();
    assert_ne!(wrong, password);
    let r = b.post_form(&sheet_path, &format!("csrf={csrf}&password={wrong}"));
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("利用が停止されている"), "{}", r.text());
    let r = b.get("/register");
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("認証局にお問い合わせください"));
    let (_, challenge) = pkce();
    assert_eq!(w.login_with(&challenge).json()["error"], "holder_suspended");

    // Resumed: all of it works again, and the refused password cost nothing.
    ok(
        &w.data,
        &["holder", "resume", "999999", "--reason", "確認済み"],
    );
    let page = b.get(&sheet_path);
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(
        !page.text().contains("これまでにパスワードを間違えています"),
        "no attempt was spent while suspended: {}",
        page.text()
    );
    assert_eq!(b.get("/register").status, 200);
    assert!(!w.access_token().is_empty());
    let log = ok(&w.data, &["audit", "export"]);
    assert!(
        log.contains("資格確認中") && log.contains("holder.reactivated"),
        "audited with the reasons"
    );
}

#[test]
fn the_same_cases_through_the_operator_api() {
    let mut w = world();
    let card = CardToken::issue(&w.data, "999999", "auth");
    let token = operator_token(&w.data, "desk-ichiro");
    let addr = w.server.addr.clone();
    let call = |path: &str, token: Option<&str>, body: serde_json::Value| {
        request(
            &addr,
            "POST",
            path,
            token,
            Some("application/json"),
            body.to_string().as_bytes(),
        )
    };
    let base = "/api/v1/holders/999999-jpa";
    // An auditor reads and changes nothing: 403 before anything is looked at.
    let auditor = json(&ok(
        &w.data,
        &[
            "operator", "add", "--name", "audit-1", "--role", "auditor", "--json",
        ],
    ));
    assert_eq!(auditor["role"], "auditor");
    let auditor = auditor["token"].as_str().expect("token").to_owned();
    for path in ["lost-card", "lost-phone", "suspend", "resume"] {
        let r = call(
            &format!("{base}/{path}"),
            Some(&auditor),
            serde_json::json!({ "reason": "x", "revoke_second": true }),
        );
        assert_eq!(r.status, 403, "{path}: {}", r.text());
        assert_eq!(r.json()["error"], "forbidden");
    }
    let r = w.server.get(base, Some(&auditor));
    assert_eq!(r.status, 200, "an auditor reads: {}", r.text());
    let r = w.server.get("/api/v1/holders?q=999999", Some(&auditor));
    assert_eq!(r.json()["total"], 1, "{}", r.text());
    // No operator, no action.
    let r = call(
        &format!("{base}/lost-card"),
        None,
        serde_json::json!({ "reason": "x" }),
    );
    assert_eq!(r.status, 401, "{}", r.text());
    // No reason: refused, nothing revoked.
    let r = call(
        &format!("{base}/lost-card"),
        Some(&token),
        serde_json::json!({}),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("reason"), "{}", r.text());
    // Dual control (on by default for revocations): the request waits; nothing changes.
    let r = call(
        &format!("{base}/lost-card"),
        Some(&token),
        serde_json::json!({ "reason": "電話連絡" }),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["outcome"], "pending");
    let request = r.json()["request"]["id"].as_i64().expect("request id");
    let data = w.data.clone();
    let status =
        |serial: &str| json(&ok(&data, &["cert", "show", serial, "--json"]))["status"].clone();
    assert_eq!(
        status(&card.serial),
        "valid",
        "nothing changes before the approval"
    );
    let listed = w.server.get("/api/v1/approvals", Some(&auditor));
    assert_eq!(
        listed.json()["requests"][0]["id"].as_i64(),
        Some(request),
        "{}",
        listed.text()
    );
    // The requester cannot approve (not an approver, and their own); an approver can.
    let approve = |token: &str, id: i64| {
        call(
            &format!("/api/v1/approvals/{id}/approve"),
            Some(token),
            serde_json::json!({}),
        )
    };
    assert_eq!(approve(&token, request).status, 403);
    let boss = json(&ok(
        &w.data,
        &[
            "operator", "add", "--name", "boss", "--role", "approver", "--json",
        ],
    ));
    let boss = boss["token"].as_str().expect("token").to_owned();
    let r = approve(&boss, request);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["revoked"][0]["serial"].as_str(),
        Some(card.serial.as_str())
    );
    assert_eq!(status(&card.serial), "revoked");
    // Decided: not again.
    assert_eq!(approve(&boss, request).status, 409);
    // An approver's own request needs another approver.
    let r = call(
        &format!("{base}/lost-card"),
        Some(&boss),
        serde_json::json!({ "reason": "own", "also_second": true }),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let own = r.json()["request"]["id"].as_i64().expect("id");
    let r = approve(&boss, own);
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("own request"), "{}", r.text());
    let r = call(
        &format!("/api/v1/approvals/{own}/reject"),
        Some(&boss),
        serde_json::json!({ "reason": "x" }),
    );
    assert_eq!(r.status, 403, "rejecting one's own is deciding it too");
    // Both or neither of device and revoke_second: refused.
    let r = call(
        &format!("{base}/lost-phone"),
        Some(&token),
        serde_json::json!({ "reason": "x" }),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    let r = call(
        &format!("{base}/lost-phone"),
        Some(&token),
        serde_json::json!({ "reason": "x", "device": 1, "revoke_second": true }),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    let r = call(
        &format!("{base}/suspend"),
        Some(&token),
        serde_json::json!({ "reason": "確認中" }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["outcome"], "done", "never delayed: {}", r.text());
    assert_eq!(r.json()["result"]["status"], "suspended", "{}", r.text());
    let (_, challenge) = pkce();
    assert_eq!(w.login_with(&challenge).json()["error"], "holder_suspended");
    let r = call(
        &format!("{base}/resume"),
        Some(&token),
        serde_json::json!({ "reason": "確認済み" }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // A lost phone's second certificate: requested through the API, approved on the command
    // line in an approver's name.
    let r = call(
        &format!("{base}/lost-phone"),
        Some(&token),
        serde_json::json!({ "reason": "紛失", "revoke_second": true }),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["request"]["id"].as_i64().expect("id").to_string();
    assert_eq!(status(&w.serial), "valid");
    let dir = TempDir::new();
    let (_, signing_ca, _) = ca_files(&w.data, dir.path());
    let second = pem_of(&w, dir.path(), &w.serial.clone(), "second.pem");
    ocsp_says(&w, dir.path(), &signing_ca, &second, "good");
    // On the command line, as on the API, an operator is who their token says.
    let as_operator = |token: &str, args: &[&str]| {
        std::process::Command::new(BIN)
            .arg("--data-dir")
            .arg(&w.data)
            .args(args)
            .env("HPKI_OPERATOR_TOKEN", token)
            .output()
            .expect("run hpki-second")
    };
    let o = as_operator(&token, &["approval", "approve", &id, "--as", "desk-ichiro"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not an approver"), "{}", stderr(&o));
    let o = as_operator(&token, &["approval", "approve", &id, "--as", "boss"]);
    assert!(
        stderr(&o).contains("is desk-ichiro's, not \"boss\"'s"),
        "the name alone proves nothing: {}",
        stderr(&o)
    );
    let o = as_operator(
        &boss,
        &["approval", "approve", &id, "--as", "boss", "--json"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let done = json(&stdout(&o));
    assert_eq!(
        done["revoked"][0]["serial"].as_str(),
        Some(w.serial.as_str())
    );
    assert_eq!(status(&w.serial), "revoked");
    // OCSP says so at once.
    ocsp_says(&w, dir.path(), &signing_ca, &second, "revoked");
    // The operators are named in the audit log.
    let log = ok(&w.data, &["audit", "export"]);
    for needed in [
        "operator:desk-ichiro",
        "operator:boss",
        "approval.requested",
        "approval.approved",
        "approval.carried_out",
        "requested by desk-ichiro, approved by boss",
    ] {
        assert!(log.contains(needed), "{needed} is not in the audit log");
    }
    // The host's command line goes through the same gate: a renewal is a request for an
    // approver (operators exist), approved on the API; with --break-glass and a reason it is
    // carried out at once, and the audit log says so.
    let renew = ok(&w.data, &["holder", "renew-second", "999999", "--json"]);
    let renew = json(&renew);
    assert_eq!(renew["action"], "renew", "{renew}");
    assert!(
        renew["requested_by"]
            .as_str()
            .is_some_and(|r| r.starts_with("cli:")),
        "{renew}"
    );
    let r = approve(&boss, renew["id"].as_i64().expect("request id"));
    assert_eq!(r.status, 200, "{}", r.text());
    let renewed = r.json()["certificate"]["serial"]
        .as_str()
        .expect("a new second certificate")
        .to_owned();
    assert_eq!(status(&renewed), "valid");
    let (_, e) = fails(
        &w.data,
        &[
            "holder",
            "lost-phone",
            "999999",
            "--revoke-second",
            "--reason",
            "x",
            "--break-glass",
            " ",
        ],
    );
    assert!(
        e.contains("break-glass"),
        "a reason to break the glass: {e}"
    );
    assert_eq!(status(&renewed), "valid");
    let done = ok(
        &w.data,
        &[
            "holder",
            "lost-phone",
            "999999",
            "--revoke-second",
            "--reason",
            "盗難",
            "--break-glass",
            "承認者が不在",
        ],
    );
    assert!(done.contains("revoked"), "{done}");
    assert_eq!(status(&renewed), "revoked");
    let log = ok(&w.data, &["audit", "export"]);
    assert!(
        log.contains("approval.broken_glass") && log.contains("承認者が不在"),
        "the broken glass is in the audit log"
    );
}
