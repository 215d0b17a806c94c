use std::path::Path;

use clap::Subcommand;
use serde_json::json;

use crate::app::{cli_actor, App};
use crate::output::emit;
use crate::Failure;

#[derive(Subcommand)]
pub enum OperatorCommand {
    /// Add an operator; prints their API token once (it is stored only hashed).
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(data_dir: &Path, cmd: OperatorCommand) -> Result<(), Failure> {
    let app = App::open(data_dir).await?;
    match cmd {
        OperatorCommand::Add { name, json } => {
            let (op, token) = app.operators.add(&cli_actor(), &name).await?;
            emit(json, &json!({ "name": op.name, "token": token }), || {
                format!(
                    "operator {} added; their API token (shown once):\n{token}",
                    op.name
                )
            });
        }
    }
    Ok(())
}
