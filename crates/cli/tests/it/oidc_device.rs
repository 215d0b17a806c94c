//! The device authorization grant (RFC 8628) against the real server: a public client on the
//! pharmacy's PC asks for a device authorization and polls; the registered phone enters the
//! user code (from the QR code's address), signs in with its own passkey and approves, or
//! refuses; codes expire, are bound to one phone, and are limited per address; the tokens
//! open the same signing session as the code flow, and the CSC API signs with them; with
//! `scope=credential` the phone approves each document (SCAL2) and the token signs exactly
//! those hashes.
//! (openid-client's device functions with a Chromium phone are in e2e/device.mjs.)

use hpki_passkey::soft::Faults;

use crate::support::*;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A public client that may sign in `signing` mode (`scal1`, `scal2`) and signs holders in
/// with passkeys.
fn desktop_client_signing(w: &World, signing: &str) -> String {
    let c = json(&ok(
        &w.data,
        &[
            "client",
            "add",
            "--name",
            "例示薬局システム",
            "--redirect-uri",
            "http://127.0.0.1/callback",
            "--auth",
            "passkey",
            "--signing",
            signing,
            "--json",
        ],
    ));
    c["client_id"].as_str().expect("client_id").to_owned()
}

/// [`desktop_client_signing`] with SCAL1.
fn desktop_client(w: &World) -> String {
    desktop_client_signing(w, "scal1")
}

fn form_post(w: &World, path: &str, form: &str) -> Response {
    request_with(
        &w.server.addr,
        "POST",
        path,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    )
}

