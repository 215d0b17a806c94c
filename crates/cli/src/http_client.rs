//! The binary's outgoing HTTP (the card client's calls, traces to a collector): ureq, with
//! rustls on AWS-LC (already built for the CA); answers of any status are answers.

use std::sync::Arc;
use std::time::Duration;

use ureq::tls::{RootCerts, TlsConfig};

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
