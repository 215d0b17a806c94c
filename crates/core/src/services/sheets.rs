//! Initial registration sheets: issue (superseding the old one), show, revoke, and the password
//! check behind `/r/{token}`.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::audit::{Actor, AuditEvent};
use crate::clock::Clock;
use crate::domain::sheet::{self, Sheet, SheetState, SheetToken};
use crate::domain::{Holder, InvalidInput, Photo, Username};
use crate::pool::WorkerPool;
use crate::store::{NewSheet, RegistrationSession, SheetStore, Store};
use crate::Error;

/// Where printed sheets go (the PDF writer, behind this trait so the service decides what is
/// issued and what is withdrawn again when printing fails).
pub trait SheetSink: SheetCheck {
    /// Prints one page.
    fn add(&mut self, holder: &Holder, photo: &Photo, sheet: &IssuedSheet) -> Result<(), String>;
}

/// Whether a holder's sheet can be printed (the printer's font has every character of the
/// names, the photo can be placed).
pub trait SheetCheck: Send + Sync {
    /// Whether the holder's page can be printed; `photo` is `None` in the cheap first pass
    /// over a print run (then only the text is checked). A reason when it cannot.
    fn check(&self, holder: &Holder, photo: Option<&Photo>) -> Result<(), String>;
}

/// What a print run would meet: the holders waiting for a sheet and those that cannot be
/// printed yet (at most [`PRINT_PROBLEMS`] named, `unprintable` counts them all).
#[derive(Clone, Debug, Serialize)]
pub struct PendingCheck {
    pub pending: u64,
    pub unprintable: u64,
    pub problems: Vec<String>,
}

/// What a print run did.
#[derive(Clone, Debug, Serialize)]
pub struct PrintRun {
    pub printed: u64,
    pub first_sheet_id: Option<i64>,
    pub last_sheet_id: Option<i64>,
}

/// A last line "… and N more" when a check named only some of its problems.
pub fn more_problems(check: &PendingCheck) -> String {
    let named = check.problems.len() as u64;
    if check.unprintable > named {
        format!("\n  … and {} more", check.unprintable - named)
    } else {
        String::new()
    }
}

/// How many holders a print run takes at a time (one transaction, hashed in parallel).
const PRINT_CHUNK: u32 = 64;
/// How many problems a refused print run names.
pub const PRINT_PROBLEMS: usize = 20;

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
        }
    }
}

/// What a sheet's page shows before any password is typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SheetLookup {
    Active { remaining: u32 },
    Unusable(SheetState),
    Unknown,
}

/// A registration in progress, as the registration pages see it.
#[derive(Clone, Debug)]
pub struct Registration {
    pub holder: Holder,
    pub sheet_id: i64,
    pub expires_at: DateTime<Utc>,
    /// The hash of the session's secret, to which WebAuthn ceremonies are bound.
    pub session_hash: String,
}

/// What a registration session cookie stands for now.
#[derive(Clone, Debug)]
pub enum RegistrationLookup {
    Open(Box<Registration>),
    /// The sheet ended meanwhile (superseded, revoked, locked, expired).
    SheetEnded(SheetState),
    /// No cookie, an unknown one, or an expired session.
    None,
}

