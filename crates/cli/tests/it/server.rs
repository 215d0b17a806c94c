use crate::support::*;

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
    let icon = server.get("/favicon.ico", None);
    assert_eq!(icon.status, 200, "no 404 in every browser's log");
    assert_eq!(icon.header("content-type"), Some("image/svg+xml"));
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
    // Counted once the server has started (it registers the holder page's relying system).
    let base = audit_seq(&data);

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

    // One name_kanji field: split at its first space, and the answer says so.
    let r = server.post_json("/api/v1/holders", Some(&token), &holder_json("999999"));
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    assert_eq!(created["username"], "999999-jpa");
    assert_eq!(
        (
            &created["name_kanji"],
            &created["family_name_kanji"],
            &created["given_name_kanji"]
        ),
        (
            &serde_json::json!("薬剤\u{3000}太郎"),
            &serde_json::json!("薬剤"),
            &serde_json::json!("太郎")
        )
    );
    let note = created["notes"][0].as_str().expect("a note on the split");
    assert!(note.contains("split at its first space"), "{note}");
    let r = server.post_json("/api/v1/holders", Some(&token), &holder_json("999999"));
    assert_eq!(r.status, 409, "{}", r.text());
    // The two parts: no note. Both ways at once: refused, with the field named.
    let mut parts = holder_json("999998");
    parts["name_kanji"] = serde_json::Value::Null;
    parts["family_name_kanji"] = "神楽坂".into();
    parts["given_name_kanji"] = "四十".into();
    parts["organization_roman"] = "Example Pharmacy".into();
    let r = server.post_json("/api/v1/holders", Some(&token), &parts);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["name_kanji"], "神楽坂\u{3000}四十");
    assert_eq!(r.json()["organization_roman"], "Example Pharmacy");
    assert!(r.json().get("notes").is_none(), "{}", r.text());
    let mut both = parts.clone();
    both["registry_number"] = "999997".into();
    both["name_kanji"] = "神楽坂 四十".into();
    let r = server.post_json("/api/v1/holders", Some(&token), &both);
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.json()["fields"][0]["field"], "name_kanji", "{}", r.text());
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
    // holder.created (twice), holder.photo_replaced
    assert_audit_intact(&data, base + 3);
}

/// A SIGTERM that comes as soon as the server says it listens (an orchestrator stopping an
/// instance it has just started) is a clean stop, not the signal's default death: the handler
/// is in place before the listening line.
#[test]
fn sigterm_right_after_start_is_a_clean_stop() {
    let dir = TempDir::new();
    let data = init(&dir, None);
    for _ in 0..3 {
        let server = Server::start(&data);
        assert!(server.stop(), "serve must exit 0 after an early SIGTERM");
    }
}

/// A photo upload of 999999-jpa with half its body sent: a request in flight.
struct HalfUpload {
    stream: std::net::TcpStream,
    photo: Vec<u8>,
}

impl HalfUpload {
    fn start(server: &Server, token: &str) -> Self {
        use std::io::Write;
        let photo = png(400, 500);
        let mut stream = std::net::TcpStream::connect(&server.addr).expect("connect");
        let head = format!(
            "PUT /api/v1/holders/999999-jpa/photo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Authorization: Bearer {token}\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\r\n",
            photo.len()
        );
        stream.write_all(head.as_bytes()).expect("head");
        stream.write_all(&photo[..photo.len() / 2]).expect("half");
        stream.flush().expect("flush");
        Self { stream, photo }
    }

    /// Sends the rest of the body; the whole answer.
    fn finish(mut self) -> String {
        use std::io::{Read, Write};
        let rest = &self.photo[self.photo.len() / 2..];
        self.stream.write_all(rest).expect("rest");
        let mut raw = Vec::new();
        self.stream.read_to_end(&mut raw).expect("read");
        String::from_utf8_lossy(&raw).into_owned()
    }
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    let dir = TempDir::new();
    let data = init(&dir, None);
    let token = operator_token(&data, "alice");
    let server = Server::start(&data);
    // Counted once the server has started (it registers the holder page's relying system).
    let base = audit_seq(&data);
    assert_eq!(
        server
            .post_json("/api/v1/holders", Some(&token), &holder_json("999999"))
            .status,
        201
    );

    // Start a photo upload, send half of it, then ask the server to stop.
    let upload = HalfUpload::start(&server, &token);
    std::thread::sleep(std::time::Duration::from_millis(300));
    server.signal_term();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let text = upload.finish();
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "the in-flight request was cut off: {text}"
    );
    assert!(server.stop(), "serve must exit 0 after SIGTERM");
    // The request was completed and audited.
    assert_audit_intact(&data, base + 2);
}

