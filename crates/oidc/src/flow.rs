//! The authorization code flow with PKCE: the request checked, the holder's login with the
//! passkey, the code, the token exchange, userinfo and revocation.

use chrono::{DateTime, Utc};
use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::domain::device::DeviceState;
use hpki_core::domain::oidc::{
    AuthMethod, Authorization, AuthorizationStage, ClientId, LoginRefusal, NewAuthorization,
    OAuthError, OAuthErrorCode, Redemption, RedirectUri, RelyingParty,
};
use hpki_core::domain::{CertificateKind, CertificateStatus, Holder, HolderStatus, Username};
use hpki_core::secret::{ct_eq, new_token, token_hash};
use hpki_core::Error;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::jwt;
use crate::OidcService;

/// The `acr` of a login with a passkey and user verification.
pub const ACR_PASSKEY: &str = "urn:hpki-second:acr:passkey";

/// The longest `state` and `nonce` taken (they come back in redirects and tokens).
const MAX_ECHOED: usize = 1024;

/// The query of an authorization request, unchecked.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AuthorizeRequest {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub acr_values: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
}

/// Why an authorization request goes no further.
#[derive(Debug)]
pub enum AuthorizeRefusal {
    /// The client or its redirect URI cannot be trusted: never redirect, show this.
    NoRedirect(String),
    /// An error for the relying system, sent to its redirect URI (this address).
    Redirect(String),
    /// The service could not decide (database, keystore).
    Service(Error),
}

impl From<Error> for AuthorizeRefusal {
    fn from(e: Error) -> Self {
        Self::Service(e)
    }
}

/// What the login page needs: the browser's login token (for its cookie) and whom the holder
/// is signing in to.
#[derive(Clone, Debug)]
pub struct LoginPage {
    pub login_token: String,
    pub client_name: String,
}

/// A token request (form fields), unchecked.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// private_key_jwt (RFC 7523): `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
    /// and the JWT.
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
    /// For revocation (RFC 7009).
    pub token: Option<String>,
    pub token_type_hint: Option<String>,
}

fn oauth(code: OAuthErrorCode, description: impl Into<String>) -> Error {
    Error::OAuth(OAuthError::new(code, description))
}

fn login_refused(refusal: LoginRefusal, detail: impl Into<String>) -> Error {
    Error::Login {
        refusal,
        detail: detail.into(),
    }
}

/// RFC 7636: 43 to 128 characters of `[A-Za-z0-9-._~]`.
fn pkce_value(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `uri` with the query parameters added (keeping any query it has).
fn with_query(uri: &RedirectUri, params: &[(&str, &str)]) -> String {
    match url::Url::parse(uri.as_str()) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            u.to_string()
        }
        Err(_) => uri.as_str().to_owned(),
    }
}

impl OidcService {
    /// The subject of a holder: stable, opaque, the same for every relying system.
    fn subject(&self, holder: &Holder) -> String {
        let mut h = Sha256::new();
        h.update(b"hpki-second sub\0");
        h.update(self.settings.issuer().as_bytes());
        h.update(b"\0");
        h.update(holder.id.to_be_bytes());
        hex::encode(&h.finalize()[..16])
    }

    /// The relying system, if registered and enabled. Read at most once a second per client
    /// (two lookups per login otherwise): a client disabled on any instance is refused
    /// everywhere within a second (at once on the instance that disabled it).
    async fn active_client(&self, id: &str) -> Result<Option<RelyingParty>, Error> {
        let Ok(client_id) = ClientId::parse(id) else {
            return Ok(None);
        };
        let now = self.clock.now();
        if let Ok(cache) = self.clients.read() {
            if let Some((client, read_at)) = cache.get(&client_id) {
                if now < *read_at + crate::CLIENT_CACHE {
                    return Ok(client.clone());
                }
            }
        }
        let client = self
            .store
            .client(&client_id)
            .await?
            .filter(|c| c.disabled_at.is_none());
        if let Ok(mut cache) = self.clients.write() {
            // Unknown IDs are not kept: anyone can make up as many as they like.
            if client.is_some() {
                if cache.len() >= 10_000 {
                    cache.clear();
                }
                cache.insert(client_id, (client.clone(), now));
            }
        }
        Ok(client)
    }

