//! The holder's own page after an OpenID Connect sign-in (`/me`): the page is a relying
//! system of this provider like any other — registered as a public client (PKCE), signing in
//! with the passkey or the HPKI card on the same login page — so every check and audit event
//! of a sign-in applies to it. Its client ID follows from its redirect URI (a new public URL
//! registers a new one). Its access token is the page's session: valid while the sign-in's
//! session runs (signing out of every system ends it too) and for at most [`PAGE_SESSION`]
//! after the sign-in, whatever the token's own expiry.

use chrono::Duration;
use hpki_core::audit::Actor;
use hpki_core::domain::csc::SigningModes;
use hpki_core::domain::oidc::{
    AuthorizationStage, ClientId, LoginMethods, NewRelyingParty, RedirectUri,
};
use hpki_core::domain::Holder;
use hpki_core::Error;
use sha2::{Digest, Sha256};

use crate::{jwt, OidcService};

/// The holder page's path under the issuer, and its redirect URI's.
pub const PAGE_PATH: &str = "/me";
pub const CALLBACK_PATH: &str = "/me/callback";

/// How long after the sign-in the page stays open.
pub const PAGE_SESSION: Duration = Duration::minutes(30);

/// The relying system's name, as the audit log and the client list show it.
const NAME: &str = "保有者のページ（hpki-second /me）";

/// Who a holder-page session is.
#[derive(Clone, Debug)]
pub struct PageSession {
    pub holder: Holder,
    /// The device credential signed in with (none: the HPKI card).
    pub device_id: Option<i64>,
}

impl OidcService {
    /// The holder page's redirect URI.
    pub fn holder_page_redirect(&self) -> String {
        self.settings.endpoint(CALLBACK_PATH)
    }

    /// The holder page's client ID: `hsc_` and the first 24 hex digits of the SHA-256 of its
    /// redirect URI.
    pub fn holder_page_client(&self) -> ClientId {
        let digest = Sha256::digest(format!("holder page\n{}", self.holder_page_redirect()));
        let id = format!("{}{}", ClientId::PREFIX, &hex::encode(digest)[..24]);
        ClientId::parse(&id).unwrap_or_else(|_| unreachable!("24 hex digits make a client ID"))
    }

    /// Registers the holder page as a relying system unless it is (at start).
    pub async fn ensure_holder_page_client(&self, actor: &Actor) -> Result<(), Error> {
        let client_id = self.holder_page_client();
        if self.store.client(&client_id).await?.is_some() {
            return Ok(());
        }
        let redirect = RedirectUri::parse(&self.holder_page_redirect()).map_err(|e| {
            Error::Internal(format!("the holder page's redirect URI: {}", e.message))
        })?;
        let now = self.clock.now();
        let client = NewRelyingParty {
            client_id: client_id.clone(),
            name: NAME.to_owned(),
            redirect_uris: vec![redirect],
            methods: LoginMethods::Any,
            signing: SigningModes::NONE,
            secret_hash: None,
            jwks: None,
            created_at: now,
        };
        let event = hpki_core::audit::AuditEvent::new(
            now,
            actor,
            "oidc.client_added",
            client_id.to_string(),
            serde_json::json!({
                "name": NAME,
                "redirect_uris": client.redirect_uris,
                "methods": client.methods,
                "signing": client.signing.as_str(),
                "token_endpoint_auth_method": "none",
            }),
        );
        match self.store.insert_client(&client, &event).await {
            Ok(_) => Ok(()),
            // Another instance registered it meanwhile.
            Err(_) if self.store.client(&client_id).await?.is_some() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The holder a holder-page session belongs to: an access token of this provider for the
    /// holder page, whose sign-in's session runs and is at most [`PAGE_SESSION`] old. `None`
    /// for anything else (the page then asks to sign in). A suspended holder is returned: the
    /// page says so.
    pub async fn holder_page_session(&self, token: &str) -> Result<Option<PageSession>, Error> {
        Ok(self.page_session(token).await?.map(|(_, s)| s))
    }

    /// Ends the holder-page session of `token` (the holder signs out of their page); nothing
    /// if it runs no more.
    pub async fn end_holder_page_session(&self, actor: &Actor, token: &str) -> Result<(), Error> {
        if let Some((a, s)) = self.page_session(token).await? {
            self.end_session(actor, &a, &s.holder, "signed out of the holder page")
                .await?;
        }
        Ok(())
    }

    async fn page_session(
        &self,
        token: &str,
    ) -> Result<Option<(hpki_core::domain::oidc::Authorization, PageSession)>, Error> {
        let now = self.clock.now();
        let keys = self.published_keys(now).await?;
        let Some(claims) = jwt::verify(token, "at+jwt", &keys) else {
            return Ok(None);
        };
        let client = self.holder_page_client();
        if claims["iss"] != self.settings.issuer() || claims["client_id"] != client.as_str() {
            return Ok(None);
        }
        if claims["exp"].as_i64().is_none_or(|e| e <= now.timestamp()) {
            return Ok(None);
        }
        let Some(id) = claims["sid"].as_str().and_then(|s| s.parse::<i64>().ok()) else {
            return Ok(None);
        };
        let Some(a) = self.store.authorization(id).await? else {
            return Ok(None);
        };
        let fresh = a.auth_time.is_some_and(|t| now < t + PAGE_SESSION);
        if a.request.client_id != client
            || a.stage(now) != AuthorizationStage::SessionActive
            || !fresh
        {
            return Ok(None);
        }
        let Some(holder) = (match a.holder_id {
            Some(h) => self.holders.holder_by_id(h).await?,
            None => None,
        }) else {
            return Ok(None);
        };
        let session = PageSession {
            holder,
            device_id: a.device_id,
        };
        Ok(Some((a, session)))
    }
}
