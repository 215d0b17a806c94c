//! The certificate authority, checked by tools no one here wrote: openssl and pkilint.

use std::path::Path;

use crate::support::*;

/// The doctor of these tests, 123456-jpa.
const DOCTOR: HolderArgs<'static> = HolderArgs {
    number: "123456",
    kanji: "医師 花子",
    kana: "イシ ハナコ",
    roman: Some("Hanako Ishi"),
    date_of_birth: "1975-01-31",
    qualification: "Medical Doctor",
};

fn check_hierarchy(keys: Keys) {
    let dir = TempDir::new();
    let data = init_ca(&dir, keys, None);
    let (root, signing, auth) = ca_files(&data, dir.path());
    for ca in [&signing, &auth] {
        let (good, out) = openssl(&["verify", "-CAfile", path(&root), path(ca)]);
        assert!(good, "{out}");
    }
    let (_, text) = openssl(&["x509", "-in", path(&root), "-noout", "-text"]);
    assert!(
        text.contains("CA:TRUE") && text.contains("Certificate Sign, CRL Sign"),
        "{text}"
    );
    assert!(text.contains("hpki-second Demo Root CA"), "{text}");
    if keys == Keys::Software {
        let key = std::fs::metadata(data.join("keystore.kek")).expect("kek");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(key.permissions().mode() & 0o077, 0);
    } else {
        assert!(
            !data.join("keystore.kek").exists(),
            "no KEK when keys are in the HSM"
        );
        let cas = json(&ok(&data, &["ca", "show", "--json"]));
        assert!(
            cas.as_array()
                .expect("array")
                .iter()
                .all(|c| c["keystore"] == "pkcs11"),
            "{cas}"
        );
    }
    // Again: the same hierarchy.
    let before = json(&ok(&data, &["ca", "show", "--json"]));
    ok(&data, &["init"]);
    assert_eq!(json(&ok(&data, &["ca", "show", "--json"])), before);
}

