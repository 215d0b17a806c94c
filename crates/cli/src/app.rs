//! The wiring: the only place that names concrete backends.

use std::path::Path;
use std::sync::Arc;

use hpki_ca::CaService;
use hpki_core::audit::Actor;
use hpki_core::clock::{Clock, SystemClock};
use hpki_core::domain::{RegistryNumber, Username};
use hpki_core::keystore::{Keystore, Measured};
use hpki_core::services::{
    AuditService, HolderService, OperatorService, SheetService, StatusService,
};
use hpki_core::store::{
    ApprovalStore, CertificateStore, ConsoleStore, CscStore, DeviceStore, OidcStore, SheetStore,
    Store,
};
use hpki_csc::CscService;
use hpki_keystore_pkcs11::Pkcs11Keystore;
use hpki_keystore_soft::SoftKeystore;
use hpki_lifecycle::LifecycleService;
use hpki_oidc::OidcService;
use hpki_operator_accounts::ConsoleService;
use hpki_passkey::DeviceService;
use hpki_store_sql::{ConnectOptions, Schema, SqlStore};

use crate::config::{KeystoreChoice, Settings, CONFIG_FILE};
use crate::Failure;

/// An open data directory: its settings, its database and keystore, and every service, each
/// built once (in [`App::build`]) on the one clock (see [`clock_from_env`]).
pub struct App {
    pub settings: Settings,
    pub store: SqlStore,
    pub keystore: Arc<dyn Keystore>,
    pub holders: HolderService,
    pub operators: OperatorService,
    pub audit: AuditService,
    pub status: StatusService,
    pub ca: CaService,
    pub sheets: SheetService,
    /// Holders' device credentials (WebAuthn).
    pub devices: DeviceService,
    /// The OpenID Connect provider.
    pub oidc: OidcService,
    /// Remote signing (the CSC API) over the provider's signing sessions.
    pub csc: CscService,
    /// The one gate for operator actions (the manual's section 2).
    pub lifecycle: LifecycleService,
    /// The operator console's accounts: operators' passkeys, enrolment links, sessions.
    pub console: ConsoleService,
}

/// The database behind each store trait, named for what the services keep there (one
/// `SqlStore` behind them all).
struct Stores {
    holders: Arc<dyn Store>,
    certificates: Arc<dyn CertificateStore>,
    sheets: Arc<dyn SheetStore>,
    devices: Arc<dyn DeviceStore>,
    operator_credentials: Arc<dyn DeviceStore>,
    oidc: Arc<dyn OidcStore>,
    csc: Arc<dyn CscStore>,
    console: Arc<dyn ConsoleStore>,
    approvals: Arc<dyn ApprovalStore>,
}

impl Stores {
    fn of(store: &SqlStore) -> Self {
        Self {
            holders: Arc::new(store.clone()),
            certificates: Arc::new(store.clone()),
            sheets: Arc::new(store.clone()),
            devices: Arc::new(store.clone()),
            operator_credentials: Arc::new(hpki_store_sql::OperatorCredentials(store.clone())),
            oidc: Arc::new(store.clone()),
            csc: Arc::new(store.clone()),
            console: Arc::new(store.clone()),
            approvals: Arc::new(store.clone()),
        }
    }
}

/// Names a file whose content is a number of seconds to add to the real time: the integration
/// tests move the server's clock with it instead of sleeping. Only a debug build reads it; a
/// release build refuses to start when it is set.
pub const TEST_CLOCK_ENV: &str = "HPKI_SECOND_TEST_CLOCK_FILE";

/// The real clock, moved forward by the seconds in a file (tests only).
struct TestClock(std::path::PathBuf);

impl Clock for TestClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        let ahead = std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(0);
        chrono::Utc::now() + chrono::Duration::seconds(ahead)
    }
}

/// The clock the services run on: the system's, or in a debug build with [`TEST_CLOCK_ENV`]
/// set, the tests' (`release` says which build this is).
pub fn clock_from_env(
    variable: Option<std::ffi::OsString>,
    release: bool,
) -> Result<Arc<dyn Clock>, Failure> {
    match variable {
        None => Ok(Arc::new(SystemClock)),
        Some(_) if release => Err(format!(
            "{TEST_CLOCK_ENV} is set: it moves the clock for tests, and a release build refuses it; unset it"
        )
        .into()),
        Some(path) => Ok(Arc::new(TestClock(path.into()))),
    }
}

