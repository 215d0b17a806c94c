//! Token introspection (RFC 7662) against the real server: a relying system's resource server,
//! authenticated as at the token endpoint, learns whether its access token is active, about
//! which session, scope and key binding, and why a session ended; others' tokens, tokens not
//! ours, and public clients get nothing.

use serde_json::json;

use crate::support::*;

/// Introspects `token` as the world's relying system (or another client's credentials).
fn introspect(w: &World, token: &str, credentials: Option<(&str, &str)>) -> Response {
    let (id, secret) = credentials.unwrap_or((&w.client_id, &w.secret));
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    let basic = basic_auth(id, secret);
    if !secret.is_empty() {
        headers.push(("Authorization", basic.as_str()));
    }
    let form = if secret.is_empty() {
        format!("token={token}&client_id={id}")
    } else {
        format!("token={token}&token_type_hint=access_token")
    };
    request_with(
        &w.server.addr,
        "POST",
        "/oidc/introspect",
        &headers,
        form.as_bytes(),
    )
}

#[test]
fn a_relying_system_learns_about_its_own_tokens_only() {
    let mut w = signing_world("");
    let token = w.access_token();
    let r = introspect(&w, &token, None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let a = r.json();
    assert_eq!(a["active"], true, "{a}");
    assert_eq!(a["client_id"], w.client_id.as_str());
    assert_eq!(a["scope"], "openid service");
    assert_eq!(a["token_type"], "Bearer");
    assert_eq!(a["iss"], w.issuer());
    let claims = claims_of(&token);
    for k in ["sub", "sid", "exp", "iat", "acr"] {
        assert_eq!(a[k], claims[k], "{k}");
    }
    assert!(a.get("cnf").is_none());

    // A DPoP-bound token: its key's thumbprint (the resource server checks proofs with it).
    let key = DpopKey::new();
    let (verifier, challenge) = pkce();
    let code = w.code(&challenge);
    let proof = key.proof("POST", &format!("{}/oidc/token", w.issuer()), None);
    let r = w.client_post(
        "/oidc/token",
        &code_form(&code, &verifier, REDIRECT),
        Some(&proof),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let bound = r.json()["access_token"].as_str().expect("token").to_owned();
    let a = introspect(&w, &bound, None).json();
    assert_eq!(
        (
            a["active"].clone(),
            a["token_type"].clone(),
            a["cnf"].clone()
        ),
        (
            json!(true),
            json!("DPoP"),
            json!({ "jkt": key.thumbprint() })
        )
    );

    // Another relying system, with its own secret: the token is not its; it learns nothing.
    let other = w.add_client("別の薬局", &[]);
    let (oid, osecret) = (
        other["client_id"].as_str().expect("id"),
        other["client_secret"].as_str().expect("secret"),
    );
    assert_eq!(
        introspect(&w, &token, Some((oid, osecret))).json(),
        json!({ "active": false })
    );
    // Not a token of ours.
    assert_eq!(
        introspect(&w, "eyJhbGciOi.x.y", None).json(),
        json!({ "active": false })
    );
    // Without authentication, or as a public client: refused.
    let r = introspect(&w, &token, Some((&w.client_id, "hscs_wrong")));
    assert_eq!(refused(&r).0, 401, "{}", r.text());
    let public = json(&ok(
        &w.data,
        &[
            "client",
            "add",
            "--name",
            "デスクトップ",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--json",
        ],
    ));
    let r = introspect(
        &w,
        &token,
        Some((public["client_id"].as_str().expect("id"), "")),
    );
    assert_eq!(refused(&r).1, "invalid_client", "{}", r.text());

    // Revoked: inactive, and why (to its own relying system).
    assert_eq!(w.revoke(&token).status, 200);
    let a = introspect(&w, &token, None).json();
    assert_eq!(a["active"], false, "{a}");
    assert!(
        a["end_reason"]
            .as_str()
            .is_some_and(|r| r.contains("revoked by the relying system")),
        "{a}"
    );

    let discovery = w
        .server
        .get("/.well-known/openid-configuration", None)
        .json();
    assert_eq!(
        discovery["introspection_endpoint"],
        format!("{}/oidc/introspect", w.issuer())
    );
}
