//! SCAL2 against the real server: the relying system sends the holder to `oauth2/authorize`
//! with `scope=credential` and the hashes; the holder sees the documents and confirms with the
//! registered passkey; the credential token signs exactly those hashes, once. pyHanko signs a
//! PDF this way through its authorization-manager hook.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hpki_passkey::soft::Faults;
use sha2::{Digest, Sha256};

use crate::support::*;

/// A relying system allowed both modes, with the world's redirect URI; the world then acts as
/// it (its client ID and secret).
fn as_consent_client(w: &mut World) {
    let c = w.add_client(
        "例示薬局システム (SCAL2)",
        &["--auth", "passkey", "--signing", "scal1,scal2"],
    );
    w.act_as(&c);
}

/// The holder authorizes `hashes` (with `labels`) for `credential`: the finish response and
/// the PKCE verifier.
fn authorize(
    w: &mut World,
    credential: &str,
    hashes: &[[u8; 32]],
    labels: &[&str],
) -> (Response, String) {
    let (verifier, challenge) = pkce();
    let details = serde_json::json!([{
        "type": "credential",
        "credentialID": credential,
        "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
        "documentDigests": hashes.iter().zip(labels).map(|(h, l)| serde_json::json!({
            "hash": STANDARD.encode(h), "label": l,
        })).collect::<Vec<_>>(),
    }]);
    let mut u = url::Url::parse("http://x/csc/v2/oauth2/authorize").expect("url");
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &w.client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "credential")
        .append_pair("state", "s-1")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("authorization_details", &details.to_string());
    let path = format!("{}?{}", u.path(), u.query().unwrap_or(""));
    let mut b = Browser::new(&w.server);
    let page = b.get(&path);
    assert_eq!(page.status, 200, "{}", page.text());
    for l in labels.iter().filter(|l| !l.is_empty()) {
        assert!(page.text().contains(l), "the page names {l}");
    }
    assert!(page.text().contains("署名の承認"), "{}", page.text());
    let first = hex::encode_upper(&hashes[0][..2]);
    assert!(
        page.text().contains(&first),
        "the page shows the hash's first bytes"
    );
    (w.login(&mut b, &path, Faults::default()), verifier)
}

/// The credential token for `hashes`, after the holder's consent.
fn credential_token(w: &mut World, hashes: &[[u8; 32]]) -> String {
    let labels: Vec<String> = (1..=hashes.len()).map(|i| format!("処方箋 {i}")).collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    let (r, verifier) = authorize(w, CREDENTIAL, hashes, &labels);
    assert_eq!(r.status, 200, "{}", r.text());
    let to = r.json()["redirect"].as_str().expect("redirect").to_owned();
    let code = param(&to, "code").expect("code");
    let t = w.token(
        &code_form(&code, &verifier, REDIRECT),
        Some((&w.client_id.clone(), &w.secret.clone())),
    );
    assert_eq!(t.status, 200, "{}", t.text());
    let t = t.json();
    assert!(
        t["id_token"].is_null(),
        "no ID token for scope credential: {t}"
    );
    assert_eq!(t["scope"], "credential");
    assert!(t["expires_in"].as_i64().is_some_and(|s| s <= 300), "{t}");
    // What was authorized, echoed (RFC 9396 §7).
    let details = &t["authorization_details"][0];
    assert_eq!(details["type"], "credential", "{t}");
    assert_eq!(details["credentialID"], CREDENTIAL);
    let echoed: Vec<&str> = details["documentDigests"]
        .as_array()
        .expect("digests")
        .iter()
        .map(|d| d["hash"].as_str().expect("hash"))
        .collect();
    let sent: Vec<String> = hashes.iter().map(|h| STANDARD.encode(h)).collect();
    assert_eq!(echoed, sent, "{t}");
    t["access_token"].as_str().expect("token").to_owned()
}

fn sign_hash(w: &World, token: &str, hashes: &[[u8; 32]]) -> Response {
    w.server.post_json(
        "/csc/v2/signatures/signHash",
        Some(token),
        &serde_json::json!({"credentialID": CREDENTIAL,
            "hashes": hashes.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>(),
            "signAlgo": "1.2.840.113549.1.1.11"}),
    )
}

