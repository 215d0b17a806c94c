//! The sheet's password check behind the QR code (manual 1.2 (2)-(3)) and the registration
//! session it opens: five wrong passwords lock the sheet ([`AttemptLimit`]), the right one
//! opens a 30-minute session in which the holder registers a phone. Registration sessions are
//! not sheets: this service owns them.

use crate::audit::Action;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::audit::{Actor, AuditEvent};
use crate::clock::Clock;
use crate::domain::sheet::{self, AttemptLimit, PasswordInputError, Sheet, SheetState, SheetToken};
use crate::domain::{Holder, HolderStatus};
use crate::pool::WorkerPool;
use crate::store::{RegistrationSession, SheetStore, Store};
use crate::Error;

use super::sheets::SheetService;

/// How long a browser may take from the accepted password to the registered device.
pub const REGISTRATION_SESSION_MINUTES: i64 = 30;

/// The outcome of a password check.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordCheck {
    /// The password was right: `session` is the new registration session's secret (for the
    /// browser's cookie; only its hash is stored).
    Accepted {
        session: String,
        expires_at: DateTime<Utc>,
    },
    Wrong {
        remaining: u32,
    },
    /// The sheet exists but cannot be used: locked, expired, superseded or revoked.
    Unusable(SheetState),
    /// No such sheet; said the same way whether or not it ever existed.
    Unknown,
    /// The input cannot be the printed password (see [`PasswordInputError`]); it was not
    /// compared and not counted.
    NotCounted(PasswordInputError),
    /// The sheet's holder is suspended: nothing was compared or counted.
    HolderSuspended,
}

impl std::fmt::Debug for PasswordCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Accepted { expires_at, .. } => {
                write!(f, "Accepted(session ***, until {expires_at})")
            }
            Self::Wrong { remaining } => write!(f, "Wrong({remaining} remaining)"),
            Self::Unusable(s) => write!(f, "Unusable({s:?})"),
            Self::Unknown => f.write_str("Unknown"),
            Self::NotCounted(why) => write!(f, "NotCounted({why:?})"),
            Self::HolderSuspended => f.write_str("HolderSuspended"),
        }
    }
}

/// What a sheet's page shows before any password is typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SheetLookup {
    Active {
        remaining: u32,
    },
    Unusable(SheetState),
    Unknown,
    /// The sheet's holder is suspended (an operator's decision, manual section 2).
    HolderSuspended,
}

/// A registration in progress, as the registration pages see it.
#[derive(Clone, Debug)]
pub struct Registration {
    pub holder: Holder,
    pub sheet_id: i64,
    pub expires_at: DateTime<Utc>,
    /// The hash of the session's secret, to which WebAuthn ceremonies are bound.
    pub session_hash: String,
    /// The device credential this browser signed in with ("Sign In"), if it did: the holder's
    /// own page opens only then.
    pub signed_in_device: Option<i64>,
}

/// What a registration session cookie stands for now.
#[derive(Clone, Debug)]
pub enum RegistrationLookup {
    Open(Box<Registration>),
    /// The sheet ended meanwhile (superseded, revoked, locked, expired).
    SheetEnded(SheetState),
    /// The holder was suspended meanwhile.
    HolderSuspended,
    /// No cookie, an unknown one, or an expired session.
    None,
}

/// Sheet lookups, password checks and registration sessions.
#[derive(Clone)]
pub struct RegistrationService {
    sheets: Arc<dyn SheetStore>,
    holders: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    attempts: AttemptLimit,
    /// Password checks hashing at once: one core fewer than the machine has (at least one),
    /// so a burst of guesses queues here instead of taking every CPU from the rest of the
    /// server.
    hashing: Arc<tokio::sync::Semaphore>,
    /// The threads that run Argon2id (shared with the sheet service's).
    hashers: Arc<WorkerPool>,
}

