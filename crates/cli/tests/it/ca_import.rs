//! Taking in an existing CA hierarchy (`ca import`): files made by openssl, keys as PKCS#8,
//! PKCS#12 or token labels, refusals that change nothing, and dual control once operators exist.

use std::path::{Path, PathBuf};

use crate::support::*;

/// A hierarchy made by openssl: root, signing CA, authentication CA, with their keys.
fn openssl_hierarchy(dir: &Path) -> [(PathBuf, PathBuf); 3] {
    let ext = write(
        dir,
        "ext.cnf",
        "[root]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n\
         [sub]\nbasicConstraints = critical,CA:TRUE,pathlen:0\nkeyUsage = critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n",
    );
    let file = |n: &str| dir.join(n);
    let (good, out) = openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        path(&file("root.key")),
        "-out",
        path(&file("root.pem")),
        "-subj",
        "/C=JP/O=Imported/CN=Imported Root",
        "-days",
        "3650",
        "-config",
        path(&ext),
        "-extensions",
        "root",
    ]);
    assert!(good, "{out}");
    for n in ["sign", "auth"] {
        let (good, out) = openssl(&[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            path(&file(&format!("{n}.key"))),
            "-out",
            path(&file(&format!("{n}.csr"))),
            "-subj",
            &format!("/C=JP/O=Imported/CN=Imported {n} CA"),
        ]);
        assert!(good, "{out}");
        let (good, out) = openssl(&[
            "x509",
            "-req",
            "-in",
            path(&file(&format!("{n}.csr"))),
            "-CA",
            path(&file("root.pem")),
            "-CAkey",
            path(&file("root.key")),
            "-CAcreateserial",
            "-out",
            path(&file(&format!("{n}.pem"))),
            "-days",
            "1000",
            "-extfile",
            path(&ext),
            "-extensions",
            "sub",
        ]);
        assert!(good, "{out}");
    }
    ["root", "sign", "auth"].map(|n| (file(&format!("{n}.pem")), file(&format!("{n}.key"))))
}

fn check_import(keys: Keys) {
    let dir = TempDir::new();
    let [(root, root_key), (sign, sign_key), (auth, auth_key)] = openssl_hierarchy(dir.path());
    let data = dir.data();
    std::fs::create_dir_all(&data).expect("mkdir");
    let mut args: Vec<String> = [
        "ca",
        "import",
        "--json",
        "--root-cert",
        path(&root),
        "--signing-cert",
        path(&sign),
        "--auth-cert",
        path(&auth),
    ]
    .map(str::to_owned)
    .to_vec();
    if keys == Keys::SoftHsm {
        // The keys go into the token first; the CA finds them by label.
        let var = hpki_test_support::required_env;
        std::fs::write(
            data.join("hpki-second.toml"),
            format!(
                "[ca]\nkeystore = \"pkcs11\"\npkcs11_module = {:?}\npkcs11_token = {:?}\npkcs11_pin = {:?}\n",
                var("HPKI_TEST_PKCS11_MODULE"),
                var("HPKI_TEST_PKCS11_TOKEN"),
                var("HPKI_TEST_PKCS11_PIN")
            ),
        )
        .expect("config");
        let suffix = random_hex(4);
        for (i, (name, key)) in [
            ("root", &root_key),
            ("signing", &sign_key),
            ("auth", &auth_key),
        ]
        .into_iter()
        .enumerate()
        {
            let label = format!("import-{name}-{suffix}");
            // softhsm2-util writes the token: not while a server or CLI of another test loads it.
            let _turn = hpki_keystore_pkcs11::TokenTurn::take(&var("HPKI_TEST_PKCS11_TOKEN"));
            let o = std::process::Command::new("softhsm2-util")
                .args([
                    "--import",
                    path(key),
                    "--token",
                    &var("HPKI_TEST_PKCS11_TOKEN"),
                    "--label",
                    &label,
                ])
                .args([
                    "--id",
                    &format!("{suffix}{i:02x}"),
                    "--pin",
                    &var("HPKI_TEST_PKCS11_PIN"),
                ])
                .output()
                .expect("softhsm2-util");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            args.extend([format!("--{name}-label"), label]);
        }
    } else {
        args.extend(
            [
                "--root-key",
                path(&root_key),
                "--signing-key",
                path(&sign_key),
                "--auth-key",
                path(&auth_key),
            ]
            .map(str::to_owned),
        );
    }
    ok(&data, &["init", "--no-ca"]);
    let (_, err) = fails(&data, &["cert", "issue-second", "--holder", "999999"]);
    assert!(err.contains("not found"), "{err}");
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let cas = json(&ok(&data, &argv));
    assert_eq!(cas.as_array().expect("array").len(), 3);
    assert!(
        cas[1]["ocsp_responder"]["pem"].is_string(),
        "responders are issued on import: {cas}"
    );
    // A second import is refused; the hierarchy stands.
    let (_, err) = fails(&data, &argv);
    assert!(err.contains("already has a CA hierarchy"), "{err}");

    let cert = second_certificate(&data);
    let pem = write(dir.path(), "second.pem", cert["pem"].as_str().expect("pem"));
    let (good, out) = openssl(&[
        "verify",
        "-CAfile",
        path(&root),
        "-untrusted",
        path(&sign),
        path(&pem),
    ]);
    assert!(
        good,
        "a certificate from the imported signing CA must chain to the imported root: {out}"
    );
    let (good, out) = pkilint(
        "lint_pkix_signer_signee_cert_chain",
        &["lint", "--severity", "ERROR", path(&sign), path(&pem)],
    );
    assert!(good, "{out}");
}

