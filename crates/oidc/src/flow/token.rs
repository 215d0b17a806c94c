//! The token endpoint: the relying system authenticated (its secret, a JWT signed by its key,
//! or nothing for a public client), the code and its PKCE verifier checked, the code redeemed
//! once, the ID token and access token signed.

use hpki_core::audit::Action;
use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::domain::device_grant::{DeviceGrantStage, Poll};
use hpki_core::domain::oidc::{
    AuthMethod, Authorization, Grant, OAuthErrorCode, Redemption, RelyingParty, DEVICE_CODE_GRANT,
};
use hpki_core::secret::{ct_eq, token_hash};
use hpki_core::Error;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{add_claims, oauth, pkce_value};
use crate::dpop::DpopRequest;
use crate::jwt;
use crate::OidcService;

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
    /// RFC 8628: the device code the relying system polls with.
    pub device_code: Option<String>,
    /// RFC 8628: the scope of a device authorization request.
    pub scope: Option<String>,
    /// A device authorization with `scope=credential` (SCAL2): what the holder approves.
    #[serde(flatten)]
    pub consent: hpki_core::domain::csc::ConsentRequest,
    /// For revocation (RFC 7009).
    pub token: Option<String>,
    pub token_type_hint: Option<String>,
}

impl OidcService {
    /// Who is calling the token or revocation endpoint: a registered, enabled client that
    /// proves it the way it was registered for: its secret (HTTP Basic or the form, never
    /// both), a JWT signed by one of its keys (private_key_jwt), or nothing (a public client).
    pub(super) async fn authenticate_client(
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
        dpop: &DpopRequest,
    ) -> Result<Value, Error> {
        use OAuthErrorCode as C;
        let device = match r.grant_type.as_deref() {
            Some("authorization_code") => false,
            Some(DEVICE_CODE_GRANT) => true,
            _ => {
                return Err(oauth(
                    C::UnsupportedGrantType,
                    format!("grant_type must be authorization_code or {DEVICE_CODE_GRANT}"),
                ))
            }
        };
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
        let exchanged = async {
            let jkt = self.token_binding(&client, dpop).await?;
            let jkt = jkt.as_deref();
            if device {
                self.exchange_device_code(actor, r, &client, jkt).await
            } else {
                self.exchange_code(actor, r, &client, jkt).await
            }
        }
        .await;
        match exchanged {
            // A device grant still waiting is the answer to most polls, and a proof without the
            // server's nonce the protocol's turn: not events.
            Err(Error::OAuth(e))
                if matches!(
                    e.code,
                    C::AuthorizationPending | C::SlowDown | C::UseDpopNonce
                ) =>
            {
                Err(Error::OAuth(e))
            }
            Err(Error::OAuth(e)) => {
                let event = AuditEvent::new(
                    self.clock.now(),
                    actor,
                    Action::OIDC_TOKEN_REFUSED,
                    client.client_id.to_string(),
                    json!({ "error": e.code.as_str(), "reason": e.description }),
                );
                self.store.record_refusal(&event).await?;
                Err(Error::OAuth(e))
            }
            other => other,
        }
    }

    /// The key a token request's access token is to be bound to: its DPoP proof's (checked,
    /// and recorded), or none; a client registered as requiring DPoP must send one.
    async fn token_binding(
        &self,
        client: &RelyingParty,
        dpop: &DpopRequest,
    ) -> Result<Option<String>, Error> {
        match self.dpop_proof(dpop, None).await? {
            Some(proof) => Ok(Some(proof.jkt)),
            None if client.requires_dpop() => Err(oauth(
                OAuthErrorCode::InvalidDpopProof,
                "this relying system must bind its tokens to a key of its own (DPoP: registered \
                 so, or a public client allowed to sign): send a DPoP proof (the DPoP header) \
                 with the token request",
            )),
            None => Ok(None),
        }
    }

    /// The token request of an authenticated client: the code, PKCE, the tokens (bound to
    /// the key `jkt`, if any).
    async fn exchange_code(
        &self,
        actor: &Actor,
        r: &TokenRequest,
        client: &RelyingParty,
        jkt: Option<&str>,
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
        let invalid_grant = |d: &str| oauth(C::InvalidGrant, d);
        let found = self.store.authorization_by_code(&code_hash).await?;
        let Some(a) = found else {
            return Err(invalid_grant("the code is unknown"));
        };
        if a.request.client_id != client.client_id {
            return Err(invalid_grant("the code was issued to another client"));
        }
        let Grant::Code {
            redirect_uri,
            code_challenge,
            ..
        } = &a.request.grant
        else {
            return Err(invalid_grant(
                "this is a device grant's: poll with grant_type device_code",
            ));
        };
        if r.redirect_uri.as_deref() != Some(redirect_uri.as_str()) {
            return Err(invalid_grant(
                "redirect_uri differs from the authorization request's",
            ));
        }
        let challenge = jwt::b64(&Sha256::digest(verifier.as_bytes()));
        if !ct_eq(challenge.as_bytes(), code_challenge.as_bytes()) {
            return Err(invalid_grant(
                "the code_verifier does not match the code_challenge",
            ));
        }
        self.issue_tokens(actor, client, a, &code_hash, jkt).await
    }

