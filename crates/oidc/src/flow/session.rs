//! What the tokens give: the signing session behind an access token, userinfo, revocation,
//! and the operator's view and end of a holder's sessions.

use chrono::{DateTime, Utc};
use hpki_core::audit::Action;
use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::domain::oidc::{Authorization, AuthorizationStage, OAuthErrorCode};
use hpki_core::domain::{Holder, Username};
use hpki_core::Error;
use serde_json::{json, Value};

use super::{add_claims, oauth, TokenRequest};
use crate::dpop::{AccessToken, DpopRequest, TokenScheme};
use crate::jwt;
use crate::OidcService;

/// A signing session that runs: the sign-in that opened it, the holder, the access token's
/// claims.
#[derive(Clone, Debug)]
pub struct SigningSession {
    pub authorization: Authorization,
    pub holder: Holder,
    /// The relying system the holder signed in to (enabled).
    pub client: hpki_core::domain::oidc::RelyingParty,
    /// The holder's second certificate that signs now (valid when the session was checked).
    pub second_certificate: hpki_core::domain::StoredCertificate,
    pub claims: Value,
}

/// A running signing session as the holder sees it: which system, how and when they signed
/// in, until when it lasts.
#[derive(Clone, Debug)]
pub struct HolderSession {
    pub client_name: String,
    pub method: Option<hpki_core::domain::oidc::AuthMethod>,
    pub signed_in_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Why an access token opens no signing session, and whose it was when known.
#[derive(Clone, Debug)]
pub struct SessionRefusal {
    pub holder: Option<Holder>,
    pub client_id: Option<hpki_core::domain::oidc::ClientId>,
    pub description: String,
}

impl OidcService {
    /// The signing session an access token belongs to, if the token is ours, unexpired, and
    /// its session still runs.
    pub async fn session_of_token(
        &self,
        token: &str,
    ) -> Result<(Authorization, Holder, Value), Error> {
        match self.signing_session(token).await? {
            Ok(s) => Ok((s.authorization, s.holder, s.claims)),
            Err(r) => Err(oauth(OAuthErrorCode::InvalidToken, &r.description)),
        }
    }

    /// The same, with a refusal that says whose session it was when that is known (for the
    /// remote-signing API's audit of refusals).
    pub async fn signing_session(
        &self,
        token: &str,
    ) -> Result<Result<SigningSession, SessionRefusal>, Error> {
        let refuse = |holder: Option<&Holder>, a: Option<&Authorization>, d: &str| {
            Ok(Err(SessionRefusal {
                holder: holder.cloned(),
                client_id: a.map(|a| a.request.client_id.clone()),
                description: d.to_owned(),
            }))
        };
        let now = self.clock.now();
        let keys = self.published_keys(now).await?;
        let Some(claims) = jwt::verify(token, "at+jwt", &keys) else {
            return refuse(None, None, "the access token is not one of this service's");
        };
        if claims["iss"] != self.settings.issuer() {
            return refuse(None, None, "the access token is from another issuer");
        }
        if claims["exp"]
            .as_i64()
            .is_none_or(|exp| exp <= now.timestamp())
        {
            return refuse(None, None, "the access token has expired");
        }
        let Some(id) = claims["sid"].as_str().and_then(|s| s.parse::<i64>().ok()) else {
            return refuse(None, None, "the access token names no session");
        };
        let Some(a) = self.store.authorization(id).await? else {
            return refuse(None, None, "the session is unknown");
        };
        let holder = match a.holder_id {
            Some(h) => self.holders.holder_by_id(h).await?,
            None => None,
        };
        let Some(holder) = holder else {
            return refuse(None, None, "the session is unknown");
        };
        if a.stage(now) != AuthorizationStage::SessionActive {
            let why = match &a.end_reason {
                Some(r) => format!("the signing session has ended: {r}"),
                None => "the signing session has ended".to_owned(),
            };
            return refuse(Some(&holder), Some(&a), &why);
        }
        // The session ends with the holder's suspension, the second certificate's revocation
        // or expiry, or the deletion of the device credential that signed in: checked on use.
        let signed_in_at = a.auth_time.or(Some(a.request.created_at));
        let second_certificate = match self.may_sign(&holder, a.device_id, signed_in_at).await? {
            Ok(c) => c,
            Err((_, why)) => {
                return refuse(
                    Some(&holder),
                    Some(&a),
                    &format!("the signing session has ended: {why}"),
                )
            }
        };
        // A session the HPKI card opened ends when that card's certificate is revoked (the
        // card lost), as one a phone opened ends when its credential is deleted.
        if a.method == Some(hpki_core::domain::oidc::AuthMethod::Card) {
            if let Some(why) = self.card_revoked(a.id).await? {
                return refuse(
                    Some(&holder),
                    Some(&a),
                    &format!("the signing session has ended: {why}"),
                );
            }
        }
        let Some(client) = self.active_client(a.request.client_id.as_str()).await? else {
            return refuse(
                Some(&holder),
                Some(&a),
                "the relying system has been disabled",
            );
        };
        Ok(Ok(SigningSession {
            authorization: a,
            holder,
            client,
            second_certificate,
            claims,
        }))
    }

