//! The configuration's checks: defaults, overrides, errors naming their key, secrets hidden.

use super::*;

/// The file `init` writes and the defaults a missing key takes are one set of values, and
/// the file names every key.
#[test]
fn the_template_holds_exactly_the_defaults() {
    let written: RawConfig = toml::from_str(TEMPLATE).expect("the template parses");
    assert_eq!(written, RawConfig::default());
    let keys = |v: toml::Value| -> Vec<String> {
        let mut out = Vec::new();
        if let toml::Value::Table(sections) = v {
            for (section, keys) in sections {
                if let toml::Value::Table(keys) = keys {
                    out.extend(keys.keys().map(|k| format!("{section}.{k}")));
                }
            }
        }
        out.sort();
        out
    };
    let defaults = toml::Value::try_from(RawConfig::default()).expect("defaults serialize");
    let file: toml::Value = toml::from_str(TEMPLATE).expect("the template parses");
    assert_eq!(keys(file), keys(defaults), "every key is in the template");
    let custom = template("https://hpki.example.jp", "postgres://db/hpki");
    assert!(custom.contains("public_url = \"https://hpki.example.jp\""));
    assert!(custom.contains("url = \"postgres://db/hpki\""));
    assert!(!custom.contains("http://localhost:8080"), "{custom}");
    assert!(!custom.contains("sqlite:hpki-second.db"), "{custom}");
}

fn dir_with(config: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(d.path().join(CONFIG_FILE), config).expect("write config");
    d
}

#[test]
fn template_loads_and_defaults_apply() {
    let d = dir_with(&template(
        "https://hpki.example.jp",
        "sqlite:hpki-second.db",
    ));
    let s = Settings::load_with_env(d.path(), std::iter::empty()).expect("valid");
    assert_eq!(s.public_url.url().as_str(), "https://hpki.example.jp/");
    assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
    assert!(s.database_url.to_string().starts_with("sqlite://"));
    assert!(s
        .database_url
        .to_string()
        .contains("hpki-second.db?mode=rwc"));
}

#[test]
fn env_overrides_the_file() {
    let d = dir_with(&template("http://localhost:8080", "sqlite:hpki-second.db"));
    let vars = [
        (
            "HPKI_SECOND__SERVER__LISTEN".to_owned(),
            "0.0.0.0:9999".to_owned(),
        ),
        (
            "HPKI_SECOND__DATABASE__MAX_CONNECTIONS".to_owned(),
            "3".to_owned(),
        ),
        ("UNRELATED".to_owned(), "x".to_owned()),
    ];
    let s = Settings::load_with_env(d.path(), vars.into_iter()).expect("valid");
    assert_eq!(s.listen.to_string(), "0.0.0.0:9999");
    assert_eq!(s.max_connections, 3);
    assert!(s.metrics_listen.is_none(), "metrics are off by default");
    // Arrays too, in TOML's own syntax; and the metrics listener.
    let vars = [
        (
            "HPKI_SECOND__CONSOLE__DUAL_CONTROL".to_owned(),
            r#"["revoke"]"#.to_owned(),
        ),
        (
            "HPKI_SECOND__METRICS__LISTEN".to_owned(),
            "127.0.0.1:9464".to_owned(),
        ),
    ];
    let s = Settings::load_with_env(d.path(), vars.into_iter()).expect("valid");
    assert!(s.dual_control.revoke);
    assert!(!s.dual_control.issue_second && !s.dual_control.ca_import);
    assert_eq!(
        s.metrics_listen.map(|a| a.to_string()).as_deref(),
        Some("127.0.0.1:9464")
    );
}

#[test]
fn errors_name_the_file_and_the_key() {
    let d = dir_with("[server]\nlisten = 8080\n");
    let e = Settings::load_with_env(d.path(), std::iter::empty()).expect_err("bad type");
    assert!(e.source_name.ends_with(CONFIG_FILE), "{e}");
    assert!(e.message.contains("listen"), "{e}");

    let d = dir_with("[server]\nlisten = \"nowhere\"\n");
    let e = Settings::load_with_env(d.path(), std::iter::empty()).expect_err("bad addr");
    assert!(e.message.contains("server.listen"), "{e}");

    let d = dir_with("[servr]\n");
    let e = Settings::load_with_env(d.path(), std::iter::empty()).expect_err("unknown section");
    assert!(e.message.contains("servr"), "{e}");

    let d = dir_with("");
    let vars = [(
        "HPKI_SECOND__SERVER__PUBLIC_URL".to_owned(),
        "ftp://x".to_owned(),
    )];
    let e = Settings::load_with_env(d.path(), vars.into_iter()).expect_err("bad url");
    assert!(
        e.source_name.contains("HPKI_SECOND__SERVER__PUBLIC_URL"),
        "{e}"
    );
    assert!(e.message.contains("server.public_url"), "{e}");
}

#[test]
fn the_cps_address_is_the_services_own_or_an_absolute_http_url() {
    let d = dir_with("[server]\npublic_url = \"https://hpki.example.jp\"\n");
    let s = Settings::load_with_env(d.path(), std::iter::empty()).expect("valid");
    assert_eq!(s.ca.cps_uri, "https://hpki.example.jp/cps");
    assert!(s.ca.ocsp_in_certificates);
    assert_eq!(s.ca.end_entity_validity_years, 5);
    let d = dir_with("[ca]\ncps_uri = \"https://www.example.or.jp/hpki/cps.pdf\"\nocsp_in_certificates = false\n");
    let s = Settings::load_with_env(d.path(), std::iter::empty()).expect("valid");
    assert_eq!(s.ca.cps_uri, "https://www.example.or.jp/hpki/cps.pdf");
    assert!(!s.ca.ocsp_in_certificates);
    for bad in ["cps.pdf", "ftp://example.jp/cps", "https://例え.jp/cps"] {
        let d = dir_with(&format!("[ca]\ncps_uri = {bad:?}\n"));
        let e = Settings::load_with_env(d.path(), std::iter::empty()).expect_err(bad);
        assert!(e.message.contains("ca.cps_uri"), "{bad}: {e}");
    }
}

#[test]
fn oids_are_checked_before_parsing() {
    assert!(parse_oid("1.2.392.100495.1.5.1.1").is_ok());
    assert!(parse_oid("1.3.6.1.4.1.32473.1709.1.1").is_ok());
    for bad in [
        "2.25.153622341743631057558331839565357297950",
        "1",
        "1.40.1",
        "3.1",
        "1..2",
        "1.2.x",
        "",
    ] {
        assert!(parse_oid(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn the_kek_can_come_from_the_environment_and_stays_hidden() {
    let d = dir_with("");
    let kek = "ab".repeat(32);
    let vars = [(KEK_ENV.to_owned(), kek.clone())];
    let s = Settings::load_with_env(d.path(), vars.into_iter()).expect("valid");
    match &s.keystore {
        KeystoreChoice::Software {
            kek_from_env: Some(k),
            ..
        } => assert_eq!(k.expose(), kek),
        other => panic!("expected the KEK from the environment, got {other:?}"),
    }
    assert!(
        !format!("{s:?}").contains(&kek),
        "the KEK leaked into Debug"
    );
}

#[test]
fn debug_hides_the_database_password() {
    let d = dir_with("[database]\nurl = \"postgres://u:topsecret@db/hpki\"\n");
    let s = Settings::load_with_env(d.path(), std::iter::empty()).expect("valid");
    assert!(!format!("{s:?}").contains("topsecret"));
}
