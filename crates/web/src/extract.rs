//! Authentication as extractors, visible in handler signatures.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use hpki_core::audit::Actor;
use hpki_core::services::OperatorService;
use hpki_core::store::Operator;
use hpki_core::Error;

use crate::error::ApiError;

/// An operator authenticated by `Authorization: Bearer <token>`.
pub struct OperatorAuth(pub Operator);

impl OperatorAuth {
    pub fn actor(&self) -> Actor {
        Actor::operator(&self.0.name)
    }
}

impl<S> FromRequestParts<S> for OperatorAuth
where
    S: Send + Sync,
    OperatorService: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError(Error::Unauthenticated))?;
        let operators = OperatorService::from_ref(state);
        Ok(Self(operators.authenticate(token.trim()).await?))
    }
}
