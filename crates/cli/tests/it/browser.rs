//! The holder pages in a real browser: Debian's Chromium driven by Playwright (e2e/), against
//! the real server. Fails loudly when node, the e2e packages or Chromium are missing
//! (scripts/test installs them).

use std::path::Path;
use std::process::Command;

use crate::support::*;

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("the workspace root")
}

/// Runs one e2e script with the server's address and data directory; screenshots go to a
/// temporary directory (docs/screens is refreshed by hand, see e2e/README.md).
pub fn run_e2e(script: &str, base: &str, data: &Path, out: &Path) {
    run_e2e_with(script, base, data, out, &[]);
}

/// Where screenshots go: `HPKI_TEST_SCREENS` if set (e.g. `docs/screens`, to refresh them),
/// else the test's temporary directory.
fn screens(dir: &TempDir) -> std::path::PathBuf {
    match std::env::var_os("HPKI_TEST_SCREENS") {
        Some(d) => std::path::PathBuf::from(d),
        None => dir.path().join("screens"),
    }
}

/// `run_e2e` with more environment for the script.
pub fn run_e2e_with(script: &str, base: &str, data: &Path, out: &Path, env: &[(&str, &str)]) {
    let root = repo_root();
    assert!(
        root.join("e2e/node_modules/playwright-core").is_dir(),
        "e2e/node_modules is missing: run `npm ci --prefix e2e` (scripts/test does)"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is missing (scripts/test installs it)"
    );
    let o = Command::new("node")
        .arg(root.join("e2e").join(script))
        .env("HPKI_BIN", BIN)
        .env("HPKI_DATA", data)
        .env("BASE", base)
        .env("OUT", out)
        .envs(env.iter().copied())
        .output()
        .expect("node is needed for the browser tests");
    assert!(
        o.status.success(),
        "{script} failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn sheet_pages_in_chromium_at_phone_size() {
    let dir = TempDir::new();
    let data = dir.data();
    ok(&data, &["init", "--public-url", "https://hpki.example.jp"]);
    ok(&data, HOLDER);
    // With a contact, so that its block is on the screens axe-core checks.
    let server = Server::start_with(&data, CONTACT_ENV, std::process::Stdio::null());
    let shots = screens(&dir);
    run_e2e(
        "sheet-pages.mjs",
        &format!("http://{}", server.addr),
        &data,
        &shots,
    );
    screenshots_taken(
        &shots,
        &[
            "sheet-01-password",
            "sheet-03-signin",
            "sheet-05-locked",
            "sheet-08-rate-limited",
        ],
    );
}

/// Each screenshot `names` is a PNG in `shots`.
fn screenshots_taken(shots: &Path, names: &[&str]) {
    for name in names {
        let png = std::fs::read(shots.join(format!("{name}.png"))).expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "{name}");
    }
}

/// A data directory with holder 999999 and their second certificate, as the sign-in scripts
/// need.
fn holder_with_second_certificate() -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new();
    let data = dir.data();
    ok(&data, &["init"]);
    let holder = HolderArgs {
        roman: Some("Taro Yakuzai"),
        ..HolderArgs::default()
    };
    ok(&data, &holder.args(&[]));
    ok(&data, &["cert", "issue-second", "--holder", "999999"]);
    (dir, data)
}

/// The server's address as the browser uses it: a domain name, as WebAuthn needs.
fn base(server: &Server) -> String {
    let port = server.addr.rsplit(':').next().expect("port");
    format!("http://localhost:{port}")
}

#[test]
fn registration_site_end_to_end_with_a_virtual_authenticator() {
    let dir = TempDir::new();
    let data = dir.data();
    ok(&data, &["init"]);
    let holder = HolderArgs {
        roman: Some("Taro Yakuzai"),
        ..HolderArgs::default()
    };
    ok(&data, &holder.args(&[]));
    let second_holder = HolderArgs {
        number: "888888",
        kanji: "調剤 花子",
        kana: "チョウザイ ハナコ",
        date_of_birth: "1985-05-05",
        ..HolderArgs::default()
    };
    ok(&data, &second_holder.args(&[]));
    // The holder's own page shows it.
    ok(&data, &["cert", "issue-second", "--holder", "999999"]);
    let server = Server::start_on_localhost(&data);
    let shots = screens(&dir);
    run_e2e("registration.mjs", &base(&server), &data, &shots);
    let audit = ok(&data, &["audit", "export"]);
    for action in [
        "device.registered",
        "device.signed_in",
        "sheet.password_accepted",
        "holder.page_opened",
        "device.reported_lost",
    ] {
        assert!(audit.contains(action), "{action} was not audited");
    }
    assert!(
        !audit.contains("\"device.registered\",\"888888"),
        "the holder without user verification registered nothing"
    );
}

