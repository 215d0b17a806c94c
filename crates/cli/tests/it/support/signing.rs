//! Signing through the CSC API: a world whose relying system may sign, the signing calls,
//! SADs, the SoftHSM2 configuration.

use std::path::Path;
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::*;

pub(crate) const CREDENTIAL: &str = "999999-jpa/second";

/// The world with a relying system allowed SCAL1, asking for scope `service`.
pub(crate) fn signing_world(config: &str) -> World {
    let mut w = world_configured(&[], config);
    w.scope = "openid service";
    w
}

pub(crate) fn csc(w: &World, path: &str, token: &str, body: serde_json::Value) -> Response {
    w.server.post_json(path, Some(token), &body)
}

pub(crate) fn b64_sha256(data: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(data))
}

/// A serial number in hex as one number: lower case, no colons, no leading zero digits
/// (credentials/info writes the DER's bytes, the CLI the number).
pub(crate) fn serial_number(s: &str) -> String {
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
pub(crate) fn refused(r: &Response) -> (u16, String, String) {
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
pub(crate) fn public_key_of(cert_b64: &str) -> Vec<u8> {
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
/// An access token of a sign-in with another scope.
pub(crate) fn token_with_scope(w: &mut World, scope: &'static str) -> String {
    let was = w.scope;
    w.scope = scope;
    let token = w.access_token();
    w.scope = was;
    token
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
