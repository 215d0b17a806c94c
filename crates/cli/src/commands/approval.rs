//! Dual control from the command line: the requests operators made in the console or through
//! the operator API that wait for an approver, approved or rejected here by an approver, who
//! proves who they are with their operator API token (in `HPKI_OPERATOR_TOKEN`, or the
//! variable `--token-env` names), as on the operator API: a name alone proves nothing.

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
        #[command(flatten)]
        token: OperatorToken,
        #[arg(long)]
        json: bool,
    },
    /// Reject a request, as the approver NAME.
    Reject {
        id: i64,
        #[arg(long = "as")]
        approver: String,
        #[command(flatten)]
        token: OperatorToken,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
}

/// Where an operator acting on the command line keeps their operator API token.
#[derive(clap::Args, Clone, Debug)]
pub struct OperatorToken {
    /// The environment variable holding the operator's API token (never on the command line,
    /// where other users could read it).
    #[arg(long = "token-env", default_value = "HPKI_OPERATOR_TOKEN")]
    pub var: String,
}

/// The operator NAME, proven by their token: active, the token unrevoked, unexpired and
/// theirs.
pub(crate) async fn operator(
    app: &App,
    name: &str,
    token: &OperatorToken,
) -> Result<hpki_core::store::Operator, Failure> {
    let var = token.var.as_str();
    let name = name.trim();
    let value = std::env::var(var).map_err(|_| {
        format!(
            "{var} is not set: an operator acts here with their operator API token in it \
             (hpki-second operator token rotate --name {name} makes a new one)"
        )
    })?;
    let op = app.operators.authenticate(value.trim()).await.map_err(|_| {
        format!(
            "the token in {var} is not a usable operator token (unknown, revoked, expired, or its operator disabled)"
        )
    })?;
    if op.name != name {
        return Err(format!("the token in {var} is {}'s, not {name:?}'s", op.name).into());
    }
    Ok(op)
}

pub async fn run(data_dir: &Path, cmd: ApprovalCommand) -> Result<(), Failure> {
    let app = App::open(data_dir).await?;
    let lifecycle = &app.lifecycle;
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
                            r.request.action(),
                            r.request.target(),
                            r.requested_by,
                            crate::output::jst_time(r.expires_at),
                            r.reason
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        ApprovalCommand::Approve {
            id,
            approver,
            token,
            json,
        } => {
            let op = operator(&app, &approver, &token).await?;
            let acting = hpki_lifecycle::Acting::with_token(&op)?;
            let result = lifecycle.approve(&acting, id, None).await?;
            let mut out = serde_json::to_value(&result)?;
            if let hpki_lifecycle::CaseResult::Authorized { .. } = result {
                // What the requester does next, for a script to pass on.
                out["next"] = crate::commands::cases::done_text(&result).into();
                emit(json, &out, || crate::commands::cases::done_text(&result));
            } else {
                emit(json, &out, || {
                    format!("request {id} approved by {} and carried out", op.name)
                });
            }
        }
        ApprovalCommand::Reject {
            id,
            approver,
            token,
            reason,
            json,
        } => {
            let op = operator(&app, &approver, &token).await?;
            let acting = hpki_lifecycle::Acting::with_token(&op)?;
            lifecycle.reject(&acting, id, &reason).await?;
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
