//! Keys where they belong: the root key offline after its ceremony (serve runs without it), the
//! software keystore's key-encryption key rotated, and a revoked second certificate's key
//! destroyed. openssl judges the CRLs and OCSP answers served without the root key.

use std::path::Path;

use crate::support::*;

fn next_update_days(crl: &Path) -> i64 {
    let (good, out) = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        path(crl),
        "-noout",
        "-nextupdate",
    ]);
    assert!(good, "{out}");
    let date = out.trim().strip_prefix("nextUpdate=").expect("nextUpdate");
    let date = chrono::NaiveDateTime::parse_from_str(date, "%b %e %H:%M:%S %Y GMT")
        .unwrap_or_else(|e| panic!("{date:?}: {e}"));
    (date.and_utc() - chrono::Utc::now()).num_days()
}

fn check_root_key_offline(keys: Keys) {
    let dir = TempDir::new();
    let data = init_ca(&dir, keys, None);
    let cert = second_certificate(&data);
    let pem = write(dir.path(), "second.pem", cert["pem"].as_str().expect("pem"));
    let (root, signing, _) = ca_files(&data, dir.path());

    // The ceremony: a root CRL valid for a year, then the key goes.
    let ceremony_crl = dir.path().join("root-ceremony.crl");
    ok(
        &data,
        &[
            "ca",
            "root-crl",
            "--validity",
            "365d",
            "--out",
            path(&ceremony_crl),
        ],
    );
    assert!((363..=365).contains(&next_update_days(&ceremony_crl)));
    let key_file = dir.path().join("root.key");
    let mut offline = vec!["ca", "root-key", "offline", "--out", path(&key_file)];
    if keys == Keys::SoftHsm {
        let (_, err) = fails(&data, &offline);
        assert!(err.contains("--confirm-hsm-backup"), "{err}");
        offline.push("--confirm-hsm-backup");
    }
    ok(&data, &offline);
    assert!(ok(&data, &["keystore", "check"]).contains("the root key is offline"));
    let (_, err) = fails(&data, &["ca", "root-crl", "--validity", "365d"]);
    assert!(err.contains("offline"), "{err}");
    let export = ok(&data, &["audit", "export"]);
    assert!(export.contains("ca.root_key_offline"));

    // serve starts without the root key; OCSP and the issuing CAs' CRLs work, the root's CRL
    // is the ceremony's.
    let server = Server::start(&data);
    let (_, out) = openssl(&[
        "ocsp",
        "-issuer",
        path(&signing),
        "-CAfile",
        path(&root),
        "-url",
        &format!("http://{}/ocsp", server.addr),
        "-cert",
        path(&pem),
    ]);
    assert!(
        out.contains("Response verify OK") && out.contains("second.pem: good"),
        "{out}"
    );
    let fetch = |name: &str| {
        let r = server.get(&format!("/crl/{name}"), None);
        assert_eq!(r.status, 200, "{name}");
        let der = dir.path().join(name);
        std::fs::write(&der, &r.body).expect("write");
        let pem = dir.path().join(format!("{name}.pem"));
        let (good, out) = openssl(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            path(&der),
            "-out",
            path(&pem),
        ]);
        assert!(good, "{out}");
        (der, pem)
    };
    let (root_der, root_pem) = fetch("root.crl");
    assert_eq!(
        std::fs::read(&root_der).expect("crl"),
        std::fs::read(&ceremony_crl).expect("crl"),
        "the root's CRL is the one from the ceremony"
    );
    let (_, sign_pem) = fetch("sign.crl");
    let crls = dir.path().join("crls.pem");
    let both = format!(
        "{}{}",
        std::fs::read_to_string(&sign_pem).expect("crl"),
        std::fs::read_to_string(&root_pem).expect("crl")
    );
    std::fs::write(&crls, both).expect("write");
    let (good, out) = openssl(&[
        "verify",
        "-crl_check_all",
        "-CAfile",
        path(&root),
        "-untrusted",
        path(&signing),
        "-CRLfile",
        path(&crls),
        path(&pem),
    ]);
    assert!(good, "{out}");
    fetch("auth.crl");
    assert!(server.stop());

    // The next ceremony brings the key back: the software keystore's sealed key from its file;
    // a token's key only once the HSM's backup put it back into the token.
    let mut next = vec![
        "ca",
        "root-crl",
        "--validity",
        "30d",
        "--root-key",
        path(&key_file),
    ];
    if keys == Keys::Software {
        let out_crl = dir.path().join("next.crl");
        next.extend(["--out", path(&out_crl)]);
        ok(&data, &next);
        assert!((29..=30).contains(&next_update_days(&out_crl)));
    } else {
        let (_, err) = fails(&data, &next);
        assert!(!err.is_empty());
    }
}

