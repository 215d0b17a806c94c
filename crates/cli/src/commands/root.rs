//! The root CA's key kept offline: its CRL issued at a ceremony with a long validity, and the
//! key taken off the machine afterwards, so that `serve` never needs it.

use std::path::{Path, PathBuf};

use base64::Engine;
use clap::{Args, Subcommand};
use hpki_core::keystore::{KeyAlgorithm, KeyRef};
use serde::{Deserialize, Serialize};

use crate::app::{cli_actor, App};
use crate::output::{emit, jst_time};
use crate::Failure;

#[derive(Args)]
pub struct RootCrlArgs {
    /// How long the root's CRL is valid: days (`365d`) or hours (`12h`), at most three years.
    /// `serve` cannot issue the next one while the root key is offline: hold the next ceremony
    /// before it ends.
    #[arg(long)]
    pub validity: String,
    /// The root key's file from `ca root-key offline`, when the key is no longer on this
    /// machine (for a PKCS#11 token: bring the key back into the token from the HSM's backup
    /// first; the file names it).
    #[arg(long)]
    pub root_key: Option<PathBuf>,
    /// Also write the CRL (DER) to this file, for the server that distributes CRLs.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum RootKeyCommand {
    /// Takes the root CA's key off this machine, after its long CRL was issued: writes what
    /// names the key to FILE (the software keystore's sealed key, useless without the
    /// key-encryption key; a token's key reference), then destroys the key here and erases it
    /// from the database. On a PKCS#11 token the key object is destroyed: keep it in the HSM's
    /// own backup first and say so with --confirm-hsm-backup.
    Offline {
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        confirm_hsm_backup: bool,
        #[arg(long)]
        json: bool,
    },
}

/// The offline root key's file.
#[derive(Serialize, Deserialize)]
struct RootKeyFile {
    format: String,
    keystore: String,
    algorithm: String,
    /// The key reference (base64): a sealed key, or a token's CKA_ID.
    key: String,
    /// The key-encryption key a sealed key needs (software keystore).
    kek: Option<String>,
    root_serial: String,
}

const FORMAT: &str = "hpki-second offline root key 1";

/// `365d`, `12h`.
fn parse_validity(s: &str) -> Result<chrono::Duration, Failure> {
    let bad = || Failure::from(format!("--validity {s:?}: give days (365d) or hours (12h)"));
    let s = s.trim();
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n.parse().map_err(|_| bad())?;
    match unit {
        "d" => Ok(chrono::Duration::days(n)),
        "h" => Ok(chrono::Duration::hours(n)),
        _ => Err(bad()),
    }
}

fn read_root_key(path: &Path, backend: &str) -> Result<(KeyAlgorithm, KeyRef), Failure> {
    let text = hpki_core::files::read_at_most(path, 64 * 1024)
        .map_err(|e| format!("--root-key {}: {e}", path.display()))?;
    let file: RootKeyFile = serde_json::from_slice(&text)
        .ok()
        .filter(|f: &RootKeyFile| f.format == FORMAT)
        .ok_or_else(|| {
            format!(
                "--root-key {}: not an offline root key file",
                path.display()
            )
        })?;
    if file.keystore != backend {
        return Err(format!(
            "--root-key {}: a key of the {} keystore; this one is {backend}",
            path.display(),
            file.keystore
        )
        .into());
    }
    let algorithm = KeyAlgorithm::parse(&file.algorithm)
        .ok_or_else(|| format!("--root-key {}: unknown algorithm", path.display()))?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(&file.key)
        .map_err(|e| format!("--root-key {}: {e}", path.display()))?;
    Ok((algorithm, KeyRef::from_bytes(key)))
}

