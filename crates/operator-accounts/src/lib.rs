//! The operator console's accounts (issue 14): an operator enrols a passkey or security key
//! through a single-use link (`operator add` prints it, valid 24 hours), signs in to `/admin`
//! with it (no passwords), and works in a console session with an idle and an absolute
//! timeout; a revocation needs a fresh assertion (re-authentication) within minutes.
//! Every step is audited; links and session cookies are random, kept only as hashes.
#![forbid(unsafe_code)]

use hpki_core::audit::Action;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::clock::Clock;
use hpki_core::domain::device::DeviceCredential;
use hpki_core::secret::{new_token, token_hash};
use hpki_core::store::{
    ConsoleSession, ConsoleStore, Operator, OperatorEnrolment, OperatorId, Store,
};
use hpki_core::Error;
use hpki_passkey::DeviceService;
use serde_json::{json, Value};

/// The console's timeouts.
#[derive(Clone, Copy, Debug)]
pub struct ConsoleSettings {
    /// A session ends after this long without a request.
    pub idle: Duration,
    /// … and this long after it began, whatever.
    pub absolute: Duration,
    /// A revocation needs a passkey assertion at most this old.
    pub reauth: Duration,
    /// How long an enrolment link works.
    pub enrolment: Duration,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            idle: Duration::minutes(15),
            absolute: Duration::hours(8),
            reauth: Duration::minutes(5),
            enrolment: Duration::hours(24),
        }
    }
}

/// A request's operator and session, checked.
#[derive(Clone, Debug)]
pub struct SignedInOperator {
    pub operator: Operator,
    pub session: ConsoleSession,
}

impl SignedInOperator {
    pub fn actor(&self) -> Actor {
        Actor::operator(&self.operator.name)
    }

    /// Whether the last passkey assertion is recent enough for a revocation.
    pub fn recently_authenticated(&self, now: DateTime<Utc>, within: Duration) -> bool {
        now - self.session.reauth_at <= within
    }
}

/// Enrolment links, sign-in and sessions.
#[derive(Clone)]
pub struct ConsoleService {
    store: Arc<dyn ConsoleStore>,
    operators: Arc<dyn Store>,
    passkeys: DeviceService,
    clock: Arc<dyn Clock>,
    settings: ConsoleSettings,
}

const LINK_PREFIX: &str = "hse_";
const SESSION_PREFIX: &str = "hsc_";

fn signed_out() -> Error {
    Error::Unauthenticated
}

impl ConsoleService {
    pub fn new(
        store: Arc<dyn ConsoleStore>,
        operators: Arc<dyn Store>,
        passkeys: DeviceService,
        clock: Arc<dyn Clock>,
        settings: ConsoleSettings,
    ) -> Self {
        Self {
            store,
            operators,
            passkeys,
            clock,
            settings,
        }
    }

    pub fn settings(&self) -> ConsoleSettings {
        self.settings
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The operators' passkeys (for the console's own pages: which keys an operator has).
    pub fn passkeys(&self) -> &DeviceService {
        &self.passkeys
    }

    async fn operator_named(&self, name: &str) -> Result<Option<Operator>, Error> {
        let name = name.trim();
        Ok(self
            .operators
            .operators()
            .await?
            .into_iter()
            .find(|o| o.name == name && o.disabled_at.is_none()))
    }

    async fn operator_by_id(&self, id: OperatorId) -> Result<Option<Operator>, Error> {
        Ok(self
            .operators
            .operators()
            .await?
            .into_iter()
            .find(|o| o.id == id && o.disabled_at.is_none()))
    }

    /// A new enrolment link's secret for the operator (the web makes it an address).
    pub async fn issue_enrolment(
        &self,
        actor: &Actor,
        operator: &Operator,
    ) -> Result<(String, DateTime<Utc>), Error> {
        let token = new_token(LINK_PREFIX)?;
        let now = self.clock.now();
        let expires_at = now + self.settings.enrolment;
        let event = AuditEvent::new(
            now,
            actor,
            Action::OPERATOR_ENROLMENT_ISSUED,
            operator.name.clone(),
            json!({ "expires_at": expires_at.to_rfc3339() }),
        );
        self.store
            .insert_enrolment(
                &token_hash(&token),
                &OperatorEnrolment {
                    operator_id: operator.id,
                    expires_at,
                    used_at: None,
                },
                &event,
            )
            .await?;
        Ok((token, expires_at))
    }

    /// The operator an enrolment link is for, if it still works.
    pub async fn enrolment_operator(&self, link: &str) -> Result<Operator, Error> {
        let unusable = || {
            Error::NotFound(
                "an enrolment link that works (it is used once and lasts 24 hours; ask for a new one)"
                    .into(),
            )
        };
        if !link.starts_with(LINK_PREFIX) || link.len() > 100 {
            return Err(unusable());
        }
        let e = self
            .store
            .enrolment(&token_hash(link))
            .await?
            .ok_or_else(unusable)?;
        if e.used_at.is_some() || e.expires_at <= self.clock.now() {
            return Err(unusable());
        }
        self.operator_by_id(e.operator_id)
            .await?
            .ok_or_else(unusable)
    }

    /// The options to create the operator's passkey.
    pub async fn enrolment_options(&self, link: &str) -> Result<Value, Error> {
        let operator = self.enrolment_operator(link).await?;
        self.passkeys
            .begin_registration(&operator, &token_hash(link))
            .await
    }

