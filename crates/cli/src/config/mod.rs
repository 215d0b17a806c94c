//! Configuration: one TOML file in the data directory, then `HPKI_SECOND__SECTION__KEY`
//! environment variables over it. The raw file ([`raw`]) is parsed once into [`Settings`],
//! whose values are checked here, a section at a time; secrets (the database URL's password,
//! the PKCS#11 PIN, the key-encryption key) never reach a log or `Debug`. `init` writes
//! `template.toml`, the commented defaults.

mod env;
mod raw;
mod traces;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hpki_core::domain::sheet::AttemptLimit;
use hpki_core::domain::{OrgCode, PhotoLimits};
use hpki_core::PublicUrl;
use hpki_store_sql::DatabaseUrl;
use serde::Deserialize;

use env::apply_env;
pub use env::{KEK_ENV, PUBLIC_URL_ENV};
use raw::{RawCa, RawConfig, RawLog, RawServer, RawSheets};
pub use traces::TraceSettings;

pub const CONFIG_FILE: &str = "hpki-second.toml";

/// The commented configuration file with every default, as `init` writes it.
const TEMPLATE: &str = include_str!("template.toml");

/// How sheets are printed.
#[derive(Clone, Debug)]
pub struct PrintSettings {
    /// A TrueType font with Japanese glyphs; `None`: Debian's IPAexGothic.
    pub font: Option<PathBuf>,
    /// The issuer printed on the sheet; `None`: the signing CA's organization.
    pub issuer_name: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// Checked settings. Everything here is valid.
#[derive(Clone, Debug)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub public_url: PublicUrl,
    pub listen: SocketAddr,
    pub shutdown_grace: std::time::Duration,
    /// Where Prometheus scrapes `/metrics` (a listener of its own), if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// On SIGTERM, how long `/readyz` says 503 while requests are still served, before the
    /// listener closes.
    pub drain: std::time::Duration,
    /// Bounds on client connections.
    pub connections: hpki_web::ConnectionLimits,
    pub database_url: DatabaseUrl,
    pub max_connections: u32,
    pub connect_timeout: std::time::Duration,
    /// PostgreSQL's session limits.
    pub session_limits: hpki_store_sql::SessionLimits,
    pub log_format: LogFormat,
    pub log_level: String,
    pub default_org: OrgCode,
    pub photo_limits: PhotoLimits,
    pub checkpoint_file: PathBuf,
    pub checkpoint_interval: std::time::Duration,
    pub keystore: KeystoreChoice,
    pub ca: hpki_ca::CaSettings,
    pub sheets: hpki_core::services::SheetSettings,
    pub print: PrintSettings,
    /// Password attempts per client address, before any hashing.
    pub password_attempts: hpki_web::RateLimit,
    /// Device-grant user codes entered per client address (`[oidc] device_codes_*`).
    pub device_codes: hpki_web::RateLimit,
    /// The header a trusted load balancer puts the client address in.
    pub client_ip_header: Option<hpki_web::Forwarding>,
    /// Active device credentials (passkeys) a holder may have.
    pub max_devices: u32,
    /// How long a login's signing session lasts, in hours (`[signing] session_hours`).
    pub signing_session_hours: u32,
    /// How long signature activation data (a SAD) may wait to be used
    /// (`[signing] sad_seconds`).
    pub sad_seconds: u32,
    /// The operator console's timeouts (`[console]`).
    pub console: hpki_operator_accounts::ConsoleSettings,
    /// Which cases wait for an approver (`[console] dual_control`).
    pub dual_control: hpki_lifecycle::DualControl,
    /// How ID tokens and access tokens are signed (`[oidc] token_algorithm`).
    pub token_algorithm: hpki_core::domain::oidc::TokenAlgorithm,
    /// Whether DPoP proofs must carry a nonce of the server's (`[oidc] dpop_nonce`).
    pub dpop_nonce: bool,
    /// Whom holders contact (pages of unusable sheets, the printed sheet).
    pub contact: hpki_web::Contact,
    /// Where traces go (`[traces]`), if anywhere.
    pub traces: Option<traces::TraceSettings>,
}

/// A secret value: `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where the CA's keys live.
#[derive(Clone, Debug)]
pub enum KeystoreChoice {
    /// Keys sealed under the key-encryption key from `HPKI_SECOND_KEK`, else from this file.
    Software {
        kek_file: PathBuf,
        kek_from_env: Option<Secret>,
    },
    /// Keys inside a PKCS#11 token.
    Pkcs11(hpki_keystore_pkcs11::Pkcs11Config),
}

