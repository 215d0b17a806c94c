use std::path::Path;

use clap::Subcommand;
use hpki_core::services::SheetView;

use crate::app::{cli_actor, App};
use crate::output::emit;
use crate::Failure;

#[derive(Subcommand)]
pub enum SheetCommand {
    /// Issue an initial registration sheet (supersedes the holder's usable one). Prints the
    /// registration URL and the password once; the printable PDF comes with a later version.
    Issue {
        #[arg(long)]
        holder: String,
        #[arg(long)]
        json: bool,
    },
    /// The same as issue: a new sheet that supersedes the old one at once.
    Reissue {
        #[arg(long)]
        holder: String,
        #[arg(long)]
        json: bool,
    },
    /// The holder's sheets: state, attempts used, expiry.
    Show {
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
        #[arg(long)]
        holder: String,
        #[arg(long)]
        json: bool,
    },
}

/// `14d`, `36h` or a plain number of days.
fn parse_span(s: &str) -> Result<chrono::Duration, Failure> {
    let t = s.trim();
    let (n, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&t[..i], &t[i..]),
        None => (t, "d"),
    };
    let n: i64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a span like 14d or 36h"))?;
    match unit {
        "d" => Ok(chrono::Duration::days(n)),
        "h" => Ok(chrono::Duration::hours(n)),
        _ => Err(format!("{s:?}: use d (days) or h (hours)").into()),
    }
}

fn describe(v: &SheetView) -> String {
    format!(
        "sheet {}  {}  {:?}  attempts {}/{}  issued {}  expires {}",
        v.sheet_id,
        v.username,
        v.state,
        v.attempts_used,
        v.max_attempts,
        v.issued_at.format("%Y-%m-%d"),
        v.expires_at.format("%Y-%m-%d")
    )
}

pub async fn run(data_dir: &Path, cmd: SheetCommand) -> Result<(), Failure> {
    let app = App::open(data_dir).await?;
    match cmd {
        SheetCommand::Issue { holder, json } | SheetCommand::Reissue { holder, json } => {
            let s = app
                .sheets
                .issue(&cli_actor(), &app.username(&holder))
                .await?;
            emit(json, &s, || {
                format!(
                    "sheet {} for {}\n  URL:      {}\n  password: {}\n  expires:  {}\n(shown once: neither is stored)",
                    s.sheet_id,
                    s.username,
                    s.url,
                    s.password,
                    s.expires_at.format("%Y-%m-%d")
                )
            });
        }
        SheetCommand::Show { holder, json } => {
            let views = app.sheets.show(&app.username(&holder)).await?;
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
                .revoke(&cli_actor(), &app.username(&holder))
                .await?;
            emit(json, &v, || format!("revoked {}", describe(&v)));
        }
    }
    app.store.close().await;
    Ok(())
}
