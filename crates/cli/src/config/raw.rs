//! The configuration file as written: every key with its default. [`super::Settings`] checks
//! these values; the commented file `init` writes (`template.toml`) holds the same defaults,
//! and a test keeps the two equal.

use hpki_core::domain::sheet::AttemptLimit;
use hpki_core::domain::PhotoLimits;
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawConfig {
    pub(super) server: RawServer,
    pub(super) database: RawDatabase,
    pub(super) log: RawLog,
    pub(super) holders: RawHolders,
    pub(super) audit: RawAudit,
    pub(super) ca: RawCa,
    pub(super) sheets: RawSheets,
    pub(super) devices: RawDevices,
    pub(super) signing: RawSigning,
    pub(super) console: RawConsole,
    pub(super) oidc: RawOidc,
    pub(super) contact: RawContact,
    pub(super) metrics: RawMetrics,
    pub(super) traces: RawTraces,
}

/// `[traces]`: OpenTelemetry traces over OTLP/HTTP (off when the endpoint is empty).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTraces {
    pub(super) otlp_endpoint: String,
    pub(super) service_name: String,
    pub(super) sample_ratio: f64,
}

impl Default for RawTraces {
    fn default() -> Self {
        Self {
            otlp_endpoint: String::new(),
            service_name: "hpki-second".into(),
            sample_ratio: 1.0,
        }
    }
}

/// `[metrics]`: the management listener for Prometheus (off when empty).
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawMetrics {
    pub(super) listen: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawOidc {
    pub(super) token_algorithm: String,
    pub(super) device_codes_burst: u32,
    pub(super) device_codes_per_minute: u32,
    pub(super) dpop_nonce: bool,
}

impl Default for RawOidc {
    fn default() -> Self {
        Self {
            token_algorithm: "ES256".into(),
            device_codes_burst: 10,
            device_codes_per_minute: 5,
            dpop_nonce: false,
        }
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSigning {
    pub(super) session_hours: u32,
    pub(super) sad_seconds: u32,
}

impl Default for RawSigning {
    fn default() -> Self {
        Self {
            session_hours: 18,
            sad_seconds: 600,
        }
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawConsole {
    pub(super) idle_minutes: u32,
    pub(super) session_hours: u32,
    pub(super) reauth_seconds: u32,
    pub(super) dual_control: Vec<String>,
    pub(super) approval_hours: u32,
}

impl Default for RawConsole {
    fn default() -> Self {
        Self {
            idle_minutes: 15,
            session_hours: 8,
            reauth_seconds: 300,
            dual_control: vec![
                "revoke".to_owned(),
                "issue-second".to_owned(),
                "ca-import".to_owned(),
            ],
            approval_hours: 24,
        }
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawContact {
    pub(super) name: String,
    pub(super) phone: String,
    pub(super) url: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDevices {
    pub(super) max_per_holder: u32,
}

impl Default for RawDevices {
    fn default() -> Self {
        Self { max_per_holder: 1 }
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSheets {
    pub(super) validity_days: u32,
    pub(super) max_attempts: u32,
    pub(super) font: String,
    pub(super) issuer_name: String,
    pub(super) password_attempts_burst: u32,
    pub(super) password_attempts_per_minute: u32,
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

/// IANA's enterprise number for documentation (RFC 5612): plainly a demo, never the MHLW's.
const DEMO_OID_ARC: &str = "1.3.6.1.4.1.32473.1709";

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawCa {
    pub(super) keystore: String,
    pub(super) kek_file: String,
    pub(super) algorithm: String,
    pub(super) root_name: String,
    pub(super) signing_ca_name: String,
    pub(super) authentication_ca_name: String,
    pub(super) signing_policy_oid: String,
    pub(super) authentication_policy_oid: String,
    pub(super) qualification_scheme_oid: String,
    pub(super) root_validity_years: u32,
    pub(super) ca_validity_years: u32,
    pub(super) end_entity_validity_years: u32,
    pub(super) cps_uri: String,
    pub(super) ocsp_in_certificates: bool,
    pub(super) crl_validity_hours: u32,
    pub(super) ocsp_validity_minutes: u32,
    pub(super) ocsp_responder_validity_days: u32,
    pub(super) pkcs11_module: String,
    pub(super) pkcs11_token: String,
    pub(super) pkcs11_pin: String,
    pub(super) pkcs11_sessions: usize,
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
            end_entity_validity_years: 5,
            cps_uri: String::new(),
            ocsp_in_certificates: true,
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

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawServer {
    pub(super) public_url: String,
    pub(super) listen: String,
    pub(super) shutdown_grace_secs: u64,
    pub(super) drain_secs: u64,
    pub(super) client_ip_header: String,
    pub(super) trusted_proxies: Vec<String>,
    pub(super) max_connections: usize,
    pub(super) max_connections_per_address: usize,
    pub(super) header_read_timeout_secs: u64,
    pub(super) reserved_connections: usize,
    pub(super) body_timeout_secs: u64,
    pub(super) body_min_bytes_per_sec: u64,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            public_url: "http://localhost:8080".into(),
            listen: "127.0.0.1:8080".into(),
            shutdown_grace_secs: 30,
            drain_secs: 5,
            client_ip_header: String::new(),
            trusted_proxies: Vec::new(),
            max_connections: 1024,
            max_connections_per_address: 64,
            header_read_timeout_secs: 10,
            reserved_connections: 128,
            body_timeout_secs: 60,
            body_min_bytes_per_sec: 4096,
        }
    }
}

#[derive(PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDatabase {
    pub(super) url: String,
    pub(super) max_connections: u32,
    pub(super) connect_timeout_secs: u64,
    pub(super) statement_timeout_secs: u64,
    pub(super) lock_timeout_secs: u64,
    pub(super) idle_in_transaction_timeout_secs: u64,
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
            statement_timeout_secs: 0,
            lock_timeout_secs: 10,
            idle_in_transaction_timeout_secs: 60,
        }
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawLog {
    pub(super) format: String,
    pub(super) level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: "human".into(),
            level: "info".into(),
        }
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHolders {
    pub(super) default_org: String,
    pub(super) photo_max_bytes: usize,
}

impl Default for RawHolders {
    fn default() -> Self {
        Self {
            default_org: "jpa".into(),
            photo_max_bytes: PhotoLimits::default().max_bytes,
        }
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAudit {
    pub(super) checkpoint_file: String,
    pub(super) checkpoint_interval_secs: u64,
}

impl Default for RawAudit {
    fn default() -> Self {
        Self {
            checkpoint_file: "audit-checkpoints.jsonl".into(),
            checkpoint_interval_secs: 300,
        }
    }
}