fn check_second_certificate(keys: Keys) {
    let dir = TempDir::new();
    let data = init_ca(&dir, keys, None);
    let cert = second_certificate(&data);
    assert_eq!(cert["status"], "valid");
    let pem = write(dir.path(), "second.pem", cert["pem"].as_str().expect("pem"));
    let (root, signing, _) = ca_files(&data, dir.path());
    let (good, out) = openssl(&[
        "verify",
        "-CAfile",
        path(&root),
        "-untrusted",
        path(&signing),
        path(&pem),
    ]);
    assert!(good, "{out}");

    let (_, text) = openssl(&[
        "x509",
        "-in",
        path(&pem),
        "-noout",
        "-text",
        "-nameopt",
        "utf8",
    ]);
    assert!(
        text.contains("Key Usage: critical\n                Non Repudiation\n"),
        "{text}"
    );
    // The subject romanized, given name first as registered; the kanji name in the
    // subjectAltName, family name first with U+3000 between the parts.
    assert!(
        text.contains("Subject: C=JP, CN=Taro Yakuzai, serialNumber=999999-jpa"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "DirName:/C=JP/CN={}/serialNumber=999999-jpa",
            openssl_escaped("薬剤\u{3000}太郎")
        )),
        "{text}"
    );
    assert!(
        text.contains("URI:http://localhost:8080/crl/sign.crl"),
        "{text}"
    );
    // The OCSP address only because ocsp_in_certificates is on by default.
    assert!(
        text.contains("OCSP - URI:http://localhost:8080/ocsp"),
        "{text}"
    );
    assert!(
        text.contains("X509v3 Certificate Policies: critical\n                Policy: 1.3.6.1.4.1.32473.1709.1.1\n                  CPS: http://localhost:8080/cps"),
        "{text}"
    );
    // The AKI names the signing CA's certificate by issuer and serial too.
    let (_, ca_serial) = openssl(&["x509", "-in", path(&signing), "-noout", "-serial"]);
    let ca_serial = ca_serial
        .trim()
        .trim_start_matches("serial=")
        .to_ascii_uppercase();
    let aki = text
        .split("X509v3 Authority Key Identifier:")
        .nth(1)
        .and_then(|t| t.split("X509v3 Subject Key Identifier").next())
        .expect("AKI");
    assert!(
        aki.contains("DirName:/C=JP/O=hpki-second demo/CN=hpki-second Demo Root CA"),
        "{aki}"
    );
    let aki_serial: String = aki
        .split("serial:")
        .nth(1)
        .expect("serial")
        .split_whitespace()
        .collect::<String>()
        .replace(':', "");
    assert_eq!(
        aki_serial.trim_start_matches('0'),
        ca_serial.trim_start_matches('0'),
        "{aki}"
    );
    // The extensions in the order of real HPKI certificates, the OCSP address after them.
    let order: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("X509v3 ") || l.starts_with("Authority Information Access"))
        .map(|l| l.trim_end_matches(": critical").trim_end_matches(':'))
        .collect();
    assert_eq!(
        order,
        [
            "X509v3 extensions",
            "X509v3 Authority Key Identifier",
            "X509v3 Subject Key Identifier",
            "X509v3 Key Usage",
            "X509v3 Subject Alternative Name",
            "X509v3 CRL Distribution Points",
            "X509v3 Subject Directory Attributes",
            "X509v3 Certificate Policies",
            "Authority Information Access",
        ],
        "{text}"
    );
    // Japan's day boundaries: 00:00:00 JST is 15:00:00 UTC the day before.
    assert!(
        text.contains("Not Before: ") && text.contains(" 15:00:00 "),
        "{text}"
    );
    assert!(text.contains(" 14:59:59 "), "{text}");

    // hcRole, as openssl's own parser sees it, and the extension value byte for byte as in a
    // real pharmacist certificate.
    let (_, asn1) = openssl(&["asn1parse", "-in", path(&pem), "-i"]);
    let sda = asn1
        .find("X509v3 Subject Directory Attributes")
        .expect("subjectDirectoryAttributes present");
    let offset = asn1[sda..]
        .lines()
        .nth(1)
        .and_then(|l| l.trim().split(':').next())
        .expect("offset of the extension value")
        .trim()
        .to_owned();
    let (_, strparse) = openssl(&["asn1parse", "-in", path(&pem), "-i", "-strparse", &offset]);
    assert!(strparse.contains(":1.0.17090.0.1"), "{strparse}");
    assert!(strparse.contains(":1.2.392.100495.1.6.1.1"), "{strparse}");
    assert!(
        strparse.contains("UTF8STRING        :Pharmacist"),
        "{strparse}"
    );
    let value = dir.path().join("sda.der");
    let (good, out) = openssl(&[
        "asn1parse",
        "-in",
        path(&pem),
        "-noout",
        "-strparse",
        &offset,
        "-out",
        path(&value),
    ]);
    assert!(good, "{out}");
    assert_eq!(
        hex::encode(std::fs::read(&value).expect("extension value")),
        "3030302e0606288185420001312431223020a01e311ca00c060a2a830886910f01060101a20c0c0a506861726d6163697374"
    );

    // One valid second certificate at a time; a holder without a romanized name gets a reason.
    let (_, err) = fails(&data, &["cert", "issue-second", "--holder", "999999-jpa"]);
    assert!(
        err.contains("already has a valid second certificate"),
        "{err}"
    );
    let without_roman = HolderArgs {
        roman: None,
        ..DOCTOR
    };
    ok(&data, &without_roman.args(&[]));
    let (_, err) = fails(&data, &["cert", "issue-second", "--holder", "123456"]);
    assert!(err.contains("name_roman"), "{err}");
    let (_, err) = fails(&data, &["cert", "issue-second", "--holder", "555555"]);
    assert!(err.contains("holder 555555-jpa not found"), "{err}");
}

