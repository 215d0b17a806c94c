//! The OpenID Connect provider over HTTP against the real server: a passkey registered through
//! a sheet with the software authenticator, then relying systems signing the holder in, and
//! every refusal of the issue's list. (The browser test with a certified client library is
//! e2e/oidc.mjs.)

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::support::*;

#[test]
fn a_relying_system_signs_a_holder_in_with_the_registered_passkey() {
    let mut w = world();
    let discovery = w
        .server
        .get("/.well-known/openid-configuration", None)
        .json();
    let issuer = format!("http://localhost:{}", w.port());
    assert_eq!(discovery["issuer"], issuer.as_str());
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );

    let (verifier, challenge) = pkce();
    let code = w.code(&challenge);
    let r = w.exchange(&code, &verifier);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let tokens = r.json();
    assert_eq!(tokens["token_type"], "Bearer");
    // The signing session: 18 hours.
    assert_eq!(tokens["expires_in"], 18 * 3600);
    let id = claims_of(tokens["id_token"].as_str().expect("id_token"));
    assert_eq!(id["iss"], issuer.as_str());
    assert_eq!(id["aud"], w.client_id.as_str());
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["amr"], serde_json::json!(["hwk", "user"]));
    assert_eq!(id["hpki_username"], "999999-jpa");
    assert_eq!(id["qualification"], "Pharmacist");
    assert_eq!(id["name"], "薬剤\u{3000}太郎");
    let access = tokens["access_token"].as_str().expect("access_token");
    let info = w.userinfo(access);
    assert_eq!(info.status, 200, "{}", info.text());
    assert_eq!(info.json()["sub"], id["sub"]);
    assert_eq!(info.json()["registry_number"], "999999");
    let header = |jwt: &str| -> serde_json::Value {
        let h = jwt.split('.').next().expect("a JWT");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).expect("base64url")).expect("JSON")
    };
    let old_kid = header(access)["kid"].as_str().expect("kid").to_owned();

    // A new signing key: both in the JWKS, the old token still good, new tokens signed anew.
    let new_kid = json(&ok(&w.data, &["client", "rotate-key", "--json"]))["kid"]
        .as_str()
        .expect("kid")
        .to_owned();
    assert_ne!(new_kid, old_kid);
    let jwks = w.server.get("/.well-known/jwks.json", None).json();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(kids, vec![new_kid.as_str(), old_kid.as_str()]);
    assert_eq!(w.userinfo(access).status, 200, "a token of the old key");
    // The server looks for a newer key once a second (by its clock).
    advance_clock(&w.data, 2);
    {
        let (verifier, challenge) = pkce();
        let code = w.code(&challenge);
        let fresh = w.exchange(&code, &verifier).json();
        let fresh_id = fresh["id_token"].as_str().expect("id_token");
        assert_eq!(header(fresh_id)["kid"], new_kid.as_str());
    }

    // The code is single-use: a replay is refused and ends the session it opened.
    let again = w.exchange(&code, &verifier);
    assert_eq!(again.status, 400, "{}", again.text());
    assert_eq!(again.json()["error"], "invalid_grant");
    let ended = w.userinfo(access);
    assert_eq!(ended.status, 401, "{}", ended.text());
    assert!(ended
        .header("www-authenticate")
        .is_some_and(|v| v.contains("invalid_token")));

    // A second login's session ends with revocation by the relying system.
    let (verifier, challenge) = pkce();
    let code = w.code(&challenge);
    let access = w.exchange(&code, &verifier).json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    assert_eq!(w.userinfo(&access).status, 200);
    let revoked = w.token(&format!("token={access}"), Some((&w.client_id, &w.secret)));
    // (The token endpoint's path is not the revocation endpoint's: send it there.)
    assert_eq!(revoked.status, 400, "{}", revoked.text());
    let r = w.revoke(&access);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(w.userinfo(&access).status, 401);

    // An operator signs the holder out everywhere.
    let (verifier, challenge) = pkce();
    let code = w.code(&challenge);
    let access = w.exchange(&code, &verifier).json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let sessions = json(&ok(
        &w.data,
        &["client", "sessions", "--holder", "999999", "--json"],
    ));
    assert_eq!(sessions[0]["active"], true, "{sessions}");
    let out = json(&ok(
        &w.data,
        &[
            "client",
            "end-sessions",
            "--holder",
            "999999",
            "--reason",
            "lost phone",
            "--json",
        ],
    ));
    // This one, and the one opened after the key rotation above.
    assert_eq!(out["ended"], 2, "{out}");
    assert_eq!(w.userinfo(&access).status, 401);
    let sessions = json(&ok(
        &w.data,
        &["client", "sessions", "--holder", "999999", "--json"],
    ));
    assert_eq!(
        (&sessions[0]["active"], &sessions[0]["end_reason"]),
        (&serde_json::json!(false), &serde_json::json!("lost phone"))
    );

    // Deleting the phone's device credential ends a running session.
    let (verifier, challenge) = pkce();
    let code = w.code(&challenge);
    let access = w.exchange(&code, &verifier).json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    assert_eq!(w.userinfo(&access).status, 200);
    let devices = json(&ok(
        &w.data,
        &["device", "list", "--holder", "999999", "--json"],
    ));
    let device = devices[0]["id"].as_i64().expect("device id").to_string();
    ok(
        &w.data,
        &["device", "delete", "--holder", "999999", "--id", &device],
    );
    assert_eq!(w.userinfo(&access).status, 401);
    // … and the deleted passkey signs in no more.
    let (_, challenge) = pkce();
    let r = w.login_with(&challenge);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"], "unknown_credential");

    // Every step is in the audit log, and the chain is intact.
    let out = ok(&w.data, &["audit", "verify"]);
    assert!(out.contains("intact"), "{out}");
    let log = ok(&w.data, &["audit", "export"]);
    for action in [
        "oidc.client_added",
        "oidc.signing_key_created",
        "oidc.signed_in",
        "oidc.tokens_issued",
        "oidc.code_replayed",
        "oidc.session_ended",
    ] {
        assert!(log.contains(action), "{action} missing from the audit log");
    }
}

