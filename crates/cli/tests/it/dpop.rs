//! DPoP (RFC 9449) against the real server: a relying system registered as requiring it gets
//! tokens bound to its key only with a proof; a bound token works at the CSC API, userinfo and
//! revocation only with a fresh proof of that key for that request. What a thief would try
//! (the token alone, as Bearer; an old proof again; a proof of another key, for another URL,
//! or for another token) is refused with the RFC's errors, and the CSC API audits it.

use serde_json::json;

use crate::support::*;

/// The world's relying system replaced by one registered as requiring DPoP.
fn dpop_world() -> World {
    let mut w = signing_world("");
    let client = w.add_client(
        "例示薬局システム",
        &["--auth", "passkey", "--signing", "scal1", "--dpop"],
    );
    assert_eq!(client["dpop_bound_access_tokens"], true, "{client}");
    w.act_as(&client);
    w
}

/// The token request for a code, with a DPoP proof if given.
fn exchange_with(w: &World, code: &str, verifier: &str, proof: Option<&str>) -> Response {
    w.client_post("/oidc/token", &code_form(code, verifier, REDIRECT), proof)
}

#[test]
fn a_bound_token_works_only_with_a_fresh_proof_of_its_key() {
    let mut w = dpop_world();
    let key = DpopKey::new();
    let issuer = w.issuer();
    let url = |path: &str| format!("{issuer}{path}");

    // The token request without a proof, or with a proof for another endpoint: refused (the
    // code is not spent by it).
    let (verifier, challenge) = pkce();
    let code = w.code(&challenge);
    let r = exchange_with(&w, &code, &verifier, None);
    assert_eq!(refused(&r).0, 400, "{}", r.text());
    assert_eq!(refused(&r).1, "invalid_dpop_proof");
    let elsewhere = key.proof("POST", &url("/oidc/revoke"), None);
    let r = exchange_with(&w, &code, &verifier, Some(&elsewhere));
    assert_eq!(refused(&r).1, "invalid_dpop_proof", "{}", r.text());
    assert!(refused(&r).2.contains("htu"), "{}", r.text());

    // With a proof: a DPoP token bound to the key's thumbprint.
    let proof = key.proof("POST", &url("/oidc/token"), None);
    let r = exchange_with(&w, &code, &verifier, Some(&proof));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["token_type"], "DPoP");
    let token = r.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    assert_eq!(claims_of(&token)["cnf"]["jkt"], key.thumbprint());

    let list = "/csc/v2/credentials/list";
    let body = json!({});
    let dpop = format!("DPoP {token}");
    let at = &w.server.addr;
    // The token alone, as a bearer token: refused.
    let r = csc_with(at, list, &format!("Bearer {token}"), None, &body);
    assert_eq!(refused(&r).0, 401, "{}", r.text());
    assert_eq!(refused(&r).1, "invalid_token");
    // The DPoP scheme without a proof: refused, with the DPoP challenge.
    let r = csc_with(at, list, &dpop, None, &body);
    assert_eq!(refused(&r).1, "invalid_dpop_proof", "{}", r.text());
    assert!(r
        .header("www-authenticate")
        .is_some_and(|h| h.starts_with("DPoP error=\"invalid_dpop_proof\"")));
    // A fresh proof of the key: the call works.
    let good = key.proof("POST", &url(list), Some(&token));
    let r = csc_with(at, list, &dpop, Some(&good), &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["credentialIDs"], json!([CREDENTIAL]));
    // The same proof again: refused (a proof is accepted once).
    let r = csc_with(at, list, &dpop, Some(&good), &body);
    assert_eq!(refused(&r).1, "invalid_dpop_proof", "{}", r.text());
    assert!(refused(&r).2.contains("used before"), "{}", r.text());
    // Another key's proof, a proof for another call, for another token, or too old: refused.
    let thief = DpopKey::new();
    let now = chrono::Utc::now().timestamp();
    let ath = |t: &str| b64_sha256_url(t.as_bytes());
    for (proof, why) in [
        (thief.proof("POST", &url(list), Some(&token)), "another key"),
        (
            key.proof("POST", &url("/csc/v2/credentials/info"), Some(&token)),
            "htu",
        ),
        (key.proof("GET", &url(list), Some(&token)), "htm"),
        (key.proof("POST", &url(list), Some("another-token")), "ath"),
        (
            key.sign(
                &json!({ "jti": random_hex(16), "htm": "POST", "htu": url(list),
                              "iat": now - 3600, "ath": ath(&token) }),
            ),
            "iat",
        ),
    ] {
        let r = csc_with(at, list, &dpop, Some(&proof), &body);
        assert_eq!(refused(&r).0, 401, "{why}: {}", r.text());
        assert_eq!(refused(&r).1, "invalid_dpop_proof", "{why}");
        assert!(refused(&r).2.contains(why), "{why}: {}", r.text());
    }
    // The refusals of the holder's session are audited, as a stolen token's use would be.
    let audit = ok(&w.data, &["audit", "export"]);
    assert!(
        audit.contains("the DPoP proof is signed by another key"),
        "the foreign proof is in the audit log"
    );

    // A signature through the bound session: a SAD, then signHash, each with its own proof.
    let authorize = "/csc/v1/credentials/authorize";
    let r = csc_with(
        at,
        authorize,
        &dpop,
        Some(&key.proof("POST", &url(authorize), Some(&token))),
        &json!({"credentialID": CREDENTIAL, "numSignatures": 1}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let sad = r.json()["SAD"].as_str().expect("SAD").to_owned();
    let sign = "/csc/v1/signatures/signHash";
    let r = csc_with(
        at,
        sign,
        &dpop,
        Some(&key.proof("POST", &url(sign), Some(&token))),
        &json!({"credentialID": CREDENTIAL, "SAD": sad, "hash": [b64_sha256(b"p")],
                "signAlgo": "1.2.840.113549.1.1.11"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // UserInfo: the same rule.
    let info = "/oidc/userinfo";
    let userinfo = |auth: &str, proof: Option<&str>| {
        let mut headers = vec![("Authorization", auth)];
        if let Some(p) = proof {
            headers.push(("DPoP", p));
        }
        request_with(at, "GET", info, &headers, b"")
    };
    assert_eq!(userinfo(&format!("Bearer {token}"), None).status, 401);
    let r = userinfo(&dpop, Some(&key.proof("GET", &url(info), Some(&token))));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["sub"].is_string());

    // Revocation by the relying system: with a proof of the key only.
    let revoke =
        |proof: Option<&str>| w.client_post("/oidc/revoke", &format!("token={token}"), proof);
    let r = revoke(None);
    assert_eq!(
        refused(&r),
        (400, "invalid_dpop_proof".into(), refused(&r).2)
    );
    let r = revoke(Some(&thief.proof(
        "POST",
        &url("/oidc/revoke"),
        Some(&token),
    )));
    assert_eq!(refused(&r).1, "invalid_dpop_proof", "{}", r.text());
    let r = revoke(Some(&key.proof("POST", &url("/oidc/revoke"), Some(&token))));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = csc_with(
        at,
        list,
        &dpop,
        Some(&key.proof("POST", &url(list), Some(&token))),
        &body,
    );
    assert_eq!(refused(&r).1, "invalid_token", "revoked: {}", r.text());
}

/// A relying system not registered for DPoP may still ask for a bound token by sending a
/// proof (RFC 9449 §5); without one it keeps its bearer tokens. An unbound token is not
/// accepted under the DPoP scheme. Discovery advertises the proof algorithms.
#[test]
fn a_client_that_sends_a_proof_gets_a_bound_token_and_others_bearer_tokens() {
    let mut w = signing_world("");
    let key = DpopKey::new();
    let (verifier, challenge) = pkce();
    let code = w.code(&challenge);
    let proof = key.proof("POST", &format!("{}/oidc/token", w.issuer()), None);
    let r = exchange_with(&w, &code, &verifier, Some(&proof));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["token_type"], "DPoP");

    let bearer = w.access_token();
    assert!(claims_of(&bearer).get("cnf").is_none());
    let list = "/csc/v2/credentials/list";
    let r = csc_with(
        &w.server.addr,
        list,
        &format!("DPoP {bearer}"),
        Some(&key.proof("POST", &format!("{}{list}", w.issuer()), Some(&bearer))),
        &json!({}),
    );
    assert_eq!(refused(&r).1, "invalid_token", "{}", r.text());
    assert_eq!(csc(&w, list, &bearer, json!({})).status, 200);

    let discovery = w.server.get("/.well-known/openid-configuration", None);
    assert_eq!(
        discovery.json()["dpop_signing_alg_values_supported"],
        json!(["ES256", "EdDSA", "PS256", "RS256"])
    );
}

fn b64_sha256_url(data: &[u8]) -> String {
    use sha2::Digest;
    base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        sha2::Sha256::digest(data),
    )
}

/// With `[oidc] dpop_nonce`, a proof must carry a nonce the service handed out (RFC 9449 §8,
/// §9): without one, or with one made up or too old, the answer is `use_dpop_nonce` with the
/// nonce to use in `DPoP-Nonce`; a proof carrying it is accepted.
#[test]
fn with_server_nonces_a_proof_carries_a_fresh_one() {
    let mut w = world_configured(&[("HPKI_SECOND__OIDC__DPOP_NONCE", "true")], "");
    w.scope = "openid service";
    let key = DpopKey::new();
    let issuer = w.issuer();
    let token_url = format!("{issuer}/oidc/token");
    let (verifier, challenge) = pkce();
    let code = w.code(&challenge);

    // The token endpoint: 400 use_dpop_nonce, the nonce in DPoP-Nonce, no challenge.
    let r = exchange_with(
        &w,
        &code,
        &verifier,
        Some(&key.proof("POST", &token_url, None)),
    );
    assert_eq!(refused(&r).0, 400, "{}", r.text());
    assert_eq!(refused(&r).1, "use_dpop_nonce");
    assert!(r.header("www-authenticate").is_none());
    let nonce = r.header("dpop-nonce").expect("DPoP-Nonce").to_owned();
    let with_nonce = |url: &str, token: Option<&str>, nonce: &str| {
        let mut claims = json!({ "jti": random_hex(16), "htm": "POST", "htu": url,
            "iat": chrono::Utc::now().timestamp() + clock_ahead(&w.data), "nonce": nonce });
        if let Some(t) = token {
            claims["ath"] = json!(b64_sha256_url(t.as_bytes()));
        }
        key.sign(&claims)
    };
    let r = exchange_with(
        &w,
        &code,
        &verifier,
        Some(&with_nonce(&token_url, None, &nonce)),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();

    // A resource: 401 with the DPoP challenge and the nonce; the same nonce works there too.
    let list = "/csc/v2/credentials/list";
    let list_url = format!("{issuer}{list}");
    let dpop = format!("DPoP {token}");
    let at = &w.server.addr;
    let call = |proof: &str| csc_with(at, list, &dpop, Some(proof), &json!({}));
    let r = call(&key.proof("POST", &list_url, Some(&token)));
    assert_eq!(refused(&r).0, 401, "{}", r.text());
    assert_eq!(refused(&r).1, "use_dpop_nonce");
    assert!(r
        .header("www-authenticate")
        .is_some_and(|h| h.starts_with("DPoP error=\"use_dpop_nonce\"")));
    assert_eq!(
        r.header("dpop-nonce"),
        Some(nonce.as_str()),
        "one nonce per window"
    );
    assert_eq!(
        call(&with_nonce(&list_url, Some(&token), &nonce)).status,
        200
    );
    let r = call(&with_nonce(&list_url, Some(&token), "hdn_made_up"));
    assert_eq!(refused(&r).1, "use_dpop_nonce", "{}", r.text());

    // Eleven minutes on, the nonce is too old: a new one is handed out, and works.
    advance_clock(&w.data, 660);
    let r = call(&with_nonce(&list_url, Some(&token), &nonce));
    assert_eq!(refused(&r).1, "use_dpop_nonce", "{}", r.text());
    let newer = r.header("dpop-nonce").expect("DPoP-Nonce").to_owned();
    assert_ne!(newer, nonce);
    assert_eq!(
        call(&with_nonce(&list_url, Some(&token), &newer)).status,
        200
    );
}
