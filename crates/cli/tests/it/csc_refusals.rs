//! The remote-signing API's refusals against the real server, each with its CSC/OAuth2 error
//! and audit event: bad requests, the wrong credential or hash, and every way a signing
//! session or SAD ends (expiry, revocation by the relying system, an operator, suspension,
//! a disabled relying system, an expired second certificate).

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::support::*;

#[test]
fn every_refusal_says_why_and_is_audited() {
    let mut w = signing_world("");
    let token = w.access_token();
    let auth = serde_json::json!({"credentialID": CREDENTIAL, "numSignatures": 1});

    // No token, a token that is not ours.
    let r = w
        .server
        .post_json("/csc/v1/credentials/list", None, &serde_json::json!({}));
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer, DPoP algs=\"ES256 EdDSA PS256 RS256\"")
    );
    assert_eq!(refused(&r).1, "invalid_token");
    let r = csc(
        &w,
        "/csc/v1/credentials/list",
        "eyJhbGciOiJub25lIn0.e30.",
        serde_json::json!({}),
    );
    assert_eq!((r.status, refused(&r).1.as_str()), (401, "invalid_token"));

    // Bad requests: another holder's credential, a malformed body, an unknown algorithm, a
    // hash that is not SHA-256, too many signatures, a SAD that is not ours.
    let r = csc(
        &w,
        "/csc/v1/credentials/info",
        &token,
        serde_json::json!({"credentialID": "123456-jpa/second"}),
    );
    let (status, error, why) = refused(&r);
    assert_eq!((status, error.as_str()), (400, "invalid_request"));
    assert!(
        why.contains("not the credential of the holder who signed in"),
        "{why}"
    );
    let r = request(
        &w.server.addr,
        "POST",
        "/csc/v1/credentials/info",
        Some(&token),
        Some("application/json"),
        b"{\"credentialID\": 5}",
    );
    assert_eq!(
        (r.status, refused(&r).1.as_str()),
        (400, "invalid_request"),
        "{}",
        r.text()
    );
    let sad1 = sad(&w, &token, auth.clone());
    let r = csc(
        &w,
        "/csc/v1/signatures/signHash",
        &token,
        serde_json::json!({
        "credentialID": CREDENTIAL, "SAD": sad1, "hash": [b64_sha256(b"p")], "signAlgo": "1.2.840.113549.1.1.5"}),
    );
    assert!(refused(&r).2.contains("not supported"), "{}", r.text());
    let r = csc(
        &w,
        "/csc/v1/signatures/signHash",
        &token,
        serde_json::json!({
        "credentialID": CREDENTIAL, "SAD": sad1, "hash": [STANDARD.encode([1u8; 20])], "signAlgo": "1.2.840.113549.1.1.11"}),
    );
    assert!(refused(&r).2.contains("SHA-256 digest"), "{}", r.text());
    let r = csc(
        &w,
        "/csc/v1/credentials/authorize",
        &token,
        serde_json::json!({"credentialID": CREDENTIAL, "numSignatures": 101}),
    );
    assert!(refused(&r).2.contains("numSignatures"), "{}", r.text());
    let big = format!("{{\"credentialID\": \"{}\"}}", "x".repeat(70 * 1024));
    let r = request(
        &w.server.addr,
        "POST",
        "/csc/v1/signatures/signHash",
        Some(&token),
        Some("application/json"),
        big.as_bytes(),
    );
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(
        r.json()["error"].is_string(),
        "JSON even here: {}",
        r.text()
    );
    let r = sign_one(&w, &token, "hsd_0000");
    assert!(
        refused(&r).2.contains("not one this service gave"),
        "{}",
        r.text()
    );

    // A token without scope service may not sign.
    let plain = token_with_scope(&mut w, "openid profile");
    let r = csc(
        &w,
        "/csc/v1/credentials/list",
        &plain,
        serde_json::json!({}),
    );
    assert_eq!(
        (r.status, refused(&r).1.as_str()),
        (403, "access_denied"),
        "{}",
        r.text()
    );

    // A relying system that may not sign cannot even ask for scope service.
    let other = json(&ok(
        &w.data,
        &[
            "client",
            "add",
            "--name",
            "閲覧のみ",
            "--redirect-uri",
            "https://viewer.example.jp/cb",
            "--secret",
            "--json",
        ],
    ));
    let r = w.server.get(&format!(
        "/oidc/authorize?client_id={}&redirect_uri=https%3A%2F%2Fviewer.example.jp%2Fcb&response_type=code&scope=openid%20service&code_challenge={}&code_challenge_method=S256",
        other["client_id"].as_str().expect("id"), "a".repeat(43)), None);
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(
        r.header("location")
            .and_then(|l| param(l, "error"))
            .as_deref(),
        Some("invalid_scope"),
        "{:?}",
        r.header("location")
    );

    // The signing session ends with the device credential's deletion: the SAD given in it
    // no longer signs, and the refusal is audited.
    let sad2 = sad(&w, &token, auth.clone());
    delete_the_phone(&w.data);
    let r = sign_one(&w, &token, &sad2);
    let (status, error, why) = refused(&r);
    assert_eq!((status, error.as_str()), (401, "invalid_token"));
    assert!(why.contains("deleted or stopped"), "{why}");
    let refusals = audit_actions(&w.data, "csc.refused");
    assert!(
        refusals.iter().any(|d| d.contains("deleted or stopped")),
        "{refusals:?}"
    );
    assert!(
        refusals
            .iter()
            .any(|d| d.contains("not the credential of the holder")),
        "{refusals:?}"
    );
    assert!(
        refusals
            .iter()
            .any(|d| d.contains("not a hash") || d.contains("not one this service gave")),
        "{refusals:?}"
    );
    assert_eq!(
        audit_actions(&w.data, "signature.created").len(),
        0,
        "nothing was signed"
    );
    assert_audit_intact(&w.data, audit_seq(&w.data));
}

