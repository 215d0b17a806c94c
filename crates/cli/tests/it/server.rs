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
    let base = audit_seq(&data);
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
    // holder.created, holder.photo_replaced
    assert_audit_intact(&data, base + 2);
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    use std::io::{Read, Write};
    let dir = TempDir::new();
    let data = init(&dir, None);
    let token = operator_token(&data, "alice");
    let base = audit_seq(&data);
    let server = Server::start(&data);
    assert_eq!(
        server
            .post_json("/api/v1/holders", Some(&token), &holder_json("999999"))
            .status,
        201
    );

    // Start a photo upload, send half of it, then ask the server to stop.
    let photo = png(400, 500);
    let mut s = std::net::TcpStream::connect(&server.addr).expect("connect");
    let head = format!(
        "PUT /api/v1/holders/999999-jpa/photo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\r\n",
        photo.len()
    );
    s.write_all(head.as_bytes()).expect("head");
    s.write_all(&photo[..photo.len() / 2]).expect("half");
    s.flush().expect("flush");
    std::thread::sleep(std::time::Duration::from_millis(300));
    server.signal_term();
    std::thread::sleep(std::time::Duration::from_millis(300));
    s.write_all(&photo[photo.len() / 2..]).expect("rest");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "the in-flight request was cut off: {text}"
    );
    assert!(server.stop(), "serve must exit 0 after SIGTERM");
    // The request was completed and audited.
    assert_audit_intact(&data, base + 2);
}

#[test]
fn json_logs_name_the_route_not_the_path() {
    let dir = TempDir::new();
    let data = init(&dir, None);
    let log = dir.path().join("server.log");
    let file = std::fs::File::create(&log).expect("log file");
    let server = Server::start_with(
        &data,
        &[
            ("HPKI_SECOND__LOG__FORMAT", "json"),
            ("HPKI_SECOND__LOG__LEVEL", "info"),
        ],
        file.into(),
    );
    assert_eq!(
        server
            .get("/api/v1/holders/123456-jpa", Some("hso_secret"))
            .status,
        401
    );
    assert!(server.stop());
    let text = std::fs::read_to_string(&log).expect("read log");
    let lines: Vec<serde_json::Value> = text.lines().map(json).collect();
    let request = lines
        .iter()
        .find(|l| l["message"] == "request")
        .unwrap_or_else(|| panic!("no request line in {text}"));
    assert_eq!(request["route"], "/api/v1/holders/{username}");
    assert_eq!(request["status"], 401);
    assert!(
        !text.contains("123456-jpa") && !text.contains("hso_secret"),
        "{text}"
    );
}

/// Every refusal of the operator API is JSON `{"error", "error_description"}` with its status,
/// including the ones the router and the extractors give before a handler runs; an oversized
/// OCSP request is still an OCSP answer (malformedRequest).
#[test]
fn api_refusals_are_json_and_ocsp_stays_ocsp() {
    let dir = TempDir::new();
    let data = init(&dir, None);
    let token = operator_token(&data, "alice");
    let server = Server::start(&data);
    let auth = format!("Bearer {token}");
    let call = |method: &str, path: &str, content_type: Option<&str>, body: &[u8]| {
        let mut headers = vec![("Authorization", auth.as_str())];
        if let Some(ct) = content_type {
            headers.push(("Content-Type", ct));
        }
        request_with(&server.addr, method, path, &headers, body)
    };
    let holder = holder_json("424242").to_string();
    let mut unknown_field = holder_json("424243");
    unknown_field["shoe_size"] = 27.into();
    let unknown_field = unknown_field.to_string();
    let big = vec![b'x'; 6 * 1024 * 1024];
    for (what, r, status) in [
        (
            "no JSON content type",
            call(
                "POST",
                "/api/v1/holders",
                Some("text/plain"),
                holder.as_bytes(),
            ),
            415,
        ),
        (
            "broken JSON",
            call(
                "POST",
                "/api/v1/holders",
                Some("application/json"),
                b"{\"registry_number\":",
            ),
            400,
        ),
        (
            "an unknown field",
            call(
                "POST",
                "/api/v1/holders",
                Some("application/json"),
                unknown_field.as_bytes(),
            ),
            422,
        ),
        (
            "a bad query",
            call("GET", "/api/v1/holders?limit=many", None, b""),
            400,
        ),
        (
            "invalid UTF-8 in the path",
            call("GET", "/api/v1/holders/%FF%FE", None, b""),
            400,
        ),
        (
            "a body over the limit",
            call(
                "PUT",
                "/api/v1/holders/424242-jpa/photo",
                Some("image/jpeg"),
                &big,
            ),
            413,
        ),
        (
            "a method the path has not",
            call("DELETE", "/api/v1/holders", None, b""),
            405,
        ),
    ] {
        assert_eq!(r.status, status, "{what}: {}", r.text());
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{what}: {:?} {}",
            r.header("content-type"),
            r.text()
        );
        let body = r.json();
        assert!(
            body["error"].is_string() && body["error_description"].is_string(),
            "{what}: {body}"
        );
    }
    let r = call("DELETE", "/api/v1/holders", None, b"");
    assert!(
        r.header("allow").is_some_and(|a| a.contains("GET")),
        "405 keeps Allow"
    );

    // OCSP over 16 KiB: an OCSPResponse with status malformedRequest (1), not text.
    let r = request_with(
        &server.addr,
        "POST",
        "/ocsp",
        &[("Content-Type", "application/ocsp-request")],
        &vec![0x30; 20 * 1024],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/ocsp-response"));
    assert_eq!(r.body, [0x30, 0x03, 0x0a, 0x01, 0x01], "malformedRequest");
}
