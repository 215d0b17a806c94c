//! Initial registration sheets: issue (superseding the old one), show, revoke, and the password
//! check behind `/r/{token}`.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::audit::{Actor, AuditEvent};
use crate::clock::Clock;
use crate::domain::sheet::{self, Sheet, SheetState, SheetToken};
use crate::domain::{InvalidInput, Username};
use crate::store::{NewSheet, SheetStore, Store};
use crate::Error;

/// Rules for sheets, from the configuration.
#[derive(Clone, Debug)]
pub struct SheetSettings {
    pub validity: Duration,
    /// Wrong passwords before a sheet locks (the live service: 5).
    pub max_attempts: u32,
    /// The public base URL, without a trailing slash: the QR code is `{public_url}/r/{token}`.
    pub public_url: String,
}

/// A freshly issued sheet: the only time the URL and the password exist in the clear.
#[derive(Clone, Serialize)]
pub struct IssuedSheet {
    pub username: String,
    pub sheet_id: i64,
    pub url: String,
    pub password: String,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for IssuedSheet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "IssuedSheet({}, sheet {}, expires {})",
            self.username, self.sheet_id, self.expires_at
        )
    }
}

/// A sheet as operators see it (no secrets).
#[derive(Clone, Debug, Serialize)]
pub struct SheetView {
    pub sheet_id: i64,
    pub username: String,
    pub state: SheetState,
    pub attempts_used: u32,
    pub max_attempts: u32,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The outcome of a password check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordCheck {
    Accepted {
        holder_id: i64,
        sheet_id: i64,
    },
    Wrong {
        remaining: u32,
    },
    /// The sheet exists but cannot be used: locked, expired, superseded or revoked.
    Unusable(SheetState),
    /// No such sheet; said the same way whether or not it ever existed.
    Unknown,
}

#[derive(Clone)]
pub struct SheetService {
    holders: Arc<dyn Store>,
    sheets: Arc<dyn SheetStore>,
    clock: Arc<dyn Clock>,
    settings: SheetSettings,
}

async fn off_runtime<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("a worker failed: {e}")))
}

impl SheetService {
    pub fn new(
        holders: Arc<dyn Store>,
        sheets: Arc<dyn SheetStore>,
        clock: Arc<dyn Clock>,
        settings: SheetSettings,
    ) -> Self {
        Self {
            holders,
            sheets,
            clock,
            settings,
        }
    }

    fn view(&self, s: &Sheet, username: &Username, now: DateTime<Utc>) -> SheetView {
        SheetView {
            sheet_id: s.id,
            username: username.to_string(),
            state: s.state_at(now),
            attempts_used: s.failed_attempts,
            max_attempts: self.settings.max_attempts,
            issued_at: s.issued_at,
            expires_at: s.expires_at,
        }
    }

    async fn holder(&self, username: &str) -> Result<crate::domain::Holder, Error> {
        super::find_holder(self.holders.as_ref(), username).await
    }

    /// Issues a new sheet for the holder; an active older one is superseded at once.
    pub async fn issue(&self, actor: &Actor, username: &str) -> Result<IssuedSheet, Error> {
        let holder = self.holder(username).await?;
        let now = self.clock.now();
        let token = SheetToken::generate()?;
        let password = sheet::generate_password()?;
        let to_hash = password.clone();
        let password_hash = off_runtime(move || sheet::hash_password(&to_hash)).await??;
        let expires_at = now + self.settings.validity;
        let new = NewSheet {
            holder_id: holder.id,
            token_hash: token.hash(),
            password_hash,
            issued_at: now,
            expires_at,
        };
        let target = holder.username.to_string();
        let issued = AuditEvent::new(
            now,
            actor,
            "sheet.issued",
            &target,
            serde_json::json!({ "expires_at": expires_at.to_rfc3339() }),
        );
        let (actor_c, target_c) = (actor.clone(), target.clone());
        let superseded = move |old: i64| {
            AuditEvent::new(
                now,
                &actor_c,
                "sheet.superseded",
                &target_c,
                serde_json::json!({ "sheet_id": old }),
            )
        };
        let stored = self.sheets.issue_sheet(&new, &issued, &superseded).await?;
        Ok(IssuedSheet {
            username: target,
            sheet_id: stored.id,
            url: format!("{}/r/{}", self.settings.public_url, token.expose()),
            password,
            expires_at,
        })
    }

