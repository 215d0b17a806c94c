//! Initial registration sheets: issue (superseding the old one), show, revoke, list those
//! about to expire. Printing them is [`super::printing`]; the password check behind the QR code
//! and the registration session it opens are [`super::registration`].

use crate::audit::Action;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::audit::{Actor, AuditEvent};
use crate::clock::Clock;
use crate::domain::sheet::{self, AttemptLimit, Sheet, SheetState, SheetToken};
use crate::domain::{Holder, Username};
use crate::pool::WorkerPool;
use crate::store::{NewSheet, SheetStore, Store};
use crate::{Error, PublicUrl};

/// Rules for sheets, from the configuration.
#[derive(Clone, Debug)]
pub struct SheetSettings {
    pub validity: Duration,
    /// Wrong passwords before a sheet locks.
    pub attempts: AttemptLimit,
    /// The public base URL: the QR code is its sheet address.
    pub public_url: PublicUrl,
}

/// A freshly issued sheet: the only time the URL and the password exist in the clear.
#[derive(Clone, Serialize)]
pub struct IssuedSheet {
    pub username: String,
    pub sheet_id: i64,
    pub url: String,
    pub password: String,
    pub issued_at: DateTime<Utc>,
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

#[derive(Clone)]
pub struct SheetService {
    pub(super) holders: Arc<dyn Store>,
    pub(super) sheets: Arc<dyn SheetStore>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) settings: SheetSettings,
    /// The threads that run Argon2id, one per core.
    pub(super) hashers: Arc<WorkerPool>,
}

/// The last second of `t`'s day in Japan: a sheet is printed as valid "until 23:59 on" a date,
/// so it ends when that day ends, not at the minute of the day it was issued.
fn end_of_day_in_japan(t: DateTime<Utc>) -> DateTime<Utc> {
    let jst = crate::clock::japan();
    t.with_timezone(&jst)
        .date_naive()
        .and_hms_opt(23, 59, 59)
        .and_then(|d| d.and_local_timezone(jst).single())
        .map_or(t, |d| d.with_timezone(&Utc))
}

/// Starts hashing the passwords on every worker of `pool` at once (a print run hashes
/// thousands, the next chunk while the last one is stored and printed); the future collects
/// the hashes in order. The same few threads do all the hashing, so the allocator keeps one
/// Argon2 block per thread instead of one per short-lived thread.
fn start_hashing(
    pool: &WorkerPool,
    passwords: &[String],
) -> impl std::future::Future<Output = Result<Vec<String>, Error>> + Send + 'static {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = passwords.len().div_ceil(workers).max(1);
    let jobs: Vec<_> = passwords
        .chunks(per)
        .map(|chunk| {
            let chunk = chunk.to_vec();
            pool.submit(move || {
                chunk
                    .iter()
                    .map(|p| sheet::hash_password(p))
                    .collect::<Result<Vec<_>, _>>()
            })
        })
        .collect();
    let total = passwords.len();
    async move {
        let mut out = Vec::with_capacity(total);
        for done in futures_util::future::join_all(jobs).await {
            out.extend(done.map_err(|e| Error::Internal(e.to_string()))??);
        }
        Ok(out)
    }
}