/// A configuration problem: which file or variable, which key, what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct ConfigError {
    pub source_name: String,
    pub message: String,
}

fn cfg_err(source_name: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        source_name: source_name.into(),
        message: message.into(),
    }
}

/// Parses a dotted OID. Checked here first: the OID parser panics on arcs beyond 32 bits.
pub fn parse_oid(s: &str) -> Result<der::asn1::ObjectIdentifier, String> {
    let s = s.trim();
    let arcs: Vec<&str> = s.split('.').collect();
    let well_formed = arcs.len() >= 2
        && arcs.len() <= 30
        && arcs
            .iter()
            .all(|a| !a.is_empty() && a.len() <= 9 && a.bytes().all(|b| b.is_ascii_digit()))
        && matches!(arcs[0], "0" | "1" | "2")
        && (arcs[0] == "2" || arcs[1].parse::<u32>().is_ok_and(|n| n < 40));
    if !well_formed {
        return Err(format!(
            "{s:?} is not an OID such as 1.2.392.100495.1.5.1.1 (arcs of at most 9 digits)"
        ));
    }
    s.parse().map_err(|_| format!("{s:?} is not a valid OID"))
}

/// Parses a public base URL (the rules are `PublicUrl`'s), with a domain name: the holders'
/// and operators' passkeys are bound to it.
pub fn parse_public_url(s: &str) -> Result<PublicUrl, String> {
    let url = PublicUrl::parse(s).map_err(|e| e.message)?;
    url.domain().map_err(|e| e.message)?;
    Ok(url)
}

/// Turns `sqlite:relative.db` into a file in the data directory, created on first use.
fn resolve_database_url(raw: &str, data_dir: &Path) -> Result<DatabaseUrl, String> {
    let raw = raw.trim();
    if let Some(rest) = raw.strip_prefix("sqlite:") {
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() {
            return Err("sqlite: needs a file name, e.g. sqlite:hpki-second.db".into());
        }
        let path = if Path::new(path).is_absolute() {
            PathBuf::from(path)
        } else {
            data_dir.join(path)
        };
        let query = if query.is_empty() {
            "mode=rwc".to_owned()
        } else {
            query.to_owned()
        };
        return DatabaseUrl::parse(&format!("sqlite://{}?{query}", path.display()));
    }
    DatabaseUrl::parse(raw)
}

/// Names the source (file, variables) and key of a value that is not acceptable.
struct Check<'a> {
    source: &'a str,
}

impl Check<'_> {
    fn bad(&self, key: &str, message: impl Into<String>) -> ConfigError {
        cfg_err(self.source, format!("{key}: {}", message.into()))
    }
}

impl Settings {
    /// Reads the data directory's config file (defaults if there is none) and the environment.
    pub fn load(data_dir: &Path) -> Result<Self, ConfigError> {
        Self::load_with_env(data_dir, std::env::vars())
    }