#[test]
fn requests_that_cannot_be_trusted_are_refused_precisely() {
    let mut w = world();
    let (verifier, challenge) = pkce();
    let mut b = Browser::new(&w.server);
    // Unknown client, unregistered redirect URI: a page, never a redirect.
    for changes in [
        vec![("client_id", Some("hsc_000000000000000000000000"))],
        vec![("redirect_uri", Some("https://evil.example/cb"))],
        vec![("redirect_uri", None)],
    ] {
        let r = b.get(&w.authorize_for(&challenge, &changes));
        assert_eq!(r.status, 400, "{changes:?}: {}", r.text());
        assert!(r.header("location").is_none(), "{changes:?}");
        assert!(
            r.text().contains("サインインを始められません"),
            "{changes:?}"
        );
    }
    // The rest: back to the relying system with the error.
    let long_state = "s".repeat(1025);
    for (changes, error) in [
        (vec![("code_challenge", None)], "invalid_request"),
        (
            vec![("code_challenge_method", Some("plain"))],
            "invalid_request",
        ),
        (
            vec![("state", Some(long_state.as_str()))],
            "invalid_request",
        ),
        (
            vec![("response_type", Some("token"))],
            "unsupported_response_type",
        ),
        (vec![("scope", Some("profile"))], "invalid_scope"),
        (vec![("prompt", Some("none"))], "login_required"),
    ] {
        let r = b.get(&w.authorize_for(&challenge, &changes));
        assert_eq!(r.status, 303, "{changes:?}: {}", r.text());
        let to = r.header("location").expect("a redirect");
        assert!(to.starts_with(REDIRECT), "{to}");
        assert_eq!(
            param(to, "error").as_deref(),
            Some(error),
            "{changes:?}: {to}"
        );
        let state_back = param(to, "state");
        if changes[0].0 == "state" {
            assert_eq!(state_back, None, "an over-long state is not sent back");
        } else {
            assert_eq!(state_back.as_deref(), Some("st-123"));
        }
    }

    // The token endpoint: a wrong secret, a wrong verifier, a code for another redirect URI.
    let code = w.code(&challenge);
    let form = code_form;
    let r = w.token(
        &form(&code, &verifier, REDIRECT),
        Some((&w.client_id, "hscs_wrong")),
    );
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (401, "invalid_client".into()),
        "{}",
        r.text()
    );
    let (other_verifier, _) = pkce();
    let r = w.token(
        &form(&code, &other_verifier, REDIRECT),
        Some((&w.client_id, &w.secret)),
    );
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, "invalid_grant".into()),
        "{}",
        r.text()
    );
    let r = w.token(
        &form(&code, &verifier, "https://pharmacy.example.jp/other"),
        Some((&w.client_id, &w.secret)),
    );
    assert_eq!(r.json()["error"], "invalid_grant", "{}", r.text());
    let r = w.token(
        "grant_type=password&username=x",
        Some((&w.client_id, &w.secret)),
    );
    assert_eq!(r.json()["error"], "unsupported_grant_type", "{}", r.text());
    // The code survived the refusals (they were checked before it was spent)…
    let r = w.exchange(&code, &verifier);
    assert_eq!(r.status, 200, "{}", r.text());
    // … and an unknown one is just unknown.
    let r = w.exchange("hsa_nothing", &verifier);
    assert_eq!(r.json()["error"], "invalid_grant");

    // A revoked second certificate: the passkey answers, but no token.
    ok(
        &w.data,
        &["cert", "revoke", &w.serial, "--reason", "keyCompromise"],
    );
    let (_, challenge) = pkce();
    let r = w.login_with(&challenge);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"], "no_second_certificate");
    let log = ok(&w.data, &["audit", "export"]);
    assert!(log.contains("oidc.login_refused"), "the refusal is audited");
    // So are the refusals a registered relying system met at the token endpoint.
    let refused: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("oidc.token_refused"))
        .collect();
    assert!(
        refused
            .iter()
            .any(|l| l.contains("invalid_grant") && l.contains("code_verifier")),
        "{refused:?}"
    );

    // A disabled relying system: no login page, no tokens (a server reads relying systems
    // at most once a second).
    ok(&w.data, &["client", "disable", &w.client_id]);
    advance_clock(&w.data, 2);
    let (_, challenge) = pkce();
    let r = Browser::new(&w.server).get(&w.authorize_for(&challenge, &[]));
    assert_eq!(r.status, 400, "{}", r.text());
    let r = w.exchange(&code, &verifier);
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (401, "invalid_client".into())
    );
    let (_, err) = fails(&w.data, &["client", "disable", &w.client_id]);
    assert!(err.contains("disabled already"), "{err}");
    let (_, err) = fails(
        &w.data,
        &[
            "client",
            "add",
            "--name",
            "x",
            "--redirect-uri",
            "http://rp.example.jp/cb",
        ],
    );
    assert!(
        err.contains("redirect_uri") && err.contains("https"),
        "{err}"
    );
}

