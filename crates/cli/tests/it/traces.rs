//! Traces over OTLP/HTTP to a collector (a receiver that decodes with OpenTelemetry's own
//! protobuf classes, crates/cli/tests/py/otlp_collector.py): each request is a server span
//! named by its route (never its path), continuing the caller's W3C trace, with the keystore's
//! operations inside it; what is queued is sent when the server stops.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::support::*;

/// The receiver, stopped whatever happens.
struct Collector(Child);

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn collector(port: u16, out: &std::path::Path) -> Collector {
    let venv = hpki_test_support::required_env("HPKI_TEST_VENV");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/otlp_collector.py");
    let mut child = Command::new(std::path::Path::new(&venv).join("bin/python"))
        .arg(script)
        .arg(port.to_string())
        .arg(out)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python (scripts/test makes the venv with opentelemetry-proto)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    assert_eq!(line.trim(), "ready", "the collector did not start");
    Collector(child)
}

#[test]
fn requests_are_spans_that_continue_the_callers_trace() {
    let dir = TempDir::new();
    let data = init(&dir, None);
    let port = free_port();
    let out = dir.path().join("spans.jsonl");
    let _collector = collector(port, &out);
    let endpoint = format!("http://127.0.0.1:{port}/v1/traces");
    let server = Server::start_with(
        &data,
        &[
            ("HPKI_SECOND__TRACES__OTLP_ENDPOINT", endpoint.as_str()),
            ("HPKI_SECOND__TRACES__SERVICE_NAME", "hpki-second-test"),
        ],
        Stdio::inherit(),
    );
    // A relying system's trace: its trace ID and its span, sampled.
    let (trace_id, caller) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let traceparent = format!("00-{trace_id}-{caller}-01");
    let r = request_with(
        &server.addr,
        "GET",
        "/readyz",
        &[("traceparent", &traceparent)],
        b"",
    );
    assert_eq!(r.status, 200);
    // A one-time token in a path never reaches the collector.
    let token = "0123456789abcdef0123456789abcdef";
    let r = request_with(&server.addr, "GET", &format!("/r/{token}"), &[], b"");
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(server.stop(), "the last spans are sent on the way out");

    let text = std::fs::read_to_string(&out).expect("the collector received spans");
    assert!(
        !text.contains(token),
        "a path's token was exported:\n{text}"
    );
    let spans: Vec<serde_json::Value> = text.lines().map(json).collect();
    let request = spans
        .iter()
        .find(|s| s["name"] == "GET /readyz" && s["trace_id"] == trace_id)
        .unwrap_or_else(|| panic!("no span of the caller's /readyz in:\n{text}"));
    assert_eq!(request["parent_span_id"], caller, "{request}");
    assert_eq!(request["service"], "hpki-second-test");
    assert_eq!(request["kind"], 2, "a server span: {request}");
    assert_eq!(request["attributes"]["http.route"], "/readyz");
    assert_eq!(request["attributes"]["http.request.method"], "GET");
    assert_eq!(request["attributes"]["http.response.status_code"], 200);
    // The readiness check asked the keystore, inside the request's span.
    let check = spans
        .iter()
        .find(|s| s["name"] == "check" && s["parent_span_id"] == request["span_id"])
        .unwrap_or_else(|| panic!("no keystore span inside the request in:\n{text}"));
    assert_eq!(check["trace_id"], trace_id);
    assert_eq!(check["attributes"]["keystore.backend"], "software");
    // A request without a caller's trace starts its own, named by its route.
    let sheet = spans
        .iter()
        .find(|s| s["name"] == "GET /r/{token}")
        .unwrap_or_else(|| panic!("no span of the sheet's page in:\n{text}"));
    assert_ne!(sheet["trace_id"], trace_id);
    assert_eq!(sheet["parent_span_id"], "");
    assert_eq!(sheet["attributes"]["http.response.status_code"], 404);
}