    pub fn load_with_env(
        data_dir: &Path,
        vars: impl Iterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let path = data_dir.join(CONFIG_FILE);
        let file_name = path.display().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(cfg_err(&file_name, format!("cannot be read: {e}"))),
        };
        let mut table: toml::Table =
            toml::from_str(&text).map_err(|e| cfg_err(&file_name, e.to_string()))?;
        // Checked alone first, so that a mistake in the file is reported with its line.
        RawConfig::deserialize(toml::Value::Table(table.clone()))
            .map_err(|e| cfg_err(&file_name, e.to_string()))?;
        let vars: Vec<(String, String)> = vars.collect();
        let kek_from_env = vars
            .iter()
            .find(|(k, _)| k == KEK_ENV)
            .map(|(_, v)| Secret(v.trim().to_owned()));
        let overrides = apply_env(&mut table, vars.into_iter())?;
        let source = if overrides.is_empty() {
            file_name.clone()
        } else {
            format!("{file_name} with {}", overrides.join(", "))
        };
        let raw = RawConfig::deserialize(toml::Value::Table(table))
            .map_err(|e| cfg_err(&source, e.to_string()))?;
        Self::check(raw, data_dir, &source, kek_from_env)
    }

    fn check(
        raw: RawConfig,
        data_dir: &Path,
        source: &str,
        kek_from_env: Option<Secret>,
    ) -> Result<Self, ConfigError> {
        let c = Check { source };
        let public_url =
            parse_public_url(&raw.server.public_url).map_err(|m| c.bad("server.public_url", m))?;
        let listen = raw.server.listen.parse().map_err(|_| {
            c.bad(
                "server.listen",
                format!(
                    "{:?} is not an address like 127.0.0.1:8080",
                    raw.server.listen
                ),
            )
        })?;
        let database_url = resolve_database_url(&raw.database.url, data_dir)
            .map_err(|m| c.bad("database.url", m))?;
        if raw.database.max_connections == 0 {
            return Err(c.bad("database.max_connections", "must be at least 1"));
        }
        let log_format = log_format(&raw.log, &c)?;
        let default_org = OrgCode::parse(&raw.holders.default_org)
            .map_err(|e| c.bad("holders.default_org", e.message))?;
        if !(1024..=50 * 1024 * 1024).contains(&raw.holders.photo_max_bytes) {
            return Err(c.bad(
                "holders.photo_max_bytes",
                "must be between 1024 and 52428800",
            ));
        }
        if !(1..=20).contains(&raw.devices.max_per_holder) {
            return Err(c.bad("devices.max_per_holder", "must be between 1 and 20"));
        }
        if raw.audit.checkpoint_file.trim().is_empty() {
            return Err(c.bad("audit.checkpoint_file", "must name a file"));
        }
        Ok(Self {
            data_dir: data_dir.to_path_buf(),
            listen,
            shutdown_grace: std::time::Duration::from_secs(raw.server.shutdown_grace_secs),
            drain: std::time::Duration::from_secs(raw.server.drain_secs),
            metrics_listen: match raw.metrics.listen.trim() {
                "" => None,
                listen => Some(listen.parse().map_err(|_| {
                    c.bad(
                        "metrics.listen",
                        format!("{listen:?} is not an address and port, e.g. 127.0.0.1:9464"),
                    )
                })?),
            },
            connections: connection_limits(&raw.server, &c)?,
            database_url,
            max_connections: raw.database.max_connections,
            connect_timeout: std::time::Duration::from_secs(
                raw.database.connect_timeout_secs.max(1),
            ),
            session_limits: hpki_store_sql::SessionLimits {
                statement: std::time::Duration::from_secs(raw.database.statement_timeout_secs),
                lock: std::time::Duration::from_secs(raw.database.lock_timeout_secs),
                idle_in_transaction: std::time::Duration::from_secs(
                    raw.database.idle_in_transaction_timeout_secs,
                ),
            },
            log_format,
            log_level: raw.log.level,
            default_org,
            photo_limits: PhotoLimits {
                max_bytes: raw.holders.photo_max_bytes,
                ..PhotoLimits::default()
            },
            checkpoint_file: data_dir.join(raw.audit.checkpoint_file),
            checkpoint_interval: std::time::Duration::from_secs(
                raw.audit.checkpoint_interval_secs.max(1),
            ),
            keystore: keystore(&raw.ca, data_dir, kek_from_env, &c)?,
            ca: ca(&raw.ca, &public_url, &c)?,
            sheets: sheets(&raw.sheets, &public_url, &c)?,
            password_attempts: rate_limit(
                "sheets.password_attempts_burst",
                (
                    raw.sheets.password_attempts_burst,
                    raw.sheets.password_attempts_per_minute,
                ),
                &c,
            )?,
            device_codes: rate_limit(
                "oidc.device_codes_burst",
                (
                    raw.oidc.device_codes_burst,
                    raw.oidc.device_codes_per_minute,
                ),
                &c,
            )?,
            client_ip_header: client_ip_header(&raw.server, &c)?,
            max_devices: raw.devices.max_per_holder,
            signing_session_hours: signing_session_hours(raw.signing.session_hours, &c)?,
            sad_seconds: sad_seconds(raw.signing.sad_seconds, &c)?,
            dpop_nonce: raw.oidc.dpop_nonce,
            console: console(&raw.console, &c)?,
            dual_control: dual_control(&raw.console, &c)?,
            token_algorithm: hpki_core::domain::oidc::TokenAlgorithm::parse(
                &raw.oidc.token_algorithm,
            )
            .ok_or_else(|| {
                c.bad(
                    "oidc.token_algorithm",
                    format!(
                        "{:?} must be \"ES256\" or \"RS256\"",
                        raw.oidc.token_algorithm
                    ),
                )
            })?,
            contact: contact(&raw.contact, &c)?,
            traces: traces::check(&raw.traces).map_err(|(key, why)| c.bad(key, why))?,
            print: PrintSettings {
                font: Some(raw.sheets.font.trim())
                    .filter(|f| !f.is_empty())
                    .map(|f| data_dir.join(f)),
                issuer_name: Some(raw.sheets.issuer_name.trim().to_owned())
                    .filter(|n| !n.is_empty()),
            },
            public_url,
        })
    }
}

