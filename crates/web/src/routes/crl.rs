//! CRLs over HTTP, at the URLs in the certificates' CRL distribution points.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use hpki_ca::CaService;
use hpki_core::domain::CaRole;
use hpki_core::Error;

use crate::error::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/crl/{file}", get(crl))
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