#[test]
fn a_credential_token_signs_exactly_what_the_holder_authorized_once() {
    let mut w = signing_world("");
    as_consent_client(&mut w);
    let h1: [u8; 32] = Sha256::digest(b"prescription 1").into();
    let h2: [u8; 32] = Sha256::digest(b"prescription 2").into();
    let other: [u8; 32] = Sha256::digest(b"something else").into();
    let token = credential_token(&mut w, &[h1, h2]);

    // A credential token is no OpenID Connect token: UserInfo says so (RFC 6750's
    // insufficient_scope), and tells nothing about the holder.
    let info = request(
        &w.server.addr,
        "GET",
        "/oidc/userinfo",
        Some(&token),
        None,
        b"",
    );
    assert_eq!(info.status, 403, "{}", info.text());
    assert_eq!(info.json()["error"], "insufficient_scope");
    assert!(
        info.header("www-authenticate")
            .is_some_and(|h| h.contains("insufficient_scope")),
        "{:?}",
        info.headers
    );
    assert!(!info.text().contains("999999"), "{}", info.text());
    // The Authorization scheme is case-insensitive (RFC 9110): `bearer` works as `Bearer`.
    let lower = format!("bearer {token}");
    let r = request_with(
        &w.server.addr,
        "POST",
        "/csc/v2/credentials/list",
        &[
            ("Authorization", lower.as_str()),
            ("Content-Type", "application/json"),
        ],
        b"{}",
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // Not a hash the holder saw: refused; the authorized ones sign, once each.
    let r = sign_hash(&w, &token, &[other]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("not a hash this SAD authorized"),
        "{}",
        r.text()
    );
    let r = sign_hash(&w, &token, &[h1]);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = sign_hash(&w, &token, &[h1]);
    assert_eq!(r.status, 400, "signed twice: {}", r.text());
    // The other one through signDoc (a hash-only prescription signature).
    let r = w.server.post_json(
        "/csc/v2/signatures/signDoc",
        Some(&token),
        &serde_json::json!({"credentialID": CREDENTIAL,
            "documentDigests": [{"hashes": [STANDARD.encode(h2)], "signature_format": "X"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = sign_hash(&w, &token, &[h2]);
    assert_eq!(r.status, 400, "used up: {}", r.text());
    // A credential token asks for no SAD.
    let r = w.server.post_json(
        "/csc/v1/credentials/authorize",
        Some(&token),
        &serde_json::json!({"credentialID": CREDENTIAL, "numSignatures": 1}),
    );
    assert_eq!(r.status, 400, "{}", r.text());

    let list = json(&ok(
        &w.data,
        &["signature", "list", "--holder", "999999", "--json"],
    ));
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|s| s["mode"] == "scal2"), "{list:?}");
    let export = ok(&w.data, &["audit", "export"]);
    let consented: Vec<serde_json::Value> = export
        .lines()
        .map(json)
        .filter(|e| e["action"] == "csc.consented")
        .collect();
    assert_eq!(consented.len(), 1);
    let d = &consented[0]["details"];
    assert_eq!(
        d["hashes"],
        serde_json::json!([hex::encode(h1), hex::encode(h2)])
    );
    assert_eq!(d["labels"], serde_json::json!(["処方箋 1", "処方箋 2"]));
    assert!(
        d["commitment"].as_str().is_some_and(|c| c.len() == 64),
        "{d}"
    );
}

#[test]
fn consent_is_refused_to_the_wrong_holder_and_to_relying_systems_without_scal2() {
    let mut w = signing_world("");
    // The world's relying system may sign in sessions only: scope credential is refused.
    let (_, challenge) = pkce();
    let r = w.server.get(
        &format!("/csc/v1/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&scope=credential&credentialID=999999-jpa%2Fsecond&numSignatures=1&hash={}&code_challenge={challenge}&code_challenge_method=S256",
            w.client_id, url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
            URL_SAFE_NO_PAD.encode([7u8; 32])),
        None,
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(
        r.header("location")
            .and_then(|l| param(l, "error"))
            .as_deref(),
        Some("invalid_scope"),
        "{:?}",
        r.header("location")
    );

    as_consent_client(&mut w);
    // Signatures asked of another holder's certificate: this holder's phone cannot give them.
    let (r, _) = authorize(&mut w, "123456-jpa/second", &[[7u8; 32]], &["処方箋"]);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"], "not_your_credential");
    let export = ok(&w.data, &["audit", "export"]);
    assert!(
        export.contains("not_your_credential"),
        "the refusal is audited"
    );
}

/// pyHanko's authorization-manager hook asks this test for a credential token for the hashes
/// it is about to sign (a line on its standard output); the holder authorizes them with the
/// phone; the token goes back on its standard input.
#[test]
fn pyhanko_signs_a_pdf_with_the_holders_consent_per_document() {
    let mut w = signing_world("");
    as_consent_client(&mut w);
    // The service token (scope service) lists and reads the credential.
    w.scope = "openid service";
    let service_token = w.access_token();
    let venv = hpki_test_support::required_env("HPKI_TEST_VENV");
    let dir = TempDir::new();
    let root_path = root_pem(&w, dir.path());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/csc_sign_pdf.py");
    let mut child = Command::new(Path::new(&venv).join("bin/python"))
        .arg(&script)
        .args([
            "--base",
            &w.issuer(),
            "--token",
            &service_token,
            "--credential",
            CREDENTIAL,
        ])
        .args(["--api", "v2", "--scal2", "--root"])
        .arg(&root_path)
        .arg("--out")
        .arg(dir.path().join("signed.pdf"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python");
    let mut to_python = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut summary = None;
    for line in lines.by_ref() {
        let line = line.expect("line");
        if let Some(asked) = line.strip_prefix("AUTHORIZE ") {
            let hashes: Vec<[u8; 32]> = serde_json::from_str::<Vec<String>>(asked)
                .expect("hashes")
                .iter()
                .map(|h| {
                    STANDARD
                        .decode(h)
                        .expect("b64")
                        .try_into()
                        .expect("32 bytes")
                })
                .collect();
            let token = credential_token(&mut w, &hashes);
            writeln!(to_python, "{token}").expect("to python");
            to_python.flush().expect("flush");
        } else if line.starts_with('{') {
            summary = Some(json(&line));
        }
    }
    let out = child.wait_with_output().expect("python");
    let summary = summary.unwrap_or_else(|| {
        panic!(
            "pyHanko gave no summary: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        out.status.success(),
        "{summary}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(summary["intact"], true, "{summary}");
    assert_eq!(summary["valid"], true, "{summary}");
    assert_eq!(summary["trusted"], true, "{summary}");
    let list = json(&ok(
        &w.data,
        &["signature", "list", "--holder", "999999", "--json"],
    ));
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["mode"], "scal2");
}
