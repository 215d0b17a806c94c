//! What relying parties and CDNs may cache (RFC 5019, RFC 5280, RFC 9110): OCSP answers by GET
//! carry validators and a max-age that ends before their nextUpdate, POST answers are never
//! stored, CRLs come with validators and a conditional GET is answered 304. openssl reads what
//! comes back.

use std::path::Path;

use crate::support::*;

/// The seconds of `max-age` in a Cache-Control value.
fn max_age(cache_control: &str) -> i64 {
    cache_control
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no max-age in {cache_control:?}"))
}

/// openssl's reading of an OCSP answer: its nextUpdate line and the certificate's status.
fn openssl_reads(dir: &Path, root: &Path, signing: &Path, cert: &Path, der: &[u8]) -> String {
    let resp = dir.join("resp.der");
    std::fs::write(&resp, der).expect("write");
    let (_, out) = openssl(&[
        "ocsp",
        "-respin",
        path(&resp),
        "-CAfile",
        path(root),
        "-issuer",
        path(signing),
        "-cert",
        path(cert),
        "-resp_text",
    ]);
    assert!(out.contains("Response verify OK"), "{out}");
    out
}

#[test]
fn ocsp_answers_and_crls_carry_what_caches_need() {
    let dir = TempDir::new();
    let data = init(&dir, None);
    let cert = second_certificate(&data);
    let serial = cert["serial"].as_str().expect("serial").to_owned();
    let pem = write(dir.path(), "second.pem", cert["pem"].as_str().expect("pem"));
    let (root, signing, _) = ca_files(&data, dir.path());
    let server = Server::start(&data);

    // OCSP by GET: validators, and freshness that ends before nextUpdate (one hour here).
    let get = ocsp_get_path(dir.path(), &signing, &pem);
    let r = server.get(&get, None);
    assert_eq!(r.status, 200);
    let out = openssl_reads(dir.path(), &root, &signing, &pem, &r.body);
    assert!(out.contains("second.pem: good"), "{out}");
    let cc = r.header("cache-control").expect("cache-control");
    assert!(cc.contains("public"), "{cc}");
    let age = max_age(cc);
    assert!(
        (3000..=3240).contains(&age),
        "a tenth of the hour before nextUpdate: {cc}"
    );
    let etag = r.header("etag").expect("etag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert!(r
        .header("last-modified")
        .is_some_and(|d| d.ends_with(" GMT")));
    assert!(r.header("expires").is_some_and(|d| d.ends_with(" GMT")));
    // The same again comes from the cache: the same answer, the same tag; a conditional GET
    // with that tag is answered 304 with no body.
    let again = server.get(&get, None);
    assert_eq!(again.body, r.body);
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let not_modified = request_with(&server.addr, "GET", &get, &[("If-None-Match", &etag)], b"");
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());
    assert_eq!(not_modified.header("etag"), Some(etag.as_str()));

    // POST answers are not for caches.
    let req = std::fs::read(dir.path().join("req.der")).expect("request");
    let posted = request_with(
        &server.addr,
        "POST",
        "/ocsp",
        &[("Content-Type", "application/ocsp-request")],
        &req,
    );
    assert_eq!(posted.status, 200);
    assert_eq!(posted.header("cache-control"), Some("no-store"));
    assert!(posted.header("etag").is_none());
    // Nor is an answer about a serial this CA never issued, even by GET.
    let unknown_req = dir.path().join("unknown.der");
    let (good, out) = openssl(&[
        "ocsp",
        "-issuer",
        path(&signing),
        "-serial",
        "0x1234",
        "-no_nonce",
        "-reqout",
        path(&unknown_req),
    ]);
    assert!(good, "{out}");
    let b64 = base64_path(&unknown_req);
    let unknown = server.get(&format!("/ocsp/{b64}"), None);
    assert_eq!(unknown.header("cache-control"), Some("no-store"));

    // CRLs: validators, a max-age that never reaches past nextUpdate, 304 when unchanged.
    let crl = server.get("/crl/sign.crl", None);
    assert_eq!(crl.status, 200);
    let crl_etag = crl.header("etag").expect("etag").to_owned();
    let modified = crl
        .header("last-modified")
        .expect("last-modified")
        .to_owned();
    let age = max_age(crl.header("cache-control").expect("cache-control"));
    assert!((1..=60).contains(&age), "{age}");
    for header in [
        ("If-None-Match", crl_etag.as_str()),
        ("If-Modified-Since", modified.as_str()),
    ] {
        let r = request_with(&server.addr, "GET", "/crl/sign.crl", &[header], b"");
        assert_eq!(r.status, 304, "{header:?}");
        assert!(r.body.is_empty());
    }

    // A revocation in another process: within two seconds the CRL has a new tag, the old tag
    // gets the new CRL (200), and OCSP by GET says revoked.
    ok(
        &data,
        &["cert", "revoke", &serial, "--reason", "keyCompromise"],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let r = request_with(
            &server.addr,
            "GET",
            "/crl/sign.crl",
            &[("If-None-Match", &crl_etag)],
            b"",
        );
        if r.status == 200 {
            assert_ne!(r.header("etag"), Some(crl_etag.as_str()));
            let der = dir.path().join("sign.crl");
            std::fs::write(&der, &r.body).expect("write");
            let (good, text) = openssl(&[
                "crl",
                "-inform",
                "DER",
                "-in",
                path(&der),
                "-noout",
                "-text",
            ]);
            assert!(good, "{text}");
            assert!(text.contains("Key Compromise"), "{text}");
            break;
        }
        assert_eq!(r.status, 304);
        assert!(
            std::time::Instant::now() < deadline,
            "the new CRL was not served within 2 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let r = server.get(&get, None);
        let out = openssl_reads(dir.path(), &root, &signing, &pem, &r.body);
        if out.contains("second.pem: revoked") {
            assert_ne!(r.header("etag"), Some(etag.as_str()));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still good after 2 s: {out}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
