use std::path::{Path, PathBuf};

use clap::Subcommand;
use hpki_core::services::{IssuedSheet, PendingCheck, SheetView};
use hpki_print::{SheetDocumentSettings, SheetFont};

use crate::app::{cli_actor, App};
use crate::output::emit;
use crate::print::{FontCheck, PdfSink};
use crate::Failure;

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct Whom {
    /// The holder: a username (999999-jpa) or a registry number.
    #[arg(long)]
    holder: Option<String>,
    /// Every active holder without a usable sheet (needs --out); with --expiring-within, also
    /// those whose sheet expires within that span (their new sheet supersedes it).
    #[arg(long, requires = "out")]
    all_pending: bool,
}

#[derive(Subcommand)]
pub enum SheetCommand {
    /// Issue an initial registration sheet (supersedes the holder's usable one). With --out,
    /// print it to an A4 PDF; --json prints the URL, the password and the expiry once.
    Issue {
        #[command(flatten)]
        whom: Whom,
        /// With --all-pending: also reissue sheets that expire within this span (14d, 36h).
        #[arg(long, requires = "all_pending")]
        expiring_within: Option<String>,
        /// The PDF to write (one page per sheet).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// The same as issue: a new sheet that supersedes the old one at once.
    Reissue {
        /// The holder: a username (999999-jpa) or a registry number (999999).
        #[arg(long)]
        holder: String,
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// The holder's sheets: state, attempts used, expiry.
    Show {
        /// The holder: a username (999999-jpa) or a registry number (999999).
        #[arg(long)]
        holder: String,
        #[arg(long)]
        json: bool,
    },
    /// Usable sheets that expire soon, e.g. --expiring-within 14d.
    List {
        #[arg(long, default_value = "14d")]
        expiring_within: String,
        #[arg(long)]
        json: bool,
    },
    /// Withdraw the holder's usable sheet.
    Revoke {
        /// The holder: a username (999999-jpa) or a registry number (999999).
        #[arg(long)]
        holder: String,
        #[arg(long)]
        json: bool,
    },
    /// Check every holder waiting for a sheet as `issue --all-pending` would (a photo on
    /// record, names the sheet font can print), issuing nothing. Exits 1 when any cannot be
    /// printed yet.
    Check {
        #[arg(long)]
        json: bool,
    },
}

/// What `sheet check` says: how many wait, and which cannot be printed yet.
pub(crate) fn pending_text(check: &PendingCheck) -> String {
    if check.problems.is_empty() {
        format!(
            "{} holder(s) wait for a sheet; every one can be printed",
            check.pending
        )
    } else {
        format!(
            "{} holder(s) wait for a sheet; {} cannot be printed yet:\n  {}{}",
            check.pending,
            check.unprintable,
            check
                .problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n  "),
            match check.unnamed() {
                0 => String::new(),
                n => format!("\n  … and {n} more"),
            }
        )
    }
}

/// `14d`, `36h` or a plain number of days.
pub(crate) fn parse_span(s: &str) -> Result<chrono::Duration, Failure> {
    let t = s.trim();
    let (n, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&t[..i], &t[i..]),
        None => (t, "d"),
    };
    let n: i64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a span like 14d or 36h"))?;
    // Sheets live days or weeks; ten years is far beyond any of them (and chrono's range).
    const MOST_DAYS: i64 = 3650;
    let (days, hours) = match unit {
        "d" => (n, None),
        "h" => (n / 24, Some(n)),
        _ => return Err(format!("{s:?}: use d (days) or h (hours)").into()),
    };
    if days > MOST_DAYS {
        return Err(format!("{s:?}: at most {MOST_DAYS}d (ten years)").into());
    }
    Ok(match hours {
        Some(h) => chrono::Duration::hours(h),
        None => chrono::Duration::days(days),
    })
}

fn describe(v: &SheetView) -> String {
    format!(
        "sheet {}  {}  {:?}  attempts {}/{}  issued {}  expires {}",
        v.sheet_id,
        v.username,
        v.state,
        v.attempts_used,
        v.max_attempts,
        crate::output::jst_date(v.issued_at),
        crate::output::jst_time(v.expires_at)
    )
}

fn issued_text(s: &IssuedSheet) -> String {
    format!(
        "sheet {} for {}\n  URL:      {}\n  password: {}\n  expires:  {}\n(shown once: neither is stored)",
        s.sheet_id,
        s.username,
        s.url,
        s.password,
        crate::output::jst_time(s.expires_at)
    )
}

pub(crate) fn load_font(app: &App) -> Result<SheetFont, Failure> {
    Ok(SheetFont::load(app.settings.print.font.as_deref()).map_err(|e| e.to_string())?)
}

/// The issuer printed on sheets: configured, else the signing CA's organization (or name).
pub(crate) async fn print_settings(app: &App) -> Result<SheetDocumentSettings, Failure> {
    let issuer = match &app.settings.print.issuer_name {
        Some(n) => n.clone(),
        None => app
            .ca
            .signing_ca_display_name()
            .await?
            .unwrap_or_else(|| "hpki-second".to_owned()),
    };
    Ok(SheetDocumentSettings {
        issuer,
        max_attempts: app.settings.sheets.attempts.get(),
        contact: app.settings.contact.line(),
    })
}

pub async fn run(data_dir: &Path, cmd: SheetCommand) -> Result<(), Failure> {
    let app = App::open(data_dir).await?;
    match cmd {
        SheetCommand::Issue {
            whom: Whom {
                all_pending: true, ..
            },
            expiring_within,
            out: Some(out),
            json,
        } => {
            let usable_for = match expiring_within {
                Some(span) => parse_span(&span)?,
                None => chrono::Duration::zero(),
            };
            let font = load_font(&app)?;
            let mut sink = PdfSink::create(&out, &font, &print_settings(&app).await?)?;
            match app
                .sheets
                .print_needing(&cli_actor(), &mut sink, usable_for)
                .await
            {
                Ok(run) if run.printed == 0 => {
                    sink.abandon();
                    emit(json, &run, || {
                        "every active holder has a usable sheet; nothing was printed".to_owned()
                    });
                }
                Ok(run) => {
                    sink.finish()?;
                    emit(json, &run, || {
                        format!("{} sheets printed to {}", run.printed, out.display())
                    });
                }
                Err(e) => {
                    sink.abandon();
                    return Err(e.into());
                }
            }
        }
        SheetCommand::Issue {
            whom: Whom {
                holder: Some(holder),
                ..
            },
            out,
            json,
            ..
        }
        | SheetCommand::Reissue { holder, out, json } => {
            // One holder's sheet is a case of the gate (never held for an approver).
            let request = hpki_lifecycle::Request::Holder {
                holder: app.username(&holder)?,
                case: hpki_lifecycle::Case::ReissueSheet,
            };
            let acting = hpki_lifecycle::Acting::on_host(&crate::app::os_user(), None)?;
            let reason = "a sheet issued on the command line";
            let outcome = match out {
                None => app.lifecycle.submit(&acting, request, reason, None).await?,
                Some(out) => {
                    let font = load_font(&app)?;
                    let mut sink = PdfSink::create(&out, &font, &print_settings(&app).await?)?;
                    match app
                        .lifecycle
                        .submit(&acting, request, reason, Some(&mut sink))
                        .await
                    {
                        Ok(s) => {
                            sink.finish()?;
                            eprintln!("printed to {}", out.display());
                            s
                        }
                        Err(e) => {
                            sink.abandon();
                            return Err(e.into());
                        }
                    }
                }
            };
            let hpki_lifecycle::Outcome::Done {
                result: hpki_lifecycle::CaseResult::Sheet(s),
            } = outcome
            else {
                return Err("a sheet's issue was not carried out".into());
            };
            emit(json, &s, || issued_text(&s));
        }
        SheetCommand::Issue { .. } => {
            return Err("give --holder N, or --all-pending with --out FILE.pdf".into());
        }
        SheetCommand::Check { json } => {
            let font = load_font(&app)?;
            let check = app.sheets.check_pending(&FontCheck(&font)).await?;
            emit(json, &check, || pending_text(&check));
            if check.unprintable > 0 {
                app.store.close().await;
                return Err(Failure {
                    message: format!("{} holder(s) cannot be printed yet", check.unprintable),
                    code: 1,
                });
            }
        }
        SheetCommand::Show { holder, json } => {
            let views = app.sheets.show(&app.username(&holder)?).await?;
            emit(json, &views, || {
                views.iter().map(describe).collect::<Vec<_>>().join("\n")
            });
        }
        SheetCommand::List {
            expiring_within,
            json,
        } => {
            let views = app
                .sheets
                .expiring_within(parse_span(&expiring_within)?)
                .await?;
            emit(json, &views, || {
                views.iter().map(describe).collect::<Vec<_>>().join("\n")
            });
        }
        SheetCommand::Revoke { holder, json } => {
            let v = app
                .sheets
                .revoke(&cli_actor(), &app.username(&holder)?)
                .await?;
            emit(json, &v, || format!("revoked {}", describe(&v)));
        }
    }
    app.store.close().await;
    Ok(())
}
