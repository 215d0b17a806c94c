//! Token introspection (RFC 7662) for a relying system's resource servers: whether an access
//! token is active, and about what (its signing session, scope, key binding), or why its
//! session ended.

use hpki_core::domain::oidc::OAuthErrorCode;
use hpki_core::Error;
use serde_json::{json, Value};

use super::{oauth, TokenRequest};
use crate::OidcService;

impl OidcService {
    /// Introspects `r.token` for a relying system that authenticates as at the token endpoint
    /// (a public client cannot: it has nothing to authenticate with). A system learns about
    /// its own tokens only: any other token is inactive to it, as is one that is not ours,
    /// expired, or of a session that ended (then with why, for its own).
    pub async fn introspect(
        &self,
        r: &TokenRequest,
        basic: Option<(String, String)>,
    ) -> Result<Value, Error> {
        let endpoint = self.settings.endpoint(crate::paths::INTROSPECT);
        let client = self.authenticate_client(&endpoint, r, basic).await?;
        if client.client_type() == "public" {
            return Err(oauth(
                OAuthErrorCode::InvalidClient,
                "introspection is for a relying system's servers, which authenticate with a \
                 secret or keys; a public client has neither",
            ));
        }
        let token = r.token.as_deref().unwrap_or("");
        if token.is_empty() {
            return Err(oauth(OAuthErrorCode::InvalidRequest, "token is missing"));
        }
        let inactive = json!({ "active": false });
        match self.signing_session(token).await? {
            Ok(s) if s.authorization.request.client_id == client.client_id => {
                let c = &s.claims;
                let mut answer = json!({
                    "active": true,
                    "iss": c["iss"],
                    "sub": c["sub"],
                    "aud": c["aud"],
                    "client_id": c["client_id"],
                    "scope": c["scope"],
                    "exp": c["exp"],
                    "iat": c["iat"],
                    "auth_time": c["auth_time"],
                    "acr": c["acr"],
                    "sid": c["sid"],
                    "token_type": if c["cnf"].is_object() { "DPoP" } else { "Bearer" },
                });
                if c["cnf"].is_object() {
                    answer["cnf"] = c["cnf"].clone();
                }
                Ok(answer)
            }
            Err(refusal) if refusal.client_id.as_ref() == Some(&client.client_id) => Ok(json!({
                "active": false,
                "end_reason": refusal.description,
            })),
            _ => Ok(inactive),
        }
    }
}
