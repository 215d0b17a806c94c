//! CRLs over HTTP, at the URLs in the certificates' CRL distribution points, and the CA
//! certificates at stable URLs (`/ca/{root,sign,auth}.crt`, DER, and `.pem`) for relying
//! systems to configure their trust from.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hpki_ca::CaService;
use hpki_core::domain::CaRole;
use hpki_core::Error;

use super::caching::{self, Freshness};
use crate::error::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/crl/{file}", get(crl))
        .route("/ca/{file}", get(ca_certificate))
}

/// How long a cache may keep a CRL before asking again (a 304 when nothing changed): short,
/// because a revocation publishes a new one at once, and never past the CRL's nextUpdate.
const CRL_FRESH_SECS: i64 = 60;

/// A CRL from memory, with its validators; a conditional GET that matches gets `304`.
async fn crl(
    State(ca): State<CaService>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let role = file
        .strip_suffix(".crl")
        .and_then(CaRole::parse)
        .ok_or_else(|| {
            Error::NotFound(format!(
                "CRL {file:?} (there are root.crl, sign.crl and auth.crl)"
            ))
        })?;
    let crl = ca.current_crl(role).await?;
    let now = ca.now();
    let freshness = Freshness {
        etag: crl.etag.clone(),
        last_modified: crl.this_update,
        fresh_until: (now + chrono::Duration::seconds(CRL_FRESH_SECS)).min(crl.next_update),
    };
    Ok(caching::respond(
        &headers,
        "application/pkix-crl",
        crl.der.clone(),
        &freshness,
        now,
    ))
}

async fn ca_certificate(
    State(ca): State<CaService>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let unknown = || {
        Error::NotFound(format!(
            "CA certificate {file:?} (there are root, sign and auth, each .crt (DER) and .pem)"
        ))
    };
    let (role, pem) = match file.rsplit_once('.') {
        Some((role, "crt")) => (role, false),
        Some((role, "pem")) => (role, true),
        _ => return Err(unknown().into()),
    };
    let role = CaRole::parse(role).ok_or_else(unknown)?;
    let der = ca.ca_certificate_der(role).await?;
    // A CA certificate changes only at a ceremony: an hour of caching is harmless.
    let cache = (header::CACHE_CONTROL, "public, max-age=3600");
    Ok(if pem {
        (
            [(header::CONTENT_TYPE, "application/x-pem-file"), cache],
            hpki_ca::pem_of_certificate(&der),
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/pkix-cert"), cache],
            der,
        )
            .into_response()
    })
}
