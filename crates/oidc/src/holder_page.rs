//! The holder's own page after an OpenID Connect sign-in (`/me`): the page is a relying
//! system of this provider like any other — registered as a public client (PKCE), signing in
//! with the passkey or the HPKI card on the same login page — so every check and audit event
//! of a sign-in applies to it. Its client ID follows from its redirect URI (a new public URL
//! registers a new one). Its access token is the page's session: valid while the sign-in's
//! session runs (signing out of every system ends it too) and for at most [`PAGE_SESSION`]
//! after the sign-in, whatever the token's own expiry.

use chrono::Duration;
use hpki_core::audit::Action;
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

/// A holder-page sign-in a browser started: where to send it (the login page, with a new
/// `state`, `nonce` and PKCE challenge), and what the browser keeps until the login comes back
/// (in an HttpOnly cookie: the state and the PKCE verifier).
#[derive(Debug)]
pub struct PageSignIn {
    /// The authorization request's path and query (relative: the browser stays on the address
    /// it used).
    pub authorize_path: String,
    pub kept: String,
}

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
            dpop_bound: false,
            par_required: false,
            created_at: now,
        };
        let event = hpki_core::audit::AuditEvent::new(
            now,
            actor,
            Action::OIDC_CLIENT_ADDED,
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

    /// A new sign-in for the holder page.
    pub fn start_holder_page_sign_in(&self) -> Result<PageSignIn, Error> {
        let state = hpki_core::secret::new_token("")?;
        let verifier = hpki_core::secret::new_token("")?;
        let nonce = hpki_core::secret::new_token("")?;
        let challenge = jwt::b64(&Sha256::digest(verifier.as_bytes()));
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", self.holder_page_client().as_str())
            .append_pair("redirect_uri", &self.holder_page_redirect())
            .append_pair("scope", "openid")
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .finish();
        Ok(PageSignIn {
            authorize_path: format!("{}?{query}", crate::paths::AUTHORIZE),
            kept: format!("{state}.{verifier}"),
        })
    }

    /// The login came back to the holder page: if `state` is the one this browser `kept`, the
    /// code is redeemed (with the kept PKCE verifier, like any relying system's) and its access
    /// token is the page's session. `None`: not this browser's sign-in, or the code refused
    /// (used already, expired).
    pub async fn finish_holder_page_sign_in(
        &self,
        actor: &Actor,
        kept: Option<&str>,
        code: Option<String>,
        state: Option<&str>,
    ) -> Result<Option<String>, Error> {
        let (Some((expected, verifier)), Some(code), Some(state)) =
            (kept.and_then(|k| k.split_once('.')), code, state)
        else {
            return Ok(None);
        };
        if !hpki_core::secret::ct_eq(expected.as_bytes(), state.as_bytes()) {
            return Ok(None);
        }
        let request = crate::TokenRequest {
            grant_type: Some("authorization_code".to_owned()),
            code: Some(code),
            redirect_uri: Some(self.holder_page_redirect()),
            code_verifier: Some(verifier.to_owned()),
            client_id: Some(self.holder_page_client().to_string()),
            ..Default::default()
        };
        // The page's own exchange, inside the service: no DPoP (the token stays here).
        let no_proof = crate::dpop::DpopRequest {
            proof: None,
            method: "POST".into(),
            path: crate::paths::TOKEN.into(),
        };
        match self.token(actor, &request, None, &no_proof).await {
            Ok(answer) => Ok(answer["access_token"].as_str().map(str::to_owned)),
            Err(Error::OAuth(_)) => Ok(None),
            Err(e) => Err(e),
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