    /// The authenticator's answer: the passkey stored and the link used up, both audited.
    pub async fn finish_enrolment(
        &self,
        actor: &Actor,
        link: &str,
        response: &[u8],
        user_agent: &str,
    ) -> Result<(Operator, DeviceCredential), Error> {
        let operator = self.enrolment_operator(link).await?;
        let hash = token_hash(link);
        // The ceremony is bound to this link and single-use; a failed answer leaves the link
        // working (the operator tries again), a stored passkey uses it up.
        let credential =
            self.passkeys
                .finish_registration(actor, &operator, &hash, response, user_agent, |facts| {
                    match facts.authenticator {
                        Some(name) => format!("{name} ({})", facts.registered_on),
                        None => format!("passkey ({})", facts.registered_on),
                    }
                })
                .await?;
        let now = self.clock.now();
        let event = AuditEvent::new(
            now,
            actor,
            Action::OPERATOR_ENROLMENT_USED,
            operator.name.clone(),
            json!({ "credential": credential.id }),
        );
        // Two answers to two ceremonies of one link at once both store a passkey; the link is
        // used up by the first to get here.
        self.store.use_enrolment(&hash, now, &event).await?;
        Ok((operator, credential))
    }

    /// The options to sign `name` in; `browser` binds the ceremony to this browser (the hash
    /// of a random value in its cookie). An unknown or disabled name gets the same answer as
    /// an operator without passkeys: nothing to sign in with.
    pub async fn sign_in_options(&self, name: &str, browser: &str) -> Result<Value, Error> {
        let Some(operator) = self.operator_named(name).await? else {
            return Err(signed_out());
        };
        self.passkeys
            .begin_sign_in(&operator, &token_hash(browser))
            .await
            .map_err(|_| signed_out())
    }

    /// The passkey's answer: a new session (its cookie's secret returned once).
    pub async fn finish_sign_in(
        &self,
        actor: &Actor,
        name: &str,
        browser: &str,
        response: &[u8],
    ) -> Result<(String, SignedInOperator), Error> {
        let operator = self.operator_named(name).await?.ok_or_else(signed_out)?;
        let signed = self
            .passkeys
            .finish_sign_in(actor, &operator, &token_hash(browser), response)
            .await?;
        let token = new_token(SESSION_PREFIX)?;
        let now = self.clock.now();
        let session = ConsoleSession {
            token_hash: token_hash(&token),
            operator_id: operator.id,
            credential_id: signed.device.id,
            created_at: now,
            seen_at: now,
            expires_at: now + self.settings.absolute,
            reauth_at: now,
            ended_at: None,
        };
        let event = AuditEvent::new(
            now,
            actor,
            Action::CONSOLE_SIGNED_IN,
            operator.name.clone(),
            json!({ "credential": signed.device.id, "role": operator.role.as_str(), "until": session.expires_at.to_rfc3339() }),
        );
        self.store.insert_console_session(&session, &event).await?;
        Ok((token, SignedInOperator { operator, session }))
    }

    /// The operator behind a session cookie, if the session is still open (not ended, not
    /// idle too long, not past its end, the operator not disabled). Notes the request.
    pub async fn session(&self, token: &str) -> Result<SignedInOperator, Error> {
        if !token.starts_with(SESSION_PREFIX) || token.len() > 100 {
            return Err(signed_out());
        }
        let hash = token_hash(token);
        let s = self
            .store
            .console_session(&hash)
            .await?
            .ok_or_else(signed_out)?;
        let now = self.clock.now();
        if s.ended_at.is_some() || now >= s.expires_at || now - s.seen_at >= self.settings.idle {
            return Err(signed_out());
        }
        let operator = self
            .operator_by_id(s.operator_id)
            .await?
            .ok_or_else(signed_out)?;
        if now - s.seen_at >= Duration::minutes(1) {
            self.store.touch_console_session(&hash, now).await?;
        }
        Ok(SignedInOperator {
            operator,
            session: s,
        })
    }

    /// Options for a fresh assertion in a session (before a revocation).
    pub async fn reauth_options(&self, who: &SignedInOperator) -> Result<Value, Error> {
        self.passkeys
            .begin_sign_in(&who.operator, &who.session.token_hash)
            .await
    }

    /// The fresh assertion: recorded on the session, audited.
    pub async fn finish_reauth(
        &self,
        actor: &Actor,
        who: &SignedInOperator,
        response: &[u8],
    ) -> Result<(), Error> {
        self.passkeys
            .finish_sign_in(actor, &who.operator, &who.session.token_hash, response)
            .await?;
        let now = self.clock.now();
        let event = AuditEvent::new(
            now,
            actor,
            Action::CONSOLE_REAUTHENTICATED,
            who.operator.name.clone(),
            json!({}),
        );
        if self
            .store
            .reauthenticated(&who.session.token_hash, now, &event)
            .await?
        {
            Ok(())
        } else {
            Err(signed_out())
        }
    }

    /// Ends the session.
    pub async fn sign_out(&self, actor: &Actor, who: &SignedInOperator) -> Result<(), Error> {
        let now = self.clock.now();
        let event = AuditEvent::new(
            now,
            actor,
            Action::CONSOLE_SIGNED_OUT,
            who.operator.name.clone(),
            json!({}),
        );
        self.store
            .end_console_session(&who.session.token_hash, now, &event)
            .await?;
        Ok(())
    }
}
