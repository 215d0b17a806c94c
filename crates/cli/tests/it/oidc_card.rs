//! The HPKI card login over HTTP against the real server: a SoftHSM2 token plays the card (an
//! RSA key and the authentication certificate the CA issued from its CSR, written onto it with
//! softhsm2-util and OpenSC's pkcs11-tool), the login page's code, `hpki-second card sign-in`
//! through PKCS#11, the page's poll, the code exchanged; and each refusal of the issue's list.
//! (The browser test with a certified client library is e2e/oidc.mjs.)

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::support::*;

/// A relying system that takes card logins only (its ID and secret).
fn card_client(w: &World, auth: &str) -> (String, String) {
    let c = json(&ok(
        &w.data,
        &[
            "client",
            "add",
            "--name",
            "例示薬局システム",
            "--redirect-uri",
            REDIRECT,
            "--auth",
            auth,
            "--signing",
            "scal1",
            "--secret",
            "--json",
        ],
    ));
    (
        c["client_id"].as_str().expect("id").to_owned(),
        c["client_secret"].as_str().expect("secret").to_owned(),
    )
}

/// A login page of `client_id` opened in a new browser, and a code asked for: the browser,
/// the page's CSRF value, the code's answer, the PKCE verifier.
fn code_for(w: &World, client_id: &str) -> (Browser, String, Response, String) {
    let (mut b, html, verifier) = login_page(w, client_id, &[]);
    let csrf = between(&html, "name=\"csrf-token\" content=\"", "\"").to_owned();
    let r = b.post_json("/oidc/login/card", &csrf, b"{}");
    (b, csrf, r, verifier)
}

/// The login page of `client_id` (with `extra` parameters) in a new browser: the browser, the
/// page, the PKCE verifier.
fn login_page(w: &World, client_id: &str, extra: &[(&str, &str)]) -> (Browser, String, String) {
    let (verifier, challenge) = pkce();
    let mut b = Browser::new(&w.server);
    let mut params = vec![
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid profile hpki service"),
        ("state", "st-card"),
        ("nonce", "n-card"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    let page = b.get(&authorize_path(&params));
    assert_eq!(page.status, 200, "{}", page.text());
    (b, page.text(), verifier)
}

fn the_code(r: &Response) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    let code = r.json()["code"].as_str().expect("code").to_owned();
    assert!(
        code.len() == 8 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );
    code
}

fn status(b: &mut Browser, csrf: &str) -> Response {
    b.post_json("/oidc/login/card/status", csrf, b"{}")
}

fn client_call(w: &World, path: &str, body: &serde_json::Value) -> Response {
    request_with(
        &w.server.addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

#[test]
fn a_holder_signs_in_with_the_hpki_card_through_the_card_client() {
    let mut w = world();
    let card = CardToken::issue(&w.data, "999999", "auth");
    let (client_id, secret) = card_client(&w, "card");
    let (mut b, csrf, r, verifier) = code_for(&w, &client_id);
    let code = the_code(&r);

    // The page only waits until the card has answered.
    let waiting = status(&mut b, &csrf);
    assert_eq!(waiting.status, 200, "{}", waiting.text());
    assert_eq!(waiting.json()["state"], "waiting");

    // The code as a person might type it: full-width digits, grouped.
    let typed: String = format!("{} {}", &code[..4], &code[4..])
        .chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from_u32('０' as u32 + d).expect("a full-width digit"),
            None => c,
        })
        .collect();
    let o = card.sign_in(&typed, &w.issuer());
    assert!(
        o.status.success(),
        "card sign-in failed: {}{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(stdout(&o).contains("999999-jpa"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("例示薬局システム"),
        "the client says whom: {}",
        stderr(&o)
    );

    let done = status(&mut b, &csrf);
    assert_eq!(done.status, 200, "{}", done.text());
    let to = done.json()["redirect"]
        .as_str()
        .expect("redirect")
        .to_owned();
    assert!(to.starts_with(REDIRECT), "{to}");
    assert_eq!(param(&to, "state").as_deref(), Some("st-card"));
    let auth_code = param(&to, "code").expect("code");

    // The code gives tokens like a passkey login's; amr says the card.
    let r = w.token(
        &code_form(&auth_code, &verifier, REDIRECT),
        Some((&client_id, &secret)),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let id_token = r.json()["id_token"].as_str().expect("id_token").to_owned();
    let payload = id_token.split('.').nth(1).expect("payload");
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("b64"),
    )
    .expect("claims");
    assert_eq!(claims["amr"], serde_json::json!(["sc", "pin"]));
    assert_eq!(claims["acr"], "urn:hpki-second:acr:card");
    // The signing session the card opened signs (remote signing, SCAL1).
    let access = r.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let s = sad(
        &w,
        &access,
        serde_json::json!({ "credentialID": CREDENTIAL, "numSignatures": 2 }),
    );
    let signed = sign_one(&w, &access, &s);
    assert_eq!(signed.status, 200, "{}", signed.text());
    assert_eq!(claims["hpki_username"], "999999-jpa");

    // The same code again: spent.
    let again = card.sign_in(&code, &w.issuer());
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("card_code_unknown"),
        "{}",
        stderr(&again)
    );

    let audit = ok(&w.data, &["audit", "export"]);
    assert!(
        audit.contains("oidc.card_verified"),
        "the card's answer is audited"
    );
    assert!(audit.contains(&card.serial), "with the card's certificate");

    // The card is lost (its certificates only): the session it opened signs no more, at the
    // next call, with the reason; a passkey's session keeps signing.
    ok(
        &w.data,
        &["holder", "lost-card", "999999", "--reason", "card lost"],
    );
    let refused = sign_one(&w, &access, &s);
    assert_eq!(refused.status, 401, "{}", refused.text());
    assert!(
        refused.json()["error_description"]
            .as_str()
            .is_some_and(|d| d.contains(&format!(
                "the HPKI card's authentication certificate {} that signed in was revoked",
                card.serial
            ))),
        "{}",
        refused.text()
    );
    w.scope = "openid service";
    let passkey = w.access_token();
    let s = sad(
        &w,
        &passkey,
        serde_json::json!({ "credentialID": CREDENTIAL, "numSignatures": 1 }),
    );
    assert_eq!(sign_one(&w, &passkey, &s).status, 200);
    // `ok` asserts the exit status: 0 is an intact chain (tampering exits 3).
    ok(&w.data, &["audit", "verify"]);
}

