//! Dual control from the command line: the requests operators made in the console or through
//! the operator API that wait for an approver, approved or rejected here in an approver's name.

use std::path::Path;

use clap::Subcommand;

use crate::app::App;
use crate::output::emit;
use crate::Failure;

#[derive(Subcommand)]
pub enum ApprovalCommand {
    /// The requests waiting for an approver.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Approve a request and carry it out, as the approver NAME (not its requester).
    Approve {
        id: i64,
        /// The approver (an operator with the approver role).
        #[arg(long = "as")]
        approver: String,
        #[arg(long)]
        json: bool,
    },
    /// Reject a request, as the approver NAME.
    Reject {
        id: i64,
        #[arg(long = "as")]
        approver: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn operator(app: &App, name: &str) -> Result<hpki_core::store::Operator, Failure> {
    app.operators
        .list()
        .await?
        .into_iter()
        .find(|o| o.name == name.trim() && o.disabled_at.is_none())
        .ok_or_else(|| format!("no active operator named {name:?}").into())
}

pub async fn run(data_dir: &Path, cmd: ApprovalCommand) -> Result<(), Failure> {
    let app = App::open(data_dir).await?;
    let lifecycle = app.lifecycle()?;
    match cmd {
        ApprovalCommand::List { json } => {
            let pending = lifecycle.pending_requests().await?;
            emit(json, &pending, || {
                if pending.is_empty() {
                    return "no request is waiting".to_owned();
                }
                pending
                    .iter()
                    .map(|r| {
                        format!(
                            "{:>5}  {}  {}  by {}  until {}  reason: {}",
                            r.id,
                            r.action,
                            r.holder,
                            r.requested_by,
                            r.expires_at.format("%Y-%m-%d %H:%M"),
                            r.reason
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        ApprovalCommand::Approve { id, approver, json } => {
            let op = operator(&app, &approver).await?;
            let result = lifecycle.approve(&op, id, None).await?;
            emit(json, &result, || {
                format!("request {id} approved by {} and carried out", op.name)
            });
        }
        ApprovalCommand::Reject {
            id,
            approver,
            reason,
            json,
        } => {
            let op = operator(&app, &approver).await?;
            lifecycle.reject(&op, id, &reason).await?;
            emit(
                json,
                &serde_json::json!({ "request": id, "state": "rejected" }),
                || format!("request {id} rejected by {}", op.name),
            );
        }
    }
    app.store.close().await;
    Ok(())
}
