//! Relying systems, registered by operators (`hpki-second client add`).

use hpki_core::audit::Action;
use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::domain::csc::SigningModes;
use hpki_core::domain::oidc::{
    ClientId, ClientKeys, LoginMethods, NewRelyingParty, RedirectKind, RedirectUri, RelyingParty,
};
use hpki_core::domain::InvalidInput;
use hpki_core::Error;
use serde_json::json;

use crate::OidcService;

/// A relying system as an operator describes it (unchecked text).
#[derive(Clone, Debug, Default)]
pub struct NewClient {
    pub name: String,
    pub redirect_uris: Vec<String>,
    /// `passkey`, `card` or `any` (default `any`).
    pub methods: Option<String>,
    /// How it may have signatures made: `none` (default), `scal1`, `scal2` or `scal1,scal2`.
    pub signing: Option<String>,
    /// Whether it authenticates with a client secret (a confidential client); without one or
    /// keys it is a public client (PKCE alone).
    pub with_secret: bool,
    /// Its public keys (a JWK Set, as text) for private_key_jwt, instead of a secret.
    pub jwks: Option<String>,
    /// Whether it requires DPoP-bound access tokens (RFC 9449).
    pub dpop: bool,
    /// Whether it must push its authorization requests (RFC 9126).
    pub par: bool,
}

/// The secrets relying systems authenticate with: `hscs_` and 64 hex digits (256 bits).
const SECRET_PREFIX: &str = "hscs_";

impl OidcService {
    /// Registers a relying system; the client secret, if any, is returned this once and kept
    /// only as a hash.
    pub async fn add_client(
        &self,
        actor: &Actor,
        input: &NewClient,
    ) -> Result<(RelyingParty, Option<String>), Error> {
        let mut errors = Vec::new();
        let name = input.name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            errors.push(InvalidInput::new(
                "name",
                "must be 1 to 100 characters without control characters",
            ));
        }
        let mut uris = Vec::new();
        for u in &input.redirect_uris {
            match RedirectUri::parse(u) {
                Ok(u) if !uris.contains(&u) => uris.push(u),
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        }
        if uris.is_empty() && errors.is_empty() {
            errors.push(InvalidInput::new(
                "redirect_uri",
                "give at least one redirect URI (--redirect-uri)",
            ));
        }
        let jwks = match input.jwks.as_deref() {
            None => None,
            Some(_) if input.with_secret => {
                errors.push(InvalidInput::new(
                    "jwks",
                    "give a client secret or keys (private_key_jwt), not both",
                ));
                None
            }
            Some(text) => ClientKeys::parse(text).map_err(|e| errors.push(e)).ok(),
        };
        // A private-use scheme reaches whichever app on the machine claims it: only a client
        // that holds no secret (a native app, PKCE alone) may use one (RFC 8252 §8.4, §8.5).
        let confidential = input.with_secret || input.jwks.is_some();
        for u in uris.iter().filter(|u| u.kind() == RedirectKind::PrivateUse) {
            if confidential {
                errors.push(InvalidInput::new(
                    "redirect_uri",
                    format!(
                        "{} is a private-use scheme: only a public client (a native app, no \
                         secret or keys: PKCE alone) may register one",
                        u.as_str()
                    ),
                ));
            }
        }
        let methods = match input.methods.as_deref() {
            None => Some(LoginMethods::Any),
            Some(m) => LoginMethods::parse(m).map_err(|e| errors.push(e)).ok(),
        };
        let signing = match input.signing.as_deref() {
            None => Some(SigningModes::NONE),
            Some(m) => SigningModes::parse(m).map_err(|e| errors.push(e)).ok(),
        };
        let (Some(methods), Some(signing), true) = (methods, signing, errors.is_empty()) else {
            return Err(Error::Invalid(errors));
        };
        let secret = if input.with_secret {
            Some(hpki_core::secret::new_token(SECRET_PREFIX)?)
        } else {
            None
        };
        let now = self.clock.now();
        let client = NewRelyingParty {
            client_id: ClientId::generate()?,
            name: name.to_owned(),
            redirect_uris: uris,
            methods,
            signing,
            secret_hash: secret.as_deref().map(hpki_core::secret::token_hash),
            jwks,
            dpop_bound: input.dpop,
            par_required: input.par,
            created_at: now,
        };
        let event = AuditEvent::new(
            now,
            actor,
            Action::OIDC_CLIENT_ADDED,
            client.client_id.to_string(),
            json!({
                "name": client.name,
                "redirect_uris": client.redirect_uris,
                "methods": client.methods,
                "signing": client.signing.as_str(),
                "dpop_bound_access_tokens": client.dpop_bound,
                "require_pushed_authorization_requests": client.par_required,
                "token_endpoint_auth_method": if secret.is_some() {
                    "client_secret_basic"
                } else if client.jwks.is_some() {
                    "private_key_jwt"
                } else {
                    "none"
                },
            }),
        );
        let stored = self.store.insert_client(&client, &event).await?;
        Ok((stored, secret))
    }

    pub async fn clients(&self) -> Result<Vec<RelyingParty>, Error> {
        Ok(self.store.clients().await?)
    }

    pub async fn client(&self, client_id: &ClientId) -> Result<RelyingParty, Error> {
        self.store
            .client(client_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("client {client_id}")))
    }

    /// Disables a relying system: it gets no more tokens, and its signing sessions end.
    pub async fn disable_client(
        &self,
        actor: &Actor,
        client_id: &ClientId,
    ) -> Result<RelyingParty, Error> {
        let client = self.client(client_id).await?;
        let now = self.clock.now();
        let event = AuditEvent::new(
            now,
            actor,
            Action::OIDC_CLIENT_DISABLED,
            client_id.to_string(),
            json!({ "name": client.name }),
        );
        if !self.store.disable_client(client_id, now, &event).await? {
            return Err(Error::Conflict(format!(
                "client {client_id} is disabled already"
            )));
        }
        if let Ok(mut cache) = self.clients.write() {
            cache.remove(client_id);
        }
        self.client(client_id).await
    }
}
