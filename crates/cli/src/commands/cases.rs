//! The manual's section 2 and a renewal on the command line, through the same gate as the
//! console and the operator API: the host's user acts as the local operator (`cli:<user>`).
//! Under dual control (`[console] dual_control`, once operators exist) what it holds becomes
//! a request for an approver, as it does in the console, unless `--break-glass REASON` sets
//! dual control aside, which the audit log records (`approval.broken_glass`).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use hpki_lifecycle::{Acting, Case, CaseResult, Outcome, Request};

use crate::app::{os_user, App};
use crate::commands::sheet::load_font;
use crate::output::emit;
use crate::Failure;

#[derive(Subcommand)]
pub enum CaseCommand {
    /// Suspend a holder (manual section 2): nothing works for them until resumed: the sheet
    /// pages, the registration site, sign-in to relying systems, signing.
    Suspend {
        /// The holder: a username (999999-jpa) or a registry number (999999).
        holder: String,
        /// Why, for the audit log.
        #[arg(long, default_value = "suspended by an operator")]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// Resume a suspended holder.
    #[command(alias = "reactivate")]
    Resume {
        /// The holder: a username (999999-jpa) or a registry number (999999).
        holder: String,
        /// Why, for the audit log.
        #[arg(long, default_value = "resumed by an operator")]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// HPKI card lost (manual 2.2.1): revoke the card's certificates (signing and
    /// authentication); with --also-second, the second certificate too. Without it, passkey
    /// sign-in and signing keep working. Under dual control, a request for an approver.
    LostCard {
        /// The holder: a username (999999-jpa) or a registry number (999999).
        holder: String,
        /// Revoke the second certificate too (the holder then needs a new one and a new
        /// sheet: holder renew-second).
        #[arg(long)]
        also_second: bool,
        /// Why, for the audit log (e.g. what the holder reported).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        glass: BreakGlass,
        #[arg(long)]
        json: bool,
    },
    /// Phone lost (manual 2.2.2): delete its device credential with --device (the holder
    /// registers a new phone from a new sheet), or revoke the second certificate with
    /// --revoke-second (under dual control, a request for an approver). One of the two.
    #[command(group(clap::ArgGroup::new("what").required(true).args(["device", "revoke_second"])))]
    LostPhone {
        /// The holder: a username (999999-jpa) or a registry number (999999).
        holder: String,
        /// The device credential to delete (`device list --holder N` shows the IDs).
        #[arg(long)]
        device: Option<i64>,
        /// Revoke the second certificate instead (the phone's passkey then signs nothing;
        /// the holder needs a new certificate and a new sheet: holder renew-second).
        #[arg(long)]
        revoke_second: bool,
        /// Why, for the audit log.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        glass: BreakGlass,
        #[arg(long)]
        json: bool,
    },
    /// After a revoked second certificate: issue a new one (a new key) and a new sheet,
    /// together (the sheet printed to --out when given). Under dual control, a request for
    /// an approver.
    RenewSecond {
        /// The holder: a username (999999-jpa) or a registry number (999999).
        holder: String,
        /// The PDF to print the new sheet to.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Why, for the audit log.
        #[arg(long, default_value = "renewed by an operator")]
        reason: String,
        #[command(flatten)]
        glass: BreakGlass,
        #[arg(long)]
        json: bool,
    },
}

/// Setting dual control aside on the host.
#[derive(Args, Clone, Debug, Default)]
pub struct BreakGlass {
    /// Carry it out now although dual control would wait for an approver, saying why (for
    /// emergencies: the audit log records it as approval.broken_glass, with this reason).
    #[arg(long = "break-glass", value_name = "REASON")]
    pub break_glass: Option<String>,
}

pub async fn run(app: &App, cmd: CaseCommand) -> Result<(), Failure> {
    let (holder, case, reason, glass, json) = match cmd {
        CaseCommand::Suspend {
            holder,
            reason,
            json,
        } => (holder, Case::Suspend, reason, None, json),
        CaseCommand::Resume {
            holder,
            reason,
            json,
        } => (holder, Case::Resume, reason, None, json),
        CaseCommand::LostCard {
            holder,
            also_second,
            reason,
            glass,
            json,
        } => (
            holder,
            Case::LostCard { also_second },
            reason,
            glass.break_glass,
            json,
        ),
        CaseCommand::LostPhone {
            holder,
            device,
            revoke_second: _,
            reason,
            glass,
            json,
        } => {
            let case = match device {
                Some(device) => Case::LostPhoneDevice { device },
                None => Case::LostPhoneSecond,
            };
            (holder, case, reason, glass.break_glass, json)
        }
        CaseCommand::RenewSecond {
            holder,
            out: Some(out),
            reason,
            glass,
            json,
        } => {
            let acting = Acting::on_host(&os_user(), glass.break_glass.as_deref())?;
            let request = Request::Holder {
                holder: app.username(&holder)?,
                case: Case::RenewSecond,
            };
            let font = load_font(app)?;
            let settings = crate::commands::sheet::print_settings(app).await?;
            let mut sink = crate::print::PdfSink::create(&out, &font, &settings)?;
            let outcome = app
                .lifecycle
                .submit(&acting, request, &reason, Some(&mut sink))
                .await;
            match &outcome {
                Ok(Outcome::Done { .. }) => {
                    sink.finish()?;
                    eprintln!("the sheet is printed to {}", out.display());
                }
                _ => sink.abandon(),
            }
            return answer(outcome?, json);
        }
        CaseCommand::RenewSecond {
            holder,
            out: None,
            reason,
            glass,
            json,
        } => (holder, Case::RenewSecond, reason, glass.break_glass, json),
    };
    let request = Request::Holder {
        holder: app.username(&holder)?,
        case,
    };
    let glass = BreakGlass { break_glass: glass };
    through_gate(app, request, &reason, &glass, json).await
}

/// A request of the host's local operator through the gate, and what it did.
pub(crate) async fn through_gate(
    app: &App,
    request: Request,
    reason: &str,
    glass: &BreakGlass,
    json: bool,
) -> Result<(), Failure> {
    let acting = Acting::on_host(&os_user(), glass.break_glass.as_deref())?;
    let outcome = app.lifecycle.submit(&acting, request, reason, None).await?;
    answer(outcome, json)
}

/// What the gate did, as the command line says it.
fn answer(outcome: Outcome, json: bool) -> Result<(), Failure> {
    let result = match outcome {
        Outcome::Pending { request } => {
            emit(json, &request, || {
                format!(
                    "request {} waits for an approver (dual control): nothing is changed yet. \
                     An approver runs `hpki-second approval approve {} --as NAME` (or approves \
                     it in the console) before {}",
                    request.id,
                    request.id,
                    crate::output::jst_time(request.expires_at)
                )
            });
            return Ok(());
        }
        Outcome::Done { result } => result,
    };
    let revoked = match &result {
        CaseResult::Certificate(c) => std::slice::from_ref(c),
        CaseResult::CardLost(done) => &done.revoked,
        CaseResult::PhoneLost(done) => &done.revoked,
        _ => &[],
    };
    if revoked.iter().any(|c| c.crl_pending) {
        eprintln!("warning: {}", crate::commands::ca::CRL_PENDING);
    }
    emit(json, &result, || done_text(&result));
    Ok(())
}

/// A carried-out case, in words.
pub(crate) fn done_text(result: &CaseResult) -> String {
    match result {
        CaseResult::Holder(h) => crate::commands::holder::describe(h),
        CaseResult::CardLost(done) => {
            if done.revoked.is_empty() {
                return format!(
                    "{}: nothing to revoke: the holder has no valid card certificate{}",
                    done.holder,
                    if done.also_second {
                        " and no valid second certificate"
                    } else {
                        "; the second certificate, passkey sign-in and signing are unchanged"
                    }
                );
            }
            let mut lines = vec![format!(
                "{}: {} certificate(s) revoked now{}",
                done.holder,
                done.revoked.len(),
                if done.also_second {
                    " (card and second certificates)"
                } else {
                    "; the second certificate, passkey sign-in and signing are unchanged"
                }
            )];
            lines.extend(
                done.revoked
                    .iter()
                    .map(|c| format!("  revoked {} {}", c.kind, c.serial)),
            );
            lines.join("\n")
        }
        CaseResult::PhoneLost(done) => match done.deleted_device {
            Some(id) => format!(
                "{}: device credential {id} deleted; a new phone can be registered from a new sheet (sheet issue --holder)",
                done.holder
            ),
            None => format!(
                "{}: second certificate(s) {} revoked; issue a new one and a new sheet (holder renew-second)",
                done.holder,
                done.revoked
                    .iter()
                    .map(|c| c.serial.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        CaseResult::Renewal(renewal) => {
            let cert = match &renewal.certificate {
                Some(c) => format!("second certificate {} issued", c.serial),
                None => "the valid second certificate kept".to_owned(),
            };
            format!(
                "{}: {cert}; new sheet {} (expires {}), URL {} password {}",
                renewal.sheet.username,
                renewal.sheet.sheet_id,
                renewal.sheet.expires_at.format("%Y-%m-%d"),
                renewal.sheet.url,
                renewal.sheet.password
            )
        }
        CaseResult::Sheet(sheet) => format!(
            "{}: new sheet {} (expires {}), URL {} password {}",
            sheet.username,
            sheet.sheet_id,
            sheet.expires_at.format("%Y-%m-%d"),
            sheet.url,
            sheet.password
        ),
        CaseResult::Certificate(c) if c.status.as_str() == "valid" => {
            format!("issued {}", crate::commands::ca::describe(c, false))
        }
        CaseResult::Certificate(c) => {
            format!("revoked {}", crate::commands::ca::describe(c, false))
        }
        CaseResult::Authorized {
            request,
            requested_by,
            expires_at,
        } => format!(
            "request {request} approved: {requested_by} now runs the import with the same files and `--request {request} --as {requested_by}` before {}",
            crate::output::jst_time(*expires_at)
        ),
    }
}