    /// Every sheet of the holder, newest last.
    pub async fn show(&self, username: &str) -> Result<Vec<SheetView>, Error> {
        let holder = self.holder(username).await?;
        let now = self.clock.now();
        Ok(self
            .sheets
            .sheets_of_holder(holder.id)
            .await?
            .iter()
            .map(|s| self.view(s, &holder.username, now))
            .collect())
    }

    /// Withdraws the holder's usable sheet.
    pub async fn revoke(&self, actor: &Actor, username: &str) -> Result<SheetView, Error> {
        let holder = self.holder(username).await?;
        let now = self.clock.now();
        let sheets = self.sheets.sheets_of_holder(holder.id).await?;
        let active = sheets
            .iter()
            .rev()
            .find(|s| s.state_at(now) == SheetState::Active)
            .ok_or_else(|| {
                Error::Conflict(format!(
                    "holder {} has no usable sheet to revoke",
                    holder.username
                ))
            })?;
        let event = AuditEvent::new(
            now,
            actor,
            "sheet.revoked",
            holder.username.to_string(),
            serde_json::json!({ "sheet_id": active.id }),
        );
        if !self
            .sheets
            .end_sheet(active.id, SheetState::Revoked, &event)
            .await?
        {
            return Err(Error::Conflict(
                "the sheet changed meanwhile; look again".into(),
            ));
        }
        let mut revoked = active.clone();
        revoked.stored_state = SheetState::Revoked;
        Ok(self.view(&revoked, &holder.username, now))
    }

    /// Usable sheets that expire within `within`, soonest first.
    pub async fn expiring_within(&self, within: Duration) -> Result<Vec<SheetView>, Error> {
        let now = self.clock.now();
        let mut out = Vec::new();
        for s in self.sheets.sheets_expiring(now + within).await? {
            if s.state_at(now) != SheetState::Active {
                continue;
            }
            if let Some(h) = self.holders.holder_by_id(s.holder_id).await? {
                out.push(self.view(&s, &h.username, now));
            }
        }
        Ok(out)
    }

    /// Checks the password typed on the sheet's page. A malformed token is `Unknown` and a
    /// password longer than any real one is refused before hashing: neither counts as an attempt.
    pub async fn check_password(
        &self,
        actor: &Actor,
        token: &str,
        password: &str,
    ) -> Result<PasswordCheck, Error> {
        let Ok(token) = SheetToken::parse(token) else {
            return Ok(PasswordCheck::Unknown);
        };
        if password.len() > sheet::PASSWORD_MAX_INPUT {
            return Err(Error::Invalid(vec![InvalidInput::new(
                "password",
                "is far longer than the password printed on the sheet",
            )]));
        }
        let Some(sheet) = self.sheets.sheet_by_token_hash(&token.hash()).await? else {
            return Ok(PasswordCheck::Unknown);
        };
        let now = self.clock.now();
        let state = sheet.state_at(now);
        if state != SheetState::Active {
            return Ok(PasswordCheck::Unusable(state));
        }
        let (typed, phc) = (password.to_owned(), sheet.password_hash.clone());
        if off_runtime(move || sheet::verify_password(&typed, &phc)).await? {
            return Ok(PasswordCheck::Accepted {
                holder_id: sheet.holder_id,
                sheet_id: sheet.id,
            });
        }
        let target = format!("sheet:{}", sheet.id);
        let failed = AuditEvent::new(
            now,
            actor,
            "sheet.password_failed",
            &target,
            serde_json::json!({}),
        );
        let locked = AuditEvent::new(
            now,
            actor,
            "sheet.locked",
            &target,
            serde_json::json!({ "after": self.settings.max_attempts }),
        );
        match self
            .sheets
            .record_sheet_failure(sheet.id, self.settings.max_attempts, &failed, &locked)
            .await?
        {
            Some(s) if s.stored_state == SheetState::Locked => {
                Ok(PasswordCheck::Unusable(SheetState::Locked))
            }
            Some(s) => Ok(PasswordCheck::Wrong {
                remaining: self.settings.max_attempts.saturating_sub(s.failed_attempts),
            }),
            // Another request locked or ended it in the meantime.
            None => {
                let now_state = self
                    .sheets
                    .sheet_by_token_hash(&token.hash())
                    .await?
                    .map(|s| s.state_at(now));
                Ok(PasswordCheck::Unusable(
                    now_state.unwrap_or(SheetState::Locked),
                ))
            }
        }
    }
}
