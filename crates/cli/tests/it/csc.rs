//! Remote signing through the CSC API against the real server: a holder signs in with the
//! passkey registered through their sheet (scope `openid service`), and the relying system
//! has hashes signed with the second certificate's key. pyHanko, which no one here wrote,
//! signs and validates a PDF through it; the refusals of the list each get their
//! error and audit event.

use std::path::Path;
use std::process::Command;

use aws_lc_rs::signature::{
    UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::helpers::*;
use crate::oidc::{param, world_configured, World};

pub(crate) const CREDENTIAL: &str = "999999-jpa/second";

/// The world with a relying system allowed SCAL1, asking for scope `service`.
pub(crate) fn signing_world(config: &str) -> World {
    let mut w = world_configured(&[], config);
    w.scope = "openid service";
    w
}

fn csc(w: &World, path: &str, token: &str, body: serde_json::Value) -> Response {
    w.server.post_json(path, Some(token), &body)
}

fn b64_sha256(data: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(data))
}

/// A serial number in hex as one number: lower case, no colons, no leading zero digits
/// (credentials/info writes the DER's bytes, the CLI the number).
fn serial_number(s: &str) -> String {
    s.to_ascii_lowercase()
        .replace(':', "")
        .trim_start_matches('0')
        .to_owned()
}

/// signHash of one hash with a SAD.
pub(crate) fn sign_one(w: &World, token: &str, sad: &str) -> Response {
    csc(
        w,
        "/csc/v1/signatures/signHash",
        token,
        serde_json::json!({"credentialID": CREDENTIAL, "SAD": sad, "hash": [b64_sha256(b"p")],
                           "signAlgo": "1.2.840.113549.1.1.11"}),
    )
}

/// The root CA's certificate as a PEM file in `dir`.
pub(crate) fn root_pem(w: &World, dir: &Path) -> std::path::PathBuf {
    let cas = json(&ok(&w.data, &["ca", "show", "--json"]));
    let root = cas
        .as_array()
        .expect("array")
        .iter()
        .find(|c| c["role"] == "root")
        .and_then(|c| c["pem"].as_str())
        .expect("root")
        .to_owned();
    let path = dir.join("root.pem");
    std::fs::write(&path, root).expect("write");
    path
}