    /// Why the HPKI card that opened a session no longer counts (its authentication
    /// certificate revoked, or the card login unknown); `None` if it does.
    async fn card_revoked(&self, authorization_id: i64) -> Result<Option<String>, Error> {
        use hpki_core::domain::oidc::CardOutcome;
        let serial = match self.store.card_login(authorization_id).await? {
            Some(hpki_core::domain::oidc::CardLogin {
                outcome:
                    CardOutcome::Verified {
                        certificate_serial, ..
                    },
                ..
            }) => certificate_serial,
            _ => return Ok(Some("the HPKI card that signed in is not on record".into())),
        };
        let parsed = hpki_core::domain::Serial::parse(&serial)
            .map_err(|_| Error::Internal(format!("a card login's serial {serial}")))?;
        Ok(match self.certs.certificate(&parsed).await? {
            Some(c) if c.revocation.is_none() => None,
            _ => Some(format!(
                "the HPKI card's authentication certificate {serial} that signed in was revoked"
            )),
        })
    }

    /// The UserInfo response (OpenID Connect Core 5.3): the claims the session's scope
    /// releases.
    pub async fn userinfo(&self, access: &AccessToken) -> Result<Value, Error> {
        let (a, holder, claims) = self.session_of_token(&access.token).await?;
        self.check_binding(&claims, access).await?;
        // UserInfo is OpenID Connect's: a token for signing alone (scope `service` or
        // `credential`) says nothing about who the holder is to its bearer.
        if !a
            .request
            .scope
            .split_ascii_whitespace()
            .any(|s| s == "openid")
        {
            return Err(oauth(
                OAuthErrorCode::InsufficientScope,
                "the access token was not issued with the openid scope; UserInfo answers only OpenID Connect tokens",
            ));
        }
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
        dpop: &DpopRequest,
    ) -> Result<(), Error> {
        let endpoint = self.settings.endpoint(crate::paths::REVOKE);
        let client = self.authenticate_client(&endpoint, r, basic).await?;
        let token = r.token.as_deref().unwrap_or("");
        if token.is_empty() {
            return Err(oauth(OAuthErrorCode::InvalidRequest, "token is missing"));
        }
        let Ok((a, holder, claims)) = self.session_of_token(token).await else {
            return Ok(());
        };
        if a.request.client_id != client.client_id {
            return Ok(());
        }
        // A DPoP-bound token is revoked with a proof of its key (for a public client, the
        // only proof that the caller is the one the token was issued to).
        if claims["cnf"]["jkt"].is_string() {
            let access = AccessToken {
                token: token.to_owned(),
                scheme: TokenScheme::Dpop,
                request: dpop.clone(),
            };
            self.check_binding(&claims, &access).await?;
        }
        self.end_session(actor, &a, &holder, "revoked by the relying system")
            .await
    }

    /// The holder's signing sessions, newest first (at most 100): when, with which relying
    /// system, how, and whether and why they ended.
    /// The holder's signing sessions that are running now, newest first, for their own page.
    pub async fn active_sessions(&self, holder: &Holder) -> Result<Vec<HolderSession>, Error> {
        let now = self.clock.now();
        let mut out = Vec::new();
        let page = self.holder_page_client();
        for a in self.store.sessions_of_holder(holder.id, 100).await? {
            // The holder page's own sign-in is not a system the holder signed in to.
            if a.stage(now) != AuthorizationStage::SessionActive || a.request.client_id == page {
                continue;
            }
            let client = self.client_name(a.request.client_id.as_str()).await?;
            out.push(HolderSession {
                client_name: client.unwrap_or_else(|| a.request.client_id.to_string()),
                method: a.method,
                signed_in_at: a.auth_time,
                expires_at: a.session_expires_at,
            });
        }
        Ok(out)
    }

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
            Action::OIDC_SESSIONS_ENDED,
            holder.username.to_string(),
            json!({ "reason": reason }),
        );
        Ok(self
            .store
            .end_sessions_of_holder(holder.id, now, reason, &event)
            .await?)
    }

    pub(crate) async fn end_session(
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
            Action::OIDC_SESSION_ENDED,
            holder.username.to_string(),
            json!({ "authorization": a.id, "client": a.request.client_id, "reason": reason }),
        );
        self.store
            .end_authorization(a.id, now, reason, &event)
            .await?;
        Ok(())
    }
}