    /// Whether the holder may still have signatures made: active in the registry, with a
    /// second certificate valid now, and (for a passkey login) the device credential used still
    /// active. `Err` says why not.
    async fn may_sign(
        &self,
        holder: &Holder,
        device_id: Option<i64>,
    ) -> Result<Result<(), (LoginRefusal, String)>, Error> {
        if holder.status != HolderStatus::Active {
            return Ok(Err((
                LoginRefusal::HolderSuspended,
                format!("holder {} is {}", holder.username, holder.status.as_str()),
            )));
        }
        let now = self.clock.now();
        let has_second = self
            .certs
            .certificates_of_holder(holder.id)
            .await?
            .iter()
            .any(|c| {
                c.cert.kind == CertificateKind::Second
                    && c.status_at(now) == CertificateStatus::Valid
            });
        if !has_second {
            return Ok(Err((
                LoginRefusal::NoSecondCertificate,
                format!(
                    "holder {} has no second certificate valid now (revoked, expired or not issued)",
                    holder.username
                ),
            )));
        }
        if let Some(id) = device_id {
            let active = self
                .devices
                .devices_of(holder)
                .await?
                .iter()
                .any(|d| d.id == id && d.state == DeviceState::Active);
            if !active {
                return Ok(Err((
                    LoginRefusal::LoginEnded,
                    format!("the device credential {id} used to sign in was deleted or stopped"),
                )));
            }
        }
        Ok(Ok(()))
    }