impl App {
    /// Opens an initialised data directory.
    pub async fn open(data_dir: &Path) -> Result<Self, Failure> {
        Self::with_settings(Self::settings(data_dir)?).await
    }

    /// A holder as given on the command line: a username (`999999-jpa`), or a registry number
    /// in the configured organization.
    /// Parsed here, at the edge: the services take the parsed [`Username`].
    pub fn username(&self, holder: &str) -> Result<Username, Failure> {
        let holder = holder.trim();
        let parsed = if holder.contains('-') {
            Username::parse(holder)
        } else {
            RegistryNumber::parse(holder)
                .map(|n| Username::new(n, self.settings.default_org.clone()))
        };
        parsed.map_err(|e| Failure::from(format!("--holder: {}", e.message)))
    }

    /// The settings of an initialised data directory.
    pub fn settings(data_dir: &Path) -> Result<Settings, Failure> {
        if !data_dir.join(CONFIG_FILE).is_file() {
            return Err(Failure {
                message: format!(
                    "{} is not an hpki-second data directory (no {CONFIG_FILE}): run `hpki-second init --data-dir {}` first",
                    data_dir.display(),
                    data_dir.display()
                ),
                code: 1,
            });
        }
        Ok(Settings::load(data_dir)?)
    }

    /// The settings with `overrides` applied as if they were environment variables (command
    /// line options of `serve`), so that every service is built with them.
    pub fn settings_with(
        data_dir: &Path,
        overrides: Vec<(String, String)>,
    ) -> Result<Settings, Failure> {
        Self::settings(data_dir)?;
        Ok(Settings::load_with_env(
            data_dir,
            std::env::vars().chain(overrides),
        )?)
    }

    /// Opens the configured database, which must exist (a lost database is never replaced by
    /// an empty one behind the operator's back) and have this release's schema: nothing
    /// migrates implicitly (`db migrate` does).
    pub async fn with_settings(settings: Settings) -> Result<Self, Failure> {
        Self::existing(&settings).await?;
        Self::connect(settings, Schema::Require).await
    }

    /// Opens the configured database, which must exist, and brings its schema up to date:
    /// `db migrate`.
    pub async fn migrating(settings: Settings) -> Result<Self, Failure> {
        Self::existing(&settings).await?;
        Self::connect(settings, Schema::Migrate).await
    }

    /// Refuses a database that is not there.
    async fn existing(settings: &Settings) -> Result<(), Failure> {
        if !hpki_store_sql::database_exists(&settings.database_url, settings.connect_timeout)
            .await?
        {
            return Err(format!(
                "the database {} does not exist or is empty: `hpki-second init` creates one, `hpki-second restore BACKUP` puts a backup's there",
                settings.database_url
            )
            .into());
        }
        Ok(())
    }

    /// Opens the configured database, creating it (and its tables) when it is not there: for
    /// `init` and `demo` only.
    pub async fn creating(settings: Settings) -> Result<Self, Failure> {
        Self::connect(settings, Schema::Migrate).await
    }

    async fn connect(settings: Settings, schema: Schema) -> Result<Self, Failure> {
        let store = SqlStore::connect(&ConnectOptions {
            url: settings.database_url.clone(),
            max_connections: settings.max_connections,
            connect_timeout: settings.connect_timeout,
            schema,
            limits: settings.session_limits,
        })
        .await
        .map_err(hpki_core::Error::from)?;
        // Every keystore is measured (timed, its failures counted): the backends know nothing
        // of it.
        let keystore: Arc<dyn Keystore> = match &settings.keystore {
            KeystoreChoice::Software {
                kek_from_env: Some(kek),
                ..
            } => Arc::new(Measured(
                SoftKeystore::from_kek_hex(kek.expose())
                    .map_err(|e| format!("{}: {e}", crate::config::KEK_ENV))?,
            )),
            KeystoreChoice::Software {
                kek_file,
                kek_from_env: None,
            } => Arc::new(Measured(SoftKeystore::from_kek_file(kek_file).map_err(
                |e| {
                    Failure::from(format!(
                        "{e} (`hpki-second init` creates the key-encryption key)"
                    ))
                },
            )?)),
            KeystoreChoice::Pkcs11(config) => Arc::new(Measured(Pkcs11Keystore::open(config)?)),
        };
        let clock = clock_from_env(std::env::var_os(TEST_CLOCK_ENV), !cfg!(debug_assertions))?;
        Self::build(settings, store, keystore, clock)
    }

