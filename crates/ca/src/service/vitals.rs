//! What an operator watches of each CA (the metrics' gauges, read at a scrape): when its
//! certificate and its OCSP responder's expire, and when its published CRL was issued and
//! runs out.

use chrono::{DateTime, Utc};
use hpki_core::domain::{CaRole, CertificateKind};
use hpki_core::Error;

use super::CaService;

/// One CA's dates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaVitals {
    pub role: CaRole,
    pub certificate_not_after: DateTime<Utc>,
    /// The newest OCSP responder certificate's (none for the root, which has none).
    pub responder_not_after: Option<DateTime<Utc>>,
    /// The published CRL's thisUpdate and nextUpdate.
    pub crl: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl CaService {
    /// Each CA's dates; empty before the hierarchy exists.
    pub async fn vitals(&self) -> Result<Vec<CaVitals>, Error> {
        let crls = self.certs.crl_states().await?;
        let mut out = Vec::new();
        for role in CaRole::ALL {
            let Some(ca) = self.certs.ca_certificate(role).await? else {
                continue;
            };
            let responder = match role {
                CaRole::Root => None,
                _ => self
                    .certs
                    .newest_of_kind(CertificateKind::OcspResponder(role))
                    .await?
                    .map(|r| r.cert.not_after),
            };
            out.push(CaVitals {
                role,
                certificate_not_after: ca.cert.not_after,
                responder_not_after: responder,
                crl: crls
                    .iter()
                    .find(|c| c.issuer == role)
                    .and_then(|c| c.published)
                    .map(|(_, this, next)| (this, next)),
            });
        }
        Ok(out)
    }
}
