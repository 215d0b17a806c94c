use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;
use hpki_core::audit::Checkpoint;

use crate::app::App;
use crate::output::emit;
use crate::Failure;

/// Exit status of `audit verify` when the log was tampered with.
pub const EXIT_TAMPERED: u8 = 3;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the whole hash chain against its head and the recorded checkpoints.
    Verify {
        /// Checkpoints to check against (default: audit.checkpoint_file in the data directory).
        #[arg(long)]
        checkpoints: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Write every event as JSON Lines.
    Export {
        /// Default: standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Record the current head in the checkpoint file (and print it, to keep elsewhere too).
    Checkpoint {
        #[arg(long)]
        json: bool,
    },
}

/// Reads a checkpoint file; a missing file is an empty list.
pub fn read_checkpoints(path: &Path) -> Result<Vec<Checkpoint>, Failure> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", path.display()).into()),
    };
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let cp: Checkpoint = serde_json::from_str(&line)
            .map_err(|e| format!("{} line {}: not a checkpoint: {e}", path.display(), i + 1))?;
        out.push(cp);
    }
    Ok(out)
}

/// Appends a checkpoint unless the file already ends with the same head.
pub fn append_checkpoint(path: &Path, cp: &Checkpoint) -> Result<bool, Failure> {
    if read_checkpoints(path)?
        .last()
        .is_some_and(|last| last.seq == cp.seq && last.hash == cp.hash)
    {
        return Ok(false);
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let line = serde_json::to_string(cp).map_err(|e| e.to_string())?;
    writeln!(f, "{line}")
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(true)
}

pub async fn run(data_dir: &Path, cmd: AuditCommand) -> Result<(), Failure> {
    let app = App::open(data_dir).await?;
    match cmd {
        AuditCommand::Verify { checkpoints, json } => {
            let path = checkpoints.unwrap_or_else(|| app.settings.checkpoint_file.clone());
            let cps = read_checkpoints(&path)?;
            let report = app.audit.verify(&cps).await?;
            emit(json, &report, || match &report.finding {
                None => std::iter::once(format!(
                    "audit log intact: {} events, head {} {}, {} checkpoint(s) matched",
                    report.events, report.last_seq, report.last_hash, report.checkpoints_checked
                ))
                .chain(
                    report
                        .lost
                        .iter()
                        .map(|l| format!("lost in a restore: {l}")),
                )
                .collect::<Vec<_>>()
                .join("\n"),
                Some(f) => format!("AUDIT LOG TAMPERED at event {}: {}", f.seq, f.message),
            });
            if let Some(f) = report.finding {
                return Err(Failure {
                    message: format!("audit log tampered at event {}: {:?}", f.seq, f.kind),
                    code: EXIT_TAMPERED,
                });
            }
        }
        AuditCommand::Export { out } => {
            let sink: Box<dyn Write> = match &out {
                Some(p) => {
                    Box::new(std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()))?)
                }
                None => Box::new(std::io::stdout().lock()),
            };
            let mut w = BufWriter::new(sink);
            let n = app
                .audit
                .export(|ev| {
                    serde_json::to_writer(&mut w, &ev.to_export())
                        .map_err(std::io::Error::other)?;
                    w.write_all(b"\n")
                })
                .await?;
            w.flush().map_err(|e| e.to_string())?;
            if out.is_some() {
                eprintln!("exported {n} events");
            }
        }
        AuditCommand::Checkpoint { json } => {
            let cp = app.audit.checkpoint().await?;
            append_checkpoint(&app.settings.checkpoint_file, &cp)?;
            emit(json, &cp, || {
                format!("checkpoint: event {} {} at {}", cp.seq, cp.hash, cp.at)
            });
        }
    }
    app.store.close().await;
    Ok(())
}
