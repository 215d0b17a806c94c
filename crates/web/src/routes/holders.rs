//! The operator API for the holder registry.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use hpki_core::domain::{Holder, Username};
use hpki_core::services::{HolderInput, HolderService};
use hpki_lifecycle::{LifecycleService, Outcome};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::extract::{ChangingOperator, HolderPath, OperatorAuth};
use crate::AppState;

pub fn router(photo_max_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/api/v1/holders", get(list).post(create))
        .route("/api/v1/holders/{username}", get(show))
        // The manual's section 2 (docs/operations.md).
        .route("/api/v1/holders/{username}/suspend", post(suspend))
        .route("/api/v1/holders/{username}/resume", post(resume))
        .route("/api/v1/holders/{username}/lost-card", post(lost_card))
        .route("/api/v1/holders/{username}/lost-phone", post(lost_phone))
        // Dual control: requests waiting for an approver.
        .route("/api/v1/approvals", get(approvals))
        .route("/api/v1/approvals/{id}/approve", post(approve))
        .route("/api/v1/approvals/{id}/reject", post(reject))
        .route(
            "/api/v1/holders/{username}/photo",
            // One byte over the limit is enough for the service to say how large is too large.
            put(set_photo)
                .get(photo)
                .layer(DefaultBodyLimit::max(photo_max_bytes + 1)),
        )
        .layer(axum::middleware::from_fn(crate::error::api_errors_as_json))
}

async fn create(
    op: ChangingOperator,
    State(holders): State<HolderService>,
    Json(input): Json<HolderInput>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let holder = holders.add(op.actor(), &input, None).await?;
    let mut body = serde_json::to_value(&holder)
        .map_err(|e| hpki_core::Error::Internal(format!("holder as JSON: {e}")))?;
    // How a one-field kanji name was taken apart, so the caller can check it.
    if let Some(note) = input.name_note() {
        body["notes"] = json!([note]);
    }
    Ok((StatusCode::CREATED, Json(body)))
}

async fn show(
    _op: OperatorAuth,
    State(holders): State<HolderService>,
    HolderPath(username): HolderPath,
) -> Result<Json<Holder>, ApiError> {
    Ok(Json(holders.show(&username).await?))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    after: i64,
    #[serde(default = "default_limit")]
    limit: u32,
    /// A search (registry number, username or name, however typed) instead of the list.
    q: Option<String>,
}

fn default_limit() -> u32 {
    100
}

async fn list(
    _op: OperatorAuth,
    State(holders): State<HolderService>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    if let Some(query) = &q.q {
        // A page for a screen or a script; `holder search --csv` exports them all.
        let found = holders.search(query, q.limit.clamp(1, 500)).await?;
        return Ok(Json(
            json!({ "holders": found.holders, "total": found.total }),
        ));
    }
    let page = holders.list(q.after, q.limit).await?;
    let next = page.last().map(|h| h.id);
    Ok(Json(json!({ "holders": page, "next_after": next })))
}

async fn set_photo(
    op: ChangingOperator,
    State(holders): State<HolderService>,
    HolderPath(username): HolderPath,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let photo = holders
        .set_photo(op.actor(), &username, body.to_vec())
        .await?;
    Ok(Json(
        json!({ "width": photo.width(), "height": photo.height(), "sha256": photo.sha256_hex() }),
    ))
}

async fn photo(
    _op: OperatorAuth,
    State(holders): State<HolderService>,
    HolderPath(username): HolderPath,
) -> Result<impl IntoResponse, ApiError> {
    let photo = holders.photo(&username).await?;
    Ok((
        [(header::CONTENT_TYPE, "image/jpeg")],
        photo.jpeg().to_vec(),
    ))
}

/// The body of a section-2 action: why (required), and its choices.
#[derive(Deserialize)]
struct Case {
    #[serde(default)]
    reason: String,
    /// lost-card: revoke the second certificate too.
    #[serde(default)]
    also_second: bool,
    /// lost-phone: the device credential to delete …
    device: Option<i64>,
    /// … or revoke the second certificate.
    #[serde(default)]
    revoke_second: bool,
}

/// A case for the operator behind the token, through the gate: done (200) or, under dual
/// control, waiting for an approver (202).
async fn case(
    op: &ChangingOperator,
    lifecycle: &LifecycleService,
    holder: Username,
    case: hpki_lifecycle::Case,
    reason: &str,
) -> CaseAnswer {
    let request = hpki_lifecycle::Request::Holder { holder, case };
    let outcome = lifecycle.submit(&op.0, request, reason, None).await?;
    let status = match outcome {
        Outcome::Pending { .. } => StatusCode::ACCEPTED,
        Outcome::Done { .. } => StatusCode::OK,
    };
    Ok((status, Json(outcome)))
}

type CaseAnswer = Result<(StatusCode, Json<Outcome>), ApiError>;

async fn suspend(
    op: ChangingOperator,
    State(lifecycle): State<LifecycleService>,
    HolderPath(username): HolderPath,
    Json(c): Json<Case>,
) -> CaseAnswer {
    let which = hpki_lifecycle::Case::Suspend;
    case(&op, &lifecycle, username, which, &c.reason).await
}

async fn resume(
    op: ChangingOperator,
    State(lifecycle): State<LifecycleService>,
    HolderPath(username): HolderPath,
    Json(c): Json<Case>,
) -> CaseAnswer {
    let which = hpki_lifecycle::Case::Resume;
    case(&op, &lifecycle, username, which, &c.reason).await
}

async fn lost_card(
    op: ChangingOperator,
    State(lifecycle): State<LifecycleService>,
    HolderPath(username): HolderPath,
    Json(c): Json<Case>,
) -> CaseAnswer {
    let which = hpki_lifecycle::Case::LostCard {
        also_second: c.also_second,
    };
    case(&op, &lifecycle, username, which, &c.reason).await
}

async fn lost_phone(
    op: ChangingOperator,
    State(lifecycle): State<LifecycleService>,
    HolderPath(username): HolderPath,
    Json(c): Json<Case>,
) -> CaseAnswer {
    let which =
        match (c.device, c.revoke_second) {
            (Some(device), false) => hpki_lifecycle::Case::LostPhoneDevice { device },
            (None, true) => hpki_lifecycle::Case::LostPhoneSecond,
            _ => return Err(ApiError(
                hpki_core::domain::InvalidInput::new(
                    "device",
                    "give either device (the device credential to delete) or revoke_second: true",
                )
                .into(),
            )),
        };
    case(&op, &lifecycle, username, which, &c.reason).await
}

/// The requests waiting for an approver (any operator may read them).
async fn approvals(
    _op: OperatorAuth,
    State(lifecycle): State<LifecycleService>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "requests": lifecycle.pending_requests().await? }),
    ))
}

async fn approve(
    op: ChangingOperator,
    State(lifecycle): State<LifecycleService>,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Result<Json<hpki_lifecycle::CaseResult>, ApiError> {
    Ok(Json(lifecycle.approve(&op.0, id, None).await?))
}

async fn reject(
    op: ChangingOperator,
    State(lifecycle): State<LifecycleService>,
    axum::extract::Path(id): axum::extract::Path<i64>,
    Json(c): Json<Case>,
) -> Result<StatusCode, ApiError> {
    lifecycle.reject(&op.0, id, &c.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}
