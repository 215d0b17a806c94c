//! Native apps on the pharmacy's PC (RFC 8252): a public client registered with a loopback IP
//! redirect is sent back to whatever port it listens on, and must name that same URI when it
//! redeems the code; a private-use scheme in reverse-domain form works for public clients and
//! is refused for confidential ones; the CSC `oauth2/authorize` endpoint follows the same
//! rules. (openid-client, with a real loopback listener, is in e2e/native.mjs.)

use crate::support::*;

/// A public client (no secret: PKCE alone) with a loopback and a private-use redirect.
fn native_client(w: &World) -> String {
    let out = ok(
        &w.data,
        &[
            "client",
            "add",
            "--name",
            "例示薬局システム",
            "--redirect-uri",
            "http://127.0.0.1/callback",
            "--redirect-uri",
            "jp.example.pharmacy:/callback",
            "--auth",
            "passkey",
        ],
    );
    assert!(out.contains("registered a public client"), "{out}");
    assert!(out.contains("matched with any port"), "{out}");
    assert!(out.contains("private-use scheme"), "{out}");
    let id = out
        .split_whitespace()
        .find(|w| w.starts_with("hsc_"))
        .expect("a client ID")
        .to_owned();
    id
}

/// Signs in through `authorize` (a path with the native client's request): where the browser
/// is sent.
fn sent_back_to(w: &mut World, authorize: &str) -> String {
    let mut b = Browser::new(&w.server);
    let r = w.login(&mut b, authorize, hpki_passkey::soft::Faults::default());
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["redirect"].as_str().expect("redirect").to_owned()
}

fn redeem(w: &World, client_id: &str, code: &str, verifier: &str, redirect: &str) -> Response {
    w.token(
        &format!(
            "{}&client_id={client_id}",
            code_form(code, verifier, redirect)
        ),
        None,
    )
}

#[test]
fn a_native_app_is_sent_back_to_its_own_port_or_its_own_scheme() {
    let mut w = world();
    let client_id = native_client(&w);
    let (verifier, challenge) = pkce();
    let listener = "http://127.0.0.1:51234/callback";
    let authorize = w.authorize_for(
        &challenge,
        &[
            ("client_id", Some(&client_id)),
            ("redirect_uri", Some(listener)),
        ],
    );
    let to = sent_back_to(&mut w, &authorize);
    assert!(to.starts_with(&format!("{listener}?")), "{to}");
    let code = param(&to, "code").expect("a code");
    // The same URI, with its port, must come with the code: another port is another app.
    let elsewhere = redeem(
        &w,
        &client_id,
        &code,
        &verifier,
        "http://127.0.0.1:51235/callback",
    );
    assert_eq!(elsewhere.status, 400, "{}", elsewhere.text());
    assert_eq!(elsewhere.json()["error"], "invalid_grant");
    // That refusal leaves the code (RFC 6749 4.1.3 asks only that the URIs be identical):
    // the right URI redeems it.
    let tokens = redeem(&w, &client_id, &code, &verifier, listener);
    assert_eq!(tokens.status, 200, "{}", tokens.text());
    assert!(tokens.json()["id_token"].is_string());

    // The private-use scheme: the browser hands the code to the app that claims the scheme.
    let (verifier, challenge) = pkce();
    let scheme = "jp.example.pharmacy:/callback";
    let authorize = w.authorize_for(
        &challenge,
        &[
            ("client_id", Some(&client_id)),
            ("redirect_uri", Some(scheme)),
        ],
    );
    let to = sent_back_to(&mut w, &authorize);
    assert!(
        to.starts_with("jp.example.pharmacy:/callback?code="),
        "{to}"
    );
    let code = param(&to, "code").expect("a code");
    let tokens = redeem(&w, &client_id, &code, &verifier, scheme);
    assert_eq!(tokens.status, 200, "{}", tokens.text());

    // Only a loopback IP literal takes any port; the path, the host and the scheme are exact.
    for wrong in [
        "http://127.0.0.1:51234/callback/other",
        "http://localhost:51234/callback",
        "http://[::1]:51234/callback",
        "jp.example.pharmacy:/other",
        "jp.example.evil:/callback",
    ] {
        let authorize = w.authorize_for(
            &challenge,
            &[
                ("client_id", Some(&client_id)),
                ("redirect_uri", Some(wrong)),
            ],
        );
        let r = w.server.get(&authorize, None);
        assert_eq!(r.status, 400, "{wrong}: {}", r.text());
        assert!(
            r.text().contains("redirect_uri"),
            "{wrong}: the page says what is wrong: {}",
            r.text()
        );
    }
    // The CSC authorization endpoint follows the same rules.
    let csc = w
        .authorize_for(
            &challenge,
            &[
                ("client_id", Some(&client_id)),
                ("redirect_uri", Some("http://127.0.0.1:40001/callback")),
            ],
        )
        .replace("/oidc/authorize", "/csc/v2/oauth2/authorize");
    assert_eq!(w.server.get(&csc, None).status, 200);
}

#[test]
fn a_private_use_scheme_is_for_public_clients_only() {
    let w = world();
    for auth in [&["--secret"][..], &["--jwks-file", "/dev/null"][..]] {
        let mut args = vec![
            "client",
            "add",
            "--name",
            "x",
            "--redirect-uri",
            "jp.example.pharmacy:/callback",
        ];
        args.extend_from_slice(auth);
        let (code, said) = fails(&w.data, &args);
        assert_ne!(code, 0);
        assert!(said.contains("only a public client"), "{said}");
    }
    for bad in [
        "myapp:/callback",
        "javascript:alert(1)",
        "http://10.0.0.1/cb",
    ] {
        let (_, said) = fails(
            &w.data,
            &["client", "add", "--name", "x", "--redirect-uri", bad],
        );
        assert!(
            said.contains("private-use scheme in reverse-domain"),
            "{bad}: {said}"
        );
    }
}