pub async fn root_crl(app: &App, args: RootCrlArgs) -> Result<(), Failure> {
    let validity = parse_validity(&args.validity)?;
    let key = match &args.root_key {
        Some(p) => Some(read_root_key(p, app.keystore.backend())?),
        None => None,
    };
    let crl = app.ca.issue_root_crl(&cli_actor(), validity, key).await?;
    if let Some(out) = &args.out {
        std::fs::write(out, &crl.der).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    let shown = serde_json::json!({
        "number": crl.number,
        "this_update": crl.this_update,
        "next_update": crl.next_update,
        "bytes": crl.der.len(),
    });
    emit(args.json, &shown, || {
        format!(
            "issued the root CA's CRL number {} valid until {}: hold the next ceremony before then",
            crl.number,
            jst_time(crl.next_update)
        )
    });
    Ok(())
}

pub async fn run_root_key(app: &App, cmd: RootKeyCommand) -> Result<(), Failure> {
    let RootKeyCommand::Offline {
        out,
        confirm_hsm_backup,
        json,
    } = cmd;
    let backend = app.keystore.backend();
    if backend == "pkcs11" && !confirm_hsm_backup {
        return Err("the root key will be destroyed in the token: keep it in the HSM's own backup first, then add --confirm-hsm-backup".into());
    }
    if out.exists() {
        return Err(format!("{} exists: nothing is overwritten", out.display()).into());
    }
    let (algorithm, key) = app.ca.root_key().await?;
    let root = app
        .ca
        .show()
        .await?
        .into_iter()
        .find(|c| c.role == hpki_core::domain::CaRole::Root)
        .ok_or("no root CA")?;
    let file = RootKeyFile {
        format: FORMAT.into(),
        keystore: backend.into(),
        algorithm: algorithm.as_str().into(),
        key: base64::engine::general_purpose::STANDARD.encode(key.as_bytes()),
        kek: hpki_keystore_soft::sealed_under(&key),
        root_serial: root.certificate.serial.clone(),
    };
    let text = serde_json::to_string_pretty(&file).map_err(|e| e.to_string())?;
    super::init::write_private(&out, &text)?;
    // Only once the file is safely written is the key taken away here.
    app.ca.take_root_key_offline(&cli_actor()).await?;
    emit(json, &file, || {
        format!(
            "the root CA's key is off this machine: {} names it (keep it offline{}).\n\
             serve runs without it; issue the root's CRL at each ceremony with `hpki-second ca root-crl --validity 365d --root-key {}`",
            out.display(),
            if backend == "pkcs11" { ", and the key in the HSM's backup" } else { ", apart from the key-encryption key" },
            out.display()
        )
    });
    Ok(())
}

/// Seals the offline root key's file again under a new key-encryption key (a rotation): the
/// new file is written beside it as FILE.new, to be put in place by [`finish_reseal`] once
/// the database's keys are sealed again too.
pub fn reseal_root_key_file(
    path: &Path,
    old: &hpki_keystore_soft::SoftKeystore,
    new: &hpki_keystore_soft::SoftKeystore,
) -> Result<PathBuf, Failure> {
    let (algorithm, key) = read_root_key(path, "software")?;
    let text = hpki_core::files::read_at_most(path, 64 * 1024)
        .map_err(|e| format!("--root-key {}: {e}", path.display()))?;
    let mut file: RootKeyFile =
        serde_json::from_slice(&text).map_err(|e| format!("--root-key {}: {e}", path.display()))?;
    let again = new
        .reseal(old, &key, algorithm)
        .map_err(|e| format!("--root-key {}: {e}", path.display()))?;
    file.key = base64::engine::general_purpose::STANDARD.encode(again.as_bytes());
    file.kek = Some(new.kek_id());
    let staged = path.with_extension("new");
    let text = serde_json::to_string_pretty(&file).map_err(|e| e.to_string())?;
    super::init::write_private(&staged, &text)?;
    Ok(staged)
}

/// Puts a resealed root key file in place of the old one.
pub fn finish_reseal(staged: &Path, path: &Path) -> Result<(), Failure> {
    std::fs::rename(staged, path).map_err(|e| {
        Failure::from(format!(
            "the root key sealed again is in {}; rename it to {} by hand ({e})",
            staged.display(),
            path.display()
        ))
    })
}