/// SIGTERM drains first: `/readyz` answers 503 (with Retry-After) while requests are still
/// served; then the listener closes — a new connection is refused while a request in flight
/// still finishes — and the process exits 0.
#[test]
fn sigterm_drains_then_closes_the_listener_and_finishes_what_is_in_flight() {
    use std::time::{Duration, Instant};
    let dir = TempDir::new();
    let data = init(&dir, None);
    let token = operator_token(&data, "alice");
    let server = Server::start_with(
        &data,
        &[("HPKI_SECOND__SERVER__DRAIN_SECS", "2")],
        std::process::Stdio::inherit(),
    );
    assert_eq!(
        server
            .post_json("/api/v1/holders", Some(&token), &holder_json("999999"))
            .status,
        201
    );
    assert_eq!(server.get("/readyz", None).status, 200);
    server.signal_term();
    let deadline = Instant::now() + Duration::from_secs(1);
    let draining = loop {
        let r = server.get("/readyz", None);
        if r.status == 503 {
            break r;
        }
        assert!(Instant::now() < deadline, "still ready after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(draining.header("retry-after").is_some());
    assert_eq!(draining.json()["status"], "draining");
    assert_eq!(
        server.get("/healthz", None).status,
        200,
        "served while draining"
    );
    // A request that starts while draining, half its body sent…
    let upload = HalfUpload::start(&server, &token);
    // …then the listener closes: new connections are refused at once.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(&server.addr).is_ok() {
        assert!(Instant::now() < deadline, "the listener stayed open");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The request in flight still finishes.
    let text = upload.finish();
    assert!(text.starts_with("HTTP/1.1 200"), "cut off: {text}");
    assert!(server.stop(), "serve must exit 0");
}

/// `/readyz` asks the keystore too: a PKCS#11 token whose files are taken away (an HSM
/// unplugged) makes the instance not ready at the next check (503 with Retry-After), while
/// `/healthz` still answers; once the token is back, ready again without a restart. The token is one of this test's own (its own SoftHSM2
/// configuration), so no other test's token moves.
#[test]
fn readyz_says_no_while_the_keystore_cannot_sign_and_yes_once_it_can() {
    use std::time::{Duration, Instant};
    let dir = TempDir::new();
    let hsm = dir.path().join("hsm");
    let tokens = hsm.join("tokens");
    std::fs::create_dir_all(&tokens).expect("token directory");
    let conf = hsm.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .expect("softhsm2.conf");
    let conf = conf.to_str().expect("path").to_owned();
    let env = [("SOFTHSM2_CONF", conf.as_str())];
    let made = run(
        "softhsm2-util",
        &[
            "--init-token",
            "--free",
            "--label",
            "ready",
            "--so-pin",
            "12345678",
            "--pin",
            "24681012",
        ],
        &env,
    );
    assert!(made.status.success(), "{made:?}");
    let data = dir.data();
    std::fs::create_dir_all(&data).expect("mkdir");
    let module = hpki_test_support::required_env("HPKI_TEST_PKCS11_MODULE");
    std::fs::write(
        data.join("hpki-second.toml"),
        format!(
            "[ca]\nkeystore = \"pkcs11\"\nalgorithm = \"ecdsa-p256\"\npkcs11_module = {module:?}\n\
             pkcs11_token = \"ready\"\npkcs11_pin = \"24681012\"\n"
        ),
    )
    .expect("config");
    let init = std::process::Command::new(BIN)
        .arg("--data-dir")
        .arg(&data)
        .arg("init")
        .envs(env)
        .output()
        .expect("init");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let server = Server::start_with(&data, &env, std::process::Stdio::inherit());
    assert_eq!(server.get("/readyz", None).status, 200);
    let token = std::fs::read_dir(&tokens)
        .expect("tokens")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .expect("the token's directory");
    // Out of the token directory (the library takes any directory in it for a token).
    let away = hsm.join("away");
    std::fs::rename(&token, &away).expect("take the token away");
    for _ in 0..3 {
        let r = server.get("/readyz", None);
        assert_eq!(r.status, 503, "{}", r.text());
        assert!(r.header("retry-after").is_some());
        assert_eq!(r.json()["status"], "keystore", "{}", r.text());
        assert_eq!(server.get("/healthz", None).status, 200);
        std::thread::sleep(Duration::from_millis(400));
    }
    // The token back: ready again without a restart.
    std::fs::rename(&away, &token).expect("put the token back");
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.get("/readyz", None).status != 200 {
        assert!(
            Instant::now() < deadline,
            "not ready 5 s after the token came back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(server.stop());
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
    let stopped = server.stop();
    let text = std::fs::read_to_string(&log).expect("read log");
    assert!(
        stopped,
        "serve must exit 0 after SIGTERM; it logged:\n{text}"
    );
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

/// docs/oidc.md promises that authorization requests from no one in particular (an unknown
/// client, unreadable parameters) are logged as warnings, with the reason; they were plain
/// request lines.
#[test]
fn refused_authorization_requests_are_logged_as_warnings() {
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
    let r = server.get(
        "/oidc/authorize?response_type=code&client_id=no-such-client&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&scope=openid",
        None,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(server.stop());
    let text = std::fs::read_to_string(&log).expect("read log");
    let warned = text
        .lines()
        .map(json)
        .find(|l| l["message"] == "an authorization request was refused")
        .unwrap_or_else(|| panic!("no warning in {text}"));
    assert_eq!(warned["level"], "WARN", "{warned}");
    assert!(
        warned["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{warned}"
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

/// A raw client connection from `source` (any 127.x address is this machine).
async fn connect_from(source: &str, server: &str) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{source}:0").parse().expect("address"))
        .expect("bind");
    socket
        .connect(server.parse().expect("server address"))
        .await
        .expect("connect")
}

/// Whether the server closed the connection within `wait`.
async fn closed_within(stream: &mut tokio::net::TcpStream, wait: std::time::Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 512];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A 408 or 400 before closing is fine.
            Ok(Ok(_)) => continue,
        }
    }
}

/// `/healthz` from `source`: its status line, and how long it took.
async fn health_from(source: &str, server: &str) -> (String, std::time::Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = std::time::Instant::now();
    let mut s = connect_from(source, server).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        s.read_to_end(&mut answer),
    )
    .await
    .expect("an answer within 10 s")
    .expect("read");
    let text = String::from_utf8_lossy(&answer);
    (
        text.lines().next().unwrap_or("").to_owned(),
        started.elapsed(),
    )
}

/// Clients that send half a request line and wait are closed after the header timeout; one
/// address cannot hold more than its share, and other clients are answered meanwhile. At the
/// overall cap, new clients wait for a slot instead of being lost, and are answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_connections_are_closed_and_cannot_starve_the_server() {
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;
    let dir = TempDir::new();
    let data = init(&dir, None);
    let server = Server::start_with(
        &data,
        &[
            ("HPKI_SECOND__SERVER__MAX_CONNECTIONS", "64"),
            ("HPKI_SECOND__SERVER__MAX_CONNECTIONS_PER_ADDRESS", "8"),
            ("HPKI_SECOND__SERVER__HEADER_READ_TIMEOUT_SECS", "1"),
        ],
        std::process::Stdio::null(),
    );
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let mut s = connect_from("127.0.0.1", &server.addr).await;
        s.write_all(b"GET /healthz HT")
            .await
            .expect("half a request line");
        stalled.push(s);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut closed_at_once = 0;
    for s in &mut stalled {
        if closed_within(s, Duration::from_millis(50)).await {
            closed_at_once += 1;
        }
    }
    assert_eq!(closed_at_once, 12, "beyond the address's 8, closed at once");
    let (status, took) = health_from("127.0.0.2", &server.addr).await;
    assert!(status.contains("200"), "{status}");
    assert!(
        took < Duration::from_millis(900),
        "answered meanwhile ({took:?})"
    );
    for s in &mut stalled {
        assert!(
            closed_within(s, Duration::from_secs(3)).await,
            "a stalled connection stayed"
        );
    }
    drop(server);

    // The overall cap: 8 stalled connections fill it; the next client waits and is answered
    // once the header timeout frees a slot.
    let dir = TempDir::new();
    let data = init(&dir, None);
    let server = Server::start_with(
        &data,
        &[
            ("HPKI_SECOND__SERVER__MAX_CONNECTIONS", "8"),
            ("HPKI_SECOND__SERVER__MAX_CONNECTIONS_PER_ADDRESS", "0"),
            ("HPKI_SECOND__SERVER__HEADER_READ_TIMEOUT_SECS", "1"),
        ],
        std::process::Stdio::null(),
    );
    let mut stalled = Vec::new();
    for _ in 0..12 {
        let mut s = connect_from("127.0.0.1", &server.addr).await;
        s.write_all(b"GET /healthz HT")
            .await
            .expect("half a request line");
        stalled.push(s);
    }
    let (status, took) = health_from("127.0.0.3", &server.addr).await;
    assert!(status.contains("200"), "{status}");
    assert!(
        took < Duration::from_secs(5),
        "answered once a slot was free ({took:?})"
    );
    for s in &mut stalled {
        assert!(
            closed_within(s, Duration::from_secs(5)).await,
            "a stalled connection stayed"
        );
    }
}

/// The slow-body attack: connections from a few addresses, each address under its cap, send a
/// request head with `Content-Length: 100000` and then a byte a second; together they want
/// more than every slot, and reconnect when closed. Another address's `/healthz` answers
/// within a second throughout (the reserved slots), and each slow request is answered 408 and
/// closed once it falls behind the pace (before, nothing bounded a body: the slots stayed
/// taken and new clients timed out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_bodies_cannot_lock_other_clients_out() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = TempDir::new();
    let data = init(&dir, None);
    let server = Server::start_with(
        &data,
        &[
            ("HPKI_SECOND__SERVER__MAX_CONNECTIONS", "64"),
            ("HPKI_SECOND__SERVER__MAX_CONNECTIONS_PER_ADDRESS", "16"),
            ("HPKI_SECOND__SERVER__RESERVED_CONNECTIONS", "16"),
            ("HPKI_SECOND__SERVER__HEADER_READ_TIMEOUT_SECS", "2"),
            ("HPKI_SECOND__SERVER__BODY_MIN_BYTES_PER_SEC", "1024"),
            ("HPKI_SECOND__SERVER__BODY_TIMEOUT_SECS", "30"),
        ],
        std::process::Stdio::null(),
    );
    let attack_for = Duration::from_secs(8);
    let started = Instant::now();
    let timeouts = Arc::new(AtomicUsize::new(0));
    let mut attackers = Vec::new();
    for address in 11..17 {
        for _ in 0..16 {
            let addr = server.addr.clone();
            let timeouts = timeouts.clone();
            attackers.push(tokio::spawn(async move {
                while started.elapsed() < attack_for {
                    let mut s = connect_from(&format!("127.0.0.{address}"), &addr).await;
                    let head = "POST /oidc/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n";
                    if s.write_all(head.as_bytes()).await.is_err() {
                        continue;
                    }
                    let mut answer = Vec::new();
                    let mut buf = [0u8; 512];
                    loop {
                        match tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await {
                            Ok(Ok(0)) | Ok(Err(_)) => break,
                            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
                            // Still open: one more byte of the body.
                            Err(_) => {
                                if started.elapsed() > attack_for || s.write_all(b"a").await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    if answer.starts_with(b"HTTP/1.1 408") {
                        timeouts.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
    }
    // Let the attack fill the slots, then keep asking from another address.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut slowest = Duration::ZERO;
    let mut asked = 0;
    while started.elapsed() < attack_for {
        let (status, took) = health_from("127.0.0.99", &server.addr).await;
        assert!(status.contains("200"), "{status}");
        slowest = slowest.max(took);
        asked += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(asked >= 10, "{asked}");
    assert!(
        slowest < Duration::from_secs(1),
        "/healthz from another address took {slowest:?} under the attack"
    );
    for a in attackers {
        a.await.expect("attacker");
    }
    assert!(
        timeouts.load(Ordering::Relaxed) > 0,
        "slow bodies are answered 408 and closed"
    );
}

/// An operator's API token can be revoked, rotated and made to expire, and the operator
/// disabled, from the command line; a running server refuses the token at once.
#[test]
fn operator_tokens_are_revoked_rotated_and_disabled() {
    let dir = TempDir::new();
    let data = init(&dir, None);
    let added = json(&ok(
        &data,
        &[
            "operator",
            "add",
            "--name",
            "carol",
            "--expires-in",
            "90d",
            "--json",
        ],
    ));
    let token = added["token"].as_str().expect("token").to_owned();
    assert!(added["token_expires_at"].is_string(), "{added}");
    let server = Server::start(&data);
    let holders = |t: &str| server.get("/api/v1/holders", Some(t)).status;
    assert_eq!(holders(&token), 200);
    ok(&data, &["operator", "token", "revoke", "--name", "carol"]);
    assert_eq!(holders(&token), 401, "revoked: refused at once");
    let rotated = json(&ok(
        &data,
        &["operator", "token", "rotate", "--name", "carol", "--json"],
    ));
    let new_token = rotated["token"].as_str().expect("token").to_owned();
    assert_eq!(holders(&token), 401, "the old token stays refused");
    assert_eq!(holders(&new_token), 200);
    ok(&data, &["operator", "disable", "--name", "carol"]);
    assert_eq!(holders(&new_token), 401, "disabled");
    ok(&data, &["operator", "enable", "--name", "carol"]);
    assert_eq!(holders(&new_token), 200, "enabled again");
    let list = json(&ok(&data, &["operator", "list", "--json"]));
    assert_eq!(list[0]["name"], "carol");
    assert!(list[0]["last_used_at"].is_string(), "{list}");
    let (code, err) = fails(&data, &["operator", "disable", "--name", "nobody"]);
    assert_eq!(code, 1);
    assert!(err.contains("operator nobody not found"), "{err}");
    let audit = ok(&data, &["audit", "export"]);
    for action in [
        "operator.token_revoked",
        "operator.token_rotated",
        "operator.disabled",
        "operator.enabled",
    ] {
        assert!(audit.contains(action), "{action} was not audited");
    }
}
