//! The holder's answer on the login page: the passkey's assertion checked, the holder allowed
//! to sign, the device's use and the login written together, the code handed out.

use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::domain::oidc::{AuthMethod, Authorization, AuthorizationStage, LoginRefusal};
use hpki_core::domain::Holder;
use hpki_core::secret::{new_token, token_hash};
use hpki_core::Error;
use serde_json::{json, Value};

use super::authorize::with_query;
use super::login_refused;
use crate::OidcService;

impl OidcService {
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
        if let Some(consent) = &a.request.consent {
            if consent.credential.holder() != &holder.username {
                let detail = format!(
                    "signatures with {} were asked for, and the passkey is {}'s",
                    consent.credential, holder.username
                );
                let refusal = LoginRefusal::NotYourCredential;
                return Err(self.refuse_login(actor, &a, &holder, refusal, detail).await);
            }
        }
        if let Err((refusal, detail)) = self.may_sign(&holder, None, None).await? {
            return Err(self.refuse_login(actor, &a, &holder, refusal, detail).await);
        }
        let now = self.clock.now();
        let code = new_token("hsa_")?;
        let mut details = json!({
            "client": a.request.client_id,
            "method": AuthMethod::Passkey.as_str(),
            "device_id": verified.device.id,
            "authorization": a.id,
            "scope": a.request.scope,
            "redirect_uri": a.request.redirect_uri,
            "requested_at": a.request.created_at.to_rfc3339(),
        });
        // SCAL2: the holder's passkey answered the challenge issued for exactly these hashes
        // (the ceremony is kept under this authorization, which holds them); the event binds
        // the two for whoever checks later.
        let action = if let Some(consent) = &a.request.consent {
            details["credential"] = json!(consent.credential.to_string());
            details["hashes"] = json!(consent.hashes.iter().map(hex::encode).collect::<Vec<_>>());
            details["labels"] = json!(consent.labels);
            details["commitment"] = json!(consent.commitment(&a.request.client_id));
            "csc.consented"
        } else {
            "oidc.signed_in"
        };
        let event = AuditEvent::new(now, actor, action, holder.username.to_string(), details);
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
}
