//! The database's schema as a step of its own: `db migrate` brings it up to date; nothing else
//! migrates (`serve` and every other command refuse a schema older than they need, naming this
//! command). Migrations only add (expand/contract: a column goes a release after the code
//! stops using it), so instances of the previous release keep running on the new schema
//! during a rolling upgrade.

use std::path::Path;

use clap::Subcommand;

use crate::app::App;
use crate::output::emit;
use crate::Failure;

#[derive(Subcommand)]
pub enum DbCommand {
    /// Bring the database's schema up to this release's (once per upgrade, before its
    /// instances start).
    Migrate {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(data_dir: &Path, cmd: DbCommand) -> Result<(), Failure> {
    match cmd {
        DbCommand::Migrate { json } => {
            let app = App::migrating(App::settings(data_dir)?).await?;
            let version = app.store.schema_version().await?;
            emit(
                json,
                &serde_json::json!({ "schema_version": version }),
                || format!("the database's schema is at version {version}, this release's"),
            );
            app.store.close().await;
        }
    }
    Ok(())
}
