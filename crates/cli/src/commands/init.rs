use std::path::Path;

use clap::Args;
use serde_json::json;

use crate::app::App;
use crate::config::{parse_public_url, template, Settings, CONFIG_FILE};
use crate::output::emit;
use crate::Failure;

#[derive(Args)]
pub struct InitArgs {
    /// The public base URL to record (default http://localhost:8080).
    #[arg(long)]
    pub public_url: Option<String>,
    /// The database URL to record (default: SQLite in the data directory).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Do not create a CA hierarchy (to `ca import` an existing one next).
    #[arg(long)]
    pub no_ca: bool,
    #[arg(long)]
    pub json: bool,
}

/// Creates the directory and config if missing, then opens the database (creating the schema).
/// Running it again changes nothing but a recorded --public-url or --database-url. An init that
/// fails leaves nothing behind that it created (a config with the bad URL, a key-encryption
/// key, a database file), so that the next attempt starts clean.
pub async fn run(data_dir: &Path, args: InitArgs) -> Result<(), Failure> {
    let before = Before::look(data_dir);
    let result = initialise(data_dir, args).await;
    if result.is_err() {
        before.remove_what_is_new(data_dir);
    }
    result
}

/// What the data directory held before `init` ran.
struct Before {
    existed: bool,
    entries: Vec<std::ffi::OsString>,
    config: Option<Vec<u8>>,
}

impl Before {
    fn look(dir: &Path) -> Self {
        let entries = std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.file_name())).collect())
            .unwrap_or_default();
        Self {
            existed: dir.exists(),
            entries,
            config: std::fs::read(dir.join(CONFIG_FILE)).ok(),
        }
    }

    fn remove_what_is_new(&self, dir: &Path) {
        if !self.existed {
            let _ = std::fs::remove_dir_all(dir);
            return;
        }
        if let Ok(now) = std::fs::read_dir(dir) {
            for entry in now.filter_map(Result::ok) {
                if !self.entries.contains(&entry.file_name()) {
                    let path = entry.path();
                    let _ = if path.is_dir() {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                }
            }
        }
        // A config rewritten with the options of the failed run gets its old text back.
        if let Some(text) = &self.config {
            let _ = write_private(&dir.join(CONFIG_FILE), &String::from_utf8_lossy(text));
        }
    }
}

async fn initialise(data_dir: &Path, args: InitArgs) -> Result<(), Failure> {
    let settings = prepare(
        data_dir,
        args.public_url.as_deref(),
        args.database_url.as_deref(),
    )?;
    let app = App::creating(settings).await?;
    let cas = if args.no_ca {
        app.ca.show().await.unwrap_or_default()
    } else {
        let cas = app.ca.init_hierarchy(&crate::app::cli_actor()).await?;
        app.ca.check_keys().await?;
        app.ca
            .ensure_ocsp_responders(&crate::app::cli_actor())
            .await?;
        // The OpenID Connect token-signing key (serve makes it for older data directories).
        app.oidc
            .ensure_signing_key(&crate::app::cli_actor())
            .await?;
        cas
    };
    let s = &app.settings;
    emit(
        args.json,
        &json!({
            "data_dir": s.data_dir,
            "config": s.data_dir.join(CONFIG_FILE),
            "database": s.database_url.to_string(),
            "public_url": s.public_url.url().as_str(),
            "ca": cas,
        }),
        || {
            format!(
                "initialised {}\n  config:     {}\n  database:   {}\n  public URL: {}\n{}",
                s.data_dir.display(),
                s.data_dir.join(CONFIG_FILE).display(),
                s.database_url,
                s.public_url,
                cas.iter()
                    .map(|c| format!(
                        "  {:<11} {} (serial {})",
                        format!("{:?} CA:", c.role),
                        c.certificate.subject,
                        c.certificate.serial
                    ))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        },
    );
    app.store.close().await;
    Ok(())
}

/// Writes (or updates) the config file and returns the loaded settings.
pub fn prepare(
    data_dir: &Path,
    public_url: Option<&str>,
    database_url: Option<&str>,
) -> Result<Settings, Failure> {
    if let Some(u) = public_url {
        parse_public_url(u).map_err(|m| format!("--public-url: {m}"))?;
    }
    create_private_dir(data_dir)?;
    let path = data_dir.join(CONFIG_FILE);
    if path.exists() {
        if public_url.is_some() || database_url.is_some() {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut doc: toml::Table =
                toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut set = |section: &str, key: &str, value: &str| {
                let entry = doc
                    .entry(section)
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let Some(t) = entry.as_table_mut() {
                    t.insert(key.to_owned(), toml::Value::String(value.to_owned()));
                }
            };
            if let Some(u) = public_url {
                set("server", "public_url", u);
            }
            if let Some(u) = database_url {
                set("database", "url", u);
            }
            // Rewriting loses the comments; say so rather than silently.
            eprintln!("note: updating {} (comments are not kept)", path.display());
            write_private(&path, &toml::to_string(&doc).map_err(|e| e.to_string())?)?;
        }
    } else {
        write_private(
            &path,
            &template(
                public_url.unwrap_or("http://localhost:8080"),
                database_url.unwrap_or("sqlite:hpki-second.db"),
            ),
        )?;
    }
    let settings = Settings::load(data_dir)?;
    if let crate::config::KeystoreChoice::Software {
        kek_file,
        kek_from_env: None,
    } = &settings.keystore
    {
        if !kek_file.exists() {
            hpki_keystore_soft::SoftKeystore::create_kek_file(kek_file)?;
        }
    }
    Ok(settings)
}

fn create_private_dir(dir: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot restrict {}: {e}", dir.display()))?;
    }
    Ok(())
}

/// The config may name a database password (and an offline root key file holds the key):
/// readable by the owner only, from its first byte, and on the disk before this returns.
pub(crate) fn write_private(path: &Path, text: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        // An existing file keeps its mode on open: restrict it first.
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| format!("cannot restrict {}: {e}", path.display()))?;
        }
    }
    options
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(())
}