/// The signing session ends, and with it every SAD given in it: the relying system revokes
/// its token, an operator signs the holder out, the relying system is disabled; a SAD also
/// expires on its own (`[signing] sad_seconds`).
#[test]
fn signing_stops_when_the_session_or_the_sad_ends() {
    let mut w = world_configured(&[("HPKI_SECOND__SIGNING__SAD_SECONDS", "1")], "");
    w.scope = "openid service";
    let auth = serde_json::json!({"credentialID": CREDENTIAL, "numSignatures": 1});

    // A SAD unused for longer than it lives.
    let token = w.access_token();
    let s = sad(&w, &token, auth.clone());
    advance_clock(&w.data, 2);
    let (status, _, why) = refused(&sign_one(&w, &token, &s));
    assert_eq!((status, why.as_str()), (400, "SAD expired"));

    // The relying system revokes its token (RFC 7009).
    let s = sad(&w, &token, auth.clone());
    let r = w.revoke(&token);
    assert_eq!(r.status, 200, "{}", r.text());
    let (status, error, why) = refused(&sign_one(&w, &token, &s));
    assert_eq!((status, error.as_str()), (401, "invalid_token"));
    assert!(why.contains("revoked by the relying system"), "{why}");

    // An operator signs the holder out everywhere.
    let token = w.access_token();
    let s = sad(&w, &token, auth.clone());
    ok(
        &w.data,
        &[
            "client",
            "end-sessions",
            "--holder",
            "999999",
            "--reason",
            "lost phone",
        ],
    );
    let (status, _, why) = refused(&sign_one(&w, &token, &s));
    assert_eq!(status, 401);
    assert!(why.contains("lost phone"), "{why}");

    // The holder is suspended; reactivated, a new sign-in signs again.
    let token = w.access_token();
    let s = sad(&w, &token, auth.clone());
    let (_, err) = fails(&w.data, &["holder", "reactivate", "999999"]);
    assert!(err.contains("active already"), "{err}");
    ok(
        &w.data,
        &["holder", "suspend", "999999", "--reason", "registry check"],
    );
    let (status, _, why) = refused(&sign_one(&w, &token, &s));
    assert_eq!(status, 401);
    assert!(why.contains("suspended"), "{why}");
    ok(&w.data, &["holder", "reactivate", "999999"]);
    let token = w.access_token();
    let s = sad(&w, &token, auth.clone());
    assert_eq!(sign_one(&w, &token, &s).status, 200);
    // More hashes in one call than the SAD has left.
    let s = sad(&w, &token, auth.clone());
    let r = csc(
        &w,
        "/csc/v1/signatures/signHash",
        &token,
        serde_json::json!({"credentialID": CREDENTIAL, "SAD": s,
            "hash": [b64_sha256(b"1"), b64_sha256(b"2")], "signAlgo": "1.2.840.113549.1.1.11"}),
    );
    let (status, _, why) = refused(&r);
    assert_eq!(status, 400);
    assert!(
        why.contains("authorizes 1 more signature(s), not 2"),
        "{why}"
    );

    // The relying system is disabled.
    let token = w.access_token();
    let s = sad(&w, &token, auth);
    ok(&w.data, &["client", "disable", &w.client_id]);
    let (status, _, _) = refused(&sign_one(&w, &token, &s));
    assert_eq!(status, 401);

    let refusals = audit_actions(&w.data, "csc.refused");
    assert!(refusals.len() >= 6, "{refusals:?}");
    assert_eq!(audit_actions(&w.data, "signature.created").len(), 1);
    assert_eq!(audit_actions(&w.data, "holder.suspended").len(), 1);
}

