//! Printing sheets: one holder's sheet, or a print run for every holder without a usable one.
//! Pages are checked before anything is issued; sheets whose page could not be printed are
//! withdrawn again, so no sheet stays usable without its paper.

use crate::audit::Action;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::audit::{Actor, AuditEvent};
use crate::domain::sheet::SheetState;
use crate::domain::{Holder, Photo, Username};
use crate::Error;

use super::sheets::{IssuedSheet, Minting, SheetService};

/// Why one holder's page cannot be printed. Facts, not advice: the CLI and the web say what
/// to do about each in their own words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PageProblem {
    /// No face photo is on record for the holder.
    #[error("no face photo on record")]
    NoPhoto,
    /// The printer's font has no glyph for a character of the holder's names.
    #[error("the sheet font has no glyph for {:?} (U+{:04X})", .0, u32::from(*.0))]
    MissingGlyph(char),
    /// The stored photo cannot be placed on the page.
    #[error("the photo cannot be printed: {0}")]
    Photo(String),
    /// Writing the page failed (the output, not the holder).
    #[error("the page could not be written: {0}")]
    Output(String),
}

/// A page problem and whose page it is. Shown (and given to scripts as JSON) as one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HolderProblem {
    pub username: Username,
    pub problem: PageProblem,
}

impl std::fmt::Display for HolderProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.problem {
            PageProblem::NoPhoto => write!(f, "{} has no face photo on record", self.username),
            other => write!(f, "{}: {other}", self.username),
        }
    }
}

impl Serialize for HolderProblem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Why sheets were not printed. When this is returned, no sheet of the attempt stays usable,
/// except where `Stopped::not_withdrawn` says otherwise.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrintFailure {
    /// Checked before anything was issued: these pages cannot be printed (at most
    /// [`PRINT_PROBLEMS`] named, `more` not named). No sheet was issued.
    #[error("no sheet was issued; fix these holders first:\n  {}{}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "), more_line(*.more))]
    Refused {
        problems: Vec<HolderProblem>,
        more: u64,
    },
    /// Printing stopped at a page after sheets were issued; `withdrawn` of them were withdrawn
    /// again. `not_withdrawn` is set when withdrawing failed too: that many sheets stay usable
    /// without a printed page, and why.
    #[error("{problem}\nthe print run stopped; {}", match .not_withdrawn {
        None => format!("the {withdrawn} sheets it had issued were withdrawn"),
        Some((n, why)) => format!("withdrawing the {n} sheets it had issued failed too ({why}): they are usable without a printed page"),
    })]
    Stopped {
        problem: HolderProblem,
        withdrawn: usize,
        not_withdrawn: Option<(usize, String)>,
    },
}

fn more_line(more: u64) -> String {
    if more > 0 {
        format!("\n  … and {more} more")
    } else {
        String::new()
    }
}

/// Where printed sheets go (the PDF writer, behind this trait so the service decides what is
/// issued and what is withdrawn again when printing fails).
pub trait SheetSink: SheetCheck {
    /// Prints one page.
    fn add(
        &mut self,
        holder: &Holder,
        photo: &Photo,
        sheet: &IssuedSheet,
    ) -> Result<(), PageProblem>;
}

/// Whether a holder's sheet can be printed (the printer's font has every character of the
/// names, the photo can be placed).
pub trait SheetCheck: Send + Sync {
    /// Whether the holder's page can be printed; `photo` is `None` in the cheap first pass
    /// over a print run (then only the text is checked).
    fn check(&self, holder: &Holder, photo: Option<&Photo>) -> Result<(), PageProblem>;
}

/// What a print run would meet: the holders waiting for a sheet and those that cannot be
/// printed yet (at most [`PRINT_PROBLEMS`] named, `unprintable` counts them all).
#[derive(Clone, Debug, Serialize)]
pub struct PendingCheck {
    pub pending: u64,
    pub unprintable: u64,
    pub problems: Vec<HolderProblem>,
}

impl PendingCheck {
    /// How many problems were counted but not named.
    pub fn unnamed(&self) -> u64 {
        self.unprintable.saturating_sub(self.problems.len() as u64)
    }
}