fn device_authorization(w: &World, client_id: &str, scope: &str) -> serde_json::Value {
    let r = form_post(
        w,
        "/oidc/device_authorization",
        &format!("client_id={client_id}&scope={}", urlencode(scope)),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.json()
}

/// The PC polls the token endpoint, with a DPoP proof of its key (a public client allowed to
/// sign binds its tokens to a key of its own).
fn poll(w: &World, client_id: &str, device_code: &str, pc: &DpopKey) -> Response {
    poll_proved(w, client_id, device_code, Some(pc))
}

fn poll_proved(w: &World, client_id: &str, device_code: &str, pc: Option<&DpopKey>) -> Response {
    // Made at the server's time (the test moves its clock ahead).
    let now = chrono::Utc::now().timestamp() + clock_ahead(&w.data);
    let url = format!("{}/oidc/token", w.issuer());
    let proof = pc.map(|k| k.proof_at("POST", &url, None, now));
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    if let Some(p) = &proof {
        headers.push(("DPoP", p.as_str()));
    }
    request_with(
        &w.server.addr,
        "POST",
        "/oidc/token",
        &headers,
        format!(
            "grant_type={}&device_code={device_code}&client_id={client_id}",
            urlencode(DEVICE_GRANT)
        )
        .as_bytes(),
    )
}

/// A CSC call of the PC with its bound token and a fresh proof.
fn pc_csc(w: &World, pc: &DpopKey, token: &str, path: &str, body: serde_json::Value) -> Response {
    let now = chrono::Utc::now().timestamp() + clock_ahead(&w.data);
    let proof = pc.proof_at("POST", &format!("{}{path}", w.issuer()), Some(token), now);
    csc_with(
        &w.server.addr,
        path,
        &format!("DPoP {token}"),
        Some(&proof),
        &body,
    )
}

fn error_of(r: &Response) -> (u16, String) {
    (
        r.status,
        r.json()["error"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The phone opens the QR code's address: its browser, and the sign-in page.
fn phone_opens(w: &World, grant: &serde_json::Value) -> (Browser, Response) {
    let mut b = Browser::new(&w.server);
    let page = b.get(&path_of(
        grant["verification_uri_complete"].as_str().expect("uri"),
    ));
    (b, page)
}

/// The holder approves with the phone's passkey: where the page goes next.
fn approve(w: &mut World, b: &mut Browser, page: &Response) -> Response {
    let csrf = meta_csrf(&page.text());
    let options = public_key(embedded_options(&page.text()));
    w.phone.counter += 1;
    let answer = w.phone.get_discoverable(&options, Faults::default());
    b.post_json("/oidc/login/finish", &csrf, &answer)
}

#[test]
fn the_phone_approves_what_the_pc_asked_and_the_pc_signs() {
    let pc = DpopKey::new();
    let mut w = signing_world("");
    let client_id = desktop_client(&w);
    let discovery = w
        .server
        .get("/.well-known/openid-configuration", None)
        .json();
    assert_eq!(
        discovery["device_authorization_endpoint"],
        format!("{}/oidc/device_authorization", w.issuer())
    );
    assert!(discovery["grant_types_supported"]
        .as_array()
        .expect("grant types")
        .iter()
        .any(|g| g == DEVICE_GRANT));

    let grant = device_authorization(&w, &client_id, "openid profile hpki service");
    let user_code = grant["user_code"].as_str().expect("user_code").to_owned();
    assert!(
        user_code.len() == 9 && user_code.as_bytes()[4] == b'-',
        "{user_code}"
    );
    assert_eq!(grant["verification_uri"], format!("{}/device", w.issuer()));
    assert_eq!(grant["expires_in"], 600);
    assert_eq!(grant["interval"], 5);
    let device_code = grant["device_code"]
        .as_str()
        .expect("device_code")
        .to_owned();

    // The PC polls: pending; too soon: slow down (and the interval grows).
    let r = poll(&w, &client_id, &device_code, &pc);
    assert_eq!(
        error_of(&r),
        (400, "authorization_pending".into()),
        "{}",
        r.text()
    );
    let r = poll(&w, &client_id, &device_code, &pc);
    assert_eq!(error_of(&r), (400, "slow_down".into()), "{}", r.text());

    // The phone scans the QR code: the page names the system, the code, what it asks for.
    let (mut phone, page) = phone_opens(&w, &grant);
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    assert!(html.contains("例示薬局システム"), "{html}");
    assert!(html.contains(&user_code), "the code to compare: {html}");
    assert!(
        html.contains("署名できるようになります"),
        "what for: {html}"
    );
    assert!(html.contains("拒否する"), "{html}");
    // The same code on another phone: one phone per code.
    let (_, other) = phone_opens(&w, &grant);
    assert_eq!(other.status, 400);
    assert!(
        other.text().contains("別のスマートフォンで入力済み"),
        "{}",
        other.text()
    );
    // The same phone again (a reload): its page again.
    let again = phone.get(&path_of(
        grant["verification_uri_complete"].as_str().expect("uri"),
    ));
    assert_eq!(again.status, 200, "{}", again.text());
    // Entered, not approved yet: the PC's poll is still pending.
    advance_clock(&w.data, 11);
    let r = poll(&w, &client_id, &device_code, &pc);
    assert_eq!(
        error_of(&r),
        (400, "authorization_pending".into()),
        "{}",
        r.text()
    );

    let done = approve(&mut w, &mut phone, &again);
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(done.json()["redirect"], "/device/done");
    let back = phone.get("/device/done");
    assert!(back.text().contains("パソコンの画面に戻ってください"));

    // The PC's next poll, after the interval: the tokens of an 18-hour signing session.
    advance_clock(&w.data, 22);
    let r = poll(&w, &client_id, &device_code, &pc);
    assert_eq!(r.status, 200, "{}", r.text());
    let tokens = r.json();
    assert_eq!(tokens["token_type"], "DPoP", "bound to the PC's key");
    assert_eq!(
        claims_of(tokens["access_token"].as_str().expect("token"))["cnf"]["jkt"],
        pc.thumbprint()
    );
    assert_eq!(tokens["expires_in"], 18 * 3600);
    let id = claims_of(tokens["id_token"].as_str().expect("id_token"));
    assert_eq!(id["aud"], client_id.as_str());
    assert_eq!(id["hpki_username"], "999999-jpa");
    assert_eq!(
        id["amr"],
        serde_json::json!(["hwk", "user", "mca"]),
        "the phone's passkey, on another channel than the PC"
    );
    let access = tokens["access_token"].as_str().expect("access_token");
    let auth = serde_json::json!({"credentialID": CREDENTIAL, "numSignatures": 1});
    let r = pc_csc(&w, &pc, access, "/csc/v1/credentials/authorize", auth);
    assert_eq!(r.status, 200, "{}", r.text());
    let sad = r.json()["SAD"].as_str().expect("SAD").to_owned();
    let hash = serde_json::json!({"credentialID": CREDENTIAL, "SAD": sad,
        "hash": [b64_sha256(b"p")], "signAlgo": "1.2.840.113549.1.1.11"});
    let signed = pc_csc(&w, &pc, access, "/csc/v1/signatures/signHash", hash);
    assert_eq!(signed.status, 200, "{}", signed.text());
    // The token alone, copied off the PC, signs nothing.
    let copied = csc(
        &w,
        "/csc/v1/credentials/list",
        access,
        serde_json::json!({}),
    );
    assert_eq!(refused(&copied).1, "invalid_token", "{}", copied.text());

    // The device code again: refused, and the session it opened ends (as a replayed code).
    let r = poll(&w, &client_id, &device_code, &pc);
    assert_eq!(error_of(&r).1, "invalid_grant", "{}", r.text());
    let ended = pc_csc(
        &w,
        &pc,
        access,
        "/csc/v1/credentials/list",
        serde_json::json!({}),
    );
    assert!(refused(&ended).2.contains("ended"), "{}", ended.text());

    let audit = ok(&w.data, &["audit", "export"]);
    for action in ["oidc.signed_in", "oidc.tokens_issued", "oidc.code_replayed"] {
        assert!(audit.contains(action), "{action} was not audited");
    }
    let signed_in: serde_json::Value = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["action"] == "oidc.signed_in")
        .expect("the sign-in's event");
    assert_eq!(
        signed_in["details"]["grant_type"], DEVICE_GRANT,
        "the sign-in says which grant: {signed_in}"
    );
}

#[test]
fn a_refusal_an_expiry_and_wrong_codes_end_as_the_rfc_says() {
    let pc = DpopKey::new();
    let mut w = signing_world("");
    let client_id = desktop_client(&w);

    // The holder refuses on the phone.
    let grant = device_authorization(&w, &client_id, "openid");
    let device_code = grant["device_code"].as_str().expect("device_code");
    let (mut phone, page) = phone_opens(&w, &grant);
    assert_eq!(page.status, 200);
    let csrf = meta_csrf(&page.text());
    let refused = phone.post_form("/device/deny", &format!("csrf={csrf}"));
    assert_eq!(refused.status, 200, "{}", refused.text());
    assert!(refused.text().contains("サインインを拒否しました"));
    let r = poll(&w, &client_id, device_code, &pc);
    assert_eq!(error_of(&r), (400, "access_denied".into()), "{}", r.text());
    // Refused once: a second refusal, or an approval, finds it answered.
    let twice = phone.post_form("/device/deny", &format!("csrf={csrf}"));
    assert_eq!(twice.status, 409);
    let late = approve(&mut w, &mut phone, &page);
    assert_eq!(late.status, 403, "{}", late.text());

    // A code nobody entered expires.
    let grant = device_authorization(&w, &client_id, "openid");
    advance_clock(&w.data, 601);
    let r = poll(
        &w,
        &client_id,
        grant["device_code"].as_str().expect("code"),
        &pc,
    );
    assert_eq!(error_of(&r), (400, "expired_token".into()), "{}", r.text());
    let (_, page) = phone_opens(&w, &grant);
    assert_eq!(page.status, 400);
    assert!(page.text().contains("有効期限"), "{}", page.text());

    // A code typed on a Japanese keyboard (full width, the long-vowel mark for the hyphen).
    let grant = device_authorization(&w, &client_id, "openid");
    let code: String = grant["user_code"]
        .as_str()
        .expect("code")
        .chars()
        .map(|c| match c {
            '-' => 'ー',
            c => char::from_u32(c as u32 - 0x41 + 0xFF41).expect("full-width lower case"),
        })
        .collect();
    let mut b = Browser::new(&w.server);
    let form_page = b.get("/device");
    assert_eq!(form_page.status, 200);
    let csrf = between(&form_page.text(), "name=\"csrf\" value=\"", "\"").to_owned();
    let typed = b.post_form(
        "/device",
        &format!("csrf={csrf}&user_code={}", urlencode(&code)),
    );
    assert_eq!(typed.status, 200, "{code}: {}", typed.text());
    assert!(typed.text().contains("例示薬局システム"));

    // A public client allowed to sign polls with a DPoP proof, or gets nothing.
    let r = poll_proved(
        &w,
        &client_id,
        grant["device_code"].as_str().expect("code"),
        None,
    );
    assert_eq!(
        error_of(&r),
        (400, "invalid_dpop_proof".into()),
        "{}",
        r.text()
    );
    // A device code or a client that is not the one: invalid_grant; an unknown grant type.
    let other = desktop_client(&w);
    let r = poll(
        &w,
        &other,
        grant["device_code"].as_str().expect("code"),
        &pc,
    );
    assert_eq!(error_of(&r), (400, "invalid_grant".into()));
    let r = poll(&w, &client_id, "hdc_nothing", &pc);
    assert_eq!(error_of(&r), (400, "invalid_grant".into()));
    // Per-document approval is not offered through this grant; a client without signing may
    // not ask for the signing scope.
    let r = form_post(
        &w,
        "/oidc/device_authorization",
        &format!("client_id={client_id}&scope=credential"),
    );
    assert_eq!(error_of(&r), (400, "invalid_scope".into()), "{}", r.text());

    // Wrong codes from one address: limited after ten, with Retry-After.
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let r = w.server.get("/device?user_code=BCDF-GHJK", None);
        statuses.push(r.status);
        if r.status == 429 {
            assert!(r.header("retry-after").is_some());
            assert!(r.text().contains("しばらく受け付けません"));
        }
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [400, 429].contains(s)),
        "{statuses:?}"
    );
    let audit = ok(&w.data, &["audit", "export"]);
    assert!(audit.contains("oidc.device_denied"));
}

/// SCAL2 on the phone: the PC's device authorization carries the CSC credential request
/// (`authorization_details` of type `credential`: the documents' hashes and labels); the phone
/// shows the labels and the hashes' first bytes, the passkey approves them, and the token the
/// PC polls for signs exactly those hashes, once each. openssl checks a signature.
#[test]
fn the_phone_approves_each_document_and_the_token_signs_exactly_those() {
    let pc = DpopKey::new();
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let mut w = signing_world("");
    let client_id = desktop_client_signing(&w, "scal2");
    let (doc1, doc2) = (
        b"prescription 2026-12-08 1".as_slice(),
        b"prescription 2".as_slice(),
    );
    let (h1, h2, other): ([u8; 32], [u8; 32], [u8; 32]) = (
        Sha256::digest(doc1).into(),
        Sha256::digest(doc2).into(),
        Sha256::digest(b"something else").into(),
    );
    let details = serde_json::json!([{
        "type": "credential", "credentialID": CREDENTIAL,
        "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
        "documentDigests": [
            {"hash": STANDARD.encode(h1), "label": "処方箋 2026-12-08 内科"},
            {"hash": STANDARD.encode(h2), "label": "処方箋 2026-12-08 整形外科"},
        ],
    }]);
    let r = form_post(
        &w,
        "/oidc/device_authorization",
        &format!(
            "client_id={client_id}&scope=credential&authorization_details={}",
            urlencode(&details.to_string())
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let grant = r.json();
    let (mut phone, page) = phone_opens(&w, &grant);
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    for shown in [
        "署名の承認",
        "処方箋 2026-12-08 内科",
        "処方箋 2026-12-08 整形外科",
        &hex::encode_upper(&h1[..2]),
        grant["user_code"].as_str().expect("code"),
    ] {
        assert!(html.contains(shown), "the phone shows {shown}: {html}");
    }
    let done = approve(&mut w, &mut phone, &page);
    assert_eq!(done.status, 200, "{}", done.text());
    let r = poll(
        &w,
        &client_id,
        grant["device_code"].as_str().expect("code"),
        &pc,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let tokens = r.json();
    assert_eq!(tokens["scope"], "credential");
    assert!(tokens["id_token"].is_null(), "{tokens}");
    assert!(
        tokens["expires_in"].as_i64().is_some_and(|s| s <= 300),
        "{tokens}"
    );
    let token = tokens["access_token"].as_str().expect("token");
    let sign = |h: &[u8; 32]| {
        pc_csc(
            &w,
            &pc,
            token,
            "/csc/v2/signatures/signHash",
            serde_json::json!({"credentialID": CREDENTIAL, "hashes": [STANDARD.encode(h)],
                               "signAlgo": "1.2.840.113549.1.1.11"}),
        )
    };
    assert_eq!(sign(&other).status, 400, "a hash the holder did not see");
    let signed = sign(&h1);
    assert_eq!(signed.status, 200, "{}", signed.text());
    assert_eq!(sign(&h1).status, 400, "each approved hash signs once");
    assert_eq!(sign(&h2).status, 200);

    // openssl: the signature is the second certificate's, over the first document.
    let dir = TempDir::new();
    let pem = ok(&w.data, &["cert", "show", &w.serial, "--pem"]);
    let cert = write(
        dir.path(),
        "holder.pem",
        &pem[pem.find("-----BEGIN").expect("PEM")..],
    );
    let key = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-pubkey", "-in"])
        .arg(&cert)
        .output()
        .expect("openssl");
    let key = write(dir.path(), "key.pem", &String::from_utf8_lossy(&key.stdout));
    let sig = STANDARD
        .decode(signed.json()["signatures"][0].as_str().expect("signature"))
        .expect("base64");
    std::fs::write(dir.path().join("sig.bin"), sig).expect("write");
    let doc = write(
        dir.path(),
        "doc.txt",
        std::str::from_utf8(doc1).expect("utf-8"),
    );
    let verified = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(&key)
        .arg("-signature")
        .arg(dir.path().join("sig.bin"))
        .arg(&doc)
        .output()
        .expect("openssl");
    assert!(
        String::from_utf8_lossy(&verified.stdout).contains("Verified OK"),
        "{verified:?}"
    );
    let audit = ok(&w.data, &["audit", "export"]);
    assert!(
        audit.contains("csc.consented"),
        "the approval binds the hashes"
    );
    assert!(audit.contains("処方箋 2026-12-08 整形外科"));
}