/// The login page's calls on one keep-alive connection, as a browser makes them: the options
/// call's body is read, so the connection stays open for the finish (an unread body made the
/// server close it, and the page's next POST failed).
#[test]
fn the_login_calls_share_a_keep_alive_connection() {
    use std::io::{BufRead, BufReader, Read, Write};
    let w = world();
    let (_, challenge) = pkce();
    let mut b = Browser::new(&w.server);
    let page = b.get(&w.authorize_for(&challenge, &[]));
    let csrf = meta_csrf(&page.text());
    let cookies = b
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let stream = std::net::TcpStream::connect(&w.server.addr).expect("connect");
    let mut reader = BufReader::new(stream);
    for round in 0..20 {
        let head = format!(
            "POST /oidc/login/options HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nX-CSRF-Token: {csrf}\r\nCookie: {cookies}\r\nContent-Length: 2\r\n\r\n"
        );
        // The body a moment after the head, as it often comes (another packet).
        let s = reader.get_mut();
        s.set_nodelay(true).expect("nodelay");
        s.write_all(head.as_bytes()).expect("send the head");
        std::thread::sleep(std::time::Duration::from_millis(20));
        s.write_all(b"{}").expect("send the body");
        let mut status = String::new();
        reader.read_line(&mut status).expect("read");
        assert!(
            status.starts_with("HTTP/1.1 200"),
            "round {round}: {status:?}"
        );
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("header");
            if line.trim().is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().expect("length");
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).expect("body");
    }
}

/// `[oidc] token_algorithm = "RS256"`: at the next start a new RSA key signs; its tokens verify
/// against the JWKS's modulus and exponent (checked here with AWS-LC, not with our code), and
/// the server takes its own RS256 access tokens.
#[test]
fn tokens_can_be_signed_rs256() {
    use aws_lc_rs::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
    let mut w = world_with(&[("HPKI_SECOND__OIDC__TOKEN_ALGORITHM", "RS256")]);
    let discovery = w
        .server
        .get("/.well-known/openid-configuration", None)
        .json();
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    let (verifier, challenge) = pkce();
    let code = w.code(&challenge);
    let tokens = w.exchange(&code, &verifier).json();
    let id_token = tokens["id_token"].as_str().expect("id_token");
    let mut parts = id_token.split('.');
    let (h, p, s) = (
        parts.next().expect("h"),
        parts.next().expect("p"),
        parts.next().expect("s"),
    );
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).expect("b64")).expect("json");
    assert_eq!(header["alg"], "RS256");
    let jwks = w.server.get("/.well-known/jwks.json", None).json();
    let key = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the ID token's key is published")
        .clone();
    assert_eq!(key["kty"], "RSA");
    let component = |name: &str| {
        URL_SAFE_NO_PAD
            .decode(key[name].as_str().expect(name))
            .expect("b64")
    };
    let public = RsaPublicKeyComponents {
        n: component("n"),
        e: component("e"),
    };
    public
        .verify(
            &RSA_PKCS1_2048_8192_SHA256,
            &id_token.as_bytes()[..h.len() + 1 + p.len()],
            &URL_SAFE_NO_PAD.decode(s).expect("b64"),
        )
        .expect("the RS256 signature verifies with the published key");
    let access = tokens["access_token"].as_str().expect("access_token");
    assert_eq!(w.userinfo(access).status, 200);
    // The ES256 key that init made stays published beside it through the overlap.
    assert_eq!(jwks["keys"].as_array().expect("keys").len(), 2, "{jwks}");
}

