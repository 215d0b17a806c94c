//! The HPKI card login's endpoints: the login page asks for a code and polls for the card's
//! answer (with its login cookie and CSRF header); the card client (`hpki-second card
//! sign-in`) fetches the challenge with the code and sends the card's signature (no cookie:
//! the code is what ties it to the page, so these calls are limited per address).

use std::time::Instant;

use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use hpki_core::audit::Actor;
use hpki_core::domain::oidc::{OAuthError, OAuthErrorCode};
use hpki_core::Error;
use hpki_oidc::{CardAnswer, CardStatus, OidcService};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use super::oidc::LoginApi;
use crate::client::ClientAddr;
use crate::error::ApiError;
use crate::{AppState, HolderPages};

pub fn router() -> Router<AppState> {
    let client = Router::new()
        .route("/oidc/card/challenge", post(challenge))
        .route("/oidc/card/answer", post(answer))
        .layer(DefaultBodyLimit::max(32 * 1024))
        .layer(axum::middleware::from_fn(crate::error::api_errors_as_json));
    Router::new()
        .route(
            "/oidc/login/card",
            post(code).layer(DefaultBodyLimit::max(1024)),
        )
        .route(
            "/oidc/login/card/status",
            post(status).layer(DefaultBodyLimit::max(1024)),
        )
        .merge(client)
}

fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The page asks for a code (a new one replaces the old).
async fn code(
    State(oidc): State<OidcService>,
    LoginApi(token): LoginApi,
    _body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let c = oidc.card_code(&token).await?;
    Ok(no_store(
        Json(json!({ "code": c.code, "expires_in": c.expires_in })).into_response(),
    ))
}

/// The page's poll: waiting, the redirect once the card answered, or the refusal.
async fn status(
    State(oidc): State<OidcService>,
    LoginApi(token): LoginApi,
    ClientAddr(ip): ClientAddr,
    _body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let actor = Actor::client(&ip.to_string());
    let body = match oidc.card_status(&actor, &token).await? {
        CardStatus::Waiting { .. } => json!({ "state": "waiting" }),
        CardStatus::SignedIn { redirect } => json!({ "state": "signed_in", "redirect": redirect }),
    };
    Ok(no_store(Json(body).into_response()))
}

/// A card client's call: its address (rate-limited) and its JSON body.
struct CardCall<T> {
    actor: Actor,
    body: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for CardCall<T> {
    type Rejection = Response;

    async fn from_request(
        request: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let ClientAddr(ip) = ClientAddr::from_request_parts(&mut parts, state).await?;
        let pages: &HolderPages = &state.holder_pages;
        if let Err(wait) = pages.card_limiter.take(ip, Instant::now()) {
            tracing::warn!(client = %ip, "card sign-in attempts rate-limited");
            let secs = wait.as_secs().max(1);
            let resp = (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({
                    "error": "slow_down",
                    "error_description": format!("too many attempts from this address; try again in {secs} seconds"),
                })),
            )
                .into_response();
            return Err(crate::ratelimit::retry_after(resp, wait));
        }
        let bytes =
            axum::body::Bytes::from_request(axum::extract::Request::from_parts(parts, body), state)
                .await
                .map_err(IntoResponse::into_response)?;
        let body = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError(Error::OAuth(OAuthError::new(
                OAuthErrorCode::InvalidRequest,
                format!("the request body is not the JSON this endpoint takes: {e}"),
            )))
            .into_response()
        })?;
        Ok(Self {
            actor: Actor::client(&ip.to_string()),
            body,
        })
    }
}

#[derive(Deserialize)]
struct ChallengeRequest {
    code: String,
}

async fn challenge(
    State(oidc): State<OidcService>,
    call: CardCall<ChallengeRequest>,
) -> Result<Response, ApiError> {
    let c = oidc.card_challenge(&call.body.code).await?;
    Ok(no_store(
        Json(json!({
            "challenge": c.challenge,
            "client_name": c.client_name,
            "expires_at": c.expires_at.to_rfc3339(),
        }))
        .into_response(),
    ))
}

#[derive(Deserialize)]
struct AnswerRequest {
    code: String,
    origin: String,
    /// base64 (standard) DER.
    certificate: String,
    /// base64 (standard).
    signature: String,
}

async fn answer(
    State(oidc): State<OidcService>,
    call: CardCall<AnswerRequest>,
) -> Result<Response, ApiError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let invalid = |what: &str| {
        ApiError(Error::OAuth(OAuthError::new(
            OAuthErrorCode::InvalidRequest,
            format!("{what} is not base64"),
        )))
    };
    let r = call.body;
    let answer = CardAnswer {
        certificate: b64
            .decode(r.certificate.trim())
            .map_err(|_| invalid("certificate"))?,
        signature: b64
            .decode(r.signature.trim())
            .map_err(|_| invalid("signature"))?,
        code: r.code,
        origin: r.origin,
    };
    let holder = oidc.card_answer(&call.actor, &answer).await?;
    Ok(no_store(Json(json!({ "holder": holder })).into_response()))
}
