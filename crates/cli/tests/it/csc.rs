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

use crate::support::*;

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
    // One form of a serial everywhere: as the CLI, the console and the holder's page write
    // it (lower-case hex, no leading zeros).
    assert_eq!(
        ci["cert"]["serialNumber"].as_str(),
        Some(serial_number(&w.serial).as_str()),
        "{ci}"
    );
    assert_eq!(
        serial_number(&w.serial),
        w.serial,
        "the CLI's form is that form"
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
    // A PSS salt longer than an RSA-2048 key can carry (223 bytes) is refused, and the SAD
    // stays usable.
    let too_long = csc(
        &w,
        "/csc/v1/signatures/signHash",
        &token,
        serde_json::json!({
            "credentialID": CREDENTIAL, "SAD": sad2, "hash": [h],
            "signAlgo": "1.2.840.113549.1.1.10",
            "signAlgoParams": "MDWgDzANBglghkgBZQMEAgEFAKEcMBoGCSqGSIb3DQEBCDANBglghkgBZQMEAgEFAKIEAgIA3w==",
        }),
    );
    let (status, error, why) = refused(&too_long);
    assert_eq!((status, error.as_str()), (400, "invalid_request"), "{why}");
    assert!(
        why.contains("signAlgoParams") && why.contains("at most 222"),
        "{why}"
    );
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
    let run = |api: &str, pss: &[&str]| {
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
            .arg(dir.path().join(format!("signed-{api}{}.pdf", pss.join(""))))
            .args(pss);
        c.output().expect("python")
    };
    // PKCS#1 v1.5; RSA-PSS as pyHanko chooses it (the longest salt, 222 bytes); RSA-PSS with
    // a salt as long as the digest.
    for (api, pss, salt) in [
        ("v1", &[][..], serde_json::Value::Null),
        ("v2", &["--pss"][..], 222.into()),
        ("v2", &["--pss-salt", "32"][..], 32.into()),
    ] {
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
        assert_eq!(summary["pss_salt"], salt, "{summary}");
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
    assert_eq!(list.as_array().map(Vec::len), Some(3), "{list}");
    assert_eq!(list[0]["algorithm"], "rsa-pss-sha256");
    assert_eq!(list[1]["algorithm"], "rsa-pss-sha256");
    assert_eq!(list[2]["algorithm"], "rsa-pkcs1-sha256");

    ok(
        &w.data,
        &["cert", "revoke", &w.serial, "--reason", "keyCompromise"],
    );
    let o = run("v1", &[]);
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
        Some(3),
        "nothing more was signed"
    );
}

#[test]
fn pyhanko_signs_a_pdf_through_the_csc_api_with_the_software_keystore() {
    pyhanko_signs_and_validates("");
}

#[test]
fn pyhanko_signs_a_pdf_through_the_csc_api_with_keys_in_softhsm() {
    let _hsm = softhsm_turn();
    pyhanko_signs_and_validates(&softhsm_config());
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

/// Wherever a CSC client builds the OAuth 2.0 endpoints from `info` (v1 `oauth2` and v2
/// `oauth2Issuer` with `/oauth2/authorize` appended, as the specification's examples do, or v2's
/// RFC 8414 metadata under the issuer), they answer; the metadata is the OpenID configuration.
#[test]
fn the_oauth2_endpoints_are_where_info_and_the_metadata_say() {
    let w = signing_world("");
    let openid = w.server.get("/.well-known/openid-configuration", None);
    let oauth = w
        .server
        .get("/.well-known/oauth-authorization-server", None);
    assert_eq!(oauth.status, 200, "{}", oauth.text());
    assert_eq!(oauth.json(), openid.json(), "the same metadata (RFC 8414)");
    assert_eq!(oauth.json()["issuer"], w.issuer());

    let (_, challenge) = pkce();
    let query = authorize_path(&w.request(&challenge));
    let query = &query[query.find('?').expect("query")..];
    let v1 = w
        .server
        .post_json("/csc/v1/info", None, &serde_json::json!({}));
    let v2 = w
        .server
        .post_json("/csc/v2/info", None, &serde_json::json!({}));
    let metadata = oauth.json();
    for authorize in [
        format!(
            "{}/oauth2/authorize",
            v1.json()["oauth2"].as_str().expect("oauth2")
        ),
        format!(
            "{}/oauth2/authorize",
            v2.json()["oauth2Issuer"].as_str().expect("oauth2Issuer")
        ),
        metadata["authorization_endpoint"]
            .as_str()
            .expect("authorization_endpoint")
            .to_owned(),
    ] {
        let page = w
            .server
            .get(&format!("{}{query}", path_of(&authorize)), None);
        assert_eq!(page.status, 200, "{authorize}: {}", page.text());
        assert!(page.text().contains("例示薬局システム"), "{authorize}");
    }
    // The token and revocation endpoints beside it: a wrong code is invalid_grant, not 404; an
    // unknown token is revoked quietly (RFC 7009).
    for (path, form, status) in [
        (
            "/oauth2/token",
            "grant_type=authorization_code&code=hsa_x&redirect_uri=x&code_verifier=x",
            400,
        ),
        ("/oauth2/revoke", "token=nothing", 200),
    ] {
        let r = w.client_post(path, form, None);
        assert_eq!(r.status, status, "{path}: {}", r.text());
    }
}
