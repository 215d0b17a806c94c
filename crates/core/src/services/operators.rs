//! Operators of the certificate authority and their bearer tokens.

use std::sync::Arc;

use crate::audit::{Actor, AuditEvent};
use crate::clock::Clock;
use crate::domain::InvalidInput;
use crate::secret;
use crate::store::{Operator, Store, StoreError};
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

impl OperatorService {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Adds an operator and returns the token, which is shown once and stored only hashed.
    pub async fn add(&self, actor: &Actor, name: &str) -> Result<(Operator, String), Error> {
        let name = parse_name(name)?;
        let token = secret::new_token(TOKEN_PREFIX)?;
        let event = AuditEvent::new(
            self.clock.now(),
            actor,
            "operator.created",
            name,
            serde_json::json!({}),
        );
        match self
            .store
            .insert_operator(name, &secret::token_hash(&token), &event)
            .await
        {
            Ok(op) => Ok((op, token)),
            Err(StoreError::Conflict(_)) => {
                Err(Error::Conflict(format!("operator {name} already exists")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The operator a bearer token belongs to.
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
        self.store
            .operator_by_token_hash(&hash)
            .await?
            .ok_or(Error::Unauthenticated)
    }
}
