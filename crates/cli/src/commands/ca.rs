use std::path::{Path, PathBuf};

use clap::Subcommand;
use hpki_ca::{CardKind, IssuedCertificate};
use hpki_core::domain::CaRole;
use serde_json::json;

use crate::app::{cli_actor, App};
use crate::output::emit;
use crate::Failure;

#[derive(Subcommand)]
pub enum CaCommand {
    /// Show the CA hierarchy (root, signing CA, authentication CA).
    Show {
        /// Print the certificates as PEM too.
        #[arg(long)]
        pem: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum CertCommand {
    /// Issue a holder's second certificate (key generated and kept in the keystore).
    IssueSecond {
        /// The holder: username (999999-jpa) or registry number.
        #[arg(long)]
        holder: String,
        #[arg(long)]
        json: bool,
    },
    /// Issue an HPKI card's certificate from the card's PKCS#10 request (the key stays on the card).
    IssueCard {
        #[arg(long)]
        holder: String,
        /// The request, PEM or DER.
        #[arg(long)]
        csr: PathBuf,
        /// signing (nonRepudiation) or auth (digitalSignature).
        #[arg(long, value_parser = ["signing", "auth"])]
        kind: String,
        #[arg(long)]
        json: bool,
    },
    /// Show a certificate by serial number (hex).
    Show {
        serial: String,
        #[arg(long)]
        pem: bool,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a certificate (RFC 5280 reason: keyCompromise, affiliationChanged, superseded,
    /// cessationOfOperation, privilegeWithdrawn, cACompromise, unspecified).
    Revoke {
        serial: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum CrlCommand {
    /// Issue a new CRL for every CA now (and write them as FILE.crl into --out-dir).
    Publish {
        #[arg(long)]
        out_dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

fn describe(c: &IssuedCertificate, pem: bool) -> String {
    let status = serde_json::to_value(c.status)
        .ok()
        .and_then(|v| v["status"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut s = format!(
        "serial {}  {}  issued by the {} CA\n  subject:  {}\n  valid:    {} to {}\n  status:   {status}",
        c.serial,
        c.kind,
        c.issuer,
        c.subject,
        c.not_before.format("%Y-%m-%d %H:%M:%SZ"),
        c.not_after.format("%Y-%m-%d %H:%M:%SZ"),
    );
    if pem {
        s.push('\n');
        s.push_str(&c.pem);
    }
    s
}

fn username(app: &App, holder: &str) -> String {
    if holder.contains('-') {
        holder.to_owned()
    } else {
        format!("{holder}-{}", app.settings.default_org)
    }
}

pub async fn run_ca(data_dir: &Path, cmd: CaCommand) -> Result<(), Failure> {
    let app = App::open(data_dir).await?;
    match cmd {
        CaCommand::Show { pem, json } => {
            let cas = app.ca.show().await?;
            emit(json, &cas, || {
                cas.iter()
                    .map(|c| {
                        format!(
                            "{:?} CA ({} keystore, {:?})\n{}\n  CRL:      {}",
                            c.role,
                            c.keystore,
                            c.algorithm,
                            describe(&c.certificate, pem),
                            c.crl_url
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n\n")
            });
        }
    }
    app.store.close().await;
    Ok(())
}

pub async fn run_cert(data_dir: &Path, cmd: CertCommand) -> Result<(), Failure> {
    let app = App::open(data_dir).await?;
    match cmd {
        CertCommand::IssueSecond { holder, json } => {
            let c = app
                .ca
                .issue_second(&cli_actor(), &username(&app, &holder))
                .await?;
            emit(json, &c, || format!("issued {}", describe(&c, false)));
        }
        CertCommand::IssueCard {
            holder,
            csr,
            kind,
            json,
        } => {
            let meta = std::fs::metadata(&csr).map_err(|e| format!("{}: {e}", csr.display()))?;
            if meta.len() > 64 * 1024 {
                return Err(format!(
                    "{}: {} bytes is too large for a certificate request",
                    csr.display(),
                    meta.len()
                )
                .into());
            }
            let bytes = std::fs::read(&csr).map_err(|e| format!("{}: {e}", csr.display()))?;
            let kind = if kind == "auth" {
                CardKind::Authentication
            } else {
                CardKind::Signing
            };
            let c = app
                .ca
                .issue_card(&cli_actor(), &username(&app, &holder), &bytes, kind)
                .await?;
            emit(json, &c, || format!("issued {}", describe(&c, false)));
        }
        CertCommand::Show { serial, pem, json } => {
            let c = app.ca.show_certificate(&serial).await?;
            emit(json, &c, || describe(&c, pem));
        }
        CertCommand::Revoke {
            serial,
            reason,
            json,
        } => {
            let c = app.ca.revoke(&cli_actor(), &serial, &reason).await?;
            emit(json, &c, || format!("revoked {}", describe(&c, false)));
        }
    }
    app.store.close().await;
    Ok(())
}

pub async fn run_crl(data_dir: &Path, cmd: CrlCommand) -> Result<(), Failure> {
    let app = App::open(data_dir).await?;
    match cmd {
        CrlCommand::Publish { out_dir, json } => {
            let mut written = Vec::new();
            for role in CaRole::ALL {
                let der = app.ca.issue_crl(&cli_actor(), role).await?;
                if let Some(dir) = &out_dir {
                    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                    let path = dir.join(format!("{}.crl", role.as_str()));
                    std::fs::write(&path, &der).map_err(|e| format!("{}: {e}", path.display()))?;
                    written.push(json!({ "ca": role.as_str(), "file": path, "bytes": der.len() }));
                } else {
                    written.push(json!({ "ca": role.as_str(), "bytes": der.len() }));
                }
            }
            emit(json, &written, || {
                written
                    .iter()
                    .map(|w| {
                        format!(
                            "issued the {} CA's CRL ({} bytes)",
                            w["ca"].as_str().unwrap_or(""),
                            w["bytes"]
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    app.store.close().await;
    Ok(())
}
