//! Metrics for Prometheus on a management listener of their own: a scrape after real traffic
//! has the HTTP, audit, OCSP, keystore, database, CRL and certificate metrics, and promtool (not
//! ours) accepts it; the public listener does not serve it. Passkey sign-ins, their refusals
//! and the group commit that writes them are counted. The alert rules in `deploy/` pass
//! `promtool check rules` and their own `promtool test rules`.

use std::io::{Read, Write};
use std::process::Stdio;

use hpki_passkey::soft::Faults;

use crate::support::*;

fn scrape(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the metrics listener");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("ask");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    body.to_owned()
}

fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = std::process::Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (apt package prometheus; scripts/test installs it)");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write");
    }
    let o = child.wait_with_output().expect("promtool");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), said)
}

#[test]
fn a_scrape_after_real_traffic_has_what_an_operator_watches_and_promtool_accepts_it() {
    let dir = TempDir::new();
    let data = init(&dir, None);
    let token = operator_token(&data, "alice");
    let metrics = format!("127.0.0.1:{}", free_port());
    let server = Server::start_with(
        &data,
        &[("HPKI_SECOND__METRICS__LISTEN", metrics.as_str())],
        Stdio::inherit(),
    );
    assert_eq!(server.get("/readyz", None).status, 200);
    let holder = serde_json::json!({
        "registry_number": "999999", "name_kanji": "薬剤 太郎", "name_kana": "ヤクザイ タロウ",
        "date_of_birth": "1980-04-01", "qualification": "Pharmacist"
    });
    assert_eq!(
        server
            .post_json("/api/v1/holders", Some(&token), &holder)
            .status,
        201
    );
    // A malformed OCSP request gets an OCSP answer (malformedRequest), counted.
    let r = request(
        &server.addr,
        "POST",
        "/ocsp",
        None,
        Some("application/ocsp-request"),
        b"not DER",
    );
    assert_eq!(r.status, 200);
    // Only the management listener has the metrics.
    assert_eq!(server.get("/metrics", None).status, 404);

    let text = scrape(&metrics);
    for expected in [
        r#"hpki_http_request_duration_seconds_bucket{method="GET",route="/readyz",status="200",le="0.005"}"#,
        r#"hpki_http_request_duration_seconds_count{method="POST",route="/api/v1/holders",status="201"} 1"#,
        r#"hpki_audit_events_total{action="holder.created"} 1"#,
        r#"hpki_ocsp_responses_total{outcome="malformed"} 1"#,
        r#"hpki_keystore_operation_duration_seconds_count{backend="software",operation="check"}"#,
        r#"hpki_certificate_expiry_timestamp_seconds{certificate="root"}"#,
        r#"hpki_certificate_expiry_timestamp_seconds{certificate="ocsp-sign"}"#,
        r#"hpki_crl_next_update_timestamp_seconds{ca="sign"}"#,
        "hpki_database_up 1",
        "hpki_keystore_up 1",
        "# HELP hpki_audit_events_total",
        "# TYPE hpki_http_request_duration_seconds histogram",
    ] {
        assert!(
            text.contains(expected),
            "{expected} is not in the scrape:\n{text}"
        );
    }
    // The audit log since its last checkpoint: `serve` wrote one at start, then the holder.
    let since = text
        .lines()
        .find_map(|l| l.strip_prefix("hpki_audit_events_since_checkpoint "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .expect("hpki_audit_events_since_checkpoint");
    assert!(since >= 1.0, "{since}");
    let (ok, said) = promtool(&["check", "metrics"], Some(&text));
    assert!(ok, "promtool check metrics: {said}\n{text}");
    assert!(server.stop());
}

/// A passkey sign-in and a refused one: the login counters by method and outcome, the refusal
/// by its code, the group commit that wrote the sign-in's counter.
#[test]
fn sign_ins_and_their_refusals_are_counted() {
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut w = world_with(&[("HPKI_SECOND__METRICS__LISTEN", metrics.as_str())]);
    w.access_token();
    let mut b = Browser::new(&w.server);
    let (_, challenge) = pkce();
    let authorize = w.authorize_for(&challenge, &[]);
    let no_uv = Faults {
        no_uv: true,
        ..Faults::default()
    };
    let refused = w.login(&mut b, &authorize, no_uv);
    assert_eq!(refused.status, 400, "{}", refused.text());
    let text = scrape(&metrics);
    for expected in [
        r#"hpki_oidc_logins_total{method="passkey",outcome="signed_in"} 1"#,
        r#"hpki_passkey_refusals_total{code="no_user_verification"} 1"#,
    ] {
        assert!(
            text.contains(expected),
            "{expected} is not in the scrape:\n{text}"
        );
    }
    let batches = text
        .lines()
        .find_map(|l| l.strip_prefix("hpki_group_commit_batch_size_count "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .expect("hpki_group_commit_batch_size_count");
    assert!(
        batches >= 1,
        "the sign-in's counter went through a group commit"
    );
}

#[test]
fn the_alert_rules_are_valid_and_fire_as_their_tests_say() {
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let rules = deploy.join("alerts.yml");
    let (ok, said) = promtool(&["check", "rules", rules.to_str().expect("path")], None);
    assert!(ok, "{said}");
    let tests = deploy.join("alerts.test.yml");
    let (ok, said) = promtool(&["test", "rules", tests.to_str().expect("path")], None);
    assert!(ok, "{said}");
}