/// A relying system that authenticates with JWTs signed by its own key (private_key_jwt, RFC
/// 7523): no secret is shared. The assertion's signature, iss/sub, aud, expiry and single use
/// are each checked.
#[test]
fn private_key_jwt_clients_prove_themselves_with_signed_assertions() {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    let mut w = world();
    let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("key");
    let other = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("key");
    let point = key.public_key().as_ref().to_vec();
    let jwks = serde_json::json!({ "keys": [{
        "kty": "EC", "crv": "P-256", "use": "sig", "kid": "rp-1",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    }]});
    let file = w.data.join("rp-jwks.json");
    std::fs::write(&file, jwks.to_string()).expect("jwks");
    let client = json(&ok(
        &w.data,
        &[
            "client",
            "add",
            "--name",
            "例示薬局システム",
            "--redirect-uri",
            REDIRECT,
            "--jwks-file",
            file.to_str().expect("path"),
            "--json",
        ],
    ));
    assert_eq!(client["token_endpoint_auth_method"], "private_key_jwt");
    assert!(client.get("client_secret").is_none());
    let id = client["client_id"].as_str().expect("id").to_owned();
    w.client_id = id.clone();
    let token_url = format!("http://localhost:{}/oidc/token", w.port());
    let now = chrono::Utc::now().timestamp();
    let assertion = |signer: &EcdsaKeyPair, claims: serde_json::Value| {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","typ":"JWT","kid":"rp-1"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let input = format!("{header}.{payload}");
        let sig = signer
            .sign(&SystemRandom::new(), input.as_bytes())
            .expect("sign");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    };
    let claims = |jti: &str, aud: &str, exp: i64| serde_json::json!({ "iss": id, "sub": id, "aud": aud, "exp": exp, "iat": now, "jti": jti });
    let exchange = |w: &World, code: &str, verifier: &str, jwt: &str| {
        w.token(
            &format!(
                "{}&client_assertion_type={}&client_assertion={jwt}",
                code_form(code, verifier, REDIRECT),
                urlencode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            ),
            None,
        )
    };
    let (verifier, challenge) = pkce();
    let code = w.code(&challenge);
    for (why, jwt) in [
        (
            "another key",
            assertion(&other, claims("j1", &token_url, now + 60)),
        ),
        (
            "another audience",
            assertion(
                &key,
                claims("j2", "https://elsewhere.example/token", now + 60),
            ),
        ),
        (
            "expired",
            assertion(&key, claims("j3", &token_url, now - 1)),
        ),
        (
            "too far ahead",
            assertion(&key, claims("j4", &token_url, now + 3600)),
        ),
    ] {
        let r = exchange(&w, &code, &verifier, &jwt);
        assert_eq!(
            (r.status, r.json()["error"].clone()),
            (401, "invalid_client".into()),
            "{why}: {}",
            r.text()
        );
    }
    // A secret instead of an assertion: refused.
    let r = w.token(
        &code_form(&code, &verifier, REDIRECT),
        Some((&id, "hscs_guess")),
    );
    assert_eq!(r.status, 401, "{}", r.text());
    let good = assertion(&key, claims("j5", &token_url, now + 60));
    let r = exchange(&w, &code, &verifier, &good);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        claims_of(r.json()["id_token"].as_str().expect("id_token"))["aud"],
        id.as_str()
    );
    // The same assertion again (with a fresh code): a replay.
    let (verifier, challenge) = pkce();
    let code = w.code(&challenge);
    let r = exchange(&w, &code, &verifier, &good);
    assert_eq!(r.status, 401, "{}", r.text());
    let r = exchange(
        &w,
        &code,
        &verifier,
        &assertion(&key, claims("j6", w.issuer().as_str(), now + 60)),
    );
    assert_eq!(
        r.status,
        200,
        "the issuer as audience is accepted too: {}",
        r.text()
    );
}