impl SheetService {
    /// The password check and registration sessions of these sheets (same store, clock,
    /// attempt limit and hashing threads).
    pub fn registrations(&self) -> RegistrationService {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        RegistrationService {
            sheets: self.sheets.clone(),
            holders: self.holders.clone(),
            clock: self.clock.clone(),
            attempts: self.settings.attempts,
            hashing: Arc::new(tokio::sync::Semaphore::new(cores.saturating_sub(1).max(1))),
            hashers: self.hashers.clone(),
        }
    }
}

impl RegistrationService {
    /// Wrong passwords before a sheet locks.
    pub fn attempt_limit(&self) -> AttemptLimit {
        self.attempts
    }

    async fn holder_suspended(&self, holder_id: i64) -> Result<bool, Error> {
        Ok(self
            .holders
            .holder_by_id(holder_id)
            .await?
            .is_some_and(|h| h.status == HolderStatus::Suspended))
    }

    /// The state of the sheet behind a registration URL, for its page. (A malformed token
    /// never gets here: the web answers it as `Unknown`, like one that never existed.)
    pub async fn lookup(&self, token: &SheetToken) -> Result<SheetLookup, Error> {
        let Some(sheet) = self.sheets.sheet_by_token_hash(&token.hash()).await? else {
            return Ok(SheetLookup::Unknown);
        };
        if self.holder_suspended(sheet.holder_id).await? {
            return Ok(SheetLookup::HolderSuspended);
        }
        Ok(match sheet.state_at(self.clock.now()) {
            SheetState::Active => SheetLookup::Active {
                remaining: self.attempts.remaining(sheet.failed_attempts),
            },
            other => SheetLookup::Unusable(other),
        })
    }

    /// The registration a session cookie stands for, if it is still open and its sheet still
    /// usable.
    pub async fn registration(&self, session: &str) -> Result<RegistrationLookup, Error> {
        if session.is_empty() || session.len() > 100 {
            return Ok(RegistrationLookup::None);
        }
        let now = self.clock.now();
        let session_hash = crate::secret::token_hash(session);
        let Some((s, sheet, holder)) = self.sheets.registration(&session_hash).await? else {
            return Ok(RegistrationLookup::None);
        };
        if s.expires_at <= now {
            return Ok(RegistrationLookup::None);
        }
        let state = sheet.state_at(now);
        if state != SheetState::Active {
            return Ok(RegistrationLookup::SheetEnded(state));
        }
        if holder.status == HolderStatus::Suspended {
            return Ok(RegistrationLookup::HolderSuspended);
        }
        Ok(RegistrationLookup::Open(Box::new(Registration {
            holder,
            sheet_id: sheet.id,
            expires_at: s.expires_at,
            session_hash,
            signed_in_device: s.signed_in.map(|(device, _)| device),
        })))
    }

    /// Records that the registration's browser signed in with `device_id` (after the
    /// passkey's assertion was verified): the holder's own page opens for it until the
    /// session ends. `false` if the session ended meanwhile.
    pub async fn signed_in(
        &self,
        actor: &Actor,
        registration: &Registration,
        device_id: i64,
    ) -> Result<bool, Error> {
        let now = self.clock.now();
        let event = AuditEvent::new(
            now,
            actor,
            Action::HOLDER_PAGE_OPENED,
            registration.holder.username.to_string(),
            serde_json::json!({ "device_id": device_id, "until": registration.expires_at.to_rfc3339() }),
        );
        Ok(self
            .sheets
            .mark_signed_in(&registration.session_hash, device_id, now, &event)
            .await?)
    }

