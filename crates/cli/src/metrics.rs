//! Prometheus metrics on a management listener of their own (`[metrics] listen`; never the
//! public listener). The services count and time through the `metrics` facade and know
//! nothing of Prometheus; this installs the exporter, names and describes every metric, and
//! at each scrape reads the gauges that are states rather than events (the CAs' dates, the
//! OCSP cache, the database pool, the audit log since its last checkpoint, whether the
//! database and the keystore answer).

use std::path::PathBuf;

use metrics::{describe_counter, describe_gauge, describe_histogram, gauge, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::Failure;

/// Buckets of every `_seconds` histogram: from half a millisecond to ten seconds.
const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Buckets of the group commit's batch size (updates per transaction).
const BATCH: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// What a scrape reads besides the counters.
#[derive(Clone)]
pub struct Scrape {
    pub handle: PrometheusHandle,
    pub ca: hpki_ca::CaService,
    pub status: hpki_core::services::StatusService,
    pub audit: hpki_core::services::AuditService,
    pub store: hpki_store_sql::SqlStore,
    pub checkpoint_file: PathBuf,
}

/// Installs the process's recorder (once, before any service counts) and describes the
/// metrics.
pub fn install() -> Result<PrometheusHandle, Failure> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full("hpki_group_commit_batch_size".into()), BATCH)
        })
        .map_err(|e| format!("metrics: {e}"))?
        .install_recorder()
        .map_err(|e| format!("metrics: {e}"))?;
    describe();
    Ok(handle)
}

fn describe() {
    describe_histogram!(
        "hpki_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP requests by method, route pattern and status, and how long each took"
    );
    describe_counter!(
        "hpki_audit_events_total",
        "audit events committed, by action (docs/audit-log.md lists them): sheet passwords \
         and locks, registrations, sign-ins, signatures, revocations"
    );
    describe_counter!(
        "hpki_passkey_refusals_total",
        "passkey registrations and sign-ins refused, by the refusal's code (the pages' \
         explanations); those that succeed are device.registered and device.signed_in events"
    );
    describe_counter!(
        "hpki_oidc_logins_total",
        "OpenID Connect logins by method (passkey, card) and outcome (signed_in or the refusal)"
    );
    describe_counter!(
        "hpki_signatures_total",
        "signatures made through the CSC API by mode, algorithm and endpoint"
    );
    describe_counter!(
        "hpki_ocsp_responses_total",
        "OCSP responses by outcome: signed, cached, malformed, unauthorized, error"
    );
    describe_counter!(
        "hpki_ocsp_certificate_statuses_total",
        "certificate statuses answered in signed OCSP responses: good, revoked, unknown"
    );
    describe_gauge!("hpki_ocsp_cache_entries", "OCSP responses cached for reuse");
    describe_gauge!(
        "hpki_ocsp_cache_bytes",
        Unit::Bytes,
        "memory the cached OCSP responses take, roughly"
    );
    describe_histogram!(
        "hpki_group_commit_batch_size",
        "small audited updates written together in one transaction"
    );
    describe_histogram!(
        "hpki_group_commit_duration_seconds",
        Unit::Seconds,
        "how long one group commit's transaction took"
    );
    describe_histogram!(
        "hpki_keystore_operation_duration_seconds",
        Unit::Seconds,
        "keystore operations by backend and operation"
    );
    describe_counter!(
        "hpki_keystore_errors_total",
        "failed keystore operations by backend, operation and kind (unavailable, failed)"
    );
    describe_gauge!(
        "hpki_db_pool_connections",
        "database connections of this instance's pool, by state (in_use, idle)"
    );
    describe_counter!(
        "hpki_db_pool_timeouts_total",
        "requests that waited for a database connection in vain"
    );
    describe_gauge!(
        "hpki_database_up",
        "1 when the database answered at the last scrape"
    );
    describe_gauge!(
        "hpki_keystore_up",
        "1 when the keystore could sign at the last scrape"
    );
    describe_gauge!(
        "hpki_certificate_expiry_timestamp_seconds",
        Unit::Seconds,
        "when each CA certificate and OCSP responder certificate expires (Unix time)"
    );
    describe_gauge!(
        "hpki_crl_this_update_timestamp_seconds",
        Unit::Seconds,
        "thisUpdate of each CA's published CRL (Unix time)"
    );
    describe_gauge!(
        "hpki_crl_next_update_timestamp_seconds",
        Unit::Seconds,
        "nextUpdate of each CA's published CRL (Unix time)"
    );
    describe_gauge!(
        "hpki_audit_events_since_checkpoint",
        "audit events written since the last checkpoint in the checkpoint file"
    );
}

impl Scrape {
    /// The text of a scrape: the states read now, then every metric.
    pub async fn render(&self) -> String {
        read_states(self).await;
        self.handle.render()
    }
}

fn unix(t: chrono::DateTime<chrono::Utc>) -> f64 {
    t.timestamp() as f64
}

/// The gauges that are states, read now.
async fn read_states(scrape: &Scrape) {
    let database_up = scrape.status.database().await.is_ok();
    let keystore_up = scrape.status.keystore().await.is_ok();
    gauge!("hpki_database_up").set(f64::from(u8::from(database_up)));
    gauge!("hpki_keystore_up").set(f64::from(u8::from(keystore_up)));
    let (entries, bytes) = scrape.ca.ocsp_cache_size();
    gauge!("hpki_ocsp_cache_entries").set(entries as f64);
    gauge!("hpki_ocsp_cache_bytes").set(bytes as f64);
    let pool = scrape.store.pool();
    let idle = pool.num_idle() as f64;
    gauge!("hpki_db_pool_connections", "state" => "idle").set(idle);
    gauge!("hpki_db_pool_connections", "state" => "in_use").set(f64::from(pool.size()) - idle);
    if !database_up {
        return;
    }
    if let Ok(vitals) = scrape.ca.vitals().await {
        for v in vitals {
            let role = v.role.as_str();
            gauge!("hpki_certificate_expiry_timestamp_seconds", "certificate" => role)
                .set(unix(v.certificate_not_after));
            if let Some(at) = v.responder_not_after {
                let name = format!("ocsp-{role}");
                gauge!("hpki_certificate_expiry_timestamp_seconds", "certificate" => name)
                    .set(unix(at));
            }
            if let Some((this, next)) = v.crl {
                gauge!("hpki_crl_this_update_timestamp_seconds", "ca" => role).set(unix(this));
                gauge!("hpki_crl_next_update_timestamp_seconds", "ca" => role).set(unix(next));
            }
        }
    }
    let checkpointed = crate::commands::audit::read_checkpoints(&scrape.checkpoint_file)
        .ok()
        .and_then(|c| c.last().map(|c| c.seq))
        .unwrap_or(0);
    if let Ok(head) = scrape.audit.head().await {
        gauge!("hpki_audit_events_since_checkpoint").set((head.seq - checkpointed).max(0) as f64);
    }
}
