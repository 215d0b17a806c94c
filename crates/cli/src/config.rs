//! Configuration: one TOML file in the data directory, then `HPKI_SECOND__SECTION__KEY`
//! environment variables over it. The raw file is parsed once into [`Settings`], whose values
//! are checked; secrets (the database URL's password) never reach a log or `Debug`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hpki_core::domain::sheet::AttemptLimit;
use hpki_core::domain::{OrgCode, PhotoLimits};
use hpki_core::PublicUrl;
use hpki_store_sql::DatabaseUrl;
use serde::Deserialize;

pub const CONFIG_FILE: &str = "hpki-second.toml";
pub const ENV_PREFIX: &str = "HPKI_SECOND__";

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    server: RawServer,
    database: RawDatabase,
    log: RawLog,
    holders: RawHolders,
    audit: RawAudit,
    ca: RawCa,
    sheets: RawSheets,
    devices: RawDevices,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDevices {
    max_per_holder: u32,
}

impl Default for RawDevices {
    fn default() -> Self {
        Self { max_per_holder: 1 }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSheets {
    validity_days: u32,
    max_attempts: u32,
    font: String,
    issuer_name: String,
    password_attempts_burst: u32,
    password_attempts_per_minute: u32,
}

impl Default for RawSheets {
    fn default() -> Self {
        Self {
            validity_days: 90,
            max_attempts: AttemptLimit::MANUAL.get(),
            font: String::new(),
            issuer_name: String::new(),
            password_attempts_burst: 10,
            password_attempts_per_minute: 2,
        }
    }
}

/// How sheets are printed.
#[derive(Clone, Debug)]
pub struct PrintSettings {
    /// A TrueType font with Japanese glyphs; `None`: Debian's IPAexGothic.
    pub font: Option<PathBuf>,
    /// The issuer printed on the sheet; `None`: the signing CA's organization.
    pub issuer_name: Option<String>,
}

/// IANA's enterprise number for documentation (RFC 5612): plainly a demo, never the MHLW's.
pub const DEMO_OID_ARC: &str = "1.3.6.1.4.1.32473.1709";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawCa {
    keystore: String,
    kek_file: String,
    algorithm: String,
    root_name: String,
    signing_ca_name: String,
    authentication_ca_name: String,
    signing_policy_oid: String,
    authentication_policy_oid: String,
    qualification_scheme_oid: String,
    root_validity_years: u32,
    ca_validity_years: u32,
    end_entity_validity_days: u32,
    crl_validity_hours: u32,
    ocsp_validity_minutes: u32,
    ocsp_responder_validity_days: u32,
    pkcs11_module: String,
    pkcs11_token: String,
    pkcs11_pin: String,
    pkcs11_sessions: usize,
}

impl Default for RawCa {
    fn default() -> Self {
        Self {
            keystore: "software".into(),
            kek_file: "keystore.kek".into(),
            algorithm: "rsa-2048".into(),
            root_name: "C=JP, O=hpki-second demo, CN=hpki-second Demo Root CA".into(),
            signing_ca_name:
                "C=JP, O=hpki-second demo, CN=hpki-second Demo Signing CA for Non-Repudiation"
                    .into(),
            authentication_ca_name:
                "C=JP, O=hpki-second demo, CN=hpki-second Demo Authentication CA for Individuals"
                    .into(),
            signing_policy_oid: format!("{DEMO_OID_ARC}.1.1"),
            authentication_policy_oid: format!("{DEMO_OID_ARC}.1.2"),
            qualification_scheme_oid: "1.2.392.100495.1.6.1.1".into(),
            root_validity_years: 30,
            ca_validity_years: 20,
            end_entity_validity_days: 1826,
            crl_validity_hours: 24,
            ocsp_validity_minutes: 60,
            ocsp_responder_validity_days: 90,
            pkcs11_module: "/usr/lib/softhsm/libsofthsm2.so".into(),
            pkcs11_token: "hpki".into(),
            pkcs11_pin: String::new(),
            pkcs11_sessions: 4,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServer {
    public_url: String,
    listen: String,
    shutdown_grace_secs: u64,
    client_ip_header: String,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            public_url: "http://localhost:8080".into(),
            listen: "127.0.0.1:8080".into(),
            shutdown_grace_secs: 30,
            client_ip_header: String::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDatabase {
    url: String,
    max_connections: u32,
    connect_timeout_secs: u64,
}

impl std::fmt::Debug for RawDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawDatabase { .. }")
    }
}

impl Default for RawDatabase {
    fn default() -> Self {
        Self {
            url: "sqlite:hpki-second.db".into(),
            max_connections: 8,
            connect_timeout_secs: 10,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLog {
    format: String,
    level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: "human".into(),
            level: "info".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawHolders {
    default_org: String,
    photo_max_bytes: usize,
}

impl Default for RawHolders {
    fn default() -> Self {
        Self {
            default_org: "jpa".into(),
            photo_max_bytes: PhotoLimits::default().max_bytes,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAudit {
    checkpoint_file: String,
    checkpoint_interval_secs: u64,
}

impl Default for RawAudit {
    fn default() -> Self {
        Self {
            checkpoint_file: "audit-checkpoints.jsonl".into(),
            checkpoint_interval_secs: 300,
        }
    }
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
    pub database_url: DatabaseUrl,
    pub max_connections: u32,
    pub connect_timeout: std::time::Duration,
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
    /// The header a trusted load balancer puts the client address in.
    pub client_ip_header: Option<hpki_web::HeaderName>,
    /// Active device credentials (passkeys) a holder may have.
    pub max_devices: u32,
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

/// The environment variable that carries the key-encryption key (64 hex digits) instead of
/// `ca.kek_file`, for deployments that inject secrets through the environment.
pub const KEK_ENV: &str = "HPKI_SECOND_KEK";
/// The environment variable of `[server] public_url` (also how `serve --public-url` applies).
pub const PUBLIC_URL_ENV: &str = "HPKI_SECOND__SERVER__PUBLIC_URL";

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

/// Parses a public base URL (the rules are `PublicUrl`'s).
pub fn parse_public_url(s: &str) -> Result<PublicUrl, String> {
    PublicUrl::parse(s).map_err(|e| e.message)
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

/// Applies `HPKI_SECOND__SECTION__KEY=value` variables onto the table; returns their names.
fn apply_env(
    table: &mut toml::Table,
    vars: impl Iterator<Item = (String, String)>,
) -> Result<Vec<String>, ConfigError> {
    let mut used = Vec::new();
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let parts: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        let [section, key] = parts.as_slice() else {
            return Err(cfg_err(
                &name,
                "an override is named HPKI_SECOND__SECTION__KEY, e.g. HPKI_SECOND__SERVER__LISTEN",
            ));
        };
        // A value that reads as TOML (a number, true/false) is taken as such, anything else as text.
        let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .filter(|v| !matches!(v, toml::Value::Table(_) | toml::Value::Array(_)))
            .unwrap_or(toml::Value::String(value));
        let entry = table
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(section_table) = entry.as_table_mut() else {
            return Err(cfg_err(&name, format!("{section} is not a section")));
        };
        section_table.insert(key.clone(), parsed);
        used.push(name);
    }
    Ok(used)
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
        let bad = |key: &str, msg: String| cfg_err(source, format!("{key}: {msg}"));
        let public_url =
            parse_public_url(&raw.server.public_url).map_err(|m| bad("server.public_url", m))?;
        let listen = raw.server.listen.parse().map_err(|_| {
            bad(
                "server.listen",
                format!(
                    "{:?} is not an address like 127.0.0.1:8080",
                    raw.server.listen
                ),
            )
        })?;
        let database_url = resolve_database_url(&raw.database.url, data_dir)
            .map_err(|m| bad("database.url", m))?;
        if raw.database.max_connections == 0 {
            return Err(bad("database.max_connections", "must be at least 1".into()));
        }
        let log_format = match raw.log.format.as_str() {
            "human" => LogFormat::Human,
            "json" => LogFormat::Json,
            other => {
                return Err(bad(
                    "log.format",
                    format!("{other:?} must be \"human\" or \"json\""),
                ))
            }
        };
        tracing_subscriber::EnvFilter::try_new(&raw.log.level)
            .map_err(|e| bad("log.level", e.to_string()))?;
        let default_org = OrgCode::parse(&raw.holders.default_org)
            .map_err(|e| bad("holders.default_org", e.message))?;
        if !(1024..=50 * 1024 * 1024).contains(&raw.holders.photo_max_bytes) {
            return Err(bad(
                "holders.photo_max_bytes",
                "must be between 1024 and 52428800".into(),
            ));
        }
        let oid = |key: &str, v: &str| parse_oid(v).map_err(|m| bad(key, m));
        let keystore = match raw.ca.keystore.as_str() {
            "software" => KeystoreChoice::Software {
                kek_file: data_dir.join(&raw.ca.kek_file),
                kek_from_env: kek_from_env.clone(),
            },
            "pkcs11" => {
                if raw.ca.pkcs11_pin.is_empty() {
                    return Err(bad(
                        "ca.pkcs11_pin",
                        "is empty; set it (better: HPKI_SECOND__CA__PKCS11_PIN)".into(),
                    ));
                }
                KeystoreChoice::Pkcs11(hpki_keystore_pkcs11::Pkcs11Config {
                    module: PathBuf::from(&raw.ca.pkcs11_module),
                    token_label: raw.ca.pkcs11_token.clone(),
                    pin: raw.ca.pkcs11_pin.clone(),
                    sessions: raw.ca.pkcs11_sessions.clamp(1, 64),
                })
            }
            other => {
                return Err(bad(
                    "ca.keystore",
                    format!("{other:?} must be \"software\" or \"pkcs11\""),
                ))
            }
        };
        let algorithm =
            hpki_core::keystore::KeyAlgorithm::parse(&raw.ca.algorithm).ok_or_else(|| {
                bad(
                    "ca.algorithm",
                    format!(
                        "{:?} must be \"rsa-2048\" or \"ecdsa-p256\"",
                        raw.ca.algorithm
                    ),
                )
            })?;
        for (key, name) in [
            ("ca.root_name", &raw.ca.root_name),
            ("ca.signing_ca_name", &raw.ca.signing_ca_name),
            ("ca.authentication_ca_name", &raw.ca.authentication_ca_name),
        ] {
            hpki_ca::profile::parse_name(name).map_err(|e| bad(key, e.to_string()))?;
        }
        if raw.ca.root_validity_years == 0
            || raw.ca.ca_validity_years == 0
            || raw.ca.end_entity_validity_days == 0
        {
            return Err(bad("ca", "validity periods must be at least 1".into()));
        }
        let ca = hpki_ca::CaSettings {
            algorithm,
            root_name: raw.ca.root_name.clone(),
            signing_ca_name: raw.ca.signing_ca_name.clone(),
            authentication_ca_name: raw.ca.authentication_ca_name.clone(),
            signing_policy: oid("ca.signing_policy_oid", &raw.ca.signing_policy_oid)?,
            authentication_policy: oid(
                "ca.authentication_policy_oid",
                &raw.ca.authentication_policy_oid,
            )?,
            qualification_scheme: oid(
                "ca.qualification_scheme_oid",
                &raw.ca.qualification_scheme_oid,
            )?,
            root_validity_years: raw.ca.root_validity_years,
            ca_validity_years: raw.ca.ca_validity_years,
            end_entity_validity_days: raw.ca.end_entity_validity_days,
            crl_validity: chrono::Duration::hours(i64::from(raw.ca.crl_validity_hours.max(1))),
            ocsp_validity: chrono::Duration::minutes(i64::from(
                raw.ca.ocsp_validity_minutes.max(1),
            )),
            ocsp_responder_validity_days: raw.ca.ocsp_responder_validity_days.max(1),
            public_url: public_url.clone(),
        };
        if !(1..=3650).contains(&raw.sheets.validity_days) {
            return Err(bad(
                "sheets.validity_days",
                "must be between 1 and 3650".into(),
            ));
        }
        let attempts = AttemptLimit::new(raw.sheets.max_attempts)
            .map_err(|e| bad("sheets.max_attempts", e.message))?;
        if !(1..=20).contains(&raw.devices.max_per_holder) {
            return Err(bad(
                "devices.max_per_holder",
                "must be between 1 and 20".into(),
            ));
        }
        if raw.sheets.password_attempts_burst == 0 || raw.sheets.password_attempts_per_minute == 0 {
            return Err(bad(
                "sheets.password_attempts_burst",
                "both password_attempts_burst and password_attempts_per_minute must be at least 1"
                    .into(),
            ));
        }
        let client_ip_header = match raw.server.client_ip_header.trim() {
            "" => None,
            h => Some(
                hpki_web::HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes()).map_err(
                    |_| {
                        bad(
                            "server.client_ip_header",
                            format!("{h:?} is not a header name (e.g. X-Forwarded-For)"),
                        )
                    },
                )?,
            ),
        };
        if raw.audit.checkpoint_file.trim().is_empty() {
            return Err(bad("audit.checkpoint_file", "must name a file".into()));
        }
        Ok(Self {
            data_dir: data_dir.to_path_buf(),
            public_url: public_url.clone(),
            listen,
            shutdown_grace: std::time::Duration::from_secs(raw.server.shutdown_grace_secs),
            database_url,
            max_connections: raw.database.max_connections,
            connect_timeout: std::time::Duration::from_secs(
                raw.database.connect_timeout_secs.max(1),
            ),
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
            keystore,
            sheets: hpki_core::services::SheetSettings {
                validity: chrono::Duration::days(i64::from(raw.sheets.validity_days)),
                attempts,
                public_url: public_url.clone(),
            },
            password_attempts: hpki_web::RateLimit {
                burst: raw.sheets.password_attempts_burst,
                per_minute: raw.sheets.password_attempts_per_minute,
            },
            client_ip_header,
            max_devices: raw.devices.max_per_holder,
            print: PrintSettings {
                font: Some(raw.sheets.font.trim())
                    .filter(|f| !f.is_empty())
                    .map(|f| data_dir.join(f)),
                issuer_name: Some(raw.sheets.issuer_name.trim().to_owned())
                    .filter(|n| !n.is_empty()),
            },
            ca,
        })
    }
}

/// The commented file `init` writes.
pub fn template(public_url: &str, database_url: &str) -> String {
    format!(
        r#"# hpki-second configuration.
# Every key can be overridden by an environment variable HPKI_SECOND__SECTION__KEY,
# e.g. HPKI_SECOND__SERVER__LISTEN=0.0.0.0:8080.

[server]
# The one public base URL: sheet QR codes, the WebAuthn RP ID and origin, and the CRL and
# OCSP URLs in certificates are all derived from it. `serve --public-url` overrides it.
public_url = {public_url:?}
# Where `serve` listens (`serve --listen` overrides it).
listen = "127.0.0.1:8080"
# On SIGTERM, how long in-flight requests may take to finish.
shutdown_grace_secs = 30
# Behind a load balancer: the header it puts the client address in (e.g. "X-Forwarded-For";
# its last entry is used). Leave empty when clients connect directly: a header a client can
# set must not decide its own rate limit.
client_ip_header = ""

[database]
# sqlite:FILE (relative to this directory) is the embedded default.
# For several instances behind a load balancer use PostgreSQL:
#   url = "postgres://user:password@host:5432/hpki"
# (better: leave the password out of this file and set HPKI_SECOND__DATABASE__URL).
url = {database_url:?}
max_connections = 8
connect_timeout_secs = 10

[log]
# "human" or "json"
format = "human"
# A tracing filter, e.g. "info" or "hpki_web=debug,info"
level = "info"

[holders]
# The organization code in usernames (<registry number>-<org>).
default_org = "jpa"
# Largest face photo accepted, in bytes.
photo_max_bytes = 5242880

[audit]
# Where `serve` and `audit checkpoint` record the chain head (see docs/audit-log.md).
checkpoint_file = "audit-checkpoints.jsonl"
checkpoint_interval_secs = 300

[sheets]
# How long an initial registration sheet (its QR code and password) can be used.
validity_days = 90
# Wrong passwords before the sheet locks (the live service: 5).
max_attempts = 5
# The Japanese TrueType font printed sheets embed (a subset of). Empty: Debian's IPAexGothic
# (package fonts-ipaexfont-gothic). A relative path is taken from the data directory.
font = ""
# The issuer printed at the foot of every sheet. Empty: the signing CA's organization name.
issuer_name = ""
# Password attempts on /r/... per client address (IPv6: per /64), checked before any hashing:
# a burst, then this many per minute.
password_attempts_burst = 10
password_attempts_per_minute = 2

[devices]
# Active device credentials (passkeys) a holder may have. A new phone can be registered after an
# operator deleted the old credential (manual 2.2.2).
max_per_holder = 1

[ca]
# "software": keys sealed with AES-256-GCM under the key-encryption key in kek_file (64 hex
# digits, mode 0600; `init` creates it). Every instance of a deployment needs the same file.
# "pkcs11": keys generated and used inside an HSM token (pkcs11_* below).
keystore = "software"
kek_file = "keystore.kek"
pkcs11_module = "/usr/lib/softhsm/libsofthsm2.so"
pkcs11_token = "hpki"
# The token's user PIN: leave it out of this file and set HPKI_SECOND__CA__PKCS11_PIN.
pkcs11_pin = ""
# Sessions kept open: how many signatures the token makes at once.
pkcs11_sessions = 4
# "rsa-2048" (as HPKI) or "ecdsa-p256"
algorithm = "rsa-2048"
# Names are written from the top. These defaults are a demo hierarchy, not the real HPKI one.
root_name = "C=JP, O=hpki-second demo, CN=hpki-second Demo Root CA"
signing_ca_name = "C=JP, O=hpki-second demo, CN=hpki-second Demo Signing CA for Non-Repudiation"
authentication_ca_name = "C=JP, O=hpki-second demo, CN=hpki-second Demo Authentication CA for Individuals"
# Policy OIDs under IANA's enterprise number for documentation (32473, RFC 5612): a demo.
# Use your CA's own.
signing_policy_oid = "1.3.6.1.4.1.32473.1709.1.1"
authentication_policy_oid = "1.3.6.1.4.1.32473.1709.1.2"
# The coding scheme of the qualification codes in hcRole (HPKI national qualifications).
qualification_scheme_oid = "1.2.392.100495.1.6.1.1"
root_validity_years = 30
ca_validity_years = 20
# The second certificate's validity (about 5 years); never beyond the issuing CA.
end_entity_validity_days = 1826
# A CRL's nextUpdate; a new one is issued after half of it, and on every revocation.
crl_validity_hours = 24
# An OCSP answer's nextUpdate. Answers without a nonce are reused until shortly before it,
# and dropped at once when anything is revoked (on every instance within a second).
ocsp_validity_minutes = 60
# The delegated OCSP responder certificates (renewed automatically before they end).
ocsp_responder_validity_days = 90
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(config: &str) -> tempdir::Dir {
        let d = tempdir::Dir::new();
        std::fs::write(d.path().join(CONFIG_FILE), config).expect("write config");
        d
    }

    mod tempdir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                let mut raw = [0u8; 8];
                hpki_core::secret::os_random(&mut raw).expect("rng");
                let p = std::env::temp_dir().join(format!("hpki-cfg-{}", u64::from_le_bytes(raw)));
                std::fs::create_dir_all(&p).expect("mkdir");
                Self(p)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn template_loads_and_defaults_apply() {
        let d = dir_with(&template(
            "https://hpki.example.jp",
            "sqlite:hpki-second.db",
        ));
        let s = Settings::load_with_env(d.path(), std::iter::empty()).expect("valid");
        assert_eq!(s.public_url.as_str(), "https://hpki.example.jp/");
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
}