/// A relying system built on openid-client (a certified OpenID Connect library) signs the
/// holder in through Chromium with the passkey registered through a sheet (e2e/oidc.mjs).
#[test]
fn a_certified_client_library_signs_the_holder_in_with_the_registered_passkey() {
    let (dir, data) = holder_with_second_certificate();
    // The holder's HPKI card: a SoftHSM2 token with the authentication certificate.
    let card = CardToken::issue(&data, "999999", "auth");
    let server = Server::start_on_localhost(&data);
    let shots = screens(&dir);
    run_e2e_with(
        "oidc.mjs",
        &base(&server),
        &data,
        &shots,
        &[
            ("CARD_CONF", &card.conf()),
            ("CARD_MODULE", &module()),
            ("CARD_PIN", CARD_PIN),
        ],
    );
    let audit = ok(&data, &["audit", "export"]);
    for action in [
        "oidc.signed_in",
        "oidc.tokens_issued",
        "oidc.code_replayed",
        "oidc.card_verified",
    ] {
        assert!(audit.contains(action), "{action} was not audited");
    }
    screenshots_taken(
        &shots,
        &[
            "login-01-sign-in",
            "login-02-not-the-registered-phone",
            "login-03-english",
            "consent-01-authorize",
            "login-05-card-choice",
            "login-06-card-code",
            "holder-04-signed-in-systems",
            "holder-05-after-sign-in",
            "holder-06-signed-out",
            "holder-07-sign-in-failed",
        ],
    );
}

/// A native app on the pharmacy's PC built on openid-client as a public client (e2e/native.mjs):
/// the redirect reaches a real listener on an ephemeral loopback port, and a private-use
/// scheme; PKCE, the ID token checked by the library.
#[test]
fn a_native_app_signs_the_holder_in_through_loopback_and_its_own_scheme() {
    let (dir, data) = holder_with_second_certificate();
    // With DPoP nonces: openid-client makes its proofs again with the service's nonce.
    let server =
        Server::start_on_localhost_with(&data, &[("HPKI_SECOND__OIDC__DPOP_NONCE", "true")]);
    run_e2e("native.mjs", &base(&server), &data, &screens(&dir));
    let audit = ok(&data, &["audit", "export"]);
    assert_eq!(
        audit.matches("\"oidc.tokens_issued\"").count(),
        2,
        "both sign-ins ended in tokens"
    );
}

/// The device authorization grant with openid-client's device functions on the PC and a
/// Chromium phone with the registered passkey (e2e/device.mjs): approved, signed through the
/// CSC API and verified; refused; a wrong code; the pages checked by axe-core.
#[test]
fn the_pc_signs_in_with_the_phone_through_the_device_grant() {
    let (dir, data) = holder_with_second_certificate();
    let server = Server::start_on_localhost(&data);
    let shots = screens(&dir);
    run_e2e("device.mjs", &base(&server), &data, &shots);
    let audit = ok(&data, &["audit", "export"]);
    for action in [
        "oidc.device_denied",
        "oidc.tokens_issued",
        "signature.created",
    ] {
        assert!(audit.contains(action), "{action} was not audited");
    }
    screenshots_taken(
        &shots,
        &[
            "device-01-enter-code",
            "device-02-approve",
            "device-03-done",
            "device-04-refused",
            "device-05-wrong-code",
            "device-06-english",
            "device-07-approve-documents",
        ],
    );
}

