//! The holder's own page on the registration site, over HTTP against the real server: it
//! opens only after "Sign In" with a registered passkey, shows the second certificate, the
//! devices and the signing history, and "this phone is lost" stops that device credential at
//! once (after a confirmation).

use hpki_passkey::soft::Faults;

use crate::support::*;

/// A browser with a registration session (a new sheet's password accepted).
fn registration_browser(w: &World) -> Browser {
    registration_browser_and_sheet(w).0
}

/// [`registration_browser`], and the path of the sheet it used.
fn registration_browser_and_sheet(w: &World) -> (Browser, String) {
    let sheet = json(&ok(
        &w.data,
        &["sheet", "issue", "--holder", "999999", "--json"],
    ));
    let path = url::Url::parse(sheet["url"].as_str().expect("url"))
        .expect("url")
        .path()
        .to_owned();
    let mut b = Browser::new(&w.server);
    let page = b.get(&path);
    let csrf = between(&page.text(), "name=\"csrf\" value=\"", "\"").to_owned();
    let r = b.post_form(
        &path,
        &format!(
            "csrf={csrf}&password={}",
            sheet["password"].as_str().expect("pw")
        ),
    );
    assert_eq!(r.status, 303, "{}", r.text());
    (b, path)
}

fn csrf_field(html: &str) -> String {
    between(html, "name=\"csrf\" value=\"", "\"").to_owned()
}