fn log_format(raw: &RawLog, c: &Check<'_>) -> Result<LogFormat, ConfigError> {
    tracing_subscriber::EnvFilter::try_new(&raw.level)
        .map_err(|e| c.bad("log.level", e.to_string()))?;
    match raw.format.as_str() {
        "human" => Ok(LogFormat::Human),
        "json" => Ok(LogFormat::Json),
        other => Err(c.bad(
            "log.format",
            format!("{other:?} must be \"human\" or \"json\""),
        )),
    }
}

/// `[ca] keystore` and what it needs: the software keystore's key-encryption key (from the
/// environment, else the file), or the PKCS#11 token and its PIN.
fn keystore(
    raw: &RawCa,
    data_dir: &Path,
    kek_from_env: Option<Secret>,
    c: &Check<'_>,
) -> Result<KeystoreChoice, ConfigError> {
    match raw.keystore.as_str() {
        "software" => Ok(KeystoreChoice::Software {
            kek_file: data_dir.join(&raw.kek_file),
            kek_from_env,
        }),
        "pkcs11" => {
            if raw.pkcs11_pin.is_empty() {
                return Err(c.bad(
                    "ca.pkcs11_pin",
                    "is empty; set it (better: HPKI_SECOND__CA__PKCS11_PIN)",
                ));
            }
            Ok(KeystoreChoice::Pkcs11(hpki_keystore_pkcs11::Pkcs11Config {
                module: PathBuf::from(&raw.pkcs11_module),
                token_label: raw.pkcs11_token.clone(),
                pin: raw.pkcs11_pin.clone(),
                sessions: raw.pkcs11_sessions.clamp(1, 64),
            }))
        }
        other => Err(c.bad(
            "ca.keystore",
            format!("{other:?} must be \"software\" or \"pkcs11\""),
        )),
    }
}

/// The CA's names, policies and validity periods.
fn ca(
    raw: &RawCa,
    public_url: &PublicUrl,
    c: &Check<'_>,
) -> Result<hpki_ca::CaSettings, ConfigError> {
    let oid = |key: &str, v: &str| parse_oid(v).map_err(|m| c.bad(key, m));
    let algorithm = hpki_core::keystore::KeyAlgorithm::parse(&raw.algorithm).ok_or_else(|| {
        c.bad(
            "ca.algorithm",
            format!("{:?} must be \"rsa-2048\" or \"ecdsa-p256\"", raw.algorithm),
        )
    })?;
    for (key, name) in [
        ("ca.root_name", &raw.root_name),
        ("ca.signing_ca_name", &raw.signing_ca_name),
        ("ca.authentication_ca_name", &raw.authentication_ca_name),
    ] {
        hpki_ca::profile::parse_name(name).map_err(|e| c.bad(key, e.to_string()))?;
    }
    if raw.root_validity_years == 0
        || raw.ca_validity_years == 0
        || raw.end_entity_validity_years == 0
    {
        return Err(c.bad("ca", "validity periods must be at least 1"));
    }
    Ok(hpki_ca::CaSettings {
        algorithm,
        root_name: raw.root_name.clone(),
        signing_ca_name: raw.signing_ca_name.clone(),
        authentication_ca_name: raw.authentication_ca_name.clone(),
        signing_policy: oid("ca.signing_policy_oid", &raw.signing_policy_oid)?,
        authentication_policy: oid(
            "ca.authentication_policy_oid",
            &raw.authentication_policy_oid,
        )?,
        qualification_scheme: oid("ca.qualification_scheme_oid", &raw.qualification_scheme_oid)?,
        root_validity_years: raw.root_validity_years,
        ca_validity_years: raw.ca_validity_years,
        end_entity_validity_years: raw.end_entity_validity_years,
        cps_uri: cps_uri(raw, public_url, c)?,
        ocsp_in_certificates: raw.ocsp_in_certificates,
        crl_validity: chrono::Duration::hours(i64::from(raw.crl_validity_hours.max(1))),
        ocsp_validity: chrono::Duration::minutes(i64::from(raw.ocsp_validity_minutes.max(1))),
        ocsp_responder_validity_days: raw.ocsp_responder_validity_days.max(1),
        public_url: public_url.clone(),
    })
}

