//! CRLs over HTTP, at the URLs in the certificates' CRL distribution points, and the CA
//! certificates at stable URLs (`/ca/{root,sign,auth}.crt`, DER, and `.pem`) for relying
//! systems to configure their trust from.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hpki_ca::CaService;
use hpki_core::domain::CaRole;
use hpki_core::Error;

use crate::error::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/crl/{file}", get(crl))
        .route("/ca/{file}", get(ca_certificate))
}

async fn crl(
    State(ca): State<CaService>,
    Path(file): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let role = file
        .strip_suffix(".crl")
        .and_then(CaRole::parse)
        .ok_or_else(|| {
            Error::NotFound(format!(
                "CRL {file:?} (there are root.crl, sign.crl and auth.crl)"
            ))
        })?;
    let der = ca.current_crl(role).await?;
    // Relying parties may cache it briefly; a revocation replaces it at once on our side.
    Ok((
        [
            (header::CONTENT_TYPE, "application/pkix-crl"),
            (header::CACHE_CONTROL, "public, max-age=60"),
        ],
        der,
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