/// New sheets' secrets, being hashed.
pub(super) struct Minting {
    secrets: Vec<(SheetToken, String)>,
    hashes: std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<String>, Error>> + Send>>,
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
            hashers: Arc::new(WorkerPool::per_core("argon2")),
        }
    }

    /// Wrong passwords before a sheet locks.
    pub fn attempt_limit(&self) -> AttemptLimit {
        self.settings.attempts
    }

    fn view(&self, s: &Sheet, username: &Username, now: DateTime<Utc>) -> SheetView {
        SheetView {
            sheet_id: s.id,
            username: username.to_string(),
            state: s.state_at(now),
            attempts_used: s.failed_attempts,
            max_attempts: self.settings.attempts.get(),
            issued_at: s.issued_at,
            expires_at: s.expires_at,
        }
    }

    pub(super) async fn holder(&self, username: &Username) -> Result<Holder, Error> {
        super::find_holder(self.holders.as_ref(), username).await
    }

    /// Draws the secrets of `n` new sheets and starts hashing their passwords.
    pub(super) fn mint(&self, n: usize) -> Result<Minting, Error> {
        let mut secrets = Vec::with_capacity(n);
        for _ in 0..n {
            secrets.push((SheetToken::generate()?, sheet::generate_password()?));
        }
        let passwords: Vec<String> = secrets.iter().map(|(_, p)| p.clone()).collect();
        let hashes = Box::pin(start_hashing(&self.hashers, &passwords));
        Ok(Minting { secrets, hashes })
    }
    /// Makes new sheets for `holders` and stores them in one transaction (superseding their
    /// active sheets).
    async fn issue_for(
        &self,
        actor: &Actor,
        holders: &[Holder],
    ) -> Result<Vec<IssuedSheet>, Error> {
        let minting = self.mint(holders.len())?;
        self.store_minted(actor, holders, minting).await
    }

    pub(super) async fn store_minted(
        &self,
        actor: &Actor,
        holders: &[Holder],
        minting: Minting,
    ) -> Result<Vec<IssuedSheet>, Error> {
        let hashes = minting.hashes.await?;
        let secrets = minting.secrets;
        let now = self.clock.now();
        let expires_at = end_of_day_in_japan(now + self.settings.validity);
        let mut batch = Vec::with_capacity(holders.len());
        for ((holder, (token, _)), password_hash) in holders.iter().zip(&secrets).zip(hashes) {
            let new = NewSheet {
                holder_id: holder.id,
                token_hash: token.hash(),
                password_hash,
                issued_at: now,
                expires_at,
            };
            let issued = AuditEvent::new(
                now,
                actor,
                Action::SHEET_ISSUED,
                holder.username.to_string(),
                serde_json::json!({ "expires_at": expires_at.to_rfc3339() }),
            );
            batch.push((new, issued));
        }
        let names: std::collections::HashMap<i64, String> = holders
            .iter()
            .map(|h| (h.id, h.username.to_string()))
            .collect();
        let actor_c = actor.clone();
        let superseded = move |holder_id: i64, old: i64| {
            AuditEvent::new(
                now,
                &actor_c,
                Action::SHEET_SUPERSEDED,
                names.get(&holder_id).cloned().unwrap_or_default(),
                serde_json::json!({ "sheet_id": old }),
            )
        };
        let stored = self.sheets.issue_sheets(&batch, &superseded).await?;
        Ok(stored
            .iter()
            .zip(holders)
            .zip(secrets)
            .map(|((s, h), (token, password))| IssuedSheet {
                username: h.username.to_string(),
                sheet_id: s.id,
                url: self.settings.public_url.sheet_url(&token),
                password,
                issued_at: s.issued_at,
                expires_at: s.expires_at,
            })
            .collect())
    }

    /// Issues a new sheet for the holder; an active older one is superseded at once.
    pub async fn issue(&self, actor: &Actor, username: &Username) -> Result<IssuedSheet, Error> {
        let holder = self.holder(username).await?;
        self.issue_for(actor, std::slice::from_ref(&holder))
            .await?
            .pop()
            .ok_or_else(|| Error::Internal("no sheet was stored".into()))
    }

    /// Every sheet of the holder, newest last.
    pub async fn show(&self, username: &Username) -> Result<Vec<SheetView>, Error> {
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
    pub async fn revoke(&self, actor: &Actor, username: &Username) -> Result<SheetView, Error> {
        self.revoke_because(actor, username, None).await
    }

    /// The holder reported a registered phone lost: the sheet that could register a phone
    /// (the usable one, if any) is withdrawn too, so that whoever has the phone, or the sheet
    /// kept with it, registers nothing; a new phone needs a new sheet. `None` when there was
    /// no usable sheet.
    pub async fn withdraw_after_lost_phone(
        &self,
        actor: &Actor,
        username: &Username,
        device_id: i64,
    ) -> Result<Option<SheetView>, Error> {
        let why = serde_json::json!({ "reason": "phone reported lost", "device_id": device_id });
        match self.revoke_because(actor, username, Some(why)).await {
            Ok(view) => Ok(Some(view)),
            Err(Error::Conflict(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn revoke_because(
        &self,
        actor: &Actor,
        username: &Username,
        why: Option<serde_json::Value>,
    ) -> Result<SheetView, Error> {
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
        let mut details = serde_json::json!({ "sheet_id": active.id });
        if let (Some(d), Some(serde_json::Value::Object(why))) = (details.as_object_mut(), why) {
            d.extend(why);
        }
        let event = AuditEvent::new(
            now,
            actor,
            Action::SHEET_REVOKED,
            holder.username.to_string(),
            details,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheets_end_with_the_day_in_japan() {
        let t = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("time")
                .with_timezone(&Utc)
        };
        // 15:42 UTC is 00:42 the next day in Japan: valid to the end of that day.
        assert_eq!(
            end_of_day_in_japan(t("2027-02-25T15:42:00Z")),
            t("2027-02-26T14:59:59Z")
        );
        assert_eq!(
            end_of_day_in_japan(t("2027-02-25T14:59:59Z")),
            t("2027-02-25T14:59:59Z")
        );
        assert_eq!(
            end_of_day_in_japan(t("2027-02-25T00:00:00Z")),
            t("2027-02-25T14:59:59Z")
        );
    }
}
