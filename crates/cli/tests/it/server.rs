use crate::helpers::*;

fn holder_json(number: &str) -> serde_json::Value {
    serde_json::json!({
        "registry_number": number,
        "name_kanji": "薬剤 太郎",
        "name_kana": "ヤクザイ タロウ",
        "date_of_birth": "1980-04-01",
        "qualification": "Pharmacist"
    })
}

#[test]
fn health_readiness_and_security_headers() {
    let dir = TempDir::new();
    let data = init(&dir, None);
    let server = Server::start(&data);
    let r = server.get("/healthz", None);
    assert_eq!((r.status, r.text().as_str()), (200, "ok\n"));
    let r = server.get("/readyz", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ready");
    for path in ["/healthz", "/", "/no/such/page"] {
        let r = server.get(path, None);
        let csp = r.header("content-security-policy").expect("CSP");
        assert!(
            csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
        assert!(
            r.header("strict-transport-security").is_none(),
            "no HSTS over plain http"
        );
    }
    assert_eq!(server.get("/no/such/page", None).status, 404);
    assert!(server.stop(), "SIGTERM must end serve with status 0");
}

#[test]
fn hsts_is_sent_when_the_public_url_is_https() {
    let dir = TempDir::new();
    let data = dir.data();
    ok(
        &data,
        &["init", "--public-url", "https://hpki.example.test"],
    );
    let server = Server::start(&data);
    let r = server.get("/healthz", None);
    assert!(r
        .header("strict-transport-security")
        .is_some_and(|h| h.contains("max-age=")));
}

#[test]
fn operator_api_creates_and_refuses_with_the_right_status() {
    let dir = TempDir::new();
    let data = init(&dir, None);
    let token = operator_token(&data, "alice");
    let server = Server::start(&data);

    assert_eq!(
        server
            .post_json("/api/v1/holders", None, &holder_json("999999"))
            .status,
        401
    );
    let forged = format!("hso_{}", "0".repeat(64));
    assert_eq!(
        server
            .post_json("/api/v1/holders", Some(&forged), &holder_json("999999"))
            .status,
        401
    );

    let r = server.post_json("/api/v1/holders", Some(&token), &holder_json("999999"));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["username"], "999999-jpa");
    let r = server.post_json("/api/v1/holders", Some(&token), &holder_json("999999"));
    assert_eq!(r.status, 409, "{}", r.text());
    let mut bad = holder_json("12x");
    bad["name_kana"] = "yamada".into();
    let r = server.post_json("/api/v1/holders", Some(&token), &bad);
    assert_eq!(r.status, 422, "{}", r.text());
    let fields: Vec<String> = r.json()["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["field"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(fields, vec!["registry_number", "name_kana"]);

    let r = server.get("/api/v1/holders/999999-jpa", Some(&token));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["qualification"], "Pharmacist");
    assert_eq!(
        server.get("/api/v1/holders/1-jpa", Some(&token)).status,
        404
    );

    // Photos: too large, not an image, then a good one.
    let r = server.put(
        "/api/v1/holders/999999-jpa/photo",
        Some(&token),
        "image/png",
        &vec![0u8; 50 * 1024 * 1024],
    );
    assert_eq!(r.status, 413);
    let r = server.put(
        "/api/v1/holders/999999-jpa/photo",
        Some(&token),
        "image/png",
        b"\x7fELF\x02\x01\x01\x00",
    );
    assert_eq!(r.status, 415, "{}", r.text());
    assert!(r.json()["error_description"]
        .as_str()
        .expect("desc")
        .contains("ELF"));
    let r = server.put(
        "/api/v1/holders/999999-jpa/photo",
        Some(&token),
        "image/png",
        &png(1000, 1200),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["height"], 800);
    let r = server.get("/api/v1/holders/999999-jpa/photo", Some(&token));
    assert_eq!(r.header("content-type"), Some("image/jpeg"));
    assert!(r.body.starts_with(&[0xFF, 0xD8, 0xFF]));

    drop(server);
    let out = ok(&data, &["audit", "verify"]);
    // operator.created, holder.created, holder.photo_replaced
    assert!(out.contains("intact: 3 events"), "{out}");
}
