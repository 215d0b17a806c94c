use std::path::Path;

use clap::Subcommand;
use hpki_core::store::{Operator, OperatorChange};
use serde_json::json;

use crate::app::{cli_actor, App};
use crate::commands::sheet::parse_span;
use crate::output::emit;
use crate::Failure;

#[derive(Subcommand)]
pub enum OperatorCommand {
    /// Add an operator; prints their API token once (it is stored only hashed).
    Add {
        #[arg(long)]
        name: String,
        /// operator (the daily work), approver (that, and approving others' requests) or
        /// auditor (read only).
        #[arg(long, default_value = "operator", value_parser = ["operator", "approver", "auditor"])]
        role: String,
        /// The token stops working after this long (e.g. 90d, 12h); default: no expiry.
        #[arg(long)]
        expires_in: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// A new enrolment link (24 hours, single use) for the operator to register a passkey or
    /// security key for the console (`/admin`).
    Enrol {
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// The operator's API token.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Stop every token of the operator until they are enabled again.
    Disable {
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Let a disabled operator's token work again.
    Enable {
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Every operator: token expiry, revoked, disabled, last used.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// A new token (printed once); the old one stops working at once.
    Rotate {
        #[arg(long)]
        name: String,
        #[arg(long)]
        expires_in: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The token stops working at once (rotate gives a new one).
    Revoke {
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
}

fn describe(op: &Operator) -> String {
    let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or("-".to_owned(), crate::output::jst_time)
    };
    let state = if op.disabled_at.is_some() {
        "disabled"
    } else if op.token_revoked_at.is_some() {
        "token revoked"
    } else {
        "active"
    };
    format!(
        "{:<20} {:<9} {:<14} token expires {:<20} last used {}",
        op.name,
        op.role.as_str(),
        state,
        when(op.token_expires_at),
        when(op.last_used_at)
    )
}

/// Revokes the token, disables or enables the operator, and says what it is now.
async fn change(app: &App, name: &str, change: OperatorChange, json: bool) -> Result<(), Failure> {
    let op = app.operators.change(&cli_actor(), name, change).await?;
    let done = match change {
        OperatorChange::RevokeToken => "token revoked",
        OperatorChange::Disable => "disabled",
        OperatorChange::Enable => "enabled",
    };
    emit(json, &op, || format!("{done}: {}", describe(&op)));
    Ok(())
}

fn span(s: Option<&str>) -> Result<Option<chrono::Duration>, Failure> {
    s.map(parse_span).transpose()
}

pub async fn run(data_dir: &Path, cmd: OperatorCommand) -> Result<(), Failure> {
    let app = App::open(data_dir).await?;
    let token_out = |json: bool, op: &Operator, token: &str, what: &str| {
        emit(
            json,
            &json!({ "name": op.name, "role": op.role, "token": token, "token_expires_at": op.token_expires_at }),
            || {
                format!(
                    "{what} {} ({}); their API token (shown once):\n{token}",
                    op.name,
                    op.role.as_str()
                )
            },
        );
    };
    match cmd {
        OperatorCommand::Add {
            name,
            role,
            expires_in,
            json,
        } => {
            let valid = span(expires_in.as_deref())?;
            let role = hpki_core::store::OperatorRole::parse(&role)
                .ok_or_else(|| format!("--role: {role:?} is not a role"))?;
            let (op, token) = app.operators.add(&cli_actor(), &name, role, valid).await?;
            match enrolment_link(&app, &op).await {
                Ok((link, until)) => emit(
                    json,
                    &json!({ "name": op.name, "role": op.role, "token": token,
                             "token_expires_at": op.token_expires_at,
                             "enrolment_url": link, "enrolment_expires_at": until }),
                    || {
                        format!(
                        "operator added: {} ({}); their API token (shown once):\n{token}\nconsole enrolment link (once, until {}):\n{link}",
                        op.name,
                        op.role.as_str(),
                        crate::output::jst_time(until)
                    )
                    },
                ),
                Err(why) => {
                    token_out(json, &op, &token, "operator added:");
                    eprintln!("note: no console enrolment link: {}", why.message);
                }
            }
        }
        OperatorCommand::Enrol { name, json } => {
            let op = app
                .operators
                .list()
                .await?
                .into_iter()
                .find(|o| o.name == name.trim())
                .ok_or_else(|| format!("no operator named {name:?}"))?;
            let (link, until) = enrolment_link(&app, &op).await?;
            emit(
                json,
                &json!({ "name": op.name, "enrolment_url": link, "enrolment_expires_at": until }),
                || {
                    format!(
                        "console enrolment link for {} (once, until {}):\n{link}",
                        op.name,
                        crate::output::jst_time(until)
                    )
                },
            );
        }
        OperatorCommand::Token(TokenCommand::Rotate {
            name,
            expires_in,
            json,
        }) => {
            let valid = span(expires_in.as_deref())?;
            let (op, token) = app.operators.rotate(&cli_actor(), &name, valid).await?;
            token_out(json, &op, &token, "new token for");
        }
        OperatorCommand::Token(TokenCommand::Revoke { name, json }) => {
            change(&app, &name, OperatorChange::RevokeToken, json).await?;
        }
        OperatorCommand::Disable { name, json } => {
            change(&app, &name, OperatorChange::Disable, json).await?;
        }
        OperatorCommand::Enable { name, json } => {
            change(&app, &name, OperatorChange::Enable, json).await?;
        }
        OperatorCommand::List { json } => {
            let ops = app.operators.list().await?;
            emit(json, &ops, || {
                ops.iter().map(describe).collect::<Vec<_>>().join("\n")
            });
        }
    }
    app.store.close().await;
    Ok(())
}

/// A new enrolment link for the console, as an address under the public URL.
pub(crate) async fn enrolment_link(
    app: &App,
    op: &Operator,
) -> Result<(String, chrono::DateTime<chrono::Utc>), Failure> {
    let (token, until) = app.console.issue_enrolment(&cli_actor(), op).await?;
    Ok((
        app.settings
            .public_url
            .join(&format!("/admin/enrol/{token}")),
        until,
    ))
}
