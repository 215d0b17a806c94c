//! Operators of the certificate authority and their bearer tokens.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::audit::{Actor, AuditEvent};
use crate::clock::Clock;
use crate::domain::InvalidInput;
use crate::secret;
use crate::store::{Operator, OperatorChange, Store, StoreError};
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

/// How often the last-used time is written (a bound on writes, not on accuracy).
const LAST_USED_EVERY_MINUTES: i64 = 5;

impl OperatorService {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    fn event(
        &self,
        actor: &Actor,
        action: &'static str,
        name: &str,
        details: serde_json::Value,
    ) -> AuditEvent {
        AuditEvent::new(self.clock.now(), actor, action, name, details)
    }

    fn expiry(&self, valid_for: Option<Duration>) -> Option<DateTime<Utc>> {
        valid_for.map(|d| self.clock.now() + d)
    }

    /// Adds an operator and returns the token, which is shown once and stored only hashed;
    /// with `valid_for`, the token stops working after that long.
    pub async fn add(
        &self,
        actor: &Actor,
        name: &str,
        valid_for: Option<Duration>,
    ) -> Result<(Operator, String), Error> {
        let name = parse_name(name)?;
        let token = secret::new_token(TOKEN_PREFIX)?;
        let expires_at = self.expiry(valid_for);
        let event = self.event(
            actor,
            "operator.created",
            name,
            serde_json::json!({ "token_expires_at": expires_at.map(|t| t.to_rfc3339()) }),
        );
        match self
            .store
            .insert_operator(name, &secret::token_hash(&token), expires_at, &event)
            .await
        {
            Ok(op) => Ok((op, token)),
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
        let token = secret::new_token(TOKEN_PREFIX)?;
        let expires_at = self.expiry(valid_for);
        let event = self.event(
            actor,
            "operator.token_rotated",
            name,
            serde_json::json!({ "token_expires_at": expires_at.map(|t| t.to_rfc3339()) }),
        );
        let op = self
            .store
            .replace_operator_token(name, &secret::token_hash(&token), expires_at, &event)
            .await?
            .ok_or_else(|| Error::NotFound(format!("operator {name}")))?;
        Ok((op, token))
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
            OperatorChange::RevokeToken => "operator.token_revoked",
            OperatorChange::Disable => "operator.disabled",
            OperatorChange::Enable => "operator.enabled",
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
        self.store
            .note_operator_use(op.id, now, Duration::minutes(LAST_USED_EVERY_MINUTES))
            .await?;
        Ok(op)
    }
}