/// The reference signing client, `hpki-second sign`, with the Chromium phone (e2e/sign.mjs):
/// a prescription through the device grant, a hash with the kept session, any XML through a
/// loopback sign-in; xmlsec1 (not ours) verifies both signed documents.
#[test]
fn the_reference_client_signs_from_the_pc() {
    let (dir, data) = holder_with_second_certificate();
    // With DPoP nonces: hpki-second sign makes its proofs again with the service's nonce.
    let server =
        Server::start_on_localhost_with(&data, &[("HPKI_SECOND__OIDC__DPOP_NONCE", "true")]);
    let signed = TempDir::new();
    let sign_dir = signed.path().to_str().expect("path");
    run_e2e_with(
        "sign.mjs",
        &base(&server),
        &data,
        &screens(&dir),
        &[("SIGN_DIR", sign_dir)],
    );
    let (root, signing, _) = ca_files(&data, signed.path());
    for name in ["rx.signed.xml", "any.signed.xml"] {
        let file = signed.path().join(name);
        let (good, out) = crate::csc_documents::xmlsec_verify(&file, &root, &signing);
        assert!(good && out.contains("OK"), "xmlsec1 on {name}: {out}");
    }
    let audit = ok(&data, &["audit", "export"]);
    assert_eq!(
        audit.matches("\"signature.created\"").count(),
        3,
        "three signatures"
    );
}

/// The operator console in Chromium (e2e/console.mjs): an operator enrols and signs in with a
/// virtual security key, finds the holder, reissues the locked sheet, revokes the HPKI card's
/// certificates after a fresh assertion; an auditor only reads.
#[test]
fn operator_console_in_chromium() {
    let dir = TempDir::new();
    let data = dir.data();
    let port = free_port();
    ok(
        &data,
        &["init", "--public-url", &format!("http://localhost:{port}")],
    );
    let holder = HolderArgs {
        roman: Some("Taro Yakuzai"),
        ..HolderArgs::default()
    };
    ok(&data, &holder.args(&[]));
    let second = json(&ok(
        &data,
        &["cert", "issue-second", "--holder", "999999", "--json"],
    ));
    let card = CardToken::issue(&data, "999999", "auth");
    // A face photo, so that the console can print the reissued sheet.
    let face = dir.path().join("face.png");
    std::fs::write(&face, png(240, 320)).expect("write");
    ok(
        &data,
        &["holder", "photo", "999999", face.to_str().expect("path")],
    );
    let sheet = json(&ok(
        &data,
        &["sheet", "issue", "--holder", "999999", "--json"],
    ));
    let enrol = |name: &str, role: &str| {
        json(&ok(
            &data,
            &["operator", "add", "--name", name, "--role", role, "--json"],
        ))["enrolment_url"]
            .as_str()
            .expect("enrolment_url")
            .to_owned()
    };
    let operator = enrol("desk", "operator");
    let auditor = enrol("audit-1", "auditor");
    let approver = enrol("boss", "approver");
    let server = Server::start_on_localhost_port(&data, port, &[]);
    let shots = screens(&dir);
    run_e2e_with(
        "console.mjs",
        &base(&server),
        &data,
        &shots,
        &[
            ("ENROL_OPERATOR", &operator),
            ("ENROL_AUDITOR", &auditor),
            ("ENROL_APPROVER", &approver),
            ("SHEET_URL", sheet["url"].as_str().expect("url")),
            (
                "SHEET_PASSWORD",
                sheet["password"].as_str().expect("password"),
            ),
            ("FACE_PNG", face.to_str().expect("path")),
        ],
    );
    drop(server);
    let status =
        |serial: &str| json(&ok(&data, &["cert", "show", serial, "--json"]))["status"].clone();
    assert_eq!(status(&card.serial), "revoked");
    assert_eq!(status(second["serial"].as_str().expect("serial")), "valid");
    let audit = ok(&data, &["audit", "export"]);
    for action in [
        "console.signed_in",
        "console.reauthenticated",
        "console.signed_out",
        "sheet.issued",
        "certificate.revoked",
    ] {
        assert!(audit.contains(action), "{action} was not audited");
    }
    for n in 1..=15 {
        let name = format!("console-{n:02}-");
        let found = std::fs::read_dir(&shots)
            .expect("screens")
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().starts_with(&name));
        assert!(found, "no screenshot {name}*");
    }
}