/// The CPS address of the certificate policies: as configured (an absolute http(s) URL, ASCII
/// as an IA5String needs), or the service's own `/cps`.
fn cps_uri(raw: &RawCa, public_url: &PublicUrl, c: &Check<'_>) -> Result<String, ConfigError> {
    let configured = raw.cps_uri.trim();
    if configured.is_empty() {
        return Ok(public_url.join("/cps"));
    }
    match url::Url::parse(configured) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && configured.is_ascii() => {
            Ok(configured.to_owned())
        }
        _ => Err(c.bad(
            "ca.cps_uri",
            format!("{configured:?} must be an absolute http:// or https:// URL in ASCII (percent-encode anything else)"),
        )),
    }
}

/// The sheets' validity and the manual's attempt limit.
fn sheets(
    raw: &RawSheets,
    public_url: &PublicUrl,
    c: &Check<'_>,
) -> Result<hpki_core::services::SheetSettings, ConfigError> {
    if !(1..=3650).contains(&raw.validity_days) {
        return Err(c.bad("sheets.validity_days", "must be between 1 and 3650"));
    }
    let attempts =
        AttemptLimit::new(raw.max_attempts).map_err(|e| c.bad("sheets.max_attempts", e.message))?;
    Ok(hpki_core::services::SheetSettings {
        validity: chrono::Duration::days(i64::from(raw.validity_days)),
        attempts,
        public_url: public_url.clone(),
    })
}

/// A per-address limit (`key`: the burst's key, `key_per_minute` beside it): both at least 1.
fn rate_limit(
    key: &str,
    (burst, per_minute): (u32, u32),
    c: &Check<'_>,
) -> Result<hpki_web::RateLimit, ConfigError> {
    if burst == 0 || per_minute == 0 {
        return Err(c.bad(
            key,
            "the burst and the rate per minute must both be at least 1",
        ));
    }
    Ok(hpki_web::RateLimit { burst, per_minute })
}

fn connection_limits(
    raw: &RawServer,
    c: &Check<'_>,
) -> Result<hpki_web::ConnectionLimits, ConfigError> {
    if !(8..=1_000_000).contains(&raw.max_connections) {
        return Err(c.bad("server.max_connections", "must be between 8 and 1000000"));
    }
    if !(1..=3600).contains(&raw.header_read_timeout_secs) {
        return Err(c.bad(
            "server.header_read_timeout_secs",
            "must be between 1 and 3600",
        ));
    }
    if !(1..=3600).contains(&raw.body_timeout_secs) {
        return Err(c.bad("server.body_timeout_secs", "must be between 1 and 3600"));
    }
    if !(1..=1_000_000_000).contains(&raw.body_min_bytes_per_sec) {
        return Err(c.bad(
            "server.body_min_bytes_per_sec",
            "must be between 1 and 1000000000",
        ));
    }
    Ok(hpki_web::ConnectionLimits {
        max_connections: raw.max_connections,
        max_per_address: raw.max_connections_per_address,
        header_read_timeout: std::time::Duration::from_secs(raw.header_read_timeout_secs),
        // At most half the slots: the rest is for everyone.
        reserved: raw.reserved_connections.min(raw.max_connections / 2),
        body: hpki_web::BodyPace {
            grace: std::time::Duration::from_secs(raw.header_read_timeout_secs),
            min_bytes_per_sec: raw.body_min_bytes_per_sec,
            timeout: std::time::Duration::from_secs(raw.body_timeout_secs),
        },
    })
}

/// The console's timeouts: an idle minute to a day, an hour to a day, a second to an hour.
fn console(
    raw: &raw::RawConsole,
    c: &Check<'_>,
) -> Result<hpki_operator_accounts::ConsoleSettings, ConfigError> {
    if !(1..=1440).contains(&raw.idle_minutes) {
        return Err(c.bad("console.idle_minutes", "must be between 1 and 1440"));
    }
    if !(1..=24).contains(&raw.session_hours) {
        return Err(c.bad("console.session_hours", "must be between 1 and 24"));
    }
    if !(1..=3600).contains(&raw.reauth_seconds) {
        return Err(c.bad("console.reauth_seconds", "must be between 1 and 3600"));
    }
    Ok(hpki_operator_accounts::ConsoleSettings {
        idle: chrono::Duration::minutes(i64::from(raw.idle_minutes)),
        absolute: chrono::Duration::hours(i64::from(raw.session_hours)),
        reauth: chrono::Duration::seconds(i64::from(raw.reauth_seconds)),
        ..hpki_operator_accounts::ConsoleSettings::default()
    })
}

