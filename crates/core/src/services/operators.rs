//! Operators of the certificate authority and their bearer tokens.

use crate::audit::Action;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::audit::{Actor, AuditEvent};
use crate::clock::Clock;
use crate::domain::InvalidInput;
use crate::secret;
use crate::store::{Operator, OperatorChange, OperatorRole, Store, StoreError};
use crate::Error;

const TOKEN_PREFIX: &str = "hso_";

#[derive(Clone)]
pub struct OperatorService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

fn parse_name(name: &str) -> Result<&str, InvalidInput> {
    let name = name.trim();
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(name)
    } else {
        Err(InvalidInput::new(
            "name",
            "an operator name is 1 to 64 of the characters a-z A-Z 0-9 . _ -",
        ))
    }
}

/// A freshly made token, before it is stored.
struct NewToken {
    token: String,
    hash: String,
    expires_at: Option<DateTime<Utc>>,
    event: AuditEvent,
}

/// How often the last-used time is written (a bound on writes, not on accuracy).
const LAST_USED_EVERY_MINUTES: i64 = 5;

impl OperatorService {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    fn event(
        &self,
        actor: &Actor,
        action: Action,
        name: &str,
        details: serde_json::Value,
    ) -> AuditEvent {
        AuditEvent::new(self.clock.now(), actor, action, name, details)
    }

    /// A new token for `name`: the token (shown once), its hash, its expiry and the audit event.
    fn mint(
        &self,
        actor: &Actor,
        action: Action,
        name: &str,
        valid_for: Option<Duration>,
    ) -> Result<NewToken, Error> {
        let token = secret::new_token(TOKEN_PREFIX)?;
        let expires_at = valid_for.map(|d| self.clock.now() + d);
        let event = self.event(
            actor,
            action,
            name,
            serde_json::json!({ "token_expires_at": expires_at.map(|t| t.to_rfc3339()) }),
        );
        Ok(NewToken {
            hash: secret::token_hash(&token),
            token,
            expires_at,
            event,
        })
    }

    /// Adds an operator and returns the token, which is shown once and stored only hashed;
    /// with `valid_for`, the token stops working after that long.
    pub async fn add(
        &self,
        actor: &Actor,
        name: &str,
        role: OperatorRole,
        valid_for: Option<Duration>,
    ) -> Result<(Operator, String), Error> {
        let name = parse_name(name)?;
        let mut new = self.mint(actor, Action::OPERATOR_CREATED, name, valid_for)?;
        new.event = self.event(
            actor,
            Action::OPERATOR_CREATED,
            name,
            serde_json::json!({
                "role": role.as_str(),
                "token_expires_at": new.expires_at.map(|t| t.to_rfc3339()),
            }),
        );
        match self
            .store
            .insert_operator(name, role, &new.hash, new.expires_at, &new.event)
            .await
        {
            Ok(op) => Ok((op, new.token)),
            Err(StoreError::Conflict(_)) => {
                Err(Error::Conflict(format!("operator {name} already exists")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A new token for the operator (shown once); the old one stops working at once. Also how
    /// a revoked or expired token is replaced.
    pub async fn rotate(
        &self,
        actor: &Actor,
        name: &str,
        valid_for: Option<Duration>,
    ) -> Result<(Operator, String), Error> {
        let name = parse_name(name)?;
        let new = self.mint(actor, Action::OPERATOR_TOKEN_ROTATED, name, valid_for)?;
        let op = self
            .store
            .replace_operator_token(name, &new.hash, new.expires_at, &new.event)
            .await?
            .ok_or_else(|| Error::NotFound(format!("operator {name}")))?;
        Ok((op, new.token))
    }

    /// Revokes the token, disables or enables the operator.
    pub async fn change(
        &self,
        actor: &Actor,
        name: &str,
        change: OperatorChange,
    ) -> Result<Operator, Error> {
        let name = parse_name(name)?;
        let action = match change {
            OperatorChange::RevokeToken => Action::OPERATOR_TOKEN_REVOKED,
            OperatorChange::Disable => Action::OPERATOR_DISABLED,
            OperatorChange::Enable => Action::OPERATOR_ENABLED,
        };
        let event = self.event(actor, action, name, serde_json::json!({}));
        self.store
            .change_operator(name, change, &event)
            .await?
            .ok_or_else(|| Error::NotFound(format!("operator {name}")))
    }

    /// Every operator, with the state of their access.
    pub async fn list(&self) -> Result<Vec<Operator>, Error> {
        Ok(self.store.operators().await?)
    }

    /// The operator a bearer token belongs to, if it may be used now: not revoked, not
    /// expired, the operator not disabled. Every refusal is the same `Unauthenticated` (the
    /// caller learns nothing about which tokens exist); the reason goes to the log.
    pub async fn authenticate(&self, token: &str) -> Result<Operator, Error> {
        // Tokens have a fixed shape; anything else is refused before touching the database.
        let well_formed = token.len() == TOKEN_PREFIX.len() + 64
            && token.starts_with(TOKEN_PREFIX)
            && token[TOKEN_PREFIX.len()..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit());
        if !well_formed {
            return Err(Error::Unauthenticated);
        }
        // The lookup key is a hash of 256 random bits, so its timing tells an attacker nothing.
        let hash = secret::token_hash(token);
        let op = self
            .store
            .operator_by_token_hash(&hash)
            .await?
            .ok_or(Error::Unauthenticated)?;
        let now = self.clock.now();
        let refused = if op.disabled_at.is_some() {
            Some("the operator is disabled")
        } else if op.token_revoked_at.is_some() {
            Some("the token was revoked")
        } else if op.token_expires_at.is_some_and(|t| t <= now) {
            Some("the token expired")
        } else {
            None
        };
        if let Some(why) = refused {
            tracing::info!(operator = %op.name, why, "an operator token was refused");
            return Err(Error::Unauthenticated);
        }
        // Written at most every few minutes: most calls need no write at all.
        let every = Duration::minutes(LAST_USED_EVERY_MINUTES);
        if op.last_used_at.is_none_or(|t| t <= now - every) {
            self.store.note_operator_use(op.id, now, every).await?;
        }
        Ok(op)
    }
}
