//! Authentication as extractors, visible in handler signatures.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use hpki_core::audit::Actor;
use hpki_core::services::OperatorService;
use hpki_core::store::Operator;
use hpki_core::Error;
use hpki_lifecycle::Acting;
use hpki_oidc::dpop::{AccessToken, DpopRequest, TokenScheme};

use crate::error::ApiError;

/// The token of `Authorization: Bearer <token>`, if there is a non-empty one. The scheme's
/// name is case-insensitive (RFC 9110, 11.1): `bearer` and `BEARER` are `Bearer`.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    match authorization(headers)? {
        (TokenScheme::Bearer, token) => Some(token),
        (TokenScheme::Dpop, _) => None,
    }
}

/// The scheme (Bearer or DPoP, either case-insensitive) and the non-empty token of the
/// `Authorization` header.
fn authorization(headers: &axum::http::HeaderMap) -> Option<(TokenScheme, &str)> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim_start();
    let (scheme, token) = value.split_once([' ', '\t'])?;
    let token = token.trim();
    if token.is_empty() {
        return None;
    }
    if scheme.eq_ignore_ascii_case("Bearer") {
        Some((TokenScheme::Bearer, token))
    } else if scheme.eq_ignore_ascii_case("DPoP") {
        Some((TokenScheme::Dpop, token))
    } else {
        None
    }
}

/// The access token a request to a protected resource presents (`Authorization: Bearer` or
/// `Authorization: DPoP`), with what its DPoP proof is checked against.
pub fn access_token(parts: &Parts) -> Option<AccessToken> {
    let (scheme, token) = authorization(&parts.headers)?;
    Some(AccessToken {
        token: token.to_owned(),
        scheme,
        request: dpop_request(parts),
    })
}

/// A request's DPoP proof (its `DPoP` header, when it has exactly one: RFC 9449 §4.3), method
/// and path (the whole path, as the client addressed it, also under a nested router).
pub fn dpop_request(parts: &Parts) -> DpopRequest {
    let uri = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or(&parts.uri, |o| &o.0);
    let mut proofs = parts.headers.get_all("dpop").iter();
    let proof = match (proofs.next(), proofs.next()) {
        (Some(p), None) => p.to_str().ok().map(str::to_owned),
        _ => None,
    };
    DpopRequest {
        proof,
        method: parts.method.as_str().to_owned(),
        path: uri.path().to_owned(),
    }
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