#[test]
fn the_holders_page_shows_the_certificate_devices_and_signatures_and_stops_a_lost_phone() {
    let mut w = world();
    // A signature first, so that the history has one.
    w.scope = "openid service";
    let token = w.access_token();
    let s = sad(
        &w,
        &token,
        serde_json::json!({ "credentialID": CREDENTIAL, "numSignatures": 1 }),
    );
    assert_eq!(sign_one(&w, &token, &s).status, 200);

    let (mut b, sheet_path) = registration_browser_and_sheet(&w);
    // Not signed in with the passkey yet: the start screen (whose "Sign In" leads here).
    let r = b.get("/register/me");
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location"), Some("/register/start"));

    // Sign In (manual 1.2 (8)) with the registered phone.
    let start = b.get("/register/start");
    let csrf = between(&start.text(), "name=\"csrf-token\" content=\"", "\"").to_owned();
    let options = b.post_json("/register/options", &csrf, br#"{"mode":"signin"}"#);
    assert_eq!(options.status, 200, "{}", options.text());
    let o = options.json();
    let public_key = if o["publicKey"].is_null() {
        o
    } else {
        o["publicKey"].clone()
    };
    w.phone.counter += 1;
    let answer = w.phone.get(&public_key, Faults::default());
    let done = b.post_json("/register/finish?mode=signin", &csrf, &answer);
    assert_eq!(done.status, 200, "{}", done.text());
    let signed_in = b.get(done.json()["next"].as_str().expect("next"));
    assert!(
        signed_in.text().contains("/register/me"),
        "the signed-in screen links to the page"
    );

    let page = b.get("/register/me");
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    for expected in [
        "薬剤　太郎",
        "999999-jpa",
        "有効",
        &w.serial,
        "この端末",
        "利用中",
        "例示薬局システム",
        "この端末を紛失した",
    ] {
        assert!(
            html.contains(expected),
            "{expected} is not on the page:\n{html}"
        );
    }
    // The systems the holder is signed in to, and "sign out of every system".
    assert!(
        html.contains("サインイン中のシステム")
            && html.contains("すべてのシステムからサインアウトする"),
        "{html}"
    );
    let r = b.post_form("/register/me/sign-out", "");
    assert_eq!(r.status, 303);
    assert_eq!(
        csc_call_status(&w, &token),
        200,
        "without the CSRF value nothing ends"
    );
    let r = b.post_form(
        "/register/me/sign-out",
        &format!("csrf={}", csrf_field(&html)),
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let to = r.header("location").expect("location").to_owned();
    assert_eq!(to, "/register/me?signed_out=1");
    let after = b.get(&to);
    assert!(
        after.text().contains("1 件のサインインを終了しました"),
        "{}",
        after.text()
    );
    assert!(after.text().contains("サインイン中のシステムはありません"));
    assert_eq!(
        csc_call_status(&w, &token),
        401,
        "the session ended at once"
    );
    let token = w.access_token();
    let html = b.get("/register/me").text();

    let devices = json(&ok(
        &w.data,
        &["device", "list", "--holder", "999999", "--json"],
    ));
    let device = devices[0]["id"].as_i64().expect("id").to_string();

    // Without its CSRF value nothing happens; the first press asks for confirmation.
    let r = b.post_form("/register/me/lost", &format!("device={device}&confirm=yes"));
    assert_eq!(r.status, 303);
    assert!(!w.access_token().is_empty(), "still active");
    let csrf = csrf_field(&html);
    let confirm = b.post_form("/register/me/lost", &format!("csrf={csrf}&device={device}"));
    assert_eq!(confirm.status, 200, "{}", confirm.text());
    assert!(
        confirm.text().contains("利用を停止する"),
        "{}",
        confirm.text()
    );
    assert!(
        !w.access_token().is_empty(),
        "a confirmation changes nothing"
    );

    let after = b.post_form(
        "/register/me/lost",
        &format!("csrf={csrf}&device={device}&confirm=yes"),
    );
    // The sheet that opened this page is withdrawn with the phone, and the page's session
    // with it: what happened and what to do come on a page of their own.
    assert_eq!(after.status, 200, "{}", after.text());
    assert!(
        after.text().contains("の利用を停止しました"),
        "{}",
        after.text()
    );
    let closed = b.get("/register/me");
    assert_ne!(closed.status, 200, "the page closed with its sheet");
    // The phone signs in no more, and the session it opened signs no more.
    let (_, challenge) = pkce();
    let r = w.login_with(&challenge);
    assert_eq!(r.json()["error"], "device_suspect", "{}", r.text());
    let s2 = csc_call_status(&w, &token);
    assert_eq!(
        s2, 401,
        "the signing session opened with the lost phone ended"
    );
    let log = ok(&w.data, &["audit", "export"]);
    assert!(log.contains("device.reported_lost") && log.contains("holder.page_opened"));

    // One story from here on (it once looped: the old sheet opened Register, Register said
    // "already registered, scan again to Sign In", scanning again showed Register). The sheet
    // is withdrawn with the phone, as the page says: its QR code says so and who to ask.
    assert!(
        after
            .text()
            .contains("お手元の初期登録用 QR も使えなくなりました"),
        "{}",
        after.text()
    );
    let sheets = json(&ok(
        &w.data,
        &["sheet", "show", "--holder", "999999", "--json"],
    ));
    let last = sheets.as_array().and_then(|a| a.last()).expect("a sheet");
    assert_eq!(last["state"], "revoked", "{sheets}");
    let withdrawn = log
        .lines()
        .map(json)
        .find(|e| e["action"] == "sheet.revoked")
        .expect("the withdrawal is audited");
    assert_eq!(withdrawn["details"]["reason"], "phone reported lost");
    assert_eq!(withdrawn["details"]["device_id"].to_string(), device);
    let old_sheet = b.get(&sheet_path);
    assert_eq!(old_sheet.status, 410, "{}", old_sheet.text());
    assert!(
        old_sheet.text().contains("紛失が届け出られた"),
        "{}",
        old_sheet.text()
    );
    // A new sheet on the same phone: Register, and the stopped passkey is not in the list of
    // credentials the phone is told to refuse (a real phone holding it would answer "already
    // registered" and send the holder round again).
    let mut b = registration_browser(&w);
    let start = b.get("/register/start");
    assert!(start.text().contains("Register"), "{}", start.text());
    let csrf = between(&start.text(), "name=\"csrf-token\" content=\"", "\"").to_owned();
    let options = b.post_json("/register/options", &csrf, b"{}");
    assert_eq!(options.status, 200, "{}", options.text());
    let options = crate::support::public_key(options.json());
    let excluded = options["excludeCredentials"].to_string();
    let stopped = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &w.phone.credential_id,
    );
    assert!(!excluded.contains(&stopped), "{excluded}");
    // The phone makes a new passkey for the same account (as a platform authenticator does).
    let port = w.server.addr.rsplit(':').next().expect("port").to_owned();
    let mut same_phone =
        hpki_passkey::soft::Authenticator::new(&format!("http://localhost:{port}"), "localhost");
    let answer = same_phone.create(&options, Faults::default());
    let done = b.post_json("/register/finish", &csrf, &answer);
    assert_eq!(done.status, 200, "{}", done.text());
}

fn csc_call_status(w: &World, token: &str) -> u16 {
    request(
        &w.server.addr,
        "POST",
        "/csc/v1/credentials/list",
        Some(token),
        Some("application/json"),
        b"{}",
    )
    .status
}

/// Signs this browser in to `/me` with the holder's phone (the login page, the callback).
fn sign_in_at_me(w: &mut World, b: &mut Browser) {
    let r = b.get("/me");
    assert_eq!(r.status, 303, "{}", r.text());
    let login = b.get(r.header("location").expect("location"));
    let csrf = meta_csrf(&login.text());
    w.phone.counter += 1;
    let answer = w.phone.get_discoverable(
        &public_key(embedded_options(&login.text())),
        Faults::default(),
    );
    let done = b.post_json("/oidc/login/finish", &csrf, &answer);
    let redirect = done.json()["redirect"]
        .as_str()
        .expect("redirect")
        .to_owned();
    assert_eq!(b.get(&path_of(&redirect)).status, 303);
    assert_eq!(b.get("/me").status, 200);
}

#[test]
fn after_an_openid_connect_sign_in_the_holder_sees_their_page_at_me() {
    let mut w = world();
    let mut b = Browser::new(&w.server);
    // No session: /me sends the browser to this provider's login page, for the holder page.
    let r = b.get("/me");
    assert_eq!(r.status, 303, "{}", r.text());
    let to = r.header("location").expect("location").to_owned();
    assert!(to.starts_with("/oidc/authorize?"), "{to}");
    for p in [
        "code_challenge_method=S256",
        "scope=openid",
        "response_type=code",
    ] {
        assert!(to.contains(p), "{p} missing: {to}");
    }
    let page = b.get(&to);
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("保有者のページ"), "{}", page.text());
    let csrf = meta_csrf(&page.text());
    w.phone.counter += 1;
    let answer = w.phone.get_discoverable(
        &public_key(embedded_options(&page.text())),
        Faults::default(),
    );
    let done = b.post_json("/oidc/login/finish", &csrf, &answer);
    assert_eq!(done.status, 200, "{}", done.text());
    let redirect = done.json()["redirect"]
        .as_str()
        .expect("redirect")
        .to_owned();
    assert!(
        redirect.starts_with(&format!("{}/me/callback?", w.issuer())),
        "{redirect}"
    );
    let callback = path_of(&redirect);

    // Another browser cannot use this browser's code: it did not start the sign-in.
    let mut other = Browser::new(&w.server);
    let r = other.get(&callback);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("サインインできませんでした"),
        "{}",
        r.text()
    );
    assert_eq!(
        other.get("/me").status,
        303,
        "no page for the other browser"
    );

    // This browser: the code is redeemed and the page opens.
    let r = b.get(&callback);
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location"), Some("/me"));
    let page = b.get("/me");
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    for expected in [
        "薬剤　太郎",
        "999999-jpa",
        "有効",
        &w.serial,
        "この端末",
        "この端末を紛失した",
    ] {
        assert!(
            html.contains(expected),
            "{expected} is not on the page:\n{html}"
        );
    }
    assert!(
        !html.contains("保有者のページ"),
        "the page's own sign-in is not listed as a system"
    );
    assert!(
        html.contains("action=\"/me/lost\"") && !html.contains("/register/me"),
        "the forms stay on /me"
    );
    // The code was used: the same callback again is refused.
    assert_eq!(b.get(&callback).status, 400);
    // A form without its CSRF value changes nothing.
    assert_eq!(b.post_form("/me/leave", "").status, 303);
    assert_eq!(b.get("/me").status, 200, "still signed in");

    // A system the holder signs in to shows on the page; "sign out of every system" ends it
    // and the page's own session, and says so.
    w.scope = "openid service";
    let token = w.access_token();
    let html = b.get("/me").text();
    assert!(html.contains("例示薬局システム"), "{html}");
    let r = b.post_form("/me/sign-out", &format!("csrf={}", csrf_field(&html)));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text().contains("件のサインインを終了しました"),
        "{}",
        r.text()
    );
    assert_eq!(
        csc_call_status(&w, &token),
        401,
        "the signing session ended"
    );
    let r = b.get("/me");
    assert_eq!(r.status, 303, "the page's session ended too");
    assert!(r
        .header("location")
        .is_some_and(|l| l.starts_with("/oidc/authorize?")));

    // Signed in again.
    sign_in_at_me(&mut w, &mut b);
    let html = b.get("/me").text();
    // "Sign out of this page": the page's session ends, the relying systems' stay.
    w.scope = "openid service";
    let token = w.access_token();
    let r = b.post_form("/me/leave", &format!("csrf={}", csrf_field(&html)));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text().contains("このページからサインアウトしました"),
        "{}",
        r.text()
    );
    assert_eq!(b.get("/me").status, 303, "signed out of the page");
    assert_eq!(
        csc_call_status(&w, &token),
        200,
        "the system's session runs on"
    );

    // Signed in again; then the holder is suspended: the page says so.
    sign_in_at_me(&mut w, &mut b);
    ok(
        &w.data,
        &["holder", "suspend", "999999", "--reason", "checking"],
    );
    let page = b.get("/me");
    assert!(page.text().contains("停止"), "{}", page.text());
    assert!(!page.text().contains(&w.serial), "{}", page.text());
    let log = ok(&w.data, &["audit", "export"]);
    assert!(
        log.contains("保有者のページ（hpki-second /me）"),
        "registered as a relying system"
    );
}