/// The error of a refused call: its status and `error`, and the description.
fn refused(r: &Response) -> (u16, String, String) {
    let j = r.json();
    (
        r.status,
        j["error"].as_str().unwrap_or_default().to_owned(),
        j["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

pub(crate) fn sad(w: &World, token: &str, body: serde_json::Value) -> String {
    let r = csc(w, "/csc/v1/credentials/authorize", token, body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["expiresIn"]
        .as_i64()
        .is_some_and(|s| s > 0 && s <= 600));
    r.json()["SAD"].as_str().expect("SAD").to_owned()
}

/// The RSA public key of a certificate from credentials/info (Base64 DER), as aws-lc takes
/// it, read out with openssl (no parser of ours).
fn public_key_of(cert_b64: &str) -> Vec<u8> {
    let der = STANDARD.decode(cert_b64).expect("base64");
    let dir = TempDir::new();
    let path = dir.path().join("c.der");
    std::fs::write(&path, &der).expect("write");
    let out = Command::new("openssl")
        .args(["x509", "-inform", "DER", "-in"])
        .arg(&path)
        .args(["-noout", "-pubkey"])
        .output()
        .expect("openssl");
    let pem = String::from_utf8_lossy(&out.stdout).to_string();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let spki = STANDARD.decode(b64).expect("spki");
    // RSA SPKI: the key is the BIT STRING after the 15-byte algorithm identifier and its
    // 4-byte BIT STRING header plus the unused-bits byte (2048-bit keys: 294 bytes in all).
    assert_eq!(spki.len(), 294, "an RSA-2048 SPKI");
    spki[24..].to_vec()
}

#[test]
fn a_signing_session_signs_hashes_through_the_csc_api() {
    let mut w = signing_world("");
    let token = w.access_token();

    // info (no token needed) in both versions.
    let info = w
        .server
        .post_json("/csc/v1/info", None, &serde_json::json!({}));
    assert_eq!(info.status, 200, "{}", info.text());
    assert_eq!(info.json()["specs"], "1.0.4.0");
    let info2 = w
        .server
        .post_json("/csc/v2/info", None, &serde_json::json!({}));
    assert_eq!(info2.json()["specs"], "2.0.0.2");
    assert_eq!(info2.json()["oauth2Issuer"], w.issuer());
    // The logo it names is there.
    let logo = info.json()["logo"].as_str().expect("logo").to_owned();
    let logo_path = logo.strip_prefix(&w.issuer()).expect("our address");
    assert_eq!(w.server.get(logo_path, None).status, 200, "{logo}");

    // The holder's one credential.
    let list = csc(
        &w,
        "/csc/v1/credentials/list",
        &token,
        serde_json::json!({}),
    );
    assert_eq!(list.status, 200, "{}", list.text());
    assert_eq!(
        list.json()["credentialIDs"],
        serde_json::json!([CREDENTIAL])
    );
    let list2 = csc(
        &w,
        "/csc/v2/credentials/list",
        &token,
        serde_json::json!({"credentialInfo": true, "certificates": "chain"}),
    );
    assert_eq!(
        list2.json()["credentialInfos"][0]["credentialID"],
        CREDENTIAL
    );
    assert_eq!(
        list2.json()["credentialInfos"][0]["cert"]["certificates"]
            .as_array()
            .map(Vec::len),
        Some(3),
        "signer, issuing CA, root"
    );

    // credentials/info as pyHanko asks for it.
    let ci = csc(
        &w,
        "/csc/v1/credentials/info",
        &token,
        serde_json::json!({"credentialID": CREDENTIAL, "certificates": "chain", "certInfo": true}),
    );
    assert_eq!(ci.status, 200, "{}", ci.text());
    let ci = ci.json();
    assert_eq!(ci["key"]["status"], "enabled");
    assert_eq!(ci["key"]["len"], 2048);
    let algos = ci["key"]["algo"].as_array().expect("algo");
    for oid in ["1.2.840.113549.1.1.11", "1.2.840.113549.1.1.10"] {
        assert!(algos.iter().any(|a| a == oid), "{oid} in {algos:?}");
    }
    assert_eq!(ci["SCAL"], "1");
    assert_eq!(ci["multisign"], 100);
    assert_eq!(ci["cert"]["status"], "valid");
    assert_eq!(
        ci["cert"]["serialNumber"].as_str().map(serial_number),
        Some(serial_number(&w.serial)),
        "{ci}"
    );
    assert!(ci["cert"]["validTo"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z') && t.len() == 15));
    let public = public_key_of(ci["cert"]["certificates"][0].as_str().expect("cert"));

    // SCAL1: a SAD for two signatures, then both in one signHash (v2 names), checked against
    // the certificate's key.
    let docs: [&[u8]; 2] = [b"prescription one", b"prescription two"];
    let sad1 = sad(
        &w,
        &token,
        serde_json::json!({"credentialID": CREDENTIAL, "numSignatures": 2}),
    );
    let r = csc(
        &w,
        "/csc/v2/signatures/signHash",
        &token,
        serde_json::json!({
            "credentialID": CREDENTIAL, "SAD": sad1,
            "hashes": [b64_sha256(docs[0]), b64_sha256(docs[1])],
            "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
            "signAlgo": "1.2.840.113549.1.1.11",
        }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let sigs = r.json()["signatures"]
        .as_array()
        .expect("signatures")
        .clone();
    assert_eq!(sigs.len(), 2);
    for (doc, sig) in docs.iter().zip(&sigs) {
        let sig = STANDARD.decode(sig.as_str().expect("b64")).expect("b64");
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &public)
            .verify(doc, &sig)
            .expect("the signature verifies with the certificate's key");
    }
    // The SAD is spent: a third signature is refused.
    let again = csc(
        &w,
        "/csc/v1/signatures/signHash",
        &token,
        serde_json::json!({"credentialID": CREDENTIAL, "SAD": sad1, "hash": [b64_sha256(b"3")],
                           "signAlgo": "1.2.840.113549.1.1.11"}),
    );
    let (status, error, why) = refused(&again);
    assert_eq!((status, error.as_str()), (400, "invalid_request"), "{why}");
    assert!(why.contains("used for every signature"), "{why}");

    // RSA-PSS with its parameters (v1 names), on a SAD bound to the hash.
    let h = b64_sha256(docs[0]);
    let sad2 = sad(
        &w,
        &token,
        serde_json::json!({"credentialID": CREDENTIAL, "numSignatures": 1, "hash": [h]}),
    );
    let wrong = csc(
        &w,
        "/csc/v1/signatures/signHash",
        &token,
        serde_json::json!({"credentialID": CREDENTIAL, "SAD": sad2, "hash": [b64_sha256(docs[1])],
                           "signAlgo": "1.2.840.113549.1.1.11"}),
    );
    let (status, _, why) = refused(&wrong);
    assert_eq!(status, 400);
    assert!(why.contains("not a hash this SAD authorized"), "{why}");
    let pss = csc(
        &w,
        "/csc/v1/signatures/signHash",
        &token,
        serde_json::json!({
            "credentialID": CREDENTIAL, "SAD": sad2, "hash": [h],
            "hashAlgo": "2.16.840.1.101.3.4.2.1", "signAlgo": "1.2.840.113549.1.1.10",
            "signAlgoParams": "MDSgDzANBglghkgBZQMEAgEFAKEcMBoGCSqGSIb3DQEBCDANBglghkgBZQMEAgEFAKIDAgEg",
        }),
    );
    assert_eq!(pss.status, 200, "{}", pss.text());
    let sig = STANDARD
        .decode(pss.json()["signatures"][0].as_str().expect("b64"))
        .expect("b64");
    UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, &public)
        .verify(docs[0], &sig)
        .expect("the PSS signature verifies");

    // extendTransaction: a new SAD value; the old one stops working.
    let sad3 = sad(
        &w,
        &token,
        serde_json::json!({"credentialID": CREDENTIAL, "numSignatures": 1}),
    );
    let ext = csc(
        &w,
        "/csc/v1/credentials/extendTransaction",
        &token,
        serde_json::json!({"credentialID": CREDENTIAL, "SAD": sad3}),
    );
    assert_eq!(ext.status, 200, "{}", ext.text());
    let sad4 = ext.json()["SAD"].as_str().expect("SAD").to_owned();
    assert_ne!(sad3, sad4);
    let body = |sad: &str| {
        serde_json::json!({"credentialID": CREDENTIAL, "SAD": sad, "hash": [b64_sha256(b"x")],
                           "signAlgo": "1.2.840.113549.1.1.11"})
    };
    let old = csc(&w, "/csc/v1/signatures/signHash", &token, body(&sad3));
    assert_eq!(old.status, 400, "{}", old.text());
    let new = csc(&w, "/csc/v1/signatures/signHash", &token, body(&sad4));
    assert_eq!(new.status, 200, "{}", new.text());

    // Every signature is in the holder's list (newest first), with its hashes.
    let list = json(&ok(
        &w.data,
        &["signature", "list", "--holder", "999999", "--json"],
    ));
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), 3, "{list:?}");
    assert_eq!(list[0]["algorithm"], "rsa-pkcs1-sha256");
    assert_eq!(list[1]["algorithm"], "rsa-pss-sha256");
    assert_eq!(list[2]["hashes"].as_array().map(Vec::len), Some(2));
    assert!(list
        .iter()
        .all(|s| s["mode"] == "scal1" && s["client_id"] == w.client_id.as_str()));
    let hex0 = hex::encode(Sha256::digest(docs[0]));
    assert_eq!(list[1]["hashes"][0], hex0.as_str());

    // A renewed certificate: the credential keeps its ID and shows the new certificate, and
    // the new key signs (after a new sign-in).
    // The old certificate is revoked first (as the CA requires): that ends this signing
    // session for good, even once the new certificate is there.
    ok(
        &w.data,
        &["cert", "revoke", &w.serial, "--reason", "superseded"],
    );
    let renewed = json(&ok(
        &w.data,
        &["cert", "issue-second", "--holder", "999999", "--json"],
    ));
    let r = csc(
        &w,
        "/csc/v1/credentials/list",
        &token,
        serde_json::json!({}),
    );
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(
        r.text().contains("revoked after this sign-in"),
        "{}",
        r.text()
    );
    let token = w.access_token();
    let list = csc(
        &w,
        "/csc/v1/credentials/list",
        &token,
        serde_json::json!({}),
    );
    assert_eq!(
        list.json()["credentialIDs"],
        serde_json::json!([CREDENTIAL])
    );
    let ci = csc(
        &w,
        "/csc/v1/credentials/info",
        &token,
        serde_json::json!({"credentialID": CREDENTIAL, "certInfo": true}),
    )
    .json();
    assert_eq!(
        ci["cert"]["serialNumber"].as_str().map(serial_number),
        renewed["serial"].as_str().map(serial_number),
        "{ci}"
    );
    let new_public = public_key_of(ci["cert"]["certificates"][0].as_str().expect("cert"));
    assert_ne!(new_public, public, "a new key");
    let s = sad(
        &w,
        &token,
        serde_json::json!({"credentialID": CREDENTIAL, "numSignatures": 1}),
    );
    let r = csc(
        &w,
        "/csc/v1/signatures/signHash",
        &token,
        serde_json::json!({"credentialID": CREDENTIAL, "SAD": s, "hash": [b64_sha256(docs[1])],
                           "signAlgo": "1.2.840.113549.1.1.11"}),
    );
    let sig = STANDARD
        .decode(r.json()["signatures"][0].as_str().expect("b64"))
        .expect("b64");
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &new_public)
        .verify(docs[1], &sig)
        .expect("signed with the renewed certificate's key");
    assert_audit_intact(&w.data, audit_seq(&w.data));
}

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
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
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
    let devices = json(&ok(
        &w.data,
        &["device", "list", "--holder", "999999", "--json"],
    ));
    let device = devices[0]["id"].to_string();
    ok(
        &w.data,
        &["device", "delete", "--holder", "999999", "--id", &device],
    );
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
    std::thread::sleep(std::time::Duration::from_millis(1100));
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

/// The world's audit events of one action, their details as text.
fn audit_actions(data: &Path, action: &str) -> Vec<String> {
    ok(data, &["audit", "export"])
        .lines()
        .map(json)
        .filter(|e| e["action"] == action)
        .map(|e| e["details"].to_string())
        .collect()
}

/// An access token of a sign-in with another scope.
fn token_with_scope(w: &mut World, scope: &'static str) -> String {
    let was = w.scope;
    w.scope = scope;
    let token = w.access_token();
    w.scope = was;
    token
}

/// pyHanko signs a PDF through the CSC API (SCAL1, a SAD bound to each hash) and validates it
/// against our root with our CRL and OCSP, revocation hard-fail; after the second
/// certificate's revocation signing is refused.
fn pyhanko_signs_and_validates(config: &str) {
    let mut w = signing_world(config);
    let token = w.access_token();
    let venv = hpki_test_support::required_env("HPKI_TEST_VENV");
    let dir = TempDir::new();
    let root_path = root_pem(&w, dir.path());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/csc_sign_pdf.py");
    let run = |api: &str, pss: bool| {
        let mut c = Command::new(Path::new(&venv).join("bin/python"));
        c.arg(&script)
            .args([
                "--base",
                &w.issuer(),
                "--token",
                &token,
                "--credential",
                CREDENTIAL,
            ])
            .args(["--api", api, "--root"])
            .arg(&root_path)
            .arg("--out")
            .arg(dir.path().join(format!("signed-{api}.pdf")));
        if pss {
            c.arg("--pss");
        }
        c.output().expect("python")
    };
    for (api, pss) in [("v1", false), ("v2", true)] {
        let o = run(api, pss);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "pyHanko ({api}): {out}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let summary = json(&out);
        assert_eq!(summary["intact"], true, "{summary}");
        assert_eq!(summary["valid"], true, "{summary}");
        assert_eq!(summary["trusted"], true, "{summary}");
        assert!(
            summary["signer"]
                .as_str()
                .is_some_and(|s| s.contains("Taro Yakuzai")),
            "{summary}"
        );
    }
    let list = json(&ok(
        &w.data,
        &["signature", "list", "--holder", "999999", "--json"],
    ));
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    assert_eq!(list[0]["algorithm"], "rsa-pss-sha256");

    ok(
        &w.data,
        &["cert", "revoke", &w.serial, "--reason", "keyCompromise"],
    );
    let o = run("v1", false);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let list = json(&ok(
        &w.data,
        &["signature", "list", "--holder", "999999", "--json"],
    ));
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(2),
        "nothing more was signed"
    );
}

#[test]
fn pyhanko_signs_a_pdf_through_the_csc_api_with_the_software_keystore() {
    pyhanko_signs_and_validates("");
}

#[test]
fn pyhanko_signs_a_pdf_through_the_csc_api_with_keys_in_softhsm() {
    pyhanko_signs_and_validates(&softhsm_config());
}

/// A configuration with the CA's keys (and holders') in the SoftHSM2 token of the tests.
pub(crate) fn softhsm_config() -> String {
    let var = hpki_test_support::required_env;
    format!(
        "[ca]\nkeystore = \"pkcs11\"\npkcs11_module = {:?}\npkcs11_token = {:?}\npkcs11_pin = {:?}\n",
        var("HPKI_TEST_PKCS11_MODULE"),
        var("HPKI_TEST_PKCS11_TOKEN"),
        var("HPKI_TEST_PKCS11_PIN")
    )
}

/// A CA with ECDSA P-256 keys: the credential offers ecdsa-with-SHA256, signHash signs with it
/// (checked against the certificate's key by openssl), signDoc makes CAdES with it, and an
/// e-prescription (rsa-sha256 only) is refused with the reason.
#[test]
fn ecdsa_credentials_sign_with_ecdsa() {
    let mut w = signing_world("[ca]\nalgorithm = \"ecdsa-p256\"\n");
    let token = w.access_token();
    let ci = csc(
        &w,
        "/csc/v1/credentials/info",
        &token,
        serde_json::json!({"credentialID": CREDENTIAL}),
    )
    .json();
    assert_eq!(ci["key"]["len"], 256, "{ci}");
    assert_eq!(ci["key"]["curve"], "1.2.840.10045.3.1.7");
    let algos = ci["key"]["algo"].as_array().expect("algo");
    assert!(
        algos.iter().any(|a| a == "1.2.840.10045.4.3.2"),
        "{algos:?}"
    );
    assert!(
        !algos.iter().any(|a| a == "1.2.840.113549.1.1.11"),
        "{algos:?}"
    );

    let s = sad(
        &w,
        &token,
        serde_json::json!({"credentialID": CREDENTIAL, "numSignatures": 3}),
    );
    // An RSA algorithm for an EC key: refused with the reason.
    let r = csc(
        &w,
        "/csc/v1/signatures/signHash",
        &token,
        serde_json::json!({"credentialID": CREDENTIAL, "SAD": s, "hash": [b64_sha256(b"x")],
                           "signAlgo": "1.2.840.113549.1.1.11"}),
    );
    assert!(refused(&r).2.contains("cannot sign"), "{}", r.text());
    let r = csc(
        &w,
        "/csc/v1/signatures/signHash",
        &token,
        serde_json::json!({"credentialID": CREDENTIAL, "SAD": s, "hash": [b64_sha256(b"rx")],
                           "signAlgo": "1.2.840.10045.4.3.2"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let sig = STANDARD
        .decode(r.json()["signatures"][0].as_str().expect("b64"))
        .expect("b64");
    // openssl checks the DER ECDSA signature over the message with the certificate's key.
    let dir = TempDir::new();
    let cert = json(&ok(&w.data, &["cert", "show", &w.serial, "--json"]));
    let cert_path = dir.path().join("holder.pem");
    std::fs::write(&cert_path, cert["pem"].as_str().expect("pem")).expect("write");
    let key_path = dir.path().join("key.pem");
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-pubkey", "-in"])
        .arg(&cert_path)
        .output()
        .expect("openssl");
    std::fs::write(&key_path, &out.stdout).expect("write");
    let (msg, sig_path) = (dir.path().join("msg"), dir.path().join("sig"));
    std::fs::write(&msg, b"rx").expect("write");
    std::fs::write(&sig_path, &sig).expect("write");
    let verify = |m: &Path| {
        Command::new("openssl")
            .args(["dgst", "-sha256", "-verify"])
            .arg(&key_path)
            .arg("-signature")
            .arg(&sig_path)
            .arg(m)
            .output()
            .expect("openssl")
    };
    let o = verify(&msg);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    std::fs::write(&msg, b"rX").expect("write");
    assert!(!verify(&msg).status.success(), "verified another message");

    // signDoc: CAdES with ECDSA; a prescription is refused (rsa-sha256 only).
    let r = w.server.post_json(
        "/csc/v2/signatures/signDoc",
        Some(&token),
        &serde_json::json!({"credentialID": CREDENTIAL, "SAD": s,
            "documents": [{"document": STANDARD.encode(b"doc"), "signature_format": "C"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let cms = dir.path().join("sig.der");
    let der = STANDARD
        .decode(r.json()["SignatureObject"][0].as_str().expect("b64"))
        .expect("b64");
    std::fs::write(&cms, der).expect("write");
    std::fs::write(&msg, b"doc").expect("write");
    let root = root_pem(&w, dir.path());
    let o = Command::new("openssl")
        .args([
            "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any", "-in",
        ])
        .arg(&cms)
        .arg("-content")
        .arg(&msg)
        .arg("-CAfile")
        .arg(&root)
        .args(["-out", "/dev/null"])
        .output()
        .expect("openssl");
    assert!(
        o.status.success(),
        "openssl cms -verify (ECDSA): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r = w.server.post_json(
        "/csc/v2/signatures/signDoc",
        Some(&token),
        &serde_json::json!({"credentialID": CREDENTIAL, "SAD": s,
            "documentDigests": [{"hashes": [b64_sha256(b"rx2")], "signature_format": "X"}]}),
    );
    assert!(refused(&r).2.contains("rsa-sha256"), "{}", r.text());
}
