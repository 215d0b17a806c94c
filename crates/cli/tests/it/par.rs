//! Pushed authorization requests (RFC 9126) against the real server: a relying system pushes
//! its request (authenticated as at the token endpoint), then sends the browser with the
//! `request_uri` alone; the request is checked when pushed, opened while it lasts (90 s), by its
//! own client only;
//! a relying system registered as pushing may not send its parameters through the browser.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hpki_passkey::soft::Faults;
use serde_json::json;

use crate::support::*;

/// Pushes `params` as the world's relying system (its secret in HTTP Basic).
fn push(w: &World, params: &[(&str, &str)]) -> Response {
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    w.client_post("/oidc/par", &form, None)
}

fn by_reference(w: &World, request_uri: &str) -> String {
    authorize_path(&[("client_id", &w.client_id), ("request_uri", request_uri)])
}

#[test]
fn a_pushed_request_is_checked_then_opened_while_it_lasts_by_its_own_client() {
    let mut w = world();
    let (verifier, challenge) = pkce();
    let r = push(&w, &w.request(&challenge));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let uri = r.json()["request_uri"].as_str().expect("uri").to_owned();
    assert!(
        uri.starts_with("urn:ietf:params:oauth:request_uri:"),
        "{uri}"
    );
    assert_eq!(r.json()["expires_in"], 90);

    // The browser carries the client ID and the request_uri only; the login answers the
    // pushed request (its state comes back), and the code is redeemed as any.
    let mut b = Browser::new(&w.server);
    let done = w.login(&mut b, &by_reference(&w, &uri), Faults::default());
    assert_eq!(done.status, 200, "{}", done.text());
    let to = done.json()["redirect"]
        .as_str()
        .expect("redirect")
        .to_owned();
    assert!(to.starts_with(REDIRECT), "{to}");
    assert_eq!(param(&to, "state").as_deref(), Some("st-123"));
    let code = param(&to, "code").expect("code");
    assert_eq!(w.exchange(&code, &verifier).status, 200);

    // A reload (or the page's language link) opens it again while it lasts (RFC 9126 §4);
    // 90 seconds on it is gone. Another relying system cannot use one.
    let reload = w
        .server
        .get(&format!("{}&lang=en", by_reference(&w, &uri)), None);
    assert_eq!(reload.status, 200, "{}", reload.text());
    advance_clock(&w.data, 91);
    let late = w.server.get(&by_reference(&w, &uri), None);
    assert_eq!(late.status, 400, "{}", late.text());
    assert!(late.text().contains("request_uri"), "{}", late.text());
    let r = push(&w, &w.request(&challenge));
    let uri = r.json()["request_uri"].as_str().expect("uri").to_owned();
    let other = w.add_client("別の薬局", &[]);
    let theirs = authorize_path(&[
        ("client_id", other["client_id"].as_str().expect("id")),
        ("request_uri", &uri),
    ]);
    assert_eq!(w.server.get(&theirs, None).status, 400);
    // Pushed requests are checked when pushed: errors as JSON for the relying system.
    for (change, error) in [
        (("code_challenge_method", "plain"), "invalid_request"),
        (
            ("redirect_uri", "https://evil.example/cb"),
            "invalid_request",
        ),
        (("scope", "profile"), "invalid_scope"),
        (
            ("request_uri", "urn:ietf:params:oauth:request_uri:x"),
            "invalid_request",
        ),
    ] {
        let mut params = w.request(&challenge);
        params.retain(|(k, _)| *k != change.0);
        params.push(change);
        let r = push(&w, &params);
        assert_eq!(refused(&r).0, 400, "{change:?}: {}", r.text());
        assert_eq!(refused(&r).1, error, "{change:?}: {}", r.text());
    }
    let mut wrong = w.request(&challenge);
    wrong.push(("client_secret", "hscs_wrong"));
    let r = request_with(
        &w.server.addr,
        "POST",
        "/oidc/par",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&wrong)
            .finish()
            .as_bytes(),
    );
    assert_eq!(refused(&r), (401, "invalid_client".into(), refused(&r).2));

    let discovery = w
        .server
        .get("/.well-known/openid-configuration", None)
        .json();
    assert_eq!(
        discovery["pushed_authorization_request_endpoint"],
        format!("{}/oidc/par", w.issuer())
    );
}

/// A relying system registered with `--par` sends its requests only by reference; a SCAL2
/// request with documents' labels goes through PAR whole, and the token response says what
/// the holder authorized.
#[test]
fn a_relying_system_registered_to_push_may_not_send_parameters_through_the_browser() {
    let mut w = signing_world("");
    let c = w.add_client(
        "例示薬局システム",
        &["--auth", "passkey", "--signing", "scal1,scal2", "--par"],
    );
    assert_eq!(c["require_pushed_authorization_requests"], true, "{c}");
    w.act_as(&c);
    let (verifier, challenge) = pkce();
    let direct = w.server.get(&w.authorize_for(&challenge, &[]), None);
    assert_eq!(direct.status, 303, "{}", direct.text());
    let to = direct.header("location").expect("location").to_owned();
    assert!(to.starts_with(REDIRECT), "{to}");
    assert_eq!(param(&to, "error").as_deref(), Some("invalid_request"));

    let hashes = [[7u8; 32], [9u8; 32]];
    let details = json!([{
        "type": "credential", "credentialID": CREDENTIAL,
        "documentDigests": [
            {"hash": STANDARD.encode(hashes[0]), "label": "処方箋 2026-12-08 内科 山田花子様"},
            {"hash": STANDARD.encode(hashes[1]), "label": "処方箋 2026-12-08 整形外科 鈴木一郎様"},
        ],
    }])
    .to_string();
    let r = push(
        &w,
        &[
            ("client_id", &w.client_id),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "credential"),
            ("state", "st-9"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("authorization_details", &details),
        ],
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let uri = r.json()["request_uri"].as_str().expect("uri").to_owned();
    let mut b = Browser::new(&w.server);
    let page = b.get(&by_reference(&w, &uri));
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("鈴木一郎様"), "{}", page.text());
    w.phone.counter += 1;
    let answer = w.phone.get_discoverable(
        &public_key(embedded_options(&page.text())),
        Faults::default(),
    );
    let done = b.post_json("/oidc/login/finish", &meta_csrf(&page.text()), &answer);
    assert_eq!(done.status, 200, "{}", done.text());
    let to = done.json()["redirect"]
        .as_str()
        .expect("redirect")
        .to_owned();
    let r = w.exchange(&param(&to, "code").expect("code"), &verifier);
    assert_eq!(r.status, 200, "{}", r.text());
    let echoed = &r.json()["authorization_details"][0];
    assert_eq!(
        echoed["documentDigests"][1]["label"],
        "処方箋 2026-12-08 整形外科 鈴木一郎様"
    );
    assert_eq!(
        echoed["documentDigests"][0]["hash"],
        STANDARD.encode(hashes[0])
    );
}
