//! The keystore: whether every key is there, and rotating the software keystore's
//! key-encryption key (docs/disaster-recovery.md, docs/security.md).

use hpki_core::audit::Action;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use hpki_core::audit::AuditEvent;
use hpki_core::store::KeyRefStore;
use hpki_keystore_soft::{sealed_under, SoftKeystore};
use serde::Serialize;

use crate::app::{cli_actor, App};
use crate::config::KeystoreChoice;
use crate::output::emit;
use crate::Failure;

/// Exit status of `keystore check` when a key is missing.
pub const EXIT_KEY_MISSING: u8 = 4;

#[derive(Subcommand)]
pub enum KeystoreCommand {
    /// Looks for the key of every certificate that needs one (the CAs, the OCSP responders,
    /// valid second certificates) and lists those whose key is missing. Exit status 4 if any.
    Check {
        #[arg(long)]
        json: bool,
    },
    /// Rotates the software keystore's key-encryption key: makes a new one, seals every key
    /// in the database again under it (one transaction), then puts it in place of the old,
    /// which is kept beside it as keystore.kek.retired-ID for backups taken before. Stop
    /// every instance first; give each the new key before starting it again.
    Rekey {
        /// The offline root key's file (from `ca root-key offline`): sealed again too, in
        /// place. Needed when the root key is offline.
        #[arg(long)]
        root_key: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

pub fn key_lines(k: &hpki_ca::KeyCheck) -> String {
    let root = if k.root_key_offline {
        "; the root key is offline, as it should be after its ceremony"
    } else {
        ""
    };
    if k.missing.is_empty() {
        return format!("every key is present ({} checked){root}", k.checked);
    }
    let mut lines = vec![format!(
        "{} of {} keys are MISSING:",
        k.missing.len(),
        k.checked
    )];
    lines.extend(k.missing.iter().map(|m| {
        format!(
            "  {} {} ({}): {}",
            m.kind, m.serial, m.subject, m.consequence
        )
    }));
    lines.join("\n")
}

pub async fn run_keystore(data_dir: &Path, cmd: KeystoreCommand) -> Result<(), Failure> {
    let app = App::open(data_dir).await?;
    match cmd {
        KeystoreCommand::Rekey { root_key, json } => {
            app.store.close().await;
            return rekey(data_dir, root_key.as_deref(), json).await;
        }
        KeystoreCommand::Check { json } => {
            let check = app.ca.keystore_check().await?;
            emit(json, &check, || key_lines(&check));
            app.store.close().await;
            if !check.missing.is_empty() {
                return Err(Failure {
                    message: format!("{} key(s) missing", check.missing.len()),
                    code: EXIT_KEY_MISSING,
                });
            }
        }
    }
    Ok(())
}

/// What a rotation did.
#[derive(Serialize)]
struct Rekeyed {
    old_kek: String,
    new_kek: String,
    /// Keys sealed again now (those already under the new KEK, from an interrupted run, are
    /// not counted).
    sealed_again: usize,
    retired_kek_file: PathBuf,
}

/// The rotation. Safe to run again after an interruption: a `.new` key left by a run that
/// stopped is used, keys already sealed under it are left as they are, and the files are
/// swapped only once the database holds every key under the new KEK.
async fn rekey(data_dir: &Path, root_key: Option<&Path>, json: bool) -> Result<(), Failure> {
    let settings = App::settings(data_dir)?;
    let kek_file = match &settings.keystore {
        KeystoreChoice::Software {
            kek_file,
            kek_from_env: None,
        } => kek_file.clone(),
        KeystoreChoice::Software { .. } => {
            return Err(format!(
                "the key-encryption key comes from {}: rotate it with the file in place (unset the variable), then give the new one to every instance",
                crate::config::KEK_ENV
            )
            .into())
        }
        KeystoreChoice::Pkcs11(_) => {
            return Err("keys in a PKCS#11 token are not sealed by hpki-second: the HSM's own key management rotates its keys".into())
        }
    };
    let sibling = |suffix: &str| {
        let mut name = kek_file.file_name().unwrap_or_default().to_owned();
        name.push(suffix);
        kek_file.with_file_name(name)
    };
    let new_file = sibling(".new");
    if !new_file.exists() {
        SoftKeystore::create_kek_file(&new_file).map_err(|e| e.to_string())?;
    }
    let old = SoftKeystore::from_kek_file(&kek_file).map_err(|e| e.to_string())?;
    let new = SoftKeystore::from_kek_file(&new_file).map_err(|e| e.to_string())?;
    let app = App::with_settings(settings).await?;
    let root_file = match (app.ca.root_key().await, root_key) {
        (Ok(_), None) => None,
        (Ok(_), Some(_)) => {
            return Err("--root-key: the root key is on this machine, not offline".into())
        }
        (Err(_), None) => {
            return Err("the root key is offline: give its file with --root-key, so that it is sealed again too (a file sealed under the old key-encryption key would need the retired one at every ceremony)".into())
        }
        (Err(_), Some(p)) => Some((super::root::reseal_root_key_file(p, &old, &new)?, p)),
    };
    let mut replaced = Vec::new();
    for stored in app.store.stored_keys().await? {
        if sealed_under(&stored.key).as_deref() == Some(new.kek_id().as_str()) {
            continue;
        }
        let again = new.reseal(&old, &stored.key, stored.algorithm).map_err(|e| {
            format!(
                "the key of {:?} does not open with the current key-encryption key ({e}); nothing was changed",
                stored.place
            )
        })?;
        replaced.push((stored, again));
    }
    if !replaced.is_empty() {
        let event = AuditEvent::new(
            chrono::Utc::now(),
            &cli_actor(),
            Action::KEYSTORE_REKEYED,
            "keystore",
            serde_json::json!({ "old_kek": old.kek_id(), "new_kek": new.kek_id(), "keys": replaced.len() }),
        );
        app.store.replace_keys(&replaced, &event).await?;
    }
    app.store.close().await;
    if let Some((staged, path)) = &root_file {
        super::root::finish_reseal(staged, path)?;
    }
    let retired = sibling(&format!(".retired-{}", old.kek_id()));
    std::fs::rename(&kek_file, &retired)
        .and_then(|()| std::fs::rename(&new_file, &kek_file))
        .map_err(|e| format!("the keys are sealed under {} but the files could not be swapped ({e}): rename it to {} by hand", new_file.display(), kek_file.display()))?;
    let done = Rekeyed {
        old_kek: old.kek_id(),
        new_kek: new.kek_id(),
        sealed_again: replaced.len(),
        retired_kek_file: retired,
    };
    emit(json, &done, || {
        format!(
            "sealed {} keys again under the new key-encryption key {} (now {})\n\
             the old one ({}) is kept as {}: backups taken before now need it; destroy it when the last of them is gone\n\
             give the new key to every instance before starting it again",
            done.sealed_again,
            done.new_kek,
            kek_file.display(),
            done.old_kek,
            done.retired_kek_file.display()
        )
    });
    Ok(())
}
