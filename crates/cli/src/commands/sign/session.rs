//! The signing session's token and the DPoP key it is bound to, kept in a file only the user
//! can read, and used again while it lasts (18 hours after the sign-in).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Service;
use crate::Failure;

#[derive(Serialize, Deserialize)]
pub(super) struct Session {
    pub(super) issuer: String,
    pub(super) client_id: String,
    pub(super) access_token: String,
    /// Seconds since the epoch.
    pub(super) expires_at: i64,
    /// The DPoP key the access token is bound to (PKCS#8, base64url): the file is the token's
    /// only key, readable by this user alone.
    #[serde(default)]
    pub(super) dpop_key: Option<String>,
}

/// `~/.config/hpki-second/session-<service and client>.json` (or under `XDG_CONFIG_HOME`).
pub(super) fn default_file(issuer: &str, client_id: &str) -> Result<PathBuf, Failure> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .or_else(|| std::env::var_os("APPDATA").map(PathBuf::from))
        .ok_or_else(|| Failure::from("no home directory: give --session FILE"))?;
    let name = hpki_core::secret::token_hash(&format!("{issuer}\n{client_id}"));
    Ok(base
        .join("hpki-second")
        .join(format!("session-{}.json", &name[..16])))
}

impl Session {
    /// The session kept in `file` for this service and client, if it lasts another minute.
    pub(super) fn load(file: &Path, service: &Service) -> Option<Self> {
        let text = std::fs::read_to_string(file).ok()?;
        let s: Self = serde_json::from_str(&text).ok()?;
        let now = chrono::Utc::now().timestamp();
        (s.issuer == service.issuer && s.client_id == service.client_id && s.expires_at > now + 60)
            .then_some(s)
    }

    /// Writes the session where only this user can read it (a new file, then renamed over
    /// the old one).
    pub(super) fn save(&self, file: &Path) -> Result<(), Failure> {
        let fail = |e: std::io::Error| Failure::from(format!("{}: {e}", file.display()));
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let text = serde_json::to_string_pretty(self).map_err(|e| Failure::from(e.to_string()))?;
        let tmp = file.with_extension("json.new");
        let _ = std::fs::remove_file(&tmp);
        let mut open = std::fs::OpenOptions::new();
        open.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let mut f = open.open(&tmp).map_err(fail)?;
        std::io::Write::write_all(&mut f, text.as_bytes()).map_err(fail)?;
        f.sync_all().map_err(fail)?;
        std::fs::rename(&tmp, file).map_err(fail)
    }

    /// When it ends, for people.
    pub(super) fn until(&self) -> String {
        chrono::DateTime::from_timestamp(self.expires_at, 0)
            .map(|t| {
                t.with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M")
                    .to_string()
            })
            .unwrap_or_default()
    }
}
