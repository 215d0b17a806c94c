use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hpki_core::services::{Readiness, StatusService};
use serde_json::{json, Value};

use crate::error::RETRY_AFTER_SECONDS;
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

/// Readiness, for a load balancer: 200 when the database answers and the keystore can sign;
/// 503 with `Retry-After` naming what is missing (`draining` after SIGTERM, `database`,
/// `keystore`), the detail logged, not answered.
async fn readyz(State(status): State<StatusService>) -> Response {
    let readiness = status.readiness().await;
    let body = Json(json!({ "status": readiness.as_str() }));
    match &readiness {
        Readiness::Ready => (StatusCode::OK, body).into_response(),
        Readiness::Draining => not_ready(body),
        Readiness::DatabaseDown(why) | Readiness::KeystoreDown(why) => {
            tracing::warn!(failing = readiness.as_str(), error = %why, "not ready");
            not_ready(body)
        }
    }
}

fn not_ready(body: Json<Value>) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, RETRY_AFTER_SECONDS)],
        body,
    )
        .into_response()
}
