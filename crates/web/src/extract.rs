//! Authentication as extractors, visible in handler signatures.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use hpki_core::audit::Actor;
use hpki_core::services::OperatorService;
use hpki_core::store::Operator;
use hpki_core::Error;
use hpki_lifecycle::Acting;

use crate::error::ApiError;

/// The token of `Authorization: Bearer <token>`, if there is a non-empty one. The scheme's
/// name is case-insensitive (RFC 9110, 11.1): `bearer` and `BEARER` are `Bearer`.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim_start();
    let (scheme, token) = value.split_once([' ', '\t'])?;
    scheme
        .eq_ignore_ascii_case("Bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// An operator authenticated by `Authorization: Bearer <token>`.
pub struct OperatorAuth(pub Operator);

impl<S> FromRequestParts<S> for OperatorAuth
where
    S: Send + Sync,
    OperatorService: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or(ApiError(Error::Unauthenticated))?;
        let operators = OperatorService::from_ref(state);
        Ok(Self(operators.authenticate(token).await?))
    }
}

/// An operator who may change things (the `operator` and `approver` roles), as the gate
/// (`hpki_lifecycle::Acting`) takes them: an auditor's token gets 403 before anything is
/// looked at. The role check is `Acting`'s, the only one.
pub struct ChangingOperator(pub Acting);

impl ChangingOperator {
    pub fn actor(&self) -> &Actor {
        self.0.actor()
    }
}

impl<S> FromRequestParts<S> for ChangingOperator
where
    S: Send + Sync,
    OperatorService: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let OperatorAuth(op) = OperatorAuth::from_request_parts(parts, state).await?;
        Ok(Self(Acting::with_token(&op)?))
    }
}

/// A holder named in the path (`/api/v1/holders/{username}`), parsed at the edge: a malformed
/// username is a 422 naming the field before any service is called.
pub struct HolderPath(pub hpki_core::domain::Username);

impl<S: Send + Sync> FromRequestParts<S> for HolderPath {
    type Rejection = axum::response::Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse;
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(IntoResponse::into_response)?;
        hpki_core::domain::Username::parse(&raw)
            .map(Self)
            .map_err(|e| ApiError(Error::from(e)).into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let token = |value: &str| {
            let mut headers = axum::http::HeaderMap::new();
            headers.insert(
                axum::http::header::AUTHORIZATION,
                axum::http::HeaderValue::from_str(value).expect("header"),
            );
            bearer_token(&headers).map(str::to_owned)
        };
        for value in ["Bearer abc", "bearer abc", "BEARER  abc ", "BeArEr\tabc"] {
            assert_eq!(token(value).as_deref(), Some("abc"), "{value}");
        }
        for value in ["Basic abc", "Bearer", "Bearer   ", "Bearerabc", "Token abc"] {
            assert_eq!(token(value), None, "{value}");
        }
    }
}