    /// Checks an authorization request and opens the login for it.
    pub async fn authorize(&self, r: &AuthorizeRequest) -> Result<LoginPage, AuthorizeRefusal> {
        let client_id = r.client_id.as_deref().unwrap_or("").trim();
        let Some(client) = self.active_client(client_id).await? else {
            return Err(AuthorizeRefusal::NoRedirect(format!(
                "the relying system {client_id:?} is not registered here (or is disabled)"
            )));
        };
        let Some(redirect_uri) = r
            .redirect_uri
            .as_deref()
            .and_then(|u| client.redirect_uris.iter().find(|reg| reg.as_str() == u))
            .cloned()
        else {
            return Err(AuthorizeRefusal::NoRedirect(
                "the redirect_uri is missing or not one registered for this relying system".into(),
            ));
        };
        let state = r.state.as_deref().filter(|s| !s.is_empty());
        let refuse = |code: OAuthErrorCode, description: &str| {
            let mut params = vec![
                ("error", code.as_str()),
                ("error_description", description),
                ("iss", self.settings.issuer()),
            ];
            if let Some(s) = state.filter(|s| s.len() <= MAX_ECHOED) {
                params.push(("state", s));
            }
            AuthorizeRefusal::Redirect(with_query(&redirect_uri, &params))
        };
        use OAuthErrorCode as C;
        if state.is_some_and(|s| s.len() > MAX_ECHOED) {
            return Err(refuse(C::InvalidRequest, "state is longer than 1024 bytes"));
        }
        if r.request.is_some() || r.request_uri.is_some() {
            return Err(refuse(
                C::InvalidRequest,
                "request objects (request, request_uri) are not supported",
            ));
        }
        if r.response_type.as_deref() != Some("code") {
            return Err(refuse(
                C::UnsupportedResponseType,
                "only the authorization code flow (response_type=code) is supported",
            ));
        }
        let scope: Vec<&str> = r
            .scope
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|s| crate::SCOPES.contains(s))
            .collect();
        if !scope.contains(&"openid") {
            return Err(refuse(C::InvalidScope, "the scope must include openid"));
        }
        let Some(challenge) = r.code_challenge.as_deref().filter(|c| pkce_value(c)) else {
            return Err(refuse(
                C::InvalidRequest,
                "PKCE is required: code_challenge (43-128 characters) with code_challenge_method=S256",
            ));
        };
        if r.code_challenge_method.as_deref() != Some("S256") {
            return Err(refuse(
                C::InvalidRequest,
                "code_challenge_method must be S256 (plain is not accepted)",
            ));
        }
        let nonce = r.nonce.as_deref().filter(|n| !n.is_empty());
        if nonce.is_some_and(|n| n.len() > MAX_ECHOED) {
            return Err(refuse(C::InvalidRequest, "nonce is longer than 1024 bytes"));
        }
        let prompts: Vec<&str> = r.prompt.as_deref().unwrap_or("").split(' ').collect();
        if prompts.contains(&"none") {
            // There is no sign-in to reuse: every login is a fresh one.
            return Err(refuse(
                C::LoginRequired,
                "the holder must sign in (every login here is a fresh authentication)",
            ));
        }
        let max_age = match r.max_age.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => match v.parse::<i64>() {
                Ok(n) if n >= 0 => Some(n),
                _ => {
                    return Err(refuse(
                        C::InvalidRequest,
                        "max_age must be a whole number of seconds",
                    ))
                }
            },
        };
        if !client.methods.allows(AuthMethod::Passkey) {
            return Err(refuse(
                C::AccessDenied,
                "this relying system accepts HPKI card logins only, which this service does not offer yet",
            ));
        }
        let now = self.clock.now();
        let login_token = new_token("hsl_")?;
        let request = NewAuthorization {
            login_hash: token_hash(&login_token),
            client_id: client.client_id.clone(),
            redirect_uri,
            scope: scope.join(" "),
            state: state.map(str::to_owned),
            nonce: nonce.map(str::to_owned),
            code_challenge: challenge.to_owned(),
            max_age,
            created_at: now,
            login_expires_at: now + self.settings.login,
        };
        self.store
            .insert_authorization(&request)
            .await
            .map_err(Error::from)?;
        Ok(LoginPage {
            login_token,
            client_name: client.name,
        })
    }

    /// The authorization behind a browser's login token, if it still waits for the login.
    async fn waiting_login(&self, login_token: &str) -> Result<Authorization, Error> {
        let ended = || {
            login_refused(
                LoginRefusal::LoginEnded,
                "this login has ended (too much time passed, or it was finished elsewhere)",
            )
        };
        if login_token.is_empty() {
            return Err(ended());
        }
        let a = self
            .store
            .authorization_by_login(&token_hash(login_token))
            .await?
            .ok_or_else(ended)?;
        if a.stage(self.clock.now()) == AuthorizationStage::WaitingForLogin {
            Ok(a)
        } else {
            Err(ended())
        }
    }

    /// The options for `navigator.credentials.get()` on the login page.
    pub async fn login_options(&self, login_token: &str) -> Result<Value, Error> {
        let a = self.waiting_login(login_token).await?;
        self.devices.begin_login(&a.request.login_hash).await
    }

    async fn refuse_login(
        &self,
        actor: &Actor,
        a: &Authorization,
        holder: &Holder,
        refusal: LoginRefusal,
        detail: String,
    ) -> Error {
        let event = AuditEvent::new(
            self.clock.now(),
            actor,
            "oidc.login_refused",
            holder.username.to_string(),
            json!({ "client": a.request.client_id, "method": "passkey", "reason": refusal.code(), "detail": detail }),
        );
        if let Err(e) = self.store.record_refusal(&event).await {
            return e.into();
        }
        login_refused(refusal, detail)
    }

    /// The passkey's answer: checked, then the holder (active, with a second certificate
    /// valid now), then a code. Returns where the browser goes: the relying system's redirect
    /// URI with the code, the state and the issuer.
    pub async fn login_finish(
        &self,
        actor: &Actor,
        login_token: &str,
        response: &[u8],
    ) -> Result<String, Error> {
        let a = self.waiting_login(login_token).await?;
        let (holder, verified) = self
            .devices
            .finish_login(
                actor,
                &a.request.login_hash,
                response,
                self.holders.as_ref(),
            )
            .await?;
        if let Err((refusal, detail)) = self.may_sign(&holder, None).await? {
            return Err(self.refuse_login(actor, &a, &holder, refusal, detail).await);
        }
        let now = self.clock.now();
        let code = new_token("hsa_")?;
        let event = AuditEvent::new(
            now,
            actor,
            "oidc.signed_in",
            holder.username.to_string(),
            json!({
                "client": a.request.client_id,
                "method": AuthMethod::Passkey.as_str(),
                "device_id": verified.device.id,
                "authorization": a.id,
                "scope": a.request.scope,
                "redirect_uri": a.request.redirect_uri,
                "requested_at": a.request.created_at.to_rfc3339(),
            }),
        );
        let device_id = verified.device.id;
        // The passkey's use and the login are written at once (they usually share one
        // commit); the code goes out only if both were. A login written whose device use was
        // not (the passkey was stopped, or used elsewhere at that moment) is ended at once:
        // its code was never handed out.
        let (used, recorded) = futures_util::future::join(
            self.devices.record_use(verified),
            self.store.record_login(
                a.id,
                holder.id,
                Some(device_id),
                AuthMethod::Passkey,
                now,
                &token_hash(&code),
                now + self.settings.code,
                &event,
            ),
        )
        .await;
        let recorded = recorded?;
        if let Err(e) = used {
            if recorded {
                let reason = "the passkey's use could not be recorded";
                self.end_session(actor, &a, &holder, reason).await?;
            }
            return Err(e);
        }
        if !recorded {
            return Err(login_refused(
                LoginRefusal::LoginEnded,
                "this login was finished in another window, or it ended meanwhile",
            ));
        }
        let mut params = vec![("code", code.as_str()), ("iss", self.settings.issuer())];
        if let Some(s) = &a.request.state {
            params.push(("state", s));
        }
        Ok(with_query(&a.request.redirect_uri, &params))
    }

    /// Who is calling the token or revocation endpoint: a registered, enabled client that
    /// proves it the way it was registered for: its secret (HTTP Basic or the form, never
    /// both), a JWT signed by one of its keys (private_key_jwt), or nothing (a public client).
    async fn authenticate_client(
        &self,
        endpoint: &str,
        r: &TokenRequest,
        basic: Option<(String, String)>,
    ) -> Result<RelyingParty, Error> {
        let invalid = |d: &str| oauth(OAuthErrorCode::InvalidClient, d);
        if r.client_assertion.is_some() || r.client_assertion_type.is_some() {
            if basic.is_some() || r.client_secret.is_some() {
                return Err(oauth(
                    OAuthErrorCode::InvalidRequest,
                    "use one way of client authentication, not a secret and an assertion",
                ));
            }
            return self.client_by_assertion(endpoint, r).await;
        }
        let (id, secret) = match (basic, &r.client_secret) {
            (Some(_), Some(_)) => {
                return Err(oauth(
                    OAuthErrorCode::InvalidRequest,
                    "send the client secret one way (HTTP Basic or the form), not both",
                ))
            }
            (Some((id, secret)), None) => (id, Some(secret)),
            (None, secret) => (r.client_id.clone().unwrap_or_default(), secret.clone()),
        };
        if r.client_id.as_deref().is_some_and(|form_id| form_id != id) {
            return Err(invalid("client_id differs from the authenticated client"));
        }
        let Some(client) = self.active_client(&id).await? else {
            return Err(invalid("unknown or disabled client"));
        };
        match (&client.secret_hash, &client.jwks, secret) {
            (Some(hash), _, Some(secret))
                if ct_eq(hash.as_bytes(), token_hash(&secret).as_bytes()) =>
            {
                Ok(client)
            }
            (Some(_), _, _) => Err(invalid("the client secret is missing or wrong")),
            (None, Some(_), _) => Err(invalid(
                "this client authenticates with a signed JWT (private_key_jwt): send client_assertion",
            )),
            (None, None, None) => Ok(client),
            (None, None, Some(_)) => {
                Err(invalid("this client has no secret (it is a public client)"))
            }
        }
    }

    /// private_key_jwt (RFC 7523 3, OpenID Connect Core 9): iss and sub the client, aud this
    /// endpoint or the issuer, unexpired and at most five minutes ahead, a jti never seen.
    async fn client_by_assertion(
        &self,
        endpoint: &str,
        r: &TokenRequest,
    ) -> Result<RelyingParty, Error> {
        let invalid = |d: &str| oauth(OAuthErrorCode::InvalidClient, d);
        if r.client_assertion_type.as_deref()
            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            return Err(oauth(
                OAuthErrorCode::InvalidRequest,
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ));
        }
        let assertion = r.client_assertion.as_deref().unwrap_or("");
        // Whose keys: the unverified iss names the client, the signature then proves it.
        let unverified_iss = assertion
            .split('.')
            .nth(1)
            .and_then(jwt::unb64)
            .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
            .and_then(|c| c["iss"].as_str().map(str::to_owned))
            .unwrap_or_default();
        if r.client_id
            .as_deref()
            .is_some_and(|id| id != unverified_iss)
        {
            return Err(invalid("client_id differs from the assertion's issuer"));
        }
        let Some(client) = self.active_client(&unverified_iss).await? else {
            return Err(invalid("the assertion's issuer is not an enabled client"));
        };
        let Some(keys) = &client.jwks else {
            return Err(invalid(
                "this client has no registered keys for private_key_jwt",
            ));
        };
        let claims = jwt::verify_client_assertion(assertion, keys.keys()).ok_or_else(|| {
            invalid("the client assertion's signature does not verify with the client's keys")
        })?;
        let now = self.clock.now().timestamp();
        let id = client.client_id.as_str();
        if claims["iss"] != id || claims["sub"] != id {
            return Err(invalid(
                "the client assertion's iss and sub must be the client ID",
            ));
        }
        let audience_ok = |a: &Value| {
            a.as_str()
                .is_some_and(|a| a == endpoint || a == self.settings.issuer())
        };
        let aud_ok = match &claims["aud"] {
            Value::Array(list) => list.iter().any(audience_ok),
            one => audience_ok(one),
        };
        if !aud_ok {
            return Err(invalid(
                "the client assertion's aud is not this endpoint or the issuer",
            ));
        }
        let exp = claims["exp"].as_i64().unwrap_or(0);
        if exp <= now || exp > now + 300 {
            return Err(invalid(
                "the client assertion has expired, or expires more than five minutes from now",
            ));
        }
        let jti = claims["jti"]
            .as_str()
            .filter(|j| !j.is_empty() && j.len() <= 256);
        let Some(jti) = jti else {
            return Err(invalid("the client assertion has no jti"));
        };
        let expires = chrono::DateTime::from_timestamp(exp, 0).unwrap_or_else(|| self.clock.now());
        if !self
            .store
            .record_client_assertion(
                &client.client_id,
                &token_hash(jti),
                expires,
                self.clock.now(),
            )
            .await?
        {
            return Err(invalid("this client assertion was used before"));
        }
        Ok(client)
    }

    /// Exchanges a code for an ID token and an access token (RFC 6749 4.1.3, RFC 7636 4.6).
    pub async fn token(
        &self,
        actor: &Actor,
        r: &TokenRequest,
        basic: Option<(String, String)>,
    ) -> Result<Value, Error> {
        use OAuthErrorCode as C;
        if r.grant_type.as_deref() != Some("authorization_code") {
            return Err(oauth(
                C::UnsupportedGrantType,
                "only grant_type=authorization_code is supported",
            ));
        }
        let endpoint = self.settings.endpoint(crate::paths::TOKEN);
        let client = match self.authenticate_client(&endpoint, r, basic).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "a token request whose client did not authenticate was refused");
                return Err(e);
            }
        };
        // From here the caller is a registered relying system: its refusals are audited.
        // (Requests that do not even authenticate are not: anyone could fill the log with
        // them; they are logged as warnings.)
        match self.exchange_code(actor, r, &client).await {
            Err(Error::OAuth(e)) => {
                let event = AuditEvent::new(
                    self.clock.now(),
                    actor,
                    "oidc.token_refused",
                    client.client_id.to_string(),
                    json!({ "error": e.code.as_str(), "reason": e.description }),
                );
                self.store.record_refusal(&event).await?;
                Err(Error::OAuth(e))
            }
            other => other,
        }
    }

    /// The token request of an authenticated client: the code, PKCE, the tokens.
    async fn exchange_code(
        &self,
        actor: &Actor,
        r: &TokenRequest,
        client: &RelyingParty,
    ) -> Result<Value, Error> {
        use OAuthErrorCode as C;
        let code = r.code.as_deref().unwrap_or("");
        let verifier = r.code_verifier.as_deref().unwrap_or("");
        if code.is_empty() {
            return Err(oauth(C::InvalidRequest, "code is missing"));
        }
        if !pkce_value(verifier) {
            return Err(oauth(
                C::InvalidRequest,
                "code_verifier is missing or not 43-128 characters of [A-Za-z0-9-._~]",
            ));
        }
        let code_hash = token_hash(code);
        let now = self.clock.now();
        let invalid_grant = |d: &str| oauth(C::InvalidGrant, d);
        let found = self.store.authorization_by_code(&code_hash).await?;
        let Some(a) = found else {
            return Err(invalid_grant("the code is unknown"));
        };
        if a.request.client_id != client.client_id {
            return Err(invalid_grant("the code was issued to another client"));
        }
        if r.redirect_uri.as_deref() != Some(a.request.redirect_uri.as_str()) {
            return Err(invalid_grant(
                "redirect_uri differs from the authorization request's",
            ));
        }
        let challenge = jwt::b64(&Sha256::digest(verifier.as_bytes()));
        if !ct_eq(challenge.as_bytes(), a.request.code_challenge.as_bytes()) {
            return Err(invalid_grant(
                "the code_verifier does not match the code_challenge",
            ));
        }
        let (Some(holder_id), Some(method)) = (a.holder_id, a.method) else {
            return Err(invalid_grant("the code is unknown"));
        };
        let target = client.client_id.to_string();
        let redeemed = AuditEvent::new(
            now,
            actor,
            "oidc.tokens_issued",
            target.clone(),
            json!({ "authorization": a.id, "holder_id": holder_id, "session_hours": self.settings.session.num_hours() }),
        );
        let replayed = AuditEvent::new(
            now,
            actor,
            "oidc.code_replayed",
            target,
            json!({ "authorization": a.id, "holder_id": holder_id, "ended": "the signing session and its tokens" }),
        );
        let session_end = now + self.settings.session;
        match self
            .store
            .redeem_code(&code_hash, now, session_end, &redeemed, &replayed)
            .await?
        {
            // The authorization as read above: the redemption set only its session's times.
            Redemption::Redeemed => {}
            Redemption::Replayed => {
                return Err(invalid_grant(
                    "the code was used before; the session it opened has been ended",
                ))
            }
            Redemption::Unknown => return Err(invalid_grant("the code has expired or was used")),
        }
        let holder = self
            .holders
            .holder_by_id(holder_id)
            .await?
            .ok_or_else(|| Error::Internal("an authorization without its holder".into()))?;
        let key = self.signing_key().await?;
        let auth_time = a.auth_time.unwrap_or(now);
        let sub = self.subject(&holder);
        let mut id_claims = json!({
            "iss": self.settings.issuer(),
            "sub": sub,
            "aud": client.client_id,
            "azp": client.client_id,
            "exp": (now + self.settings.id_token).timestamp(),
            "iat": now.timestamp(),
            "auth_time": auth_time.timestamp(),
            "amr": method.amr(),
            "acr": ACR_PASSKEY,
            "sid": a.id.to_string(),
        });
        if let Some(n) = &a.request.nonce {
            id_claims["nonce"] = json!(n);
        }
        add_claims(&mut id_claims, &a.request.scope, &holder);
        let mut jti = [0u8; 16];
        hpki_core::secret::os_random(&mut jti)?;
        let access_claims = json!({
            "iss": self.settings.issuer(),
            "sub": sub,
            "aud": self.settings.issuer(),
            "client_id": client.client_id,
            "exp": session_end.timestamp(),
            "iat": now.timestamp(),
            "jti": hex::encode(jti),
            "scope": a.request.scope,
            "sid": a.id.to_string(),
            "auth_time": auth_time.timestamp(),
            "acr": ACR_PASSKEY,
        });
        let id_token = jwt::sign(self.keystore.as_ref(), &key, "JWT", &id_claims).await?;
        let access_token =
            jwt::sign(self.keystore.as_ref(), &key, "at+jwt", &access_claims).await?;
        Ok(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": (session_end - now).num_seconds(),
            "id_token": id_token,
            "scope": a.request.scope,
        }))
    }

    /// The signing session an access token belongs to, if the token is ours, unexpired, and
    /// its session still runs.
    pub async fn session_of_token(
        &self,
        token: &str,
    ) -> Result<(Authorization, Holder, Value), Error> {
        let invalid = |d: &str| oauth(OAuthErrorCode::InvalidToken, d);
        let now = self.clock.now();
        let keys = self.published_keys(now).await?;
        let claims = jwt::verify(token, "at+jwt", &keys)
            .ok_or_else(|| invalid("the access token is not one of this service's"))?;
        if claims["iss"] != self.settings.issuer() {
            return Err(invalid("the access token is from another issuer"));
        }
        if claims["exp"]
            .as_i64()
            .is_none_or(|exp| exp <= now.timestamp())
        {
            return Err(invalid("the access token has expired"));
        }
        let id = claims["sid"]
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| invalid("the access token names no session"))?;
        let a = self
            .store
            .authorization(id)
            .await?
            .ok_or_else(|| invalid("the session is unknown"))?;
        if a.stage(now) != AuthorizationStage::SessionActive {
            return Err(invalid("the signing session has ended"));
        }
        let holder_id = a
            .holder_id
            .ok_or_else(|| invalid("the session is unknown"))?;
        let holder = self
            .holders
            .holder_by_id(holder_id)
            .await?
            .ok_or_else(|| invalid("the session is unknown"))?;
        // The session ends with the holder's suspension, the second certificate's revocation
        // or expiry, or the deletion of the device credential that signed in: checked on use.
        if let Err((_, why)) = self.may_sign(&holder, a.device_id).await? {
            return Err(invalid(&format!("the signing session has ended: {why}")));
        }
        Ok((a, holder, claims))
    }

    /// The UserInfo response (OpenID Connect Core 5.3): the claims the session's scope
    /// releases.
    pub async fn userinfo(&self, access_token: &str) -> Result<Value, Error> {
        let (a, holder, _) = self.session_of_token(access_token).await?;
        let mut claims = json!({ "sub": self.subject(&holder) });
        add_claims(&mut claims, &a.request.scope, &holder);
        Ok(claims)
    }

    /// Revocation (RFC 7009): an access token of this client ends its signing session. Tokens
    /// that are not (or no longer) valid are answered the same way, as the RFC asks.
    pub async fn revoke(
        &self,
        actor: &Actor,
        r: &TokenRequest,
        basic: Option<(String, String)>,
    ) -> Result<(), Error> {
        let endpoint = self.settings.endpoint(crate::paths::REVOKE);
        let client = self.authenticate_client(&endpoint, r, basic).await?;
        let token = r.token.as_deref().unwrap_or("");
        if token.is_empty() {
            return Err(oauth(OAuthErrorCode::InvalidRequest, "token is missing"));
        }
        let Ok((a, holder, _)) = self.session_of_token(token).await else {
            return Ok(());
        };
        if a.request.client_id != client.client_id {
            return Ok(());
        }
        self.end_session(actor, &a, &holder, "revoked by the relying system")
            .await
    }

    /// The holder's signing sessions, newest first (at most 100): when, with which relying
    /// system, how, and whether and why they ended.
    pub async fn sessions(&self, username: &Username) -> Result<Vec<Value>, Error> {
        let holder = hpki_core::services::find_holder(self.holders.as_ref(), username).await?;
        let now = self.clock.now();
        Ok(self
            .store
            .sessions_of_holder(holder.id, 100)
            .await?
            .iter()
            .map(|a| {
                json!({
                    "session": a.id.to_string(),
                    "client_id": a.request.client_id,
                    "method": a.method,
                    "device_id": a.device_id,
                    "signed_in_at": a.auth_time.map(|t| t.to_rfc3339()),
                    "expires_at": a.session_expires_at.map(|t| t.to_rfc3339()),
                    "active": a.stage(now) == AuthorizationStage::SessionActive,
                    "ended_at": a.ended_at.map(|t| t.to_rfc3339()),
                    "end_reason": a.end_reason,
                })
            })
            .collect())
    }

    /// Signs the holder out of every relying system: their signing sessions (and logins in
    /// progress) end now. Returns how many ended.
    pub async fn end_sessions(
        &self,
        actor: &Actor,
        username: &Username,
        reason: &str,
    ) -> Result<u64, Error> {
        let holder = hpki_core::services::find_holder(self.holders.as_ref(), username).await?;
        let reason = reason.trim();
        let reason = if reason.is_empty() {
            "signed out by an operator"
        } else {
            reason
        };
        let now = self.clock.now();
        let event = AuditEvent::new(
            now,
            actor,
            "oidc.sessions_ended",
            holder.username.to_string(),
            json!({ "reason": reason }),
        );
        Ok(self
            .store
            .end_sessions_of_holder(holder.id, now, reason, &event)
            .await?)
    }

    async fn end_session(
        &self,
        actor: &Actor,
        a: &Authorization,
        holder: &Holder,
        reason: &str,
    ) -> Result<(), Error> {
        let now: DateTime<Utc> = self.clock.now();
        let event = AuditEvent::new(
            now,
            actor,
            "oidc.session_ended",
            holder.username.to_string(),
            json!({ "authorization": a.id, "client": a.request.client_id, "reason": reason }),
        );
        self.store
            .end_authorization(a.id, now, reason, &event)
            .await?;
        Ok(())
    }
}

