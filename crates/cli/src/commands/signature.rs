use std::path::Path;

use clap::Subcommand;
use hpki_csc::SignatureRecord;

use crate::app::App;
use crate::output::emit;
use crate::Failure;

#[derive(Subcommand)]
pub enum SignatureCommand {
    /// The holder's signatures made through the CSC API, newest first: when, for which
    /// relying system, with which certificate and algorithm, how authorized, which hashes.
    List {
        /// The holder: a username (999999-jpa) or a registry number (999999).
        #[arg(long)]
        holder: String,
        /// At most this many (1 to 1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Only those older than this one (its `seq`), to page back.
        #[arg(long)]
        before: Option<i64>,
        #[arg(long)]
        json: bool,
    },
}

fn describe(r: &SignatureRecord) -> String {
    format!(
        "{}  {}  {}  certificate {}  {}  {} hash(es)  seq {}",
        crate::output::jst_time(r.at),
        r.client_id,
        r.mode,
        r.certificate,
        r.algorithm,
        r.hashes.len(),
        r.seq
    )
}

pub async fn run(data_dir: &Path, cmd: SignatureCommand) -> Result<(), Failure> {
    let app = App::open(data_dir).await?;
    match cmd {
        SignatureCommand::List {
            holder,
            limit,
            before,
            json,
        } => {
            let username = app.username(&holder)?;
            let csc = &app.csc;
            let list = csc.signatures(&username, before, limit).await?;
            emit(json, &list, || {
                if list.is_empty() {
                    format!("{username} has no signatures")
                } else {
                    list.iter().map(describe).collect::<Vec<_>>().join("\n")
                }
            });
        }
    }
    Ok(())
}
