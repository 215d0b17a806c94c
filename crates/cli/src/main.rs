//! `hpki-second`: the one binary. It parses the command line and the configuration, wires the
//! concrete store into the services, and runs the command.
#![forbid(unsafe_code)]

mod app;
mod commands;
mod config;
mod http_client;
mod logging;
mod metrics;
mod output;
mod print;
mod systemd;
mod traces;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc: the service allocates and frees many small buffers per request on several
/// threads at once, where mimalloc takes about 8% less CPU per passkey sign-in than glibc's
/// allocator (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The HPKI second electronic certificate service.
#[derive(Parser)]
#[command(name = "hpki-second", version, about)]
struct Cli {
    /// The data directory: configuration, the SQLite database, audit checkpoints.
    #[arg(long, global = true, env = "HPKI_SECOND_DATA_DIR")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the data directory: a commented config file and the database.
    Init(commands::init::InitArgs),
    /// Serve HTTP until SIGTERM or Ctrl-C.
    Serve(commands::serve::ServeArgs),
    /// Try it out: initialise the data directory with a demo holder and their second
    /// certificate, serve it, print the URL.
    Demo(commands::serve::DemoArgs),
    /// The holder registry.
    #[command(subcommand)]
    Holder(commands::holder::HolderCommand),
    /// Operators of the certificate authority (API tokens).
    #[command(subcommand)]
    Operator(commands::operator::OperatorCommand),
    /// The certificate authority.
    #[command(subcommand)]
    Ca(commands::ca::CaCommand),
    /// Certificates: issue, show, revoke.
    #[command(subcommand)]
    Cert(commands::ca::CertCommand),
    /// Certificate revocation lists.
    #[command(subcommand)]
    Crl(commands::ca::CrlCommand),
    /// Initial registration sheets (初期登録用 QR).
    #[command(subcommand)]
    Sheet(commands::sheet::SheetCommand),
    /// Registered devices (passkeys): list, delete a lost phone's.
    #[command(subcommand)]
    Device(commands::device::DeviceCommand),
    /// Relying systems that sign holders in over OpenID Connect (pharmacy and clinic systems).
    #[command(subcommand)]
    Client(commands::client::ClientCommand),
    /// Signatures made with holders' second certificates through the remote-signing API.
    #[command(subcommand)]
    Signature(commands::signature::SignatureCommand),
    /// The holder's HPKI card: sign in on a login page that shows a code.
    #[command(subcommand)]
    Card(commands::card::CardCommand),
    /// The reference signing client for a pharmacy's PC: sign the holder in (the browser, or
    /// the device grant's QR code for the registered phone) and sign an XML document or a hash.
    Sign(commands::sign::SignArgs),
    /// Dual control: requests waiting for an approver.
    #[command(subcommand)]
    Approval(commands::approval::ApprovalCommand),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(commands::audit::AuditCommand),
    /// Back up the database while the service runs (docs/disaster-recovery.md).
    Backup(commands::recovery::BackupArgs),
    /// Restore the database from a backup into a data directory, making again every
    /// revocation published since and reporting what the restore lost.
    Restore(commands::recovery::RestoreArgs),
    /// The keystore that holds the CA's and holders' keys.
    #[command(subcommand)]
    Keystore(commands::keystore::KeystoreCommand),
    /// The database's schema: `db migrate` once per upgrade.
    #[command(subcommand)]
    Db(commands::db::DbCommand),
}

/// A failed command: the message for stderr and the exit status.
pub struct Failure {
    pub message: String,
    pub code: u8,
}

impl<E: std::fmt::Display + 'static> From<E> for Failure {
    fn from(e: E) -> Self {
        // The services return facts; which command fixes them is the CLI's to say.
        let any: &dyn std::any::Any = &e;
        let hint = any
            .downcast_ref::<hpki_core::Error>()
            .and_then(commands::hint)
            .map(|h| format!("\n  {h}"))
            .unwrap_or_default();
        Self {
            message: format!("{e}{hint}"),
            code: 1,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(run(cli));
    // Every task ends, and with them every keystore and its sessions; then the PKCS#11
    // modules are finalized before the process exits.
    runtime.shutdown_timeout(std::time::Duration::from_secs(10));
    hpki_keystore_pkcs11::finalize_modules();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let data_dir = cli.data_dir;
    let dir = || {
        data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("hpki-data"))
    };
    match cli.command {
        Command::Init(args) => commands::init::run(&dir(), args).await,
        Command::Serve(args) => commands::serve::run(&dir(), args).await,
        Command::Demo(args) => commands::serve::demo(&dir(), args).await,
        Command::Holder(c) => commands::holder::run(&dir(), c).await,
        Command::Operator(c) => commands::operator::run(&dir(), c).await,
        Command::Audit(c) => commands::audit::run(&dir(), c).await,
        Command::Sheet(c) => commands::sheet::run(&dir(), c).await,
        Command::Device(c) => commands::device::run(&dir(), c).await,
        Command::Client(c) => commands::client::run(&dir(), c).await,
        Command::Signature(c) => commands::signature::run(&dir(), c).await,
        Command::Card(c) => commands::card::run(c).await,
        Command::Sign(args) => commands::sign::run(args).await,
        Command::Approval(c) => commands::approval::run(&dir(), c).await,
        Command::Ca(c) => commands::ca::run_ca(&dir(), c).await,
        Command::Cert(c) => commands::ca::run_cert(&dir(), c).await,
        Command::Crl(c) => commands::ca::run_crl(&dir(), c).await,
        Command::Backup(args) => commands::recovery::backup(&dir(), args).await,
        Command::Restore(args) => commands::recovery::restore(&dir(), args).await,
        Command::Keystore(c) => commands::keystore::run_keystore(&dir(), c).await,
        Command::Db(c) => commands::db::run(&dir(), c).await,
    }
}

#[cfg(test)]
mod tests {
    /// Every command's arguments are well formed (clap checks them only when that command
    /// runs, so a clash would otherwise show first in an operator's hands).
    #[test]
    fn every_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
