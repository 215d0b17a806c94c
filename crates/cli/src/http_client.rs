//! The binary's outgoing HTTP (the card client's calls, traces to a collector): ureq, with
//! rustls on AWS-LC (already built for the CA); answers of any status are answers.

use std::sync::Arc;
use std::time::Duration;

use ureq::tls::{RootCerts, TlsConfig};

/// The clients' agent for a service: its HTTPS certificate checked against the usual web
/// roots, or against the CA in `ca_file` (PEM) when given; each call bounded by 30 seconds.
pub(crate) fn agent_trusting(ca_file: Option<&std::path::Path>) -> Result<ureq::Agent, String> {
    let roots = match ca_file {
        None => RootCerts::WebPki,
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let certs: Vec<_> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(format!("{}: no PEM certificate in it", path.display()));
            }
            RootCerts::new_with_certs(&certs)
        }
    };
    Ok(agent(roots, Duration::from_secs(30)))
}

/// An agent trusting `roots`, each call bounded by `timeout`.
pub(crate) fn agent(roots: RootCerts, timeout: Duration) -> ureq::Agent {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = TlsConfig::builder()
        .unversioned_rustls_crypto_provider(provider)
        .root_certs(roots)
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}