fn check_revocation(keys: Keys) {
    let dir = TempDir::new();
    let data = init_ca(&dir, keys, None);
    let cert = second_certificate(&data);
    let serial = cert["serial"].as_str().expect("serial").to_owned();
    let pem = write(dir.path(), "second.pem", cert["pem"].as_str().expect("pem"));
    let (root, signing, _) = ca_files(&data, dir.path());
    let server = Server::start(&data);

    let fetch = |name: &str| {
        let r = server.get(&format!("/crl/{name}"), None);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("content-type"), Some("application/pkix-crl"));
        let der = dir.path().join(format!("{name}.der"));
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
        pem
    };
    let verify = |sign_crl: &Path, root_crl: &Path| {
        let crls = dir.path().join("crls.pem");
        let both = format!(
            "{}{}",
            std::fs::read_to_string(sign_crl).expect("crl"),
            std::fs::read_to_string(root_crl).expect("crl")
        );
        std::fs::write(&crls, both).expect("write");
        openssl(&[
            "verify",
            "-crl_check_all",
            "-CAfile",
            path(&root),
            "-untrusted",
            path(&signing),
            "-CRLfile",
            path(&crls),
            path(&pem),
        ])
    };

    let (good, out) = verify(&fetch("sign.crl"), &fetch("root.crl"));
    assert!(good, "before revocation: {out}");

    let revoked = json(&ok(
        &data,
        &[
            "cert",
            "revoke",
            &serial,
            "--reason",
            "keyCompromise",
            "--json",
        ],
    ));
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["reason"], "keyCompromise");
    // Idempotent: the same again changes nothing.
    let seq = json(&ok(&data, &["audit", "checkpoint", "--json"]))["seq"].clone();
    ok(
        &data,
        &["cert", "revoke", &serial, "--reason", "keyCompromise"],
    );
    assert_eq!(
        json(&ok(&data, &["audit", "checkpoint", "--json"]))["seq"],
        seq
    );

    // Another process revoked and published: the server serves CRLs from memory and loads
    // the new one within a second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let sign_crl = loop {
        let sign_crl = fetch("sign.crl");
        let (good, out) = verify(&sign_crl, &fetch("root.crl"));
        if !good && out.contains("certificate revoked") {
            break sign_crl;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "after revocation: {out}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let (_, text) = openssl(&["crl", "-in", path(&sign_crl), "-noout", "-text"]);
    assert!(text.contains("Key Compromise"), "{text}");
    assert!(text.contains("X509v3 CRL Number"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains(&serial.to_ascii_uppercase().to_ascii_lowercase()[..8]),
        "{text}"
    );

    // A new second certificate can be issued once the old one is revoked.
    ok(&data, &["cert", "issue-second", "--holder", "999999"]);
    assert_eq!(server.get("/crl/nope.crl", None).status, 404);
    let (_, err) = fails(&data, &["cert", "revoke", &serial, "--reason", "bored"]);
    assert!(err.contains("not a revocation reason"), "{err}");
    let out = ok(&data, &["audit", "verify"]);
    assert!(out.contains("intact"), "{out}");
}

fn check_pkilint(keys: Keys) {
    let dir = TempDir::new();
    // A real deployment's host: pkilint rightly calls a URI with host "localhost" invalid.
    // Shaped as real HPKI certificates: no OCSP address, a CPS of the CA's own.
    let data = init_ca_with(
        &dir,
        keys,
        Some("https://hpki.example.jp"),
        "ocsp_in_certificates = false\ncps_uri = \"https://hpki.example.jp/repository/cps.html\"",
    );
    let cert = second_certificate(&data);
    let second = write(dir.path(), "second.pem", cert["pem"].as_str().expect("pem"));
    let (_, text) = openssl(&["x509", "-in", path(&second), "-noout", "-text"]);
    assert!(
        !text.contains("Authority Information Access")
            && text.contains("CPS: https://hpki.example.jp/repository/cps.html"),
        "{text}"
    );
    // A doctor with an organisation: O romanized in the subject, in kanji in the altName.
    ok(
        &data,
        &DOCTOR.args(&[
            "--organization-kanji",
            "例示医療法人　例示病院",
            "--organization-roman",
            "Example Hospital",
        ]),
    );
    let doctor = json(&ok(
        &data,
        &["cert", "issue-second", "--holder", "123456", "--json"],
    ));
    let doctor = write(
        dir.path(),
        "doctor.pem",
        doctor["pem"].as_str().expect("pem"),
    );
    let (_, text) = openssl(&[
        "x509",
        "-in",
        path(&doctor),
        "-noout",
        "-text",
        "-nameopt",
        "utf8",
    ]);
    assert!(
        text.contains("Subject: C=JP, O=Example Hospital, CN=Hanako Ishi, serialNumber=123456-jpa")
            && text.contains(&format!(
                "DirName:/C=JP/O={}/CN={}/serialNumber=123456-jpa",
                openssl_escaped("例示医療法人\u{3000}例示病院"),
                openssl_escaped("医師\u{3000}花子")
            )),
        "{text}"
    );
    let (root, signing, auth) = ca_files(&data, dir.path());
    // Card certificates of both kinds, from a request openssl makes.
    let csr = dir.path().join("card.csr");
    let (good, out) = openssl(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=card",
        "-keyout",
        path(&dir.path().join("card.key")),
        "-out",
        path(&csr),
    ]);
    assert!(good, "{out}");
    let card = |kind: &str| {
        let c = json(&ok(
            &data,
            &[
                "cert",
                "issue-card",
                "--holder",
                "999999",
                "--csr",
                path(&csr),
                "--kind",
                kind,
                "--json",
            ],
        ));
        write(
            dir.path(),
            &format!("card-{kind}.pem"),
            c["pem"].as_str().expect("pem"),
        )
    };
    let (card_sign, card_auth) = (card("signing"), card("auth"));
    let cas = json(&ok(&data, &["ca", "show", "--json"]));
    let responder = |role: &str| {
        let pem = ca_entry(&cas, role)["ocsp_responder"]["pem"]
            .as_str()
            .expect("responder pem");
        write(dir.path(), &format!("ocsp-{role}.pem"), pem)
    };
    let (ocsp_sign, ocsp_auth) = (responder("signing"), responder("authentication"));
    for c in [
        &root, &signing, &auth, &second, &doctor, &card_sign, &card_auth, &ocsp_sign, &ocsp_auth,
    ] {
        let (good, out) = pkilint("lint_pkix_cert", &["lint", "--severity", "ERROR", path(c)]);
        assert!(good, "pkilint on {}:\n{out}", c.display());
    }
    for (issuer, subject) in [
        (&root, &signing),
        (&root, &auth),
        (&signing, &second),
        (&signing, &doctor),
        (&signing, &card_sign),
        (&auth, &card_auth),
        (&signing, &ocsp_sign),
        (&auth, &ocsp_auth),
    ] {
        let (good, out) = pkilint(
            "lint_pkix_signer_signee_cert_chain",
            &["lint", "--severity", "ERROR", path(issuer), path(subject)],
        );
        assert!(
            good,
            "pkilint chain {} -> {}:\n{out}",
            issuer.display(),
            subject.display()
        );
    }
    let out_dir = dir.path().join("crls");
    ok(&data, &["crl", "publish", "--out-dir", path(&out_dir)]);
    for name in ["root.crl", "sign.crl", "auth.crl"] {
        let der = out_dir.join(name);
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
        // The root's CRL lists CA certificates: an authority revocation list.
        let kind = if name == "root.crl" { "ARL" } else { "CRL" };
        let (good, out) = pkilint(
            "lint_crl",
            &[
                "lint",
                "--severity",
                "ERROR",
                "-t",
                kind,
                "-p",
                "PKIX",
                path(&pem),
            ],
        );
        assert!(good, "pkilint on {name}:\n{out}");
    }
}

