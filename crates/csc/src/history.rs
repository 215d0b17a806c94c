//! A holder's signatures, as the audit log recorded them (`signature list --holder`, and the
//! holder's own page).

use chrono::{DateTime, Utc};
use hpki_core::domain::Username;
use hpki_core::Error;
use serde::Serialize;
use serde_json::Value;

use crate::signing::SIGNED;
use crate::CscService;

/// One `signHash` call: when, for which relying system, how, and which hashes.
#[derive(Clone, Debug, Serialize)]
pub struct SignatureRecord {
    /// The audit event's sequence number (to page back with `before`).
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub client_id: String,
    /// The relying system's name (its client ID when it is no longer registered).
    pub client_name: String,
    /// The second certificate that signed (serial).
    pub certificate: String,
    pub algorithm: String,
    /// scal1 or scal2.
    pub mode: String,
    /// SHA-256 digests signed, hex.
    pub hashes: Vec<String>,
    /// Who called (the relying system's address).
    pub actor: String,
}

impl CscService {
    /// The holder's signatures, newest first, at most `limit` (1 to 1000), older than
    /// `before` (a `seq`) when given.
    pub async fn signatures(
        &self,
        username: &Username,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SignatureRecord>, Error> {
        let holder = hpki_core::services::find_holder(self.holders.as_ref(), username).await?;
        let events = self
            .holders
            .audit_events_of(
                &holder.username.to_string(),
                SIGNED.as_str(),
                before,
                limit.clamp(1, 1000),
            )
            .await?;
        // Each relying system's name, read once.
        let mut names: std::collections::HashMap<String, String> = std::collections::HashMap::new();
        let mut records: Vec<SignatureRecord> = events
            .into_iter()
            .map(|e| {
                let d: Value = serde_json::from_str(&e.details)
                    .map_err(|_| Error::Internal(format!("audit event {} is not JSON", e.seq)))?;
                let text = |k: &str| d[k].as_str().unwrap_or_default().to_owned();
                Ok(SignatureRecord {
                    seq: e.seq,
                    at: DateTime::from_timestamp_micros(e.at_micros).ok_or_else(|| {
                        Error::Internal(format!("audit event {} has no time", e.seq))
                    })?,
                    client_id: text("client_id"),
                    client_name: String::new(),
                    certificate: text("certificate"),
                    algorithm: text("algorithm"),
                    mode: text("mode"),
                    hashes: d["hashes"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|h| h.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                    actor: e.actor,
                })
            })
            .collect::<Result<_, Error>>()?;
        for r in &mut records {
            if !names.contains_key(&r.client_id) {
                let name = self.oidc.client_name(&r.client_id).await?;
                names.insert(
                    r.client_id.clone(),
                    name.unwrap_or_else(|| r.client_id.clone()),
                );
            }
            r.client_name = names.get(&r.client_id).cloned().unwrap_or_default();
        }
        Ok(records)
    }
}