    /// Checks the password typed on the sheet's page, normalised first (full-width input is
    /// the same password); input that cannot be the printed password is refused before any
    /// lookup or hashing and does not count as an attempt.
    pub async fn check_password(
        &self,
        actor: &Actor,
        token: &SheetToken,
        password: &str,
    ) -> Result<PasswordCheck, Error> {
        if let Err(problem) = sheet::refuse_oversized_input(password) {
            return Ok(PasswordCheck::NotCounted(problem));
        }
        let Some(sheet) = self.sheets.sheet_by_token_hash(&token.hash()).await? else {
            return Ok(PasswordCheck::Unknown);
        };
        // As this sheet prints its password (the stored hash says how).
        let (format, _) = sheet::PasswordFormat::of_stored(&sheet.password_hash);
        let typed = match sheet::normalize_password_input(password, format) {
            Ok(typed) => typed,
            Err(problem) => return Ok(PasswordCheck::NotCounted(problem)),
        };
        if self.holder_suspended(sheet.holder_id).await? {
            return Ok(PasswordCheck::HolderSuspended);
        }
        let now = self.clock.now();
        let state = sheet.state_at(now);
        if state != SheetState::Active {
            return Ok(PasswordCheck::Unusable(state));
        }
        let phc = sheet.password_hash.clone();
        let slot = self
            .hashing
            .acquire()
            .await
            .map_err(|_| Error::Internal("the password check is shutting down".into()))?;
        let matches = self
            .hashers
            .run(move || sheet::verify_password(&typed, &phc))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        drop(slot);
        if matches {
            let session = crate::secret::new_token("rs_")?;
            let expires_at = now + Duration::minutes(REGISTRATION_SESSION_MINUTES);
            let event = AuditEvent::new(
                now,
                actor,
                Action::SHEET_PASSWORD_ACCEPTED,
                format!("sheet:{}", sheet.id),
                serde_json::json!({ "session_expires_at": expires_at.to_rfc3339() }),
            );
            let opened = self
                .sheets
                .open_registration(
                    &RegistrationSession {
                        id_hash: crate::secret::token_hash(&session),
                        sheet_id: sheet.id,
                        holder_id: sheet.holder_id,
                        created_at: now,
                        expires_at,
                        signed_in: None,
                    },
                    &event,
                )
                .await?;
            if !opened {
                // Locked, revoked or superseded between the check and now.
                let state = self
                    .sheets
                    .sheet_by_token_hash(&token.hash())
                    .await?
                    .map_or(SheetState::Locked, |s| s.state_at(now));
                return Ok(PasswordCheck::Unusable(state));
            }
            return Ok(PasswordCheck::Accepted {
                session,
                expires_at,
            });
        }
        self.count_wrong_password(actor, sheet, token, now).await
    }

    /// Counts a wrong password by the rule of [`Sheet::after_wrong_password`]. When another
    /// request counted first, the sheet is read again and the rule applied again: every wrong
    /// password counts once, wherever it was typed.
    async fn count_wrong_password(
        &self,
        actor: &Actor,
        mut sheet: Sheet,
        token: &SheetToken,
        now: DateTime<Utc>,
    ) -> Result<PasswordCheck, Error> {
        let target = format!("sheet:{}", sheet.id);
        let failed = AuditEvent::new(
            now,
            actor,
            Action::SHEET_PASSWORD_FAILED,
            &target,
            serde_json::json!({}),
        );
        let locked = AuditEvent::new(
            now,
            actor,
            Action::SHEET_LOCKED,
            &target,
            serde_json::json!({ "after": self.attempts.get() }),
        );
        loop {
            let next = sheet.after_wrong_password(self.attempts);
            let events = if next.state == SheetState::Locked {
                vec![failed.clone(), locked.clone()]
            } else {
                vec![failed.clone()]
            };
            if self
                .sheets
                .record_wrong_password(sheet.id, sheet.failed_attempts, next, &events)
                .await?
            {
                return Ok(match next.state {
                    SheetState::Active => PasswordCheck::Wrong {
                        remaining: self.attempts.remaining(next.failed_attempts),
                    },
                    other => PasswordCheck::Unusable(other),
                });
            }
            match self.sheets.sheet_by_token_hash(&token.hash()).await? {
                Some(again) if again.state_at(now) == SheetState::Active => sheet = again,
                again => {
                    return Ok(PasswordCheck::Unusable(
                        again.map_or(SheetState::Locked, |s| s.state_at(now)),
                    ))
                }
            }
        }
    }
}
