//! The holder's answer on the login page: the passkey's assertion checked, the holder allowed
//! to sign, the device's use and the login written together, the code handed out.

use hpki_core::audit::Action;
use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::domain::oidc::{AuthMethod, Authorization, AuthorizationStage, Grant, LoginRefusal};
use hpki_core::domain::Holder;
use hpki_core::secret::{new_token, token_hash};
use hpki_core::Error;
use serde_json::{json, Value};

use super::authorize::with_query;
use super::login_refused;
use crate::OidcService;

impl OidcService {
    /// The authorization behind a browser's login token, if it still waits for the login.
    pub(super) async fn waiting_login(&self, login_token: &str) -> Result<Authorization, Error> {
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

    /// Whether the relying system takes this way of signing in; its name if so.
    pub(super) async fn method_allowed(
        &self,
        a: &Authorization,
        method: AuthMethod,
    ) -> Result<String, Error> {
        match self.active_client(a.request.client_id.as_str()).await? {
            Some(c) if c.methods.allows(method) => Ok(c.name),
            Some(_) => Err(login_refused(
                LoginRefusal::MethodNotAllowed,
                format!(
                    "the relying system does not accept {} logins",
                    method.as_str()
                ),
            )),
            None => Err(login_refused(
                LoginRefusal::LoginEnded,
                "the relying system was disabled",
            )),
        }
    }

    /// The options for `navigator.credentials.get()` on the login page.
    pub async fn login_options(&self, login_token: &str) -> Result<Value, Error> {
        let a = self.waiting_login(login_token).await?;
        self.method_allowed(&a, AuthMethod::Passkey).await?;
        self.devices.begin_login(&a.request.login_hash).await
    }

    /// Appends the event of a refused login (target: the holder when known).
    pub(super) async fn refuse_login(
        &self,
        actor: &Actor,
        a: &Authorization,
        target: &str,
        method: AuthMethod,
        refusal: LoginRefusal,
        detail: String,
    ) -> Error {
        let event = AuditEvent::new(
            self.clock.now(),
            actor,
            Action::OIDC_LOGIN_REFUSED,
            target.to_owned(),
            json!({ "client": a.request.client_id, "method": method.as_str(), "reason": refusal.code(), "detail": detail }),
        );
        if let Err(e) = self.store.record_refusal(&event).await {
            return e.into();
        }
        count_login(method, refusal.code());
        login_refused(refusal, detail)
    }

    /// Why this holder, authenticated, still gets no code (`None`: they do): signatures asked
    /// of another holder's certificate (SCAL2), or the holder may not sign now.
    pub(super) async fn holder_refusal(
        &self,
        a: &Authorization,
        holder: &Holder,
    ) -> Result<Option<(LoginRefusal, String)>, Error> {
        if let Some(consent) = &a.request.consent {
            if consent.credential.holder() != &holder.username {
                let detail = format!(
                    "signatures with {} were asked for, and the one signing in is {}",
                    consent.credential, holder.username
                );
                return Ok(Some((LoginRefusal::NotYourCredential, detail)));
            }
        }
        Ok(self.may_sign(holder, None, None).await?.err())
    }

    /// The event that records the login: `oidc.signed_in`, or for SCAL2 `csc.consented`
    /// binding the holder's authentication to the hashes the authorization holds. `evidence`
    /// says what authenticated the holder (the device credential, the card's certificate).
    pub(super) fn login_event(
        &self,
        actor: &Actor,
        a: &Authorization,
        holder: &Holder,
        method: AuthMethod,
        evidence: (&str, Value),
    ) -> AuditEvent {
        let mut details = json!({
            "client": a.request.client_id,
            "method": method.as_str(),
            "authorization": a.id,
            "scope": a.request.scope,
            "grant_type": a.request.grant.grant_type(),
            "requested_at": a.request.created_at.to_rfc3339(),
        });
        if let Grant::Code { redirect_uri, .. } = &a.request.grant {
            details["redirect_uri"] = json!(redirect_uri);
        }
        details[evidence.0] = evidence.1;
        let action = if let Some(consent) = &a.request.consent {
            details["credential"] = json!(consent.credential.to_string());
            details["hashes"] = json!(consent.hashes.iter().map(hex::encode).collect::<Vec<_>>());
            details["labels"] = json!(consent.labels);
            details["commitment"] = json!(consent.commitment(&a.request.client_id));
            Action::CSC_CONSENTED
        } else {
            Action::OIDC_SIGNED_IN
        };
        AuditEvent::new(
            self.clock.now(),
            actor,
            action,
            holder.username.to_string(),
            details,
        )
    }

    /// What a login hands out: for the code flow a new code, and the relying system's
    /// redirect URI with the code, the state and the issuer, where the browser goes; for a
    /// device grant the device code the relying system polls with (the login has held it
    /// since the phone entered the user code; it is redeemable once the login is recorded,
    /// until the request ends), and the phone's page that says to go back to the PC.
    pub(super) fn handout(&self, a: &Authorization) -> Result<Handout, Error> {
        match &a.request.grant {
            Grant::Code {
                redirect_uri,
                state,
                ..
            } => {
                let code = new_token("hsa_")?;
                let mut params = vec![("code", code.as_str()), ("iss", self.settings.issuer())];
                if let Some(s) = state {
                    params.push(("state", s));
                }
                Ok(Handout {
                    to: with_query(redirect_uri, &params),
                    code_hash: token_hash(&code),
                    expires_at: self.clock.now() + self.settings.code,
                })
            }
            Grant::Device => Ok(Handout {
                to: crate::paths::DEVICE_DONE.to_owned(),
                code_hash: a.code_hash.clone().ok_or_else(|| {
                    Error::Internal(format!(
                        "device grant login {} without its device code",
                        a.id
                    ))
                })?,
                expires_at: a.request.login_expires_at,
            }),
        }
    }

    /// The passkey's answer: checked, then the holder (active, with a second certificate
    /// valid now), then a code. Returns where the browser goes.
    pub async fn login_finish(
        &self,
        actor: &Actor,
        login_token: &str,
        response: &[u8],
    ) -> Result<String, Error> {
        let a = self.waiting_login(login_token).await?;
        self.method_allowed(&a, AuthMethod::Passkey).await?;
        let (holder, verified) = self
            .devices
            .finish_login(
                actor,
                &a.request.login_hash,
                response,
                self.holders.as_ref(),
            )
            .await?;
        let method = AuthMethod::Passkey;
        if let Some((refusal, detail)) = self.holder_refusal(&a, &holder).await? {
            let target = holder.username.to_string();
            return Err(self
                .refuse_login(actor, &a, &target, method, refusal, detail)
                .await);
        }
        let now = self.clock.now();
        let device_id = verified.device.id;
        // SCAL2: the holder's passkey answered the challenge issued for exactly these hashes
        // (the ceremony is kept under this authorization, which holds them); the event binds
        // the two for whoever checks later.
        let handout = self.handout(&a)?;
        let event = self.login_event(actor, &a, &holder, method, ("device_id", json!(device_id)));
        // The passkey's use and the login are written at once (they usually share one
        // commit); the code goes out only if both were. A login written whose device use was
        // not (the passkey was stopped, or used elsewhere at that moment) is ended at once:
        // its code was never handed out.
        let (used, recorded) = futures_util::future::join(
            self.devices.record_use(verified),
            self.store.record_login(
                &hpki_core::store::Login {
                    authorization: a.id,
                    holder: holder.id,
                    device: Some(device_id),
                    method,
                    at: now,
                    code_hash: &handout.code_hash,
                    code_expires_at: handout.expires_at,
                },
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
        count_login(method, "signed_in");
        Ok(handout.to)
    }
}

/// What a login hands out (see [`OidcService::handout`]).
pub(super) struct Handout {
    /// Where the browser goes.
    pub(super) to: String,
    /// The hash of what the relying system redeems: the code, or the device code.
    pub(super) code_hash: String,
    pub(super) expires_at: chrono::DateTime<chrono::Utc>,
}

/// `hpki_oidc_logins_total` by method (passkey, card) and outcome (`signed_in`, or the
/// refusal's code).
pub(super) fn count_login(method: AuthMethod, outcome: &'static str) {
    metrics::counter!(
        "hpki_oidc_logins_total",
        "method" => method.as_str(),
        "outcome" => outcome
    )
    .increment(1);
}