fn check_ocsp(keys: Keys) {
    let dir = TempDir::new();
    let data = init_ca(&dir, keys, None);
    let cert = second_certificate(&data);
    let serial = cert["serial"].as_str().expect("serial").to_owned();
    let pem = write(dir.path(), "second.pem", cert["pem"].as_str().expect("pem"));
    let (root, signing, _) = ca_files(&data, dir.path());
    let server = Server::start(&data);
    let url = format!("http://{}/ocsp", server.addr);
    let ask = |extra: &[&str]| {
        let mut args = vec![
            "ocsp",
            "-issuer",
            path(&signing),
            "-CAfile",
            path(&root),
            "-url",
            &url,
        ];
        args.extend_from_slice(extra);
        openssl(&args)
    };

    let (good, out) = ask(&["-cert", path(&pem)]);
    assert!(
        good && out.contains("Response verify OK") && out.contains("second.pem: good"),
        "{out}"
    );
    let (good, out) = ask(&["-sha256", "-cert", path(&pem)]);
    assert!(
        good && out.contains("Response verify OK") && out.contains("second.pem: good"),
        "SHA-256 CertID: {out}"
    );
    let (_, out) = ask(&["-serial", "0x1234"]);
    assert!(out.contains("0x1234: unknown"), "{out}");
    ocsp_request_extensions_follow_the_rfcs(&server, dir.path(), &signing, &pem);
    // Without a nonce the answer is cached; a revocation must replace it at once.
    let (_, out) = ask(&["-no_nonce", "-cert", path(&pem)]);
    assert!(out.contains("second.pem: good"), "{out}");

    ok(
        &data,
        &["cert", "revoke", &serial, "--reason", "keyCompromise"],
    );
    // Another process revoked: the server notices within a second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (_, out) = ask(&["-no_nonce", "-cert", path(&pem)]);
        if out.contains("second.pem: revoked") {
            assert!(out.contains("Reason: keyCompromise"), "{out}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the cached good answer outlived the revocation: {out}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let (good, out) = ask(&["-cert", path(&pem)]);
    assert!(
        good && out.contains("Response verify OK") && out.contains("second.pem: revoked"),
        "{out}"
    );

    // GET with the base64 request in the path, and pkilint on the answer.
    let get = ocsp_get_path(dir.path(), &signing, &pem);
    let r = server.get(&get, None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/ocsp-response"));
    let resp = dir.path().join("resp.der");
    std::fs::write(&resp, &r.body).expect("write");
    let (_, out) = openssl(&[
        "ocsp",
        "-respin",
        path(&resp),
        "-CAfile",
        path(&root),
        "-issuer",
        path(&signing),
        "-cert",
        path(&pem),
    ]);
    assert!(
        out.contains("Response verify OK") && out.contains("revoked"),
        "{out}"
    );
    let (good, out) = pkilint(
        "lint_ocsp_response",
        &["lint", "--severity", "ERROR", path(&resp)],
    );
    assert!(good, "pkilint: {out}");

    // Malformed requests get malformedRequest (status 1), never an error page.
    for body in [&b"garbage"[..], &b""[..], &[0x30, 0x80, 0x00][..]] {
        let r = request(
            &server.addr,
            "POST",
            "/ocsp",
            None,
            Some("application/ocsp-request"),
            body,
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.body, vec![0x30, 0x03, 0x0a, 0x01, 0x01], "{body:?}");
    }
    assert_eq!(
        server.get("/ocsp/!!!notbase64", None).body,
        vec![0x30, 0x03, 0x0a, 0x01, 0x01]
    );
    // Over the 16 KiB limit: still an OCSP answer (malformedRequest), not an HTTP error.
    let big = vec![0u8; 20_000];
    let r = request(
        &server.addr,
        "POST",
        "/ocsp",
        None,
        Some("application/ocsp-request"),
        &big,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, vec![0x30, 0x03, 0x0a, 0x01, 0x01]);
}

/// A DER TLV (short or long form length).
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// The content of the DER element at the start of `der`, and what follows it.
fn element(der: &[u8]) -> (&[u8], &[u8]) {
    let (len, at) = match der[1] {
        n if n < 0x80 => (n as usize, 2),
        n => {
            let k = (n & 0x7f) as usize;
            (
                der[2..2 + k].iter().fold(0, |a, b| (a << 8) | *b as usize),
                2 + k,
            )
        }
    };
    (&der[at..at + len], &der[at + len..])
}

/// One request extension (OID given by its DER content bytes).
fn extension(oid: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
    let mut content = tlv(0x06, oid);
    if critical {
        content.extend(tlv(0x01, &[0xff]));
    }
    content.extend(tlv(0x04, value));
    tlv(0x30, &content)
}

/// RFC 8954 and RFC 5280 on a request's extensions, with openssl reading the answers: a nonce
/// of 1 to 32 octets is echoed; a longer or empty one, one that is not an OCTET STRING, the
/// nonce twice, or an unknown critical extension is a malformedRequest; an unknown
/// non-critical extension is ignored. The request is openssl's own, extensions added here.
fn ocsp_request_extensions_follow_the_rfcs(
    server: &Server,
    dir: &Path,
    issuer: &Path,
    cert: &Path,
) {
    const NONCE: [u8; 9] = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02];
    const OTHER: [u8; 4] = [0x2a, 0x03, 0x04, 0x05];
    let plain = dir.join("plain-req.der");
    let (good, out) = openssl(&[
        "ocsp",
        "-issuer",
        path(issuer),
        "-cert",
        path(cert),
        "-no_nonce",
        "-reqout",
        path(&plain),
    ]);
    assert!(good, "{out}");
    let der = std::fs::read(&plain).expect("read");
    // OCSPRequest { TBSRequest { requestList } }: openssl's TBSRequest holds the list alone.
    let (ocsp_request, _) = element(&der);
    let (request_list, _) = element(ocsp_request);
    let with = |extensions: &[Vec<u8>]| {
        let mut tbs = request_list.to_vec();
        tbs.extend(tlv(0xa2, &tlv(0x30, &extensions.concat())));
        tlv(0x30, &tlv(0x30, &tbs))
    };
    let answer = |body: Vec<u8>| {
        let r = request(
            &server.addr,
            "POST",
            "/ocsp",
            None,
            Some("application/ocsp-request"),
            &body,
        );
        assert_eq!(r.status, 200);
        let file = dir.join("ext-resp.der");
        std::fs::write(&file, &r.body).expect("write");
        openssl(&["ocsp", "-respin", path(&file), "-resp_text", "-noverify"]).1
    };
    let nonce = |n: usize| extension(&NONCE, false, &tlv(0x04, &vec![0xab; n]));
    for n in [1, 16, 32] {
        let out = answer(with(&[nonce(n)]));
        assert!(out.contains("successful"), "{n} octets: {out}");
        assert!(out.contains("OCSP Nonce"), "{n} octets echoed: {out}");
    }
    let out = answer(with(&[extension(&OTHER, false, &[0x05, 0x00]), nonce(16)]));
    assert!(
        out.contains("successful") && out.contains("OCSP Nonce"),
        "{out}"
    );
    for (what, body) in [
        ("33 octets", with(&[nonce(33)])),
        ("8,000 octets", with(&[nonce(8000)])),
        ("empty", with(&[nonce(0)])),
        (
            "not an OCTET STRING",
            with(&[extension(&NONCE, false, &[0xab; 16])]),
        ),
        ("twice", with(&[nonce(16), nonce(16)])),
        (
            "unknown critical",
            with(&[extension(&OTHER, true, &[0x05, 0x00])]),
        ),
    ] {
        let out = answer(body);
        assert!(out.contains("malformedrequest"), "{what}: {out}");
        assert!(!out.contains("OCSP Nonce"), "{what}: {out}");
    }
}

#[test]
fn card_certificates_come_from_csrs_with_proof_of_possession() {
    let dir = TempDir::new();
    let data = init(&dir, None);
    holder_with_roman(&data, "999999");
    let (root, signing, auth) = ca_files(&data, dir.path());
    let key = dir.path().join("card.key");
    let csr = dir.path().join("card.csr");
    // The request asks for things the profile does not allow: another name and CA:TRUE.
    let (good, out) = openssl(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        path(&key),
        "-out",
        path(&csr),
        "-subj",
        "/CN=Someone Else/O=Evil",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    assert!(good, "{out}");
    let csr_s = path(&csr).to_owned();

    for (kind, ca, usage) in [
        ("signing", &signing, "Non Repudiation"),
        ("auth", &auth, "Digital Signature"),
    ] {
        let c = json(&ok(
            &data,
            &[
                "cert",
                "issue-card",
                "--holder",
                "999999",
                "--csr",
                &csr_s,
                "--kind",
                kind,
                "--json",
            ],
        ));
        assert_eq!(
            c["kind"],
            if kind == "auth" {
                "card-auth"
            } else {
                "card-sign"
            }
        );
        let pem = write(
            dir.path(),
            &format!("card-{kind}.pem"),
            c["pem"].as_str().expect("pem"),
        );
        let (good, out) = openssl(&[
            "verify",
            "-CAfile",
            path(&root),
            "-untrusted",
            path(ca),
            path(&pem),
        ]);
        assert!(good, "{out}");
        let (_, text) = openssl(&["x509", "-in", path(&pem), "-noout", "-text"]);
        assert!(
            text.contains(&format!("Key Usage: critical\n                {usage}\n")),
            "{text}"
        );
        assert!(
            !text.contains("CA:TRUE")
                && !text.contains("Evil")
                && !text.contains("Certificate Sign"),
            "{text}"
        );
        assert!(
            text.contains("Subject: C = JP, CN = Taro Yakuzai, serialNumber = 999999-jpa"),
            "{text}"
        );
        // The certified key is the card's.
        let (_, cert_key) = openssl(&["x509", "-in", path(&pem), "-noout", "-pubkey"]);
        let (_, card_key) = openssl(&["pkey", "-in", path(&key), "-pubout"]);
        assert_eq!(cert_key, card_key);
        let (good, out) = pkilint(
            "lint_pkix_cert",
            &["lint", "--severity", "ERROR", path(&pem)],
        );
        // pkilint rejects "localhost" URIs; only the profile's own findings matter here.
        assert!(
            good || out
                .lines()
                .all(|l| !l.contains("(ERROR)") || l.contains("invalid_uri_syntax")),
            "{out}"
        );
    }
    let (_, err) = fails(
        &data,
        &[
            "cert",
            "issue-card",
            "--holder",
            "999999",
            "--csr",
            &csr_s,
            "--kind",
            "signing",
        ],
    );
    assert!(
        err.contains("already has a valid card signing certificate"),
        "{err}"
    );

    // A request whose signature does not match its key proves nothing.
    let mut der = {
        let out = dir.path().join("card.der");
        let (good, o) = openssl(&["req", "-in", &csr_s, "-outform", "DER", "-out", path(&out)]);
        assert!(good, "{o}");
        std::fs::read(&out).expect("read")
    };
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let tampered = dir.path().join("tampered.der");
    std::fs::write(&tampered, &der).expect("write");
    ok(&data, &DOCTOR.args(&[]));
    let (_, err) = fails(
        &data,
        &[
            "cert",
            "issue-card",
            "--holder",
            "123456",
            "--csr",
            path(&tampered),
            "--kind",
            "signing",
        ],
    );
    assert!(
        err.contains("no proof that the card holds the private key"),
        "{err}"
    );
    // Too small a key, and not a CSR at all.
    let small = dir.path().join("small.csr");
    let (good, out) = openssl(&[
        "req",
        "-new",
        "-newkey",
        "rsa:1024",
        "-nodes",
        "-keyout",
        path(&dir.path().join("s.key")),
        "-out",
        path(&small),
        "-subj",
        "/CN=x",
    ]);
    assert!(good, "{out}");
    let (_, err) = fails(
        &data,
        &[
            "cert",
            "issue-card",
            "--holder",
            "123456",
            "--csr",
            path(&small),
            "--kind",
            "signing",
        ],
    );
    assert!(
        err.contains("the profile allows RSA (2048 to 8192 bits)"),
        "{err}"
    );
    let (_, err) = fails(
        &data,
        &[
            "cert",
            "issue-card",
            "--holder",
            "123456",
            "--csr",
            path(&root),
            "--kind",
            "signing",
        ],
    );
    assert!(err.contains("not a PKCS#10 certificate request"), "{err}");
}

#[test]
fn init_creates_a_hierarchy_that_openssl_accepts() {
    check_hierarchy(Keys::Software);
}

#[test]
fn init_creates_a_hierarchy_that_openssl_accepts_on_softhsm() {
    let _hsm = softhsm_turn();
    check_hierarchy(Keys::SoftHsm);
}

#[test]
fn second_certificate_follows_the_signing_profile() {
    check_second_certificate(Keys::Software);
}

#[test]
fn second_certificate_follows_the_signing_profile_on_softhsm() {
    let _hsm = softhsm_turn();
    check_second_certificate(Keys::SoftHsm);
}

#[test]
fn revocation_reaches_the_crl_that_openssl_checks() {
    check_revocation(Keys::Software);
}

#[test]
fn revocation_reaches_the_crl_that_openssl_checks_on_softhsm() {
    let _hsm = softhsm_turn();
    check_revocation(Keys::SoftHsm);
}

#[test]
fn pkilint_finds_no_error_in_what_we_issue() {
    check_pkilint(Keys::Software);
}

#[test]
fn pkilint_finds_no_error_in_what_we_issue_on_softhsm() {
    let _hsm = softhsm_turn();
    check_pkilint(Keys::SoftHsm);
}

#[test]
fn ocsp_answers_good_revoked_unknown_and_malformed() {
    check_ocsp(Keys::Software);
}

#[test]
fn ocsp_answers_good_revoked_unknown_and_malformed_on_softhsm() {
    let _hsm = softhsm_turn();
    check_ocsp(Keys::SoftHsm);
}