#[test]
fn an_existing_hierarchy_can_be_imported() {
    check_import(Keys::Software);
}

#[test]
fn an_existing_hierarchy_can_be_imported_on_softhsm() {
    let _hsm = softhsm_turn();
    check_import(Keys::SoftHsm);
}

#[test]
fn an_import_that_does_not_fit_is_refused_and_changes_nothing() {
    let dir = TempDir::new();
    let [(root, root_key), (sign, sign_key), (auth, auth_key)] = openssl_hierarchy(dir.path());
    let data = dir.data();
    ok(&data, &["init", "--no-ca"]);
    let base = audit_seq(&data);
    let attempt = |signing_key: &Path, signing_cert: &Path| {
        fails(
            &data,
            &[
                "ca",
                "import",
                "--root-cert",
                path(&root),
                "--signing-cert",
                path(signing_cert),
                "--auth-cert",
                path(&auth),
                "--root-key",
                path(&root_key),
                "--signing-key",
                path(signing_key),
                "--auth-key",
                path(&auth_key),
            ],
        )
        .1
    };
    let err = attempt(&auth_key, &sign);
    assert!(
        err.contains("the sign CA: the key does not belong to the certificate"),
        "{err}"
    );
    let err = attempt(&sign_key, &root);
    assert!(err.contains("the root certificate itself"), "{err}");
    let err = attempt(&root, &sign);
    assert!(err.contains("a PKCS#8 \"PRIVATE KEY\" is needed"), "{err}");
    // A CA certificate from another root.
    let other = TempDir::new();
    let [_, (foreign, foreign_key), _] = openssl_hierarchy(other.path());
    let err = attempt(&foreign_key, &foreign);
    assert!(err.contains("its signature by the root"), "{err}");
    assert_eq!(audit_seq(&data), base, "a refused import leaves no event");
    let (_, err) = fails(&data, &["ca", "show"]);
    assert!(err.contains("the CA hierarchy is not set up yet"), "{err}");
}

