//! The one place where domain errors become HTTP responses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hpki_core::domain::PhotoError;
use hpki_core::Error;
use serde_json::json;

/// What a 503 (database or keystore out of reach) tells clients to wait before trying again.
pub const RETRY_AFTER_SECONDS: &str = "5";

/// A service error on its way out as JSON: `{"error": "...", "error_description": "...", ...}`.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

/// The status and error code of every domain error: the single table both the JSON API and
/// the HTML pages use.
pub fn status_of(e: &Error) -> (StatusCode, &'static str) {
    match e {
        Error::Invalid(_) | Error::ImportRejected(_) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request")
        }
        Error::Photo(PhotoError::TooLarge { .. }) => {
            (StatusCode::PAYLOAD_TOO_LARGE, "photo_too_large")
        }
        Error::Photo(PhotoError::NotJpegOrPng { .. }) => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_photo")
        }
        Error::Photo(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_photo"),
        Error::Unprintable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unprintable"),
        Error::Ceremony { refusal, .. } => {
            use hpki_core::domain::device::CeremonyRefusal as R;
            let status = match refusal {
                R::TooManyDevices | R::CredentialExists => StatusCode::CONFLICT,
                R::CounterRegression | R::DeviceSuspect => StatusCode::FORBIDDEN,
                R::NoUserVerification
                | R::ChallengeExpired
                | R::ChallengeUnknown
                | R::OtherHolder
                | R::UnknownCredential
                | R::DeviceChanged
                | R::NoDevice
                | R::WrongOrigin
                | R::WrongRp
                | R::BadSignature
                | R::Malformed
                | R::VerificationFailed => StatusCode::BAD_REQUEST,
            };
            (status, refusal.code())
        }
        Error::OAuth(e) => {
            use hpki_core::domain::oidc::OAuthErrorCode as C;
            let status = match e.code {
                C::InvalidClient | C::InvalidToken | C::InvalidDpopProof | C::UseDpopNonce => {
                    StatusCode::UNAUTHORIZED
                }
                C::AccessDenied | C::InsufficientScope => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            };
            (status, e.code.as_str())
        }
        Error::Login { refusal, .. } => (StatusCode::FORBIDDEN, refusal.code()),
        Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        Error::Conflict(_) | Error::KeyOffline(_) => (StatusCode::CONFLICT, "conflict"),
        Error::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthorized"),
        Error::Forbidden(_) | Error::OperatorRefused(_) => (StatusCode::FORBIDDEN, "forbidden"),
        Error::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "slow_down"),
        Error::Unavailable(_) | Error::KeystoreUnavailable(_) | Error::NotSetUp(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let (status, code) = status_of(&e);
        let description = if status.is_server_error() {
            // Details of server-side failures go to the log, not to the client.
            tracing::error!(error = %e, "request failed");
            "the service could not complete the request; try again later".to_owned()
        } else if let Error::OAuth(o) = &e {
            o.description.clone()
        } else {
            e.to_string()
        };
        let mut body = json!({ "error": code, "error_description": description });
        match &e {
            Error::Invalid(fields) => {
                body["fields"] = json!(fields
                    .iter()
                    .map(|f| json!({"field": f.field, "message": f.message}))
                    .collect::<Vec<_>>());
            }
            Error::ImportRejected(rows) => body["rows"] = json!(rows),
            _ => {}
        }
        let mut resp = (status, Json(body)).into_response();
        if let Some(nonce) = match &e {
            Error::OAuth(o) => o.dpop_nonce.as_deref(),
            _ => None,
        } {
            if let Ok(value) = axum::http::HeaderValue::from_str(nonce) {
                resp.headers_mut().insert("dpop-nonce", value);
            }
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            use hpki_core::domain::oidc::OAuthErrorCode as C;
            let challenge = match &e {
                Error::OAuth(o) if o.code == C::InvalidDpopProof => DPOP_PROOF_CHALLENGE,
                Error::OAuth(o) if o.code == C::UseDpopNonce => DPOP_NONCE_CHALLENGE,
                _ => CHALLENGES,
            };
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static(challenge),
            );
        }
        resp
    }
}

/// The schemes a protected resource takes (RFC 6750, RFC 9449 §7.1, with the proof
/// algorithms of `dpop_signing_alg_values_supported`).
pub const CHALLENGES: &str = "Bearer, DPoP algs=\"ES256 EdDSA PS256 RS256\"";
/// A DPoP proof refused (RFC 9449 §7.1).
const DPOP_PROOF_CHALLENGE: &str =
    "DPoP error=\"invalid_dpop_proof\", algs=\"ES256 EdDSA PS256 RS256\"";
/// A DPoP proof without the server's current nonce (RFC 9449 §9).
const DPOP_NONCE_CHALLENGE: &str =
    "DPoP error=\"use_dpop_nonce\", algs=\"ES256 EdDSA PS256 RS256\"";

/// An error of the OAuth token and device authorization endpoints: RFC 6749 5.2 (and RFC 8628
/// 3.2, 3.5) answers 400 for every error code but `invalid_client` (401), whatever a code means
/// at other endpoints (a CSC call's `access_denied` is 403).
pub fn token_endpoint_error(e: Error) -> Response {
    use hpki_core::domain::oidc::OAuthErrorCode as C;
    let bad_request = matches!(&e, Error::OAuth(o) if o.code != C::InvalidClient);
    let mut resp = ApiError(e).into_response();
    if bad_request {
        // Not a protected resource's 401: no challenge (RFC 9449 §5 for invalid_dpop_proof).
        *resp.status_mut() = StatusCode::BAD_REQUEST;
        resp.headers_mut()
            .remove(axum::http::header::WWW_AUTHENTICATE);
    }
    resp
}