/// What a print run did.
#[derive(Clone, Debug, Serialize)]
pub struct PrintRun {
    pub printed: u64,
    pub first_sheet_id: Option<i64>,
    pub last_sheet_id: Option<i64>,
}

/// How many holders a print run takes at a time (one transaction, hashed in parallel).
const PRINT_CHUNK: u32 = 64;
/// How many problems a refused print run names.
pub const PRINT_PROBLEMS: usize = 20;

/// The next chunk of a print run: holders, their photos, their sheets' secrets being hashed.
struct Chunk {
    holders: Vec<Holder>,
    photos: Vec<Photo>,
    minting: Minting,
}

fn problem(holder: &Holder, problem: PageProblem) -> HolderProblem {
    HolderProblem {
        username: holder.username.clone(),
        problem,
    }
}

impl SheetService {
    async fn printable(
        &self,
        holder: &Holder,
        sink: &dyn SheetSink,
    ) -> Result<Result<Photo, HolderProblem>, Error> {
        let Some(photo) = self.holders.holder_photo(&holder.username).await? else {
            return Ok(Err(problem(holder, PageProblem::NoPhoto)));
        };
        Ok(sink
            .check(holder, Some(&photo))
            .map(|()| photo)
            .map_err(|why| problem(holder, why)))
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
                Action::SHEET_REVOKED,
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

    /// Issues a sheet for one holder, printed into `print` when there is one (see
    /// [`Self::issue_printed`]).
    pub async fn issue_to(
        &self,
        actor: &Actor,
        username: &Username,
        print: Option<&mut dyn SheetSink>,
    ) -> Result<IssuedSheet, Error> {
        match print {
            Some(sink) => self.issue_printed(actor, username, sink).await,
            None => self.issue(actor, username).await,
        }
    }

    /// Refuses (`Error::Unprintable`) a holder whose sheet `sink` could not print, issuing
    /// nothing: for what issues something else first (a renewal's certificate).
    pub async fn check_printable(
        &self,
        username: &Username,
        sink: &dyn SheetSink,
    ) -> Result<(), Error> {
        let holder = self.holder(username).await?;
        self.printable(&holder, sink)
            .await?
            .map_err(|p| PrintFailure::Refused {
                problems: vec![p],
                more: 0,
            })?;
        Ok(())
    }

    /// Issues and prints a sheet for one holder. The page is checked before anything is
    /// issued; if printing still fails, the new sheet is withdrawn again.
    pub async fn issue_printed(
        &self,
        actor: &Actor,
        username: &Username,
        sink: &mut dyn SheetSink,
    ) -> Result<IssuedSheet, Error> {
        let holder = self.holder(username).await?;
        let photo = self
            .printable(&holder, sink)
            .await?
            .map_err(|p| PrintFailure::Refused {
                problems: vec![p],
                more: 0,
            })?;
        let issued = self.issue(actor, username).await?;
        if let Err(why) = sink.add(&holder, &photo, &issued) {
            let withdrawing = self
                .withdraw(actor, &[(issued.sheet_id, issued.username.clone())])
                .await;
            return Err(PrintFailure::Stopped {
                problem: problem(&holder, why),
                withdrawn: withdrawing.as_ref().map_or(0, |n| *n),
                not_withdrawn: withdrawing.err().map(|e| (1, e.to_string())),
            }
            .into());
        }
        Ok(issued)
    }

    /// Reads the next chunk of a print run after holder `after`, checks every page and starts
    /// hashing its sheets' passwords. `None` when no holder is left.
    async fn next_chunk(
        &self,
        usable_until: DateTime<Utc>,
        after: i64,
        sink: &dyn SheetSink,
    ) -> Result<Option<Chunk>, Error> {
        let holders = self
            .sheets
            .holders_without_sheet(usable_until, after, PRINT_CHUNK)
            .await?;
        if holders.is_empty() {
            return Ok(None);
        }
        let mut photos = Vec::with_capacity(holders.len());
        for h in &holders {
            photos.push(
                self.printable(h, sink)
                    .await?
                    .map_err(|p| PrintFailure::Refused {
                        problems: vec![p],
                        more: 0,
                    })?,
            );
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
        self.check_needing(check, Duration::zero()).await
    }

    /// [`Self::check_pending`] for the holders without a sheet usable for `usable_for` from
    /// now (those without one, and those whose sheet expires sooner).
    pub async fn check_needing(
        &self,
        check: &dyn SheetCheck,
        usable_for: Duration,
    ) -> Result<PendingCheck, Error> {
        let usable_until = self.clock.now() + usable_for;
        let mut result = PendingCheck {
            pending: 0,
            unprintable: 0,
            problems: Vec::new(),
        };
        let mut after = 0;
        loop {
            let page = self
                .sheets
                .holders_without_sheet(usable_until, after, 1000)
                .await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            for h in &page {
                result.pending += 1;
                let found = if h.photo_sha256.is_none() {
                    Some(PageProblem::NoPhoto)
                } else {
                    check.check(h, None).err()
                };
                if let Some(p) = found {
                    result.unprintable += 1;
                    if result.problems.len() < PRINT_PROBLEMS {
                        result.problems.push(problem(h, p));
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
        self.print_needing(actor, sink, Duration::zero()).await
    }

    /// [`Self::print_pending`] for the holders without a sheet usable for `usable_for` from
    /// now: with 14 days, the holders whose sheet expires within 14 days get a new one (which
    /// supersedes it) as well as those without any (the manual's 2.1.2, in one run).
    pub async fn print_needing(
        &self,
        actor: &Actor,
        sink: &mut dyn SheetSink,
        usable_for: Duration,
    ) -> Result<PrintRun, Error> {
        let pending = self.check_needing(&*sink, usable_for).await?;
        if !pending.problems.is_empty() {
            let more = pending.unnamed();
            return Err(PrintFailure::Refused {
                problems: pending.problems,
                more,
            }
            .into());
        }
        // The holders are those without a sheet usable until then.
        let usable_until = self.clock.now() + usable_for;

        let mut issued_ids: Vec<(i64, String)> = Vec::new();
        let mut run = PrintRun {
            printed: 0,
            first_sheet_id: None,
            last_sheet_id: None,
        };
        // Pipelined: the next chunk is read, checked and hashing while this one is stored
        // and printed, so the cores that hash are never idle waiting for the printer.
        let mut next = self.next_chunk(usable_until, 0, sink).await;
        let failure = loop {
            let chunk = match next {
                Ok(Some(c)) => c,
                Ok(None) => return Ok(run),
                Err(e) => break e,
            };
            let after = chunk.holders.last().map_or(i64::MAX, |h| h.id);
            next = self.next_chunk(usable_until, after, sink).await;
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
                    printing = Err(problem(h, why));
                    break;
                }
                run.printed += 1;
                run.first_sheet_id.get_or_insert(sheet.sheet_id);
                run.last_sheet_id = Some(sheet.sheet_id);
            }
            if let Err(p) = printing {
                break Error::Unprintable(PrintFailure::Stopped {
                    problem: p,
                    withdrawn: 0,
                    not_withdrawn: None,
                });
            }
        };
        let withdrawing = self.withdraw(actor, &issued_ids).await;
        // A page that failed (while printing, or a photo that changed since the check).
        let stopped_at = match failure {
            Error::Unprintable(PrintFailure::Stopped { problem, .. }) => problem,
            Error::Unprintable(PrintFailure::Refused { mut problems, .. })
                if !problems.is_empty() =>
            {
                problems.swap_remove(0)
            }
            other => {
                return Err(match withdrawing {
                    Ok(_) => other,
                    Err(e) => Error::Internal(format!(
                        "{other}; the print run stopped, and withdrawing the {} sheets it had issued failed too ({e}): they are usable without a printed page",
                        issued_ids.len()
                    )),
                })
            }
        };
        Err(PrintFailure::Stopped {
            problem: stopped_at,
            withdrawn: withdrawing.as_ref().map_or(0, |n| *n),
            not_withdrawn: withdrawing.err().map(|e| (issued_ids.len(), e.to_string())),
        }
        .into())
    }
}