#[derive(Clone)]
pub struct SheetService {
    holders: Arc<dyn Store>,
    sheets: Arc<dyn SheetStore>,
    clock: Arc<dyn Clock>,
    settings: SheetSettings,
    /// Password checks hashing at once: one core fewer than the machine has (at least one),
    /// so a burst of guesses queues here instead of taking every CPU from the rest of the
    /// server.
    hashing: Arc<tokio::sync::Semaphore>,
    /// The threads that run Argon2id, one per core.
    hashers: Arc<WorkerPool>,
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
struct Minting {
    secrets: Vec<(SheetToken, String)>,
    hashes: std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<String>, Error>> + Send>>,
}

/// The next chunk of a print run: holders, their photos, their sheets' secrets being hashed.
struct Chunk {
    holders: Vec<Holder>,
    photos: Vec<Photo>,
    minting: Minting,
}

impl SheetService {
    pub fn new(
        holders: Arc<dyn Store>,
        sheets: Arc<dyn SheetStore>,
        clock: Arc<dyn Clock>,
        settings: SheetSettings,
    ) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            holders,
            sheets,
            clock,
            settings,
            hashing: Arc::new(tokio::sync::Semaphore::new(cores.saturating_sub(1).max(1))),
            hashers: Arc::new(WorkerPool::new("argon2", cores)),
        }
    }

    /// Wrong passwords before a sheet locks.
    pub fn max_attempts(&self) -> u32 {
        self.settings.max_attempts
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

    /// Draws the secrets of `n` new sheets and starts hashing their passwords.
    fn mint(&self, n: usize) -> Result<Minting, Error> {
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

    async fn store_minted(
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
                "sheet.issued",
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
                "sheet.superseded",
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
                url: format!("{}/r/{}", self.settings.public_url, token.expose()),
                password,
                issued_at: s.issued_at,
                expires_at: s.expires_at,
            })
            .collect())
    }

    /// Issues a new sheet for the holder; an active older one is superseded at once.
    pub async fn issue(&self, actor: &Actor, username: &str) -> Result<IssuedSheet, Error> {
        let holder = self.holder(username).await?;
        self.issue_for(actor, std::slice::from_ref(&holder))
            .await?
            .pop()
            .ok_or_else(|| Error::Internal("no sheet was stored".into()))
    }

    async fn printable(
        &self,
        holder: &Holder,
        sink: &dyn SheetSink,
    ) -> Result<Result<Photo, String>, Error> {
        let Some(photo) = self.holders.holder_photo(&holder.username).await? else {
            return Ok(Err(format!(
                "{} has no face photo on record; add one with `hpki-second holder photo {} FILE` before printing",
                holder.username, holder.username
            )));
        };
        Ok(sink
            .check(holder, Some(&photo))
            .map(|()| photo)
            .map_err(|why| format!("{}: {why}", holder.username)))
    }

    /// Withdraws sheets issued by a print run that did not finish, so none stays usable
    /// without its page. Returns how many were withdrawn.
    async fn withdraw(&self, actor: &Actor, issued: &[(i64, String)]) -> Result<usize, Error> {
        let now = self.clock.now();
        let mut n = 0;
        for (id, username) in issued {
            let event = AuditEvent::new(
                now,
                actor,
                "sheet.revoked",
                username,
                serde_json::json!({ "sheet_id": id, "reason": "the print run did not finish" }),
            );
            if self
                .sheets
                .end_sheet(*id, SheetState::Revoked, &event)
                .await?
            {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Issues and prints a sheet for one holder. The page is checked before anything is
    /// issued; if printing still fails, the new sheet is withdrawn again.
    pub async fn issue_printed(
        &self,
        actor: &Actor,
        username: &str,
        sink: &mut dyn SheetSink,
    ) -> Result<IssuedSheet, Error> {
        let holder = self.holder(username).await?;
        let photo = self
            .printable(&holder, sink)
            .await?
            .map_err(Error::Unprintable)?;
        let issued = self.issue(actor, username).await?;
        if let Err(why) = sink.add(&holder, &photo, &issued) {
            let outcome = match self
                .withdraw(actor, &[(issued.sheet_id, issued.username.clone())])
                .await
            {
                Ok(_) => "the new sheet was withdrawn".to_owned(),
                Err(e) => format!(
                    "withdrawing the new sheet failed too ({e}): revoke it with `sheet revoke --holder {}`",
                    holder.username
                ),
            };
            return Err(Error::Unprintable(format!(
                "{}: {why}; {outcome}",
                holder.username
            )));
        }
        Ok(issued)
    }

    /// Reads the next chunk of a print run after holder `after`, checks every page and starts
    /// hashing its sheets' passwords. `None` when no holder is left.
    async fn next_chunk(
        &self,
        now: DateTime<Utc>,
        after: i64,
        sink: &dyn SheetSink,
    ) -> Result<Option<Chunk>, Error> {
        let holders = self
            .sheets
            .holders_without_sheet(now, after, PRINT_CHUNK)
            .await?;
        if holders.is_empty() {
            return Ok(None);
        }
        let mut photos = Vec::with_capacity(holders.len());
        for h in &holders {
            photos.push(self.printable(h, sink).await?.map_err(Error::Unprintable)?);
        }
        let minting = self.mint(holders.len())?;
        Ok(Some(Chunk {
            holders,
            photos,
            minting,
        }))
    }

    /// Checks every active holder without a usable sheet as a print run would, issuing
    /// nothing: a face photo on record, names the printer can draw.
    pub async fn check_pending(&self, check: &dyn SheetCheck) -> Result<PendingCheck, Error> {
        let now = self.clock.now();
        let mut result = PendingCheck {
            pending: 0,
            unprintable: 0,
            problems: Vec::new(),
        };
        let mut after = 0;
        loop {
            let page = self.sheets.holders_without_sheet(now, after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            for h in &page {
                result.pending += 1;
                let problem = if h.photo_sha256.is_none() {
                    Some(format!(
                        "{} has no face photo on record; add one with `hpki-second holder photo {} FILE` before printing",
                        h.username, h.username
                    ))
                } else {
                    check
                        .check(h, None)
                        .err()
                        .map(|why| format!("{}: {why}", h.username))
                };
                if let Some(p) = problem {
                    result.unprintable += 1;
                    if result.problems.len() < PRINT_PROBLEMS {
                        result.problems.push(p);
                    }
                }
            }
        }
        Ok(result)
    }

    /// Issues and prints sheets for every active holder without a usable one, a chunk at a
    /// time (memory does not grow with the run). Every holder is checked first (photo on
    /// record, printable names); if any cannot be printed nothing is issued. If printing fails
    /// later, the sheets this run issued are withdrawn again.
    pub async fn print_pending(
        &self,
        actor: &Actor,
        sink: &mut dyn SheetSink,
    ) -> Result<PrintRun, Error> {
        let pending = self.check_pending(&*sink).await?;
        if !pending.problems.is_empty() {
            return Err(Error::Unprintable(format!(
                "no sheet was issued; fix these holders first:\n  {}{}",
                pending.problems.join("\n  "),
                more_problems(&pending)
            )));
        }
        let now = self.clock.now();

        let mut issued_ids: Vec<(i64, String)> = Vec::new();
        let mut run = PrintRun {
            printed: 0,
            first_sheet_id: None,
            last_sheet_id: None,
        };
        // Pipelined: the next chunk is read, checked and hashing while this one is stored
        // and printed, so the cores that hash are never idle waiting for the printer.
        let mut next = self.next_chunk(now, 0, sink).await;
        let failure = loop {
            let chunk = match next {
                Ok(Some(c)) => c,
                Ok(None) => return Ok(run),
                Err(e) => break e,
            };
            let after = chunk.holders.last().map_or(i64::MAX, |h| h.id);
            next = self.next_chunk(now, after, sink).await;
            let sheets = match self
                .store_minted(actor, &chunk.holders, chunk.minting)
                .await
            {
                Ok(s) => s,
                Err(e) => break e,
            };
            issued_ids.extend(sheets.iter().map(|s| (s.sheet_id, s.username.clone())));
            let mut printing = Ok(());
            for ((h, photo), sheet) in chunk.holders.iter().zip(&chunk.photos).zip(&sheets) {
                if let Err(why) = sink.add(h, photo, sheet) {
                    printing = Err(Error::Unprintable(format!("{}: {why}", h.username)));
                    break;
                }
                run.printed += 1;
                run.first_sheet_id.get_or_insert(sheet.sheet_id);
                run.last_sheet_id = Some(sheet.sheet_id);
            }
            if let Err(e) = printing {
                break e;
            }
        };
        let withdrawn = match self.withdraw(actor, &issued_ids).await {
            Ok(n) => n,
            Err(e) => {
                return Err(Error::Unprintable(format!(
                    "{failure}\nthe print run stopped, and withdrawing the {} sheets it had issued failed too ({e}): \
                     they are usable without a printed page; reissue them (sheet reissue) or revoke them (sheet revoke)",
                    issued_ids.len()
                )))
            }
        };
        Err(match failure {
            Error::Unprintable(why) => Error::Unprintable(format!(
                "{why}\nthe print run stopped; the {withdrawn} sheets it had issued were withdrawn"
            )),
            other => other,
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

    /// The state of the sheet behind a registration URL, for its page. A malformed token is
    /// `Unknown`, like one that never existed.
    pub async fn lookup(&self, token: &str) -> Result<SheetLookup, Error> {
        let Ok(token) = SheetToken::parse(token) else {
            return Ok(SheetLookup::Unknown);
        };
        let Some(sheet) = self.sheets.sheet_by_token_hash(&token.hash()).await? else {
            return Ok(SheetLookup::Unknown);
        };
        Ok(match sheet.state_at(self.clock.now()) {
            SheetState::Active => SheetLookup::Active {
                remaining: self
                    .settings
                    .max_attempts
                    .saturating_sub(sheet.failed_attempts),
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
        Ok(RegistrationLookup::Open(Box::new(Registration {
            holder,
            sheet_id: sheet.id,
            expires_at: s.expires_at,
            session_hash,
        })))
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
                "sheet.password_accepted",
                format!("sheet:{}", sheet.id),
                serde_json::json!({ "session_expires_at": expires_at.to_rfc3339() }),
            );
            self.sheets
                .open_registration(
                    &RegistrationSession {
                        id_hash: crate::secret::token_hash(&session),
                        sheet_id: sheet.id,
                        holder_id: sheet.holder_id,
                        created_at: now,
                        expires_at,
                    },
                    &event,
                )
                .await?;
            return Ok(PasswordCheck::Accepted {
                session,
                expires_at,
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