    /// A poll of the device grant (RFC 8628 §3.4, §3.5): the tokens once the holder approved
    /// on the phone; else why not yet (pending, too soon) or not at all (refused, expired).
    async fn exchange_device_code(
        &self,
        actor: &Actor,
        r: &TokenRequest,
        client: &RelyingParty,
        jkt: Option<&str>,
    ) -> Result<Value, Error> {
        use OAuthErrorCode as C;
        let code = r.device_code.as_deref().unwrap_or("");
        if code.is_empty() {
            return Err(oauth(C::InvalidRequest, "device_code is missing"));
        }
        let code_hash = token_hash(code);
        // Approved: the phone's login, which holds the device code as its code, is recorded
        // (read first: the poll that finds it is the one that counts; `issue_tokens` checks
        // its client).
        if let Some(a) = self.store.authorization_by_code(&code_hash).await? {
            if a.request.grant == Grant::Device && a.holder_id.is_some() {
                return self.issue_tokens(actor, client, a, &code_hash, jkt).await;
            }
        }
        let Some(grant) = self.store.device_grant_by_code(&code_hash).await? else {
            return Err(oauth(C::InvalidGrant, "the device code is unknown"));
        };
        if grant.request.client_id != client.client_id {
            return Err(oauth(
                C::InvalidGrant,
                "the device code was issued to another client",
            ));
        }
        let now = self.clock.now();
        match grant.stage(now) {
            DeviceGrantStage::Denied => {
                Err(oauth(C::AccessDenied, "the holder refused on the phone"))
            }
            DeviceGrantStage::Expired => Err(oauth(
                C::ExpiredToken,
                "the device code has expired; ask for a new one",
            )),
            DeviceGrantStage::Waiting | DeviceGrantStage::Entered => {
                match self.store.poll_device_grant(grant.id, now).await? {
                    Poll::Pending => Err(oauth(
                        C::AuthorizationPending,
                        "the holder has not approved yet",
                    )),
                    Poll::TooSoon => Err(oauth(
                        C::SlowDown,
                        format!(
                            "poll at most every {} seconds",
                            grant.request.interval_secs + 5
                        ),
                    )),
                }
            }
        }
    }

    /// The code (or device code) `code_hash` of the login `a` redeemed once, and the ID token
    /// and access token of the signing session it opens (bound to the DPoP key `jkt`, if any).
    async fn issue_tokens(
        &self,
        actor: &Actor,
        client: &RelyingParty,
        a: Authorization,
        code_hash: &str,
        jkt: Option<&str>,
    ) -> Result<Value, Error> {
        let invalid_grant = |d: &str| oauth(OAuthErrorCode::InvalidGrant, d);
        let now = self.clock.now();
        if a.request.client_id != client.client_id {
            return Err(invalid_grant("the code was issued to another client"));
        }
        let (Some(holder_id), Some(method)) = (a.holder_id, a.method) else {
            return Err(invalid_grant("the code is unknown"));
        };
        // A credential token (SCAL2) lives minutes and signs its hashes once; a sign-in's
        // token lives as long as its signing session.
        let session_end = now
            + if a.request.consent.is_some() {
                self.settings.credential_token
            } else {
                self.settings.session
            };
        let target = client.client_id.to_string();
        let redeemed = AuditEvent::new(
            now,
            actor,
            Action::OIDC_TOKENS_ISSUED,
            target.clone(),
            json!({ "authorization": a.id, "holder_id": holder_id, "scope": a.request.scope, "expires_at": session_end.to_rfc3339() }),
        );
        let replayed = AuditEvent::new(
            now,
            actor,
            Action::OIDC_CODE_REPLAYED,
            target,
            json!({ "authorization": a.id, "holder_id": holder_id, "ended": "the signing session and its tokens" }),
        );
        match self
            .store
            .redeem_code(code_hash, now, session_end, &redeemed, &replayed)
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
            "amr": amr(method, &a.request.grant),
            "acr": method.acr(),
            "sid": a.id.to_string(),
        });
        if let Some(n) = &a.request.nonce {
            id_claims["nonce"] = json!(n);
        }
        add_claims(&mut id_claims, &a.request.scope, &holder);
        let mut jti = [0u8; 16];
        hpki_core::secret::os_random(&mut jti)?;
        let mut access_claims = json!({
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
            "acr": method.acr(),
        });
        if let Some(jkt) = jkt {
            access_claims["cnf"] = json!({ "jkt": jkt });
        }
        let access_token =
            jwt::sign(self.keystore.as_ref(), &key, "at+jwt", &access_claims).await?;
        let mut answer = json!({
            "access_token": access_token,
            "token_type": if jkt.is_some() { "DPoP" } else { "Bearer" },
            "expires_in": (session_end - now).num_seconds(),
            "scope": a.request.scope,
        });
        // What the holder authorized (SCAL2), as RFC 9396 §7 asks of the token response.
        if let Some(consent) = &a.request.consent {
            answer["authorization_details"] = consent.authorization_details();
        }
        // An ID token only for an OpenID Connect sign-in (not for scope=credential alone).
        if a.request.scope.split(' ').any(|s| s == "openid") {
            answer["id_token"] =
                json!(jwt::sign(self.keystore.as_ref(), &key, "JWT", &id_claims).await?);
        }
        Ok(answer)
    }
}

/// How the holder authenticated (RFC 8176): the method's values, and `mca` (multiple-channel
/// authentication) when the holder approved on the phone what the PC asked for.
fn amr(method: AuthMethod, grant: &Grant) -> Vec<&'static str> {
    let mut amr = method.amr().to_vec();
    if *grant == Grant::Device {
        amr.push("mca");
    }
    amr
}