    /// Every service, built once, each with its dependencies named: the only place that does.
    pub fn build(
        settings: Settings,
        store: SqlStore,
        keystore: Arc<dyn Keystore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Failure> {
        let stores = Stores::of(&store);
        let passkey_settings = |max_devices| hpki_passkey::PasskeySettings {
            public_url: settings.public_url.clone(),
            max_devices,
        };
        let public_url = |e: hpki_core::Error| Failure::from(format!("server.public_url: {e}"));
        let devices = DeviceService::new(
            stores.devices.clone(),
            clock.clone(),
            &passkey_settings(settings.max_devices),
        )
        .map_err(public_url)?;
        // Passkeys and security keys one operator may have: 5.
        let operator_passkeys = DeviceService::for_operators(
            stores.operator_credentials.clone(),
            clock.clone(),
            &passkey_settings(5),
        )
        .map_err(public_url)?;
        let ca = CaService::new(
            stores.holders.clone(),
            stores.certificates.clone(),
            keystore.clone(),
            clock.clone(),
            settings.ca.clone(),
        );
        let sheets = SheetService::new(
            stores.holders.clone(),
            stores.sheets.clone(),
            clock.clone(),
            settings.sheets.clone(),
        );
        let oidc = OidcService::new(
            stores.oidc.clone(),
            stores.holders.clone(),
            stores.certificates.clone(),
            devices.clone(),
            keystore.clone(),
            clock.clone(),
            hpki_oidc::OidcSettings {
                dpop_nonce: settings.dpop_nonce,
                ..hpki_oidc::OidcSettings::new(
                    settings.public_url.clone(),
                    settings.signing_session_hours,
                    settings.token_algorithm,
                )
            },
        );
        let csc = CscService::new(
            oidc.clone(),
            ca.clone(),
            stores.csc.clone(),
            stores.holders.clone(),
            clock.clone(),
            hpki_csc::CscSettings {
                sad_lifetime: chrono::Duration::seconds(i64::from(settings.sad_seconds)),
                ..hpki_csc::CscSettings::default()
            },
        );
        let lifecycle = LifecycleService::new(
            hpki_lifecycle::Parts {
                store: stores.holders.clone(),
                approvals: stores.approvals.clone(),
                clock: clock.clone(),
                rules: hpki_lifecycle::Rules {
                    dual_control: settings.dual_control,
                    fresh_assertion: settings.console.reauth,
                },
            },
            ca.clone(),
            devices.clone(),
            sheets.clone(),
        );
        let console = ConsoleService::new(
            stores.console.clone(),
            stores.holders.clone(),
            operator_passkeys,
            clock.clone(),
            settings.console,
        );
        Ok(Self {
            holders: HolderService::new(
                stores.holders.clone(),
                clock.clone(),
                settings.default_org.clone(),
                settings.photo_limits,
            ),
            operators: OperatorService::new(stores.holders.clone(), clock.clone()),
            audit: AuditService::new(stores.holders.clone(), clock.clone()),
            status: StatusService::new(stores.holders, keystore.clone()),
            ca,
            sheets,
            devices,
            oidc,
            csc,
            lifecycle,
            console,
            keystore,
            settings,
            store,
        })
    }
}

/// The host's user who runs a CLI command.
pub fn os_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// Who runs a CLI command, for the audit log.
pub fn cli_actor() -> Actor {
    Actor::cli(&os_user())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tests_clock_moves_in_a_debug_build_and_is_refused_in_a_release_build() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("clock");
        let set = Some(file.clone().into_os_string());
        let release = clock_from_env(set.clone(), true).err().expect("refused");
        assert!(
            release.message.contains(TEST_CLOCK_ENV),
            "{}",
            release.message
        );
        let clock = clock_from_env(set, false).ok().expect("a debug build's");
        let before = chrono::Utc::now();
        assert!(
            (clock.now() - before).num_seconds().abs() <= 1,
            "no file: the real time"
        );
        std::fs::write(&file, "3600\n").expect("write");
        assert!(
            (clock.now() - before - chrono::Duration::hours(1))
                .num_seconds()
                .abs()
                <= 1
        );
        let system = clock_from_env(None, true).ok().expect("the system's");
        assert!((system.now() - before).num_seconds().abs() <= 1);
    }
}
