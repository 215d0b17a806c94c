//! OCSP over HTTP (RFC 6960 appendix A): POST with the DER request as the body, or GET with
//! its base64 in the path. Every answer is an OCSPResponse, malformed input included.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use chrono::{DateTime, Utc};
use hpki_ca::{CaService, OcspAnswer};

use super::caching::{self, Freshness};
use crate::AppState;

/// Real requests are a few hundred bytes; this leaves room for many CertIDs and a signature.
const MAX_REQUEST: usize = 16 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ocsp", post(by_post))
        .route("/ocsp/{*request}", get(by_get))
        .layer(DefaultBodyLimit::max(MAX_REQUEST))
}

/// A POST answer is never stored by caches (RFC 5019, 6.2 leaves POST uncached); a GET answer
/// that may be reused carries its validators and a max-age that ends before its nextUpdate.
fn reply(answer: OcspAnswer, get: Option<(&HeaderMap, DateTime<Utc>)>) -> Response {
    const TYPE: &str = "application/ocsp-response";
    let body = answer.der.as_ref().clone();
    match (answer.reuse, get) {
        (Some(reuse), Some((headers, now))) => {
            let freshness = Freshness {
                etag: answer.etag(),
                last_modified: reuse.produced,
                fresh_until: reuse.until,
            };
            caching::respond(headers, TYPE, body, &freshness, now)
        }
        _ => (
            [
                (header::CONTENT_TYPE, TYPE),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response(),
    }
}

/// A body over the limit is answered like any request that cannot be read: malformedRequest.
async fn by_post(
    State(ca): State<CaService>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let request = body.unwrap_or_default();
    reply(ca.ocsp_response(&request).await, None)
}

async fn by_get(
    State(ca): State<CaService>,
    Path(request): Path<String>,
    headers: HeaderMap,
) -> Response {
    // Clients differ: standard or URL-safe alphabet, padded or not.
    let cleaned: String = request.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(&cleaned)
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cleaned.trim_end_matches('='))
        })
        .or_else(|_| {
            base64::engine::general_purpose::STANDARD_NO_PAD.decode(cleaned.trim_end_matches('='))
        })
        .unwrap_or_default();
    let answer = ca.ocsp_response(&der).await;
    reply(answer, Some((&headers, ca.now())))
}