/// A request the router or an extractor refused before a service saw it.
pub fn client_error(status: StatusCode, code: &str, description: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "error": code, "error_description": description.into() })),
    )
        .into_response()
}

/// The operator API's promise, kept for the refusals that come before a handler (the router's
/// 405, the extractors' 400/413/415/422): any error response that is not JSON yet becomes
/// `{"error", "error_description"}` with the same status and headers (`Allow`, `Retry-After`).
pub async fn api_errors_as_json(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let code = match status {
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "server_error",
        _ => "invalid_request",
    };
    let description = if status.is_server_error() || text.is_empty() {
        status.canonical_reason().unwrap_or("refused").to_owned()
    } else {
        text
    };
    let mut json = client_error(status, code, description);
    for (name, value) in &parts.headers {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            json.headers_mut().insert(name.clone(), value.clone());
        }
    }
    json
}

/// A service error on a holder-facing page: the same status, a plain Japanese page.
#[derive(Debug)]
pub struct PageError(pub Error);

impl From<Error> for PageError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, _) = status_of(&self.0);
        if status.is_server_error() {
            tracing::error!(error = %self.0, "page failed");
        }
        let mut resp = crate::pages::service_problem(status).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        resp
    }
}

/// A service error on a console page: what the operator may not do here (their role, their
/// own request, a holder whose sheet cannot be printed) is said on the console's own page
/// with the reason (403); everything else as on every page.
#[derive(Debug)]
pub struct ConsoleError(pub Error);

impl From<Error> for ConsoleError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        match self.0 {
            Error::Forbidden(why) => crate::pages::console::refused(
                crate::lang::t("この操作は許可されていません。", "This is not allowed."),
                Some(&why),
            )
            .into_response(),
            Error::OperatorRefused(why) => {
                crate::pages::console::forbidden(&crate::words::operator_refusal(&why))
                    .into_response()
            }
            Error::Unprintable(why) => crate::pages::console::refused(
                &crate::words::print_failure(&why),
                Some(&why.to_string()),
            )
            .into_response(),
            e => PageError(e).into_response(),
        }
    }
}

/// A request whose body fell behind its pace (`server::BodyPace`): 408, and the connection is
/// closed (what is left of the body is not read).
pub fn body_too_slow() -> Response {
    let mut response = client_error(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        "the request body arrived too slowly; send it again on a better connection",
    );
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenges_name_the_proof_algorithms_discovery_advertises() {
        let algs = format!("algs=\"{}\"", hpki_oidc::dpop::ALGORITHMS.join(" "));
        assert!(CHALLENGES.contains(&algs), "{CHALLENGES}");
        assert!(
            DPOP_PROOF_CHALLENGE.contains(&algs),
            "{DPOP_PROOF_CHALLENGE}"
        );
        assert!(
            DPOP_NONCE_CHALLENGE.contains(&algs),
            "{DPOP_NONCE_CHALLENGE}"
        );
    }

    #[test]
    fn token_endpoint_errors_are_400_but_invalid_client() {
        use hpki_core::domain::oidc::{OAuthError, OAuthErrorCode as C};
        let oauth = |c| Error::OAuth(OAuthError::new(c, "x"));
        assert_eq!(
            ApiError(oauth(C::AccessDenied)).into_response().status(),
            StatusCode::FORBIDDEN,
            "elsewhere (a CSC call) access_denied is 403"
        );
        for (code, status) in [
            (C::AccessDenied, StatusCode::BAD_REQUEST),
            (C::AuthorizationPending, StatusCode::BAD_REQUEST),
            (C::InvalidGrant, StatusCode::BAD_REQUEST),
            (C::InvalidDpopProof, StatusCode::BAD_REQUEST),
            (C::InvalidClient, StatusCode::UNAUTHORIZED),
        ] {
            let resp = token_endpoint_error(oauth(code));
            assert_eq!(resp.status(), status, "{code}");
            assert_eq!(
                resp.headers()
                    .contains_key(axum::http::header::WWW_AUTHENTICATE),
                status == StatusCode::UNAUTHORIZED,
                "{code}: a challenge with 401 only"
            );
        }
        assert_eq!(
            token_endpoint_error(Error::Unavailable("db".into())).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn an_unreachable_database_or_keystore_is_503_with_retry_after() {
        for e in [
            Error::Unavailable("the database".into()),
            Error::KeystoreUnavailable("the token is not there any more".into()),
            Error::NotSetUp(hpki_core::Unset::CaHierarchy),
        ] {
            let resp = ApiError(e).into_response();
            assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(
                resp.headers()
                    .get(axum::http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()),
                Some(RETRY_AFTER_SECONDS)
            );
        }
        let page = PageError(Error::KeystoreUnavailable("gone".into())).into_response();
        assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(page.headers().contains_key(axum::http::header::RETRY_AFTER));
        // A failed key is still the service's own failure.
        let internal = ApiError(Error::Internal("bug".into())).into_response();
        assert_eq!(internal.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn keystore_errors_keep_their_kind() {
        use hpki_core::keystore::KeystoreError;
        assert!(matches!(
            Error::from(KeystoreError::Unavailable("x".into())),
            Error::KeystoreUnavailable(_)
        ));
        assert!(matches!(
            Error::from(KeystoreError::BadKey("x".into())),
            Error::Internal(_)
        ));
    }
}