#[test]
fn the_root_key_goes_offline_and_serve_runs_without_it() {
    check_root_key_offline(Keys::Software);
}

#[test]
fn the_root_key_goes_offline_and_serve_runs_without_it_on_softhsm() {
    let _hsm = softhsm_turn();
    check_root_key_offline(Keys::SoftHsm);
}

/// A KEK rotation: every key sealed again, the old KEK then fails the check, the new one
/// serves (the CAs sign, OCSP answers, the OpenID Connect provider's key signs its JWKS).
#[test]
fn the_key_encryption_key_is_rotated() {
    let dir = TempDir::new();
    let data = init(&dir, None);
    second_certificate(&data);
    let before = std::fs::read(data.join("keystore.kek")).expect("kek");
    let out = json(&ok(&data, &["keystore", "rekey", "--json"]));
    assert!(out["sealed_again"].as_u64().expect("count") >= 6, "{out}");
    let retired = std::path::PathBuf::from(out["retired_kek_file"].as_str().expect("file"));
    assert_eq!(std::fs::read(&retired).expect("retired"), before);
    assert_ne!(
        std::fs::read(data.join("keystore.kek")).expect("kek"),
        before
    );
    assert!(ok(&data, &["keystore", "check"]).contains("every key is present"));
    assert!(ok(&data, &["audit", "export"]).contains("keystore.rekeyed"));
    // The old KEK in place of the new: every key is missing, each named.
    let new = std::fs::read(data.join("keystore.kek")).expect("kek");
    std::fs::write(data.join("keystore.kek"), &before).expect("old kek back");
    let (code, _) = fails(&data, &["keystore", "check"]);
    assert_eq!(code, 4);
    let listed = json(&stdout(&cli(&data, &["keystore", "check", "--json"])));
    assert!(
        listed["missing"].as_array().expect("missing").len() >= 5,
        "{listed}"
    );
    std::fs::write(data.join("keystore.kek"), &new).expect("new kek back");
    // Served under the new KEK.
    let server = Server::start(&data);
    assert_eq!(server.get("/healthz", None).status, 200);
    assert_eq!(server.get("/crl/sign.crl", None).status, 200);
    assert!(server.stop());
}

/// A revoked second certificate's key is destroyed at once, audited, and the refusal to sign
/// says so.
fn check_revoked_key_destroyed(keys: Keys) {
    let dir = TempDir::new();
    let data = init_ca(&dir, keys, None);
    let cert = second_certificate(&data);
    let serial = cert["serial"].as_str().expect("serial");
    ok(
        &data,
        &["cert", "revoke", serial, "--reason", "keyCompromise"],
    );
    let export = ok(&data, &["audit", "export"]);
    let destroyed = export
        .lines()
        .find(|l| l.contains("\"key.destroyed\""))
        .unwrap_or_else(|| panic!("no key.destroyed event: {export}"));
    assert!(destroyed.contains(serial), "{destroyed}");
    let check = ok(&data, &["keystore", "check"]);
    assert!(check.contains("every key is present"), "{check}");
}

#[test]
fn a_revoked_second_certificates_key_is_destroyed() {
    check_revoked_key_destroyed(Keys::Software);
}

#[test]
fn a_revoked_second_certificates_key_is_destroyed_on_softhsm() {
    let _hsm = softhsm_turn();
    check_revoked_key_destroyed(Keys::SoftHsm);
}
