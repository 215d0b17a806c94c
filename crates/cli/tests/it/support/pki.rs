//! The CA's files and the tools that check them: where the CA keeps its keys, the CA
//! certificates as files, openssl, pkilint, OCSP request paths.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

/// Where the CA keeps its keys in a test: every CA test runs with both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keys {
    Software,
    SoftHsm,
}

/// An initialised data directory whose CA uses `keys`.
pub(crate) fn init_ca(dir: &TempDir, keys: Keys, public_url: Option<&str>) -> PathBuf {
    init_ca_with(dir, keys, public_url, "")
}

/// [`init_ca`] with more lines of the `[ca]` section.
pub(crate) fn init_ca_with(
    dir: &TempDir,
    keys: Keys,
    public_url: Option<&str>,
    ca_lines: &str,
) -> PathBuf {
    let data = dir.data();
    std::fs::create_dir_all(&data).expect("mkdir");
    let mut config = format!("[ca]\n{ca_lines}\n");
    if keys == Keys::SoftHsm {
        let var = hpki_test_support::required_env;
        config.push_str(&format!(
            "keystore = \"pkcs11\"\npkcs11_module = {:?}\npkcs11_token = {:?}\npkcs11_pin = {:?}\n",
            var("HPKI_TEST_PKCS11_MODULE"),
            var("HPKI_TEST_PKCS11_TOKEN"),
            var("HPKI_TEST_PKCS11_PIN")
        ));
    }
    std::fs::write(data.join("hpki-second.toml"), config).expect("config");
    let mut args = vec!["init"];
    if let Some(u) = public_url {
        args.extend(["--public-url", u]);
    }
    ok(&data, &args);
    data
}

/// Registers holder 999999 and issues their second certificate; returns it as JSON.
pub(crate) fn second_certificate(data: &Path) -> serde_json::Value {
    holder_with_roman(data, "999999");
    json(&ok(
        data,
        &["cert", "issue-second", "--holder", "999999", "--json"],
    ))
}
pub(crate) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// The entry of one CA (`root`, `signing`, `authentication`) in `ca show --json`.
pub(crate) fn ca_entry<'a>(cas: &'a serde_json::Value, role: &str) -> &'a serde_json::Value {
    cas.as_array()
        .expect("array")
        .iter()
        .find(|c| c["role"] == role)
        .unwrap_or_else(|| panic!("no {role} CA in {cas}"))
}

/// Writes root.pem, signing.pem and authentication.pem; returns their paths.
pub(crate) fn ca_files(data: &Path, dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let cas = json(&ok(data, &["ca", "show", "--json"]));
    let pem = |role: &str| {
        let pem = ca_entry(&cas, role)["pem"].as_str().expect("pem");
        write(dir, &format!("{role}.pem"), pem)
    };
    (pem("root"), pem("signing"), pem("authentication"))
}

pub(crate) fn openssl(args: &[&str]) -> (bool, String) {
    let o = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed (scripts/test installs it)");
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// The OCSP request (no nonce) for `cert` as a GET path: its base64 in the path, as RFC 6960
/// appendix A has it, escaped for a URL.
pub(crate) fn ocsp_get_path(dir: &Path, issuer: &Path, cert: &Path) -> String {
    let req = dir.join("req.der");
    let (good, out) = openssl(&[
        "ocsp",
        "-issuer",
        path(issuer),
        "-cert",
        path(cert),
        "-no_nonce",
        "-reqout",
        path(&req),
    ]);
    assert!(good, "{out}");
    format!("/ocsp/{}", base64_path(&req))
}

/// A file's base64, escaped for a URL path.
pub(crate) fn base64_path(file: &Path) -> String {
    let o = Command::new("base64")
        .args(["-w0", path(file)])
        .output()
        .expect("base64");
    String::from_utf8_lossy(&o.stdout)
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

pub(crate) fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Text as `openssl x509 -text` prints it in a directoryName: bytes past ASCII as `\xHH`.
pub(crate) fn openssl_escaped(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii() {
                char::from(b).to_string()
            } else {
                format!("\\x{b:02X}")
            }
        })
        .collect()
}

/// pkilint's command-line linters, from the venv scripts/test makes. Never skipped.
pub(crate) fn pkilint(tool: &str, args: &[&str]) -> (bool, String) {
    let venv = hpki_test_support::required_env("HPKI_TEST_VENV");
    let o = Command::new(Path::new(&venv).join("bin").join(tool))
        .args(args)
        .output()
        .expect("run pkilint");
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// The holder `number` with a romanized name (which certificates need).
pub(crate) fn holder_with_roman(data: &Path, number: &str) {
    let holder = HolderArgs {
        number,
        roman: Some("Taro Yakuzai"),
        ..HolderArgs::default()
    };
    ok(data, &holder.args(&[]));
}