/// Which cases wait for an approver, and how long a request may wait (an hour to a week).
fn dual_control(
    raw: &raw::RawConsole,
    c: &Check<'_>,
) -> Result<hpki_lifecycle::DualControl, ConfigError> {
    let mut control = hpki_lifecycle::DualControl {
        revoke: false,
        issue_second: false,
        ca_import: false,
        expires: chrono::Duration::hours(i64::from(raw.approval_hours)),
    };
    for what in &raw.dual_control {
        match what.trim() {
            "revoke" => control.revoke = true,
            "issue-second" => control.issue_second = true,
            "ca-import" => control.ca_import = true,
            other => {
                return Err(c.bad(
                    "console.dual_control",
                    format!("{other:?} is not one of \"revoke\", \"issue-second\", \"ca-import\""),
                ))
            }
        }
    }
    if !(1..=168).contains(&raw.approval_hours) {
        return Err(c.bad("console.approval_hours", "must be between 1 and 168"));
    }
    Ok(control)
}

/// A signing session: at least an hour, at most a week.
fn signing_session_hours(hours: u32, c: &Check<'_>) -> Result<u32, ConfigError> {
    if (1..=168).contains(&hours) {
        Ok(hours)
    } else {
        Err(c.bad("signing.session_hours", "must be between 1 and 168"))
    }
}

/// A SAD's life: at least a second (tests), at most an hour.
fn sad_seconds(seconds: u32, c: &Check<'_>) -> Result<u32, ConfigError> {
    if (1..=3600).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(c.bad("signing.sad_seconds", "must be between 1 and 3600"))
    }
}

fn contact(raw: &raw::RawContact, c: &Check<'_>) -> Result<hpki_web::Contact, ConfigError> {
    let (name, phone, url) = (raw.name.trim(), raw.phone.trim(), raw.url.trim());
    if name.chars().count() > 120 || name.chars().any(char::is_control) {
        return Err(c.bad(
            "contact.name",
            "at most 120 characters, no control characters",
        ));
    }
    if !phone
        .chars()
        .all(|ch| ch.is_ascii_digit() || " +-()".contains(ch))
        || phone.len() > 32
    {
        return Err(c.bad(
            "contact.phone",
            format!("{phone:?} is not a telephone number like 03-1234-5678"),
        ));
    }
    if !url.is_empty() {
        PublicUrl::parse(url).map_err(|e| c.bad("contact.url", e.message))?;
    }
    Ok(hpki_web::Contact {
        name: name.to_owned(),
        phone: phone.to_owned(),
        url: url.to_owned(),
    })
}

fn client_ip_header(
    raw: &RawServer,
    c: &Check<'_>,
) -> Result<Option<hpki_web::Forwarding>, ConfigError> {
    let mut trusted = Vec::with_capacity(raw.trusted_proxies.len());
    for block in &raw.trusted_proxies {
        trusted.push(hpki_web::Network::parse(block).ok_or_else(|| {
            c.bad(
                "server.trusted_proxies",
                format!("{block:?} is not an address or address block (e.g. 10.0.0.0/8)"),
            )
        })?);
    }
    match raw.client_ip_header.trim() {
        "" if !trusted.is_empty() => Err(c.bad(
            "server.trusted_proxies",
            "proxies are trusted to write the header server.client_ip_header names: set it too",
        )),
        "" => Ok(None),
        h => hpki_web::HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes())
            .map(|header| Some(hpki_web::Forwarding { header, trusted }))
            .map_err(|_| {
                c.bad(
                    "server.client_ip_header",
                    format!("{h:?} is not a header name (e.g. X-Forwarded-For)"),
                )
            }),
    }
}

/// The commented file `init` writes: the defaults, with this public URL and database.
pub fn template(public_url: &str, database_url: &str) -> String {
    TEMPLATE
        .replacen(
            "public_url = \"http://localhost:8080\"",
            &format!("public_url = {public_url:?}"),
            1,
        )
        .replacen(
            "url = \"sqlite:hpki-second.db\"",
            &format!("url = {database_url:?}"),
            1,
        )
}

#[cfg(test)]
mod tests;