#[test]
fn encrypted_key_files_are_imported_with_a_password_from_the_environment() {
    let dir = TempDir::new();
    let [(root, root_key), (sign, sign_key), (auth, auth_key)] = openssl_hierarchy(dir.path());
    let encrypted = dir.path().join("sign.enc.pem");
    let (good, out) = openssl(&[
        "pkcs8",
        "-topk8",
        "-v2",
        "aes-256-cbc",
        "-in",
        path(&sign_key),
        "-out",
        path(&encrypted),
        "-passout",
        "pass:s3cret",
    ]);
    assert!(good, "{out}");
    let data = dir.data();
    ok(&data, &["init", "--no-ca"]);
    let import = |password: Option<&str>| {
        let mut c = std::process::Command::new(BIN);
        c.arg("--data-dir").arg(&data).args([
            "ca",
            "import",
            "--root-cert",
            path(&root),
            "--signing-cert",
            path(&sign),
        ]);
        c.args([
            "--auth-cert",
            path(&auth),
            "--root-key",
            path(&root_key),
            "--signing-key",
            path(&encrypted),
            "--auth-key",
            path(&auth_key),
        ]);
        if let Some(p) = password {
            c.args(["--key-password-env", "HPKI_TEST_KEY_PASSWORD"])
                .env("HPKI_TEST_KEY_PASSWORD", p);
        }
        c.output().expect("run")
    };
    let o = import(None);
    assert!(
        !o.status.success() && stderr(&o).contains("the key is encrypted"),
        "{}",
        stderr(&o)
    );
    let o = import(Some("wrong"));
    assert!(
        !o.status.success() && stderr(&o).contains("wrong password"),
        "{}",
        stderr(&o)
    );
    let o = import(Some("s3cret"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("imported the Signing CA"),
        "{}",
        stdout(&o)
    );
}

/// Where the MAC's digest starts in a PKCS#12 file: PFX ::= SEQUENCE { version, authSafe,
/// MacData ::= SEQUENCE { DigestInfo ::= SEQUENCE { algorithm, digest OCTET STRING }, … } }.
fn mac_digest_offset(der: &[u8]) -> usize {
    // (offset of the value, its length) of the TLV at `at`.
    let tlv = |at: usize| -> (usize, usize) {
        let first = der[at + 1] as usize;
        if first < 0x80 {
            (at + 2, first)
        } else {
            let n = first & 0x7f;
            let len = der[at + 2..at + 2 + n]
                .iter()
                .fold(0usize, |l, b| (l << 8) | *b as usize);
            (at + 2 + n, len)
        }
    };
    let skip = |at: usize| {
        let (v, l) = tlv(at);
        v + l
    };
    let (pfx, _) = tlv(0);
    let mac_data = skip(skip(pfx)); // past version and authSafe
    let (digest_info, _) = tlv(mac_data);
    let (inner, _) = tlv(digest_info);
    let digest = skip(inner); // past the algorithm
    assert_eq!(der[digest], 0x04, "an OCTET STRING");
    tlv(digest).0
}

#[test]
fn pkcs12_files_are_imported() {
    let dir = TempDir::new();
    let hierarchy = openssl_hierarchy(dir.path());
    let p12 = |(cert, key): &(PathBuf, PathBuf), legacy: bool| {
        let out = cert.with_extension(if legacy { "legacy.p12" } else { "p12" });
        let mut args = vec![
            "pkcs12",
            "-export",
            "-inkey",
            path(key),
            "-in",
            path(cert),
            "-out",
            path(&out),
            "-passout",
            "pass:p12-secret",
        ];
        if legacy {
            args.push("-legacy");
        }
        let (good, o) = openssl(&args);
        assert!(good, "{o}");
        out
    };
    let [root, sign, auth] = [
        p12(&hierarchy[0], false),
        p12(&hierarchy[1], false),
        p12(&hierarchy[2], false),
    ];
    let legacy = p12(&hierarchy[1], true);
    let data = dir.data();
    ok(&data, &["init", "--no-ca"]);
    let import = |signing: &Path, password: &str| {
        std::process::Command::new(BIN)
            .arg("--data-dir")
            .arg(&data)
            .args([
                "ca",
                "import",
                "--root-p12",
                path(&root),
                "--signing-p12",
                path(signing),
                "--auth-p12",
                path(&auth),
            ])
            .args(["--key-password-env", "HPKI_TEST_P12_PASSWORD"])
            .env("HPKI_TEST_P12_PASSWORD", password)
            .output()
            .expect("run")
    };
    let o = import(&sign, "wrong");
    assert!(
        !o.status.success() && stderr(&o).contains("wrong password"),
        "{}",
        stderr(&o)
    );
    let o = import(&legacy, "p12-secret");
    let legacy_refused = !o.status.success() && stderr(&o).contains("legacy cipher");
    assert!(legacy_refused, "{}", stderr(&o));
    // A file whose MAC does not match its contents is refused as changed, before anything in
    // it is used; a file without a MAC is refused too.
    let changed = dir.path().join("changed.p12");
    let mut bytes = std::fs::read(&sign).expect("read p12");
    let at = mac_digest_offset(&bytes);
    bytes[at] ^= 0x01;
    std::fs::write(&changed, bytes).expect("write p12");
    let o = import(&changed, "p12-secret");
    assert!(
        !o.status.success() && stderr(&o).contains("file was changed"),
        "{}",
        stderr(&o)
    );
    let no_mac = hierarchy[1].0.with_extension("nomac.p12");
    let (good, out) = openssl(&[
        "pkcs12",
        "-export",
        "-nomac",
        "-inkey",
        path(&hierarchy[1].1),
        "-in",
        path(&hierarchy[1].0),
        "-out",
        path(&no_mac),
        "-passout",
        "pass:p12-secret",
    ]);
    assert!(good, "{out}");
    let o = import(&no_mac, "p12-secret");
    assert!(
        !o.status.success() && stderr(&o).contains("no MAC"),
        "{}",
        stderr(&o)
    );
    let o = import(&sign, "p12-secret");
    assert!(o.status.success(), "{}", stderr(&o));
    let cert = second_certificate(&data);
    let pem = write(dir.path(), "second.pem", cert["pem"].as_str().expect("pem"));
    let (good, out) = openssl(&[
        "verify",
        "-CAfile",
        path(&hierarchy[0].0),
        "-untrusted",
        path(&hierarchy[1].0),
        path(&pem),
    ]);
    assert!(good, "{out}");
}

/// The arguments of an import of these openssl-made files (software keystore).
fn import_args(files: &[(PathBuf, PathBuf); 3]) -> Vec<String> {
    let [(root, root_key), (sign, sign_key), (auth, auth_key)] = files;
    [
        "ca",
        "import",
        "--root-cert",
        path(root),
        "--signing-cert",
        path(sign),
        "--auth-cert",
        path(auth),
        "--root-key",
        path(root_key),
        "--signing-key",
        path(sign_key),
        "--auth-key",
        path(auth_key),
    ]
    .map(str::to_owned)
    .to_vec()
}

#[test]
fn once_operators_exist_an_import_waits_for_an_approver_and_runs_once_with_the_approved_files() {
    let dir = TempDir::new();
    let files = openssl_hierarchy(dir.path());
    let other = TempDir::new();
    let foreign = openssl_hierarchy(other.path());
    let data = dir.data();
    std::fs::create_dir_all(&data).expect("mkdir");
    ok(&data, &["init", "--no-ca"]);
    let mut tokens = std::collections::HashMap::new();
    for (name, role) in [
        ("alice", "operator"),
        ("bob", "approver"),
        ("carol", "approver"),
    ] {
        let added = json(&ok(
            &data,
            &["operator", "add", "--name", name, "--role", role, "--json"],
        ));
        tokens.insert(name, added["token"].as_str().expect("token").to_owned());
    }
    // The command as the operator `--as` names, with their API token in the environment.
    let as_operator = |args: &[&str]| {
        let name = args
            .iter()
            .position(|a| *a == "--as")
            .and_then(|i| args.get(i + 1))
            .copied()
            .unwrap_or("");
        let mut c = std::process::Command::new(BIN);
        c.arg("--data-dir").arg(&data).args(args);
        if let Some(t) = tokens.get(name) {
            c.env("HPKI_OPERATOR_TOKEN", t);
        }
        c.output().expect("run hpki-second")
    };
    let run = |extra: &[&str]| {
        let mut args = import_args(&files);
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        as_operator(&refs)
    };
    let approval = |args: &[&str]| {
        let o = as_operator(args);
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let refused = |extra: &[&str], why: &str| {
        let o = run(extra);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(!o.status.success(), "{extra:?} was accepted");
        assert!(err.contains(why), "{extra:?}: {err}");
    };
    let not_imported = || {
        let (_, err) = fails(&data, &["ca", "show"]);
        assert!(err.contains("the CA hierarchy is not set up yet"), "{err}");
    };

    // Nobody imports alone once operators exist.
    refused(&[], "an import waits for an approver (dual control)");
    refused(&["--as", "alice"], "say why");
    refused(
        &["--as", "nobody", "--reason", "x"],
        "HPKI_OPERATOR_TOKEN is not set",
    );
    // A name proves nothing: the token must be that operator's.
    let o = std::process::Command::new(BIN)
        .arg("--data-dir")
        .arg(&data)
        .args(import_args(&files))
        .args(["--as", "alice", "--reason", "x"])
        .env("HPKI_OPERATOR_TOKEN", &tokens["bob"])
        .output()
        .expect("run");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is bob's, not \"alice\"'s"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run(&[
        "--as",
        "alice",
        "--reason",
        "key ceremony 2026-12",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let request = json(&String::from_utf8_lossy(&o.stdout));
    let id = request["id"].as_i64().expect("id").to_string();
    assert_eq!(request["action"], "ca-import");
    let fingerprint: serde_json::Value =
        serde_json::from_str(request["params"].as_str().expect("params")).expect("fingerprint");
    let subjects: Vec<&str> = fingerprint["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .map(|c| c["subject"].as_str().expect("subject"))
        .collect();
    assert_eq!(
        subjects,
        [
            "CN=Imported Root,O=Imported,C=JP",
            "CN=Imported sign CA,O=Imported,C=JP",
            "CN=Imported auth CA,O=Imported,C=JP"
        ]
    );
    // The approver sees the root certificate's own digest, to compare with the ceremony's record.
    let (good, root_der) = openssl(&[
        "x509",
        "-in",
        path(&files[0].0),
        "-outform",
        "DER",
        "-out",
        path(&dir.path().join("root.der")),
    ]);
    assert!(good, "{root_der}");
    let root_sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        std::fs::read(dir.path().join("root.der")).expect("root.der"),
    ));
    assert_eq!(fingerprint["certificates"][0]["sha256"], root_sha.as_str());
    let listed = ok(&data, &["approval", "list"]);
    assert!(
        listed.contains("ca-import") && listed.contains("alice"),
        "{listed}"
    );
    not_imported();

    // Not before approval; not by the requester; not by another operator.
    refused(&["--as", "alice", "--request", &id], "is not approved yet");
    let (_, _, err) = approval(&["approval", "approve", &id, "--as", "alice"]);
    assert!(err.contains("is not an approver"), "{err}");
    let (done, out, err) = approval(&["approval", "approve", &id, "--as", "bob", "--json"]);
    assert!(done, "{err}");
    let out = json(&out);
    assert!(
        out["next"]
            .as_str()
            .is_some_and(|n| n.contains(&format!("--request {id}"))),
        "{out}"
    );
    let (_, _, err) = approval(&["approval", "approve", &id, "--as", "carol"]);
    assert!(err.contains("approved already"), "{err}");
    not_imported();
    refused(
        &["--as", "bob", "--request", &id],
        "only its requester runs",
    );

    // Other files than those approved are refused, and do not use the request up.
    let mut args = import_args(&foreign);
    args.extend(["--as", "alice", "--request", &id].map(str::to_owned));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_, _, err) = approval(&refs);
    assert!(
        err.contains(&format!("not the ones request {id} approved")),
        "{err}"
    );
    not_imported();

    // The approved files, once.
    let out = json(&String::from_utf8_lossy(
        &run(&["--as", "alice", "--request", &id, "--json"]).stdout,
    ));
    assert_eq!(out.as_array().map(Vec::len), Some(3), "{out}");
    let shown = ok(&data, &["ca", "show"]);
    assert!(shown.contains("CN=Imported Root"), "{shown}");
    refused(&["--as", "alice", "--request", &id], "was used already");
    // Nor is a new import asked for once the hierarchy exists.
    refused(
        &["--as", "alice", "--reason", "again"],
        "already has a CA hierarchy",
    );

    // Every step is in the audit log, in the operators' names.
    let audit = ok(&data, &["audit", "export"]);
    let events: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).expect("event"))
        .collect();
    let step = |action: &str| {
        events
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action} event in {audit}"))
    };
    assert_eq!(step("approval.requested")["actor"], "operator:alice");
    assert_eq!(step("approval.approved")["actor"], "operator:bob");
    assert_eq!(step("approval.claimed")["actor"], "operator:alice");
    assert_eq!(step("approval.carried_out")["target"], "ca");
    assert_eq!(step("ca.imported")["actor"], "operator:alice");
    assert_audit_intact(&data, events.len() as i64);
}

#[test]
fn before_any_operator_exists_or_without_dual_control_an_import_runs_at_once() {
    for config in ["", "[console]\ndual_control = [\"revoke\"]\n"] {
        let dir = TempDir::new();
        let files = openssl_hierarchy(dir.path());
        let data = dir.data();
        std::fs::create_dir_all(&data).expect("mkdir");
        std::fs::write(data.join("hpki-second.toml"), config).expect("config");
        ok(&data, &["init", "--no-ca"]);
        if !config.is_empty() {
            ok(
                &data,
                &["operator", "add", "--name", "alice", "--role", "operator"],
            );
        }
        let args = import_args(&files);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&data, &refs);
        let shown = ok(&data, &["ca", "show"]);
        assert!(shown.contains("CN=Imported Root"), "{config}: {shown}");
    }
}