#[test]
fn an_expired_second_certificate_signs_no_more() {
    let mut w = world_configured(&[], "");
    w.scope = "openid service";
    let token = w.access_token();
    let s = sad(
        &w,
        &token,
        serde_json::json!({"credentialID": CREDENTIAL, "numSignatures": 2}),
    );
    assert_eq!(sign_one(&w, &token, &s).status, 200);
    // Time passes: the certificate's end is moved into the past in the database, as the
    // clock would move past it (the server reads it on every use).
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            let pool = sqlite_pool(&w.data).await;
            let past = chrono::Utc::now().timestamp_micros() - 1_000_000;
            let changed =
                sqlx::query("UPDATE certificates SET not_after_micros = $1 WHERE serial = $2")
                    .bind(past)
                    .bind(w.serial.as_str())
                    .execute(&pool)
                    .await
                    .expect("update");
            assert_eq!(changed.rows_affected(), 1);
        });
    let (status, error, why) = refused(&sign_one(&w, &token, &s));
    assert_eq!((status, error.as_str()), (401, "invalid_token"));
    assert!(
        why.contains("has only an expired second certificate"),
        "{why}"
    );
    let shown = json(&ok(&w.data, &["cert", "show", &w.serial, "--json"]));
    assert_eq!(shown["status"], "expired");
    // Nor does a new sign-in open a signing session.
    let (_, challenge) = pkce();
    let r = w.login_with(&challenge);
    assert_ne!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("expired"), "{}", r.text());
    assert_eq!(audit_actions(&w.data, "signature.created").len(), 1);
    assert!(audit_actions(&w.data, "csc.refused")
        .iter()
        .any(|d| d.contains("expired")));
}

/// The world's audit events of one action, their details as text.
pub(crate) fn audit_actions(data: &Path, action: &str) -> Vec<String> {
    ok(data, &["audit", "export"])
        .lines()
        .map(json)
        .filter(|e| e["action"] == action)
        .map(|e| e["details"].to_string())
        .collect()
}

/// A signing call after the first uses the session and SAD this instance checked (nothing is
/// read before it signs); the spend checks them again in its transaction, so a revocation or
/// a deleted device in between stops the very next signature, with its reason, and no
/// signature leaves.
#[test]
fn what_a_signing_call_remembers_is_checked_again_when_the_sad_is_spent() {
    for change in ["revoke", "delete-device", "end-sessions"] {
        let mut w = world_configured(&[], "");
        w.scope = "openid service";
        let token = w.access_token();
        let s = sad(
            &w,
            &token,
            serde_json::json!({"credentialID": CREDENTIAL, "numSignatures": 10}),
        );
        for _ in 0..3 {
            assert_eq!(sign_one(&w, &token, &s).status, 200, "{change}");
        }
        let why_expected = match change {
            "revoke" => {
                ok(
                    &w.data,
                    &["cert", "revoke", &w.serial, "--reason", "keyCompromise"],
                );
                "revoked"
            }
            "delete-device" => {
                delete_the_phone(&w.data);
                "deleted or stopped"
            }
            _ => {
                ok(
                    &w.data,
                    &[
                        "client",
                        "end-sessions",
                        "--holder",
                        "999999",
                        "--reason",
                        "phone stolen",
                    ],
                );
                "phone stolen"
            }
        };
        let r = sign_one(&w, &token, &s);
        let (status, _, why) = refused(&r);
        assert_eq!(status, 401, "{change}: {}", r.text());
        assert!(why.contains(why_expected), "{change}: {why}");
        assert!(
            r.json()["signatures"].is_null(),
            "{change}: no signature leaves"
        );
        assert_eq!(
            audit_actions(&w.data, "signature.created").len(),
            3,
            "{change}: the refused call signed nothing that was audited"
        );
    }
}

/// Deletes holder 999999's (first) device credential, as for a lost phone.
fn delete_the_phone(data: &Path) {
    let devices = json(&ok(
        data,
        &["device", "list", "--holder", "999999", "--json"],
    ));
    let device = devices[0]["id"].to_string();
    ok(
        data,
        &["device", "delete", "--holder", "999999", "--id", &device],
    );
}
