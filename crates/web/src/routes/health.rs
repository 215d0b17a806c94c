use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use hpki_core::services::StatusService;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// Liveness: the process answers. Touches nothing else.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the database answers too.
async fn readyz(
    State(status): State<StatusService>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    status.ready().await?;
    Ok((StatusCode::OK, Json(json!({ "status": "ready" }))))
}