/// The claims a scope releases: `profile` the names, `hpki` the HPKI identity.
fn add_claims(claims: &mut Value, scope: &str, holder: &Holder) {
    let scopes: Vec<&str> = scope.split(' ').collect();
    if scopes.contains(&"profile") {
        claims["name"] = json!(holder.name_kanji.written());
        claims["family_name"] = json!(holder.name_kanji.family());
        if let Some(g) = holder.name_kanji.given() {
            claims["given_name"] = json!(g);
        }
        claims["preferred_username"] = json!(holder.username.to_string());
    }
    if scopes.contains(&"hpki") {
        claims["hpki_username"] = json!(holder.username.to_string());
        claims["registry_number"] = json!(holder.username.registry_number().as_str());
        claims["qualification"] = json!(holder.qualification.code());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_values_are_checked() {
        assert!(pkce_value(&"a".repeat(43)));
        assert!(pkce_value(&"-._~".repeat(11)));
        assert!(!pkce_value(&"a".repeat(42)));
        assert!(!pkce_value(&"a".repeat(129)));
        assert!(!pkce_value(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn redirects_keep_the_registered_query() {
        let uri = RedirectUri::parse("https://rp.example.jp/cb?x=1").expect("uri");
        assert_eq!(
            with_query(&uri, &[("code", "a b"), ("state", "s&t")]),
            "https://rp.example.jp/cb?x=1&code=a+b&state=s%26t"
        );
    }
}
