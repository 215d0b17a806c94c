//! Backups and restores: what rebuilds the CA after its machine is lost
//! (docs/disaster-recovery.md).

use hpki_core::audit::Action;
use std::path::{Path, PathBuf};

use clap::Args;
use hpki_core::audit::{Actor, AuditEvent, ChainHead};
use hpki_core::store::Store;
use hpki_store_sql::{BackupFile, BackupManifest};
use serde::Serialize;

use crate::app::{cli_actor, App};
use crate::commands::audit::{read_checkpoints, EXIT_TAMPERED};
use crate::output::{emit, jst_time};
use crate::Failure;

/// Left in the data directory while a restore runs: `serve` does not start while it is there,
/// so nothing is answered from a database whose revocations are not made again yet. It holds
/// the backup's SHA-256: running the same restore again finishes it.
pub const RESTORE_MARKER: &str = "restore-in-progress";

#[derive(Args)]
pub struct BackupArgs {
    /// The backup file to write (created new, readable by its owner only; it holds every
    /// sealed key, so keep it apart from the key-encryption key).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// The backup file, from `hpki-second backup`. The data directory must hold the
    /// configuration (and, for the software keystore, the key-encryption key) kept apart from
    /// the backup; the configured database must not exist yet (SQLite) or be empty (PostgreSQL).
    pub file: PathBuf,
    /// Checkpoints kept off the machine, written after the backup: the restore reports which
    /// audit events it lost instead of calling them tampered.
    #[arg(long)]
    pub checkpoints: Option<PathBuf>,
    /// A CRL the CA published after the backup (from the CDN or the web server that
    /// distributes them, or `crl publish --out-dir`), DER or PEM. Every revocation on it is made
    /// again, and no CRL number is reused. Give one for each CA.
    #[arg(long = "crl")]
    pub crls: Vec<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub async fn backup(data_dir: &Path, args: BackupArgs) -> Result<(), Failure> {
    let app = App::open(data_dir).await?;
    if args.out.exists() {
        return Err(format!(
            "{} exists: a backup never overwrites a file",
            args.out.display()
        )
        .into());
    }
    let now = chrono::Utc::now();
    // Recorded first, so that the backup itself carries who took it.
    let event = AuditEvent::new(
        now,
        &cli_actor(),
        Action::DATABASE_BACKED_UP,
        hpki_core::audit::RESTORE_TARGET,
        serde_json::json!({ "file": args.out.display().to_string() }),
    );
    app.store.record_event(&event).await?;
    let manifest = app
        .store
        .backup_to(&app.settings.database_url, &args.out, now)
        .await?;
    emit(args.json, &manifest, || {
        format!(
            "backed up the {} database to {} ({} bytes, audit log through event {}, taken {})\n\
             keep it apart from the key-encryption key, and keep audit checkpoints off this machine",
            manifest.backend,
            args.out.display(),
            manifest.payload_bytes,
            manifest.audit_head.seq,
            jst_time(now)
        )
    });
    app.store.close().await;
    Ok(())
}

/// What a restore did, for the operator and for scripts.
#[derive(Serialize)]
struct Restored {
    backup: BackupManifest,
    /// The audit events lost (from the checkpoints given), as sentences.
    lost_events: Vec<String>,
    #[serde(flatten)]
    reconciled: hpki_ca::Reconciled,
    keys: hpki_ca::KeyCheck,
    /// Keys of revoked or expired second certificates the backup still held, destroyed.
    keys_destroyed: Vec<String>,
    audit_events: u64,
}

pub async fn restore(data_dir: &Path, args: RestoreArgs) -> Result<(), Failure> {
    let settings = App::settings(data_dir)?;
    let backup = BackupFile::open(&args.file)?;
    let checkpoints = match &args.checkpoints {
        Some(p) => read_checkpoints(p)?,
        None => Vec::new(),
    };
    let mut crl_files = Vec::new();
    for p in &args.crls {
        crl_files.push(std::fs::read(p).map_err(|e| format!("--crl {}: {e}", p.display()))?);
    }
    let marker = data_dir.join(RESTORE_MARKER);
    let resuming = match std::fs::read_to_string(&marker) {
        Ok(sha) if sha.trim() == backup.manifest.payload_sha256 => true,
        Ok(_) => {
            return Err(format!(
                "{} says another backup's restore did not finish: run that restore again, or move the database and {} away",
                marker.display(),
                marker.display()
            )
            .into())
        }
        Err(_) => false,
    };
    // Resuming, the database may not be in place yet (stopped before it was renamed there).
    let in_place = resuming
        && hpki_store_sql::database_exists(&settings.database_url, settings.connect_timeout)
            .await?;
    if !in_place {
        std::fs::write(&marker, &backup.manifest.payload_sha256)
            .map_err(|e| format!("{}: {e}", marker.display()))?;
        if let Err(e) = backup.restore_into(&settings.database_url).await {
            let _ = std::fs::remove_file(&marker);
            return Err(e.into());
        }
    }
    let app = App::with_settings(settings).await?;
    let actor = cli_actor();
    let head = app.audit.head().await?;
    let backup_head = &backup.manifest.audit_head;
    // Recorded once: a resumed restore whose event is written already goes on from there.
    if !in_place || head == *backup_head {
        record_restore(&app, &actor, &backup, &args.file).await?;
    }
    let mut published = Vec::new();
    for (bytes, path) in crl_files.iter().zip(&args.crls) {
        published.push(
            app.ca
                .read_published_crl(bytes)
                .await
                .map_err(|e| format!("--crl {}: {e}", path.display()))?,
        );
    }
    let reconciled = app.ca.reconcile_after_restore(&actor, &published).await?;
    // A backup holds the sealed keys of certificates revoked since; they go again.
    let keys_destroyed = app.ca.destroy_spent_keys(&actor).await?;
    let keys = app.ca.keystore_check().await?;
    let report = app.audit.verify(&checkpoints).await?;
    if let Some(f) = &report.finding {
        return Err(Failure {
            message: format!(
                "the restored audit log does not verify at event {}: {} (the restore stays unfinished: serve will not start)",
                f.seq, f.message
            ),
            code: EXIT_TAMPERED,
        });
    }
    std::fs::remove_file(&marker).map_err(|e| format!("{}: {e}", marker.display()))?;
    let restored = Restored {
        backup: backup.manifest.clone(),
        lost_events: report.lost.iter().map(ToString::to_string).collect(),
        reconciled,
        keys,
        keys_destroyed,
        audit_events: report.events,
    };
    emit(args.json, &restored, || human_report(&restored));
    app.store.close().await;
    Ok(())
}

async fn record_restore(
    app: &App,
    actor: &Actor,
    backup: &BackupFile,
    file: &Path,
) -> Result<(), Failure> {
    let m = &backup.manifest;
    let details = serde_json::json!({
        "file": file.display().to_string(),
        "backup_taken_at": m.taken_at,
        "backup_sha256": m.payload_sha256,
    });
    let head = ChainHead {
        seq: m.audit_head.seq,
        hash: m.audit_head.hash.clone(),
    };
    app.audit.record_restore(actor, &head, details).await?;
    Ok(())
}

fn human_report(r: &Restored) -> String {
    let mut lines = vec![format!(
        "restored the {} database backed up at {} (audit log through event {})",
        r.backup.backend, r.backup.taken_at, r.backup.audit_head.seq
    )];
    if r.lost_events.is_empty() {
        lines.push(
            "no checkpoint taken after the backup was given: events written after it are unknown"
                .into(),
        );
    }
    lines.extend(r.lost_events.iter().map(|l| format!("lost: {l}")));
    for (ca, number, entries) in &r.reconciled.crls {
        lines.push(format!(
            "read the {} CA's published CRL number {number} ({entries} entries)",
            ca.as_str()
        ));
    }
    for serial in &r.reconciled.revoked_again {
        lines.push(format!(
            "revoked again (it was on a published CRL): {serial}"
        ));
    }
    for serial in &r.reconciled.lost_certificates {
        lines.push(format!(
            "kept on the CRL, though the restored database does not know it: {serial}"
        ));
    }
    for (ca, number) in &r.reconciled.issued {
        lines.push(format!(
            "issued the {} CA's CRL number {number}",
            ca.as_str()
        ));
    }
    for serial in &r.keys_destroyed {
        lines.push(format!(
            "destroyed the key the backup still held of revoked or expired {serial}"
        ));
    }
    lines.push(super::keystore::key_lines(&r.keys));
    lines.push(format!(
        "audit log intact: {} events; serve may start",
        r.audit_events
    ));
    lines.join("\n")
}

/// Refuses to serve while a restore has not finished.
pub fn refuse_while_restoring(data_dir: &Path) -> Result<(), Failure> {
    let marker = data_dir.join(RESTORE_MARKER);
    if marker.exists() {
        return Err(format!(
            "a restore did not finish ({} is there): run the same `hpki-second restore` again before serving, so that no revocation is answered as good",
            marker.display()
        )
        .into());
    }
    Ok(())
}
