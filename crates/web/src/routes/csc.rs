//! The Cloud Signature Consortium API, v1 (`/csc/v1/...`) and v2 (`/csc/v2/...`): JSON POSTs
//! with the access token of a holder's sign-in as the bearer token. Thin: each handler reads
//! the body and the token and calls [`CscService`].

use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use hpki_core::audit::Actor;
use hpki_core::domain::oidc::{OAuthError, OAuthErrorCode};
use hpki_core::Error;
use hpki_csc::{ApiVersion, CscService};
use serde::de::DeserializeOwned;

use crate::client::ClientAddr;
use crate::error::ApiError;
use crate::error::CHALLENGES;
use crate::extract::access_token;
use crate::AppState;

pub fn router() -> Router<AppState> {
    // The methods both versions answer alike.
    let common = || {
        Router::new()
            .route("/credentials/info", post(credential_info))
            .route("/credentials/authorize", post(authorize))
            .route("/credentials/extendTransaction", post(extend))
            .route("/signatures/signHash", post(sign_hash))
    };
    let v1 = common()
        .route("/info", post(info_v1).get(info_v1))
        .route("/credentials/list", post(list_v1));
    let v2 = common()
        .route("/info", post(info_v2).get(info_v2))
        .route("/credentials/list", post(list_v2))
        // Whole documents: prescriptions are a few kilobytes, other documents larger.
        .route(
            "/signatures/signDoc",
            post(sign_doc).layer(DefaultBodyLimit::max(8 * 1024 * 1024)),
        );
    Router::new()
        .nest("/csc/v1", v1)
        .nest("/csc/v2", v2)
        // 100 hashes in Base64 and the rest of a call fit well within 64 KiB.
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(axum::middleware::from_fn(crate::error::api_errors_as_json))
}

/// A CSC call: who sends it (for the audit log), the access token as presented (Bearer, or
/// DPoP with its proof), and the JSON body. A body that is not the JSON the method takes is
/// `invalid_request`; a missing token `invalid_token` (401, with `WWW-Authenticate`).
struct Call<T> {
    actor: Actor,
    access: hpki_oidc::dpop::AccessToken,
    body: T,
}

fn invalid(description: String) -> Response {
    ApiError(Error::OAuth(OAuthError::new(
        OAuthErrorCode::InvalidRequest,
        description,
    )))
    .into_response()
}

impl<T: DeserializeOwned + Default> FromRequest<AppState> for Call<T> {
    type Rejection = Response;

    async fn from_request(
        request: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let ClientAddr(ip) = ClientAddr::from_request_parts(&mut parts, state).await?;
        let access = access_token(&parts).ok_or_else(|| {
            let mut resp = ApiError(Error::OAuth(OAuthError::new(
                OAuthErrorCode::InvalidToken,
                "the request needs the access token of a holder's sign-in: Authorization: Bearer \
                 <token> (or Authorization: DPoP <token> with its DPoP proof)",
            )))
            .into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(CHALLENGES),
            );
            resp
        })?;
        let bytes =
            axum::body::Bytes::from_request(axum::extract::Request::from_parts(parts, body), state)
                .await
                .map_err(IntoResponse::into_response)?;
        // An empty body is an empty request (all parameters left out), as for `info`.
        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
            T::default()
        } else {
            serde_json::from_slice(&bytes).map_err(|e| {
                invalid(format!(
                    "the request body is not the JSON this method takes: {e}"
                ))
            })?
        };
        Ok(Self {
            actor: Actor::client(&ip.to_string()),
            access,
            body,
        })
    }
}

/// Answers are never cached: they carry SADs and signatures.
fn answer(result: Result<serde_json::Value, Error>) -> Response {
    let mut resp = match result {
        Ok(body) => Json(body).into_response(),
        Err(e) => ApiError(e).into_response(),
    };
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn info_v1(State(csc): State<CscService>) -> Response {
    Json(csc.info(ApiVersion::V1)).into_response()
}

async fn info_v2(State(csc): State<CscService>) -> Response {
    Json(csc.info(ApiVersion::V2)).into_response()
}

async fn list_v1(
    State(csc): State<CscService>,
    c: Call<hpki_csc::CredentialListRequest>,
) -> Response {
    answer(
        csc.credentials_list(&c.actor, ApiVersion::V1, &c.access, &c.body)
            .await,
    )
}

async fn list_v2(
    State(csc): State<CscService>,
    c: Call<hpki_csc::CredentialListRequest>,
) -> Response {
    answer(
        csc.credentials_list(&c.actor, ApiVersion::V2, &c.access, &c.body)
            .await,
    )
}

async fn credential_info(
    State(csc): State<CscService>,
    c: Call<hpki_csc::CredentialInfoRequest>,
) -> Response {
    answer(csc.credential_info(&c.actor, &c.access, &c.body).await)
}

async fn authorize(State(csc): State<CscService>, c: Call<hpki_csc::AuthorizeRequest>) -> Response {
    answer(csc.authorize(&c.actor, &c.access, &c.body).await)
}

async fn extend(State(csc): State<CscService>, c: Call<hpki_csc::ExtendRequest>) -> Response {
    answer(csc.extend(&c.actor, &c.access, &c.body).await)
}

async fn sign_hash(State(csc): State<CscService>, c: Call<hpki_csc::SignHashRequest>) -> Response {
    answer(csc.sign_hash(&c.actor, &c.access, &c.body).await)
}

async fn sign_doc(State(csc): State<CscService>, c: Call<hpki_csc::SignDocRequest>) -> Response {
    answer(csc.sign_doc(&c.actor, &c.access, &c.body).await)
}