#[test]
fn card_logins_are_refused_with_the_reason() {
    let w = world();
    let card = CardToken::issue(&w.data, "999999", "auth");
    let (client_id, _) = card_client(&w, "any");
    let issuer = w.issuer();

    // The page offers what the relying system takes, narrowed by acr_values.
    let (_, both, _) = login_page(&w, &client_id, &[]);
    assert!(
        both.contains("id=\"go\"") && both.contains("id=\"card\""),
        "{both}"
    );
    let (_, card_only, _) = login_page(
        &w,
        &client_id,
        &[("acr_values", "urn:hpki-second:acr:card")],
    );
    assert!(!card_only.contains("id=\"go\"") && card_only.contains("id=\"card\""));
    let (_, passkey_only, _) = login_page(
        &w,
        &client_id,
        &[("acr_values", "urn:hpki-second:acr:passkey")],
    );
    assert!(passkey_only.contains("id=\"go\"") && !passkey_only.contains("id=\"card\""));

    // A relying system that takes passkeys only offers no code.
    let (_, _, r, _) = code_for(&w, &w.client_id);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"], "method_not_allowed");

    // A code nobody showed, and a malformed one, before any card is touched.
    let o = card.sign_in("00000000", &issuer);
    assert!(stderr(&o).contains("card_code_unknown"), "{}", stderr(&o));
    let o = card.sign_in("1234", &issuer);
    assert!(stderr(&o).contains("8-digit"), "{}", stderr(&o));

    // A signature over another challenge (made with the card's key, outside the card client).
    let (mut b, csrf, r, _) = code_for(&w, &client_id);
    let code = the_code(&r);
    let c = client_call(
        &w,
        "/oidc/card/challenge",
        &serde_json::json!({ "code": code }),
    );
    assert_eq!(c.status, 200, "{}", c.text());
    let other = hpki_core::domain::oidc::card_sign_in_message(&issuer, &code, "not-the-challenge");
    let answer = |signature: &[u8], cert: &[u8], origin: &str, code: &str| {
        serde_json::json!({
            "code": code, "origin": origin,
            "certificate": STANDARD.encode(cert), "signature": STANDARD.encode(signature),
        })
    };
    let r = client_call(
        &w,
        "/oidc/card/answer",
        &answer(&card.sign_elsewhere(&other), &card.der(), &issuer, &code),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"], "card_signature_invalid");
    // The page learns it, and the code is spent.
    let s = status(&mut b, &csrf);
    assert_eq!(s.status, 403, "{}", s.text());
    assert_eq!(s.json()["error"], "card_signature_invalid");
    let o = card.sign_in(&code, &issuer);
    assert!(stderr(&o).contains("card_code_unknown"), "{}", stderr(&o));

    // A challenge signed for another site (a relayed code): the origin is part of what is signed.
    let (_, _, r, _) = code_for(&w, &client_id);
    let code = the_code(&r);
    let challenge = client_call(
        &w,
        "/oidc/card/challenge",
        &serde_json::json!({ "code": code }),
    )
    .json()["challenge"]
        .as_str()
        .expect("challenge")
        .to_owned();
    let evil = "https://evil.example";
    let m = hpki_core::domain::oidc::card_sign_in_message(evil, &code, &challenge);
    let r = client_call(
        &w,
        "/oidc/card/answer",
        &answer(&card.sign_elsewhere(&m), &card.der(), evil, &code),
    );
    assert_eq!(r.json()["error"], "card_signature_invalid", "{}", r.text());

    // A certificate from another CA for the same key (self-signed), correctly signed.
    let (_, _, r, _) = code_for(&w, &client_id);
    let code = the_code(&r);
    let challenge = client_call(
        &w,
        "/oidc/card/challenge",
        &serde_json::json!({ "code": code }),
    )
    .json()["challenge"]
        .as_str()
        .expect("challenge")
        .to_owned();
    let foreign = card.path("foreign.der");
    run(
        "openssl",
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            &card.path("card-key.pem"),
            "-subj",
            "/CN=Other CA card",
            "-days",
            "30",
            "-outform",
            "DER",
            "-out",
            &foreign,
        ],
        &[],
    );
    let m = hpki_core::domain::oidc::card_sign_in_message(&issuer, &code, &challenge);
    let foreign = std::fs::read(&foreign).expect("der");
    let r = client_call(
        &w,
        "/oidc/card/answer",
        &answer(&card.sign_elsewhere(&m), &foreign, &issuer, &code),
    );
    assert_eq!(r.json()["error"], "card_not_recognised", "{}", r.text());

    // A card whose certificate is the signing one (not for authentication), through the client.
    let signing = CardToken::issue(&w.data, "999999", "signing");
    let (_, _, r, _) = code_for(&w, &client_id);
    let o = signing.sign_in(&the_code(&r), &issuer);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no authentication certificate"),
        "{}",
        stderr(&o)
    );

    // The holder suspended: the card is fine, the holder may not sign.
    ok(
        &w.data,
        &["holder", "suspend", "999999", "--reason", "test"],
    );
    let (mut b, csrf, r, _) = code_for(&w, &client_id);
    let o = card.sign_in(&the_code(&r), &issuer);
    assert!(stderr(&o).contains("holder_suspended"), "{}", stderr(&o));
    assert_eq!(status(&mut b, &csrf).json()["error"], "holder_suspended");
    ok(&w.data, &["holder", "reactivate", "999999"]);

    // The card's certificate revoked.
    ok(
        &w.data,
        &["cert", "revoke", &card.serial, "--reason", "keyCompromise"],
    );
    let (mut b, csrf, r, _) = code_for(&w, &client_id);
    let o = card.sign_in(&the_code(&r), &issuer);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("card_revoked"), "{}", stderr(&o));
    let s = status(&mut b, &csrf);
    assert_eq!(s.json()["error"], "card_revoked", "{}", s.text());

    // Every refusal is audited with its reason.
    let audit = ok(&w.data, &["audit", "export"]);
    for reason in [
        "card_signature_invalid",
        "card_not_recognised",
        "holder_suspended",
        "card_revoked",
    ] {
        assert!(audit.contains(reason), "{reason} was not audited");
    }
}
