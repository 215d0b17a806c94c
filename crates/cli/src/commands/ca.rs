use std::path::{Path, PathBuf};

use clap::Subcommand;
use hpki_ca::{CardKind, ImportedCa, ImportedKey, IssuedCertificate};
use hpki_core::domain::{CaRole, RevocationReason, Serial};
use serde_json::json;

use crate::app::{cli_actor, App};
use crate::commands::cases::through_gate;
use crate::output::emit;
use crate::Failure;
use hpki_lifecycle::ca_import::{CaImport, ImportStep};

#[derive(Subcommand)]
pub enum CaCommand {
    /// Take in an existing hierarchy instead of the one `init` makes (run `init --no-ca` first):
    /// the three CA certificates, and their keys as PKCS#8 files (software keystore) or as
    /// labels of keys already in the PKCS#11 token.
    Import(Box<ImportArgs>),
    /// Show the CA hierarchy (root, signing CA, authentication CA). Relying systems can
    /// also fetch the certificates from the server: /ca/{root,sign,auth}.crt (DER) and .pem.
    Show {
        /// Print the certificates as PEM too (after each CA's description).
        #[arg(long)]
        pem: bool,
        /// Write each CA's certificate to DIR as root.pem, sign.pem and auth.pem (PEM only,
        /// one certificate per file), and say where.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Issue the root CA's CRL with a long validity, at a ceremony (with the root key on this
    /// machine, or given with --root-key): `serve` never needs the root key.
    RootCrl(super::root::RootCrlArgs),
    /// The root CA's key: take it off this machine after the ceremony.
    #[command(subcommand)]
    RootKey(super::root::RootKeyCommand),
}

#[derive(clap::Args)]
pub struct ImportArgs {
    #[arg(long, required_unless_present = "root_p12")]
    root_cert: Option<PathBuf>,
    #[arg(long, required_unless_present = "signing_p12")]
    signing_cert: Option<PathBuf>,
    #[arg(long, required_unless_present = "auth_p12")]
    auth_cert: Option<PathBuf>,
    /// PKCS#12 files holding each CA's certificate and key (instead of --*-cert and --*-key).
    #[arg(long, conflicts_with_all = ["root_cert", "root_key", "root_label"])]
    root_p12: Option<PathBuf>,
    #[arg(long, conflicts_with_all = ["signing_cert", "signing_key", "signing_label"])]
    signing_p12: Option<PathBuf>,
    #[arg(long, conflicts_with_all = ["auth_cert", "auth_key", "auth_label"])]
    auth_p12: Option<PathBuf>,
    /// PKCS#8 (PEM or DER) keys, for the software keystore.
    #[arg(long, conflicts_with = "root_label")]
    root_key: Option<PathBuf>,
    #[arg(long)]
    signing_key: Option<PathBuf>,
    #[arg(long)]
    auth_key: Option<PathBuf>,
    /// The environment variable that holds the password of encrypted PKCS#8 and PKCS#12 files.
    #[arg(long)]
    key_password_env: Option<String>,
    /// Labels of private keys already in the PKCS#11 token.
    #[arg(long)]
    root_label: Option<String>,
    /// Under dual control (once operators exist): the operator who asks for the import and,
    /// once an approver approved it, runs it.
    #[arg(long = "as")]
    operator: Option<String>,
    /// Why the import is asked for (with --as, without --request).
    #[arg(long)]
    reason: Option<String>,
    /// Run the import that this approved request allows (the same files, once).
    #[arg(long)]
    request: Option<i64>,
    /// With --as: the operator's API token, from this environment variable.
    #[command(flatten)]
    token: crate::commands::approval::OperatorToken,
    #[arg(long)]
    signing_label: Option<String>,
    #[arg(long)]
    auth_label: Option<String>,
    #[arg(long)]
    json: bool,
}

/// A certificate or key file: at most 1 MiB is read (a device or a growing file included).
fn read_small(path: &Path) -> Result<Vec<u8>, Failure> {
    Ok(hpki_core::files::read_at_most(path, 1024 * 1024)?)
}

/// A PKCS#8 key, PEM or DER; an encrypted one (PBES2) is decrypted with the password from the
/// environment variable `password_env`, in memory only.
fn read_pkcs8(path: &Path, password_env: Option<&str>) -> Result<Vec<u8>, Failure> {
    let bytes = read_small(path)?;
    let (label, der) = match std::str::from_utf8(&bytes)
        .ok()
        .filter(|t| t.contains("-----BEGIN"))
    {
        Some(text) => {
            let (label, der) = der::pem::decode_vec(text.trim().as_bytes())
                .map_err(|e| format!("{}: not PEM: {e}", path.display()))?;
            (label.to_owned(), der)
        }
        None if pkcs8::EncryptedPrivateKeyInfo::try_from(bytes.as_slice()).is_ok() => {
            ("ENCRYPTED PRIVATE KEY".to_owned(), bytes)
        }
        None => ("PRIVATE KEY".to_owned(), bytes),
    };
    match label.as_str() {
        "PRIVATE KEY" => Ok(der),
        "ENCRYPTED PRIVATE KEY" => {
            let var = password_env.ok_or_else(|| {
                format!("{}: the key is encrypted; name the variable holding its password with --key-password-env", path.display())
            })?;
            let password = std::env::var(var).map_err(|_| format!("--key-password-env: {var} is not set"))?;
            let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
                .map_err(|e| format!("{}: not an encrypted PKCS#8 key: {e}", path.display()))?;
            let clear = info
                .decrypt(password.as_bytes())
                .map_err(|_| format!("{}: cannot decrypt the key: wrong password, or an unsupported cipher", path.display()))?;
            Ok(clear.as_bytes().to_vec())
        }
        other => Err(format!(
            "{}: a {other:?} PEM; a PKCS#8 \"PRIVATE KEY\" is needed (openssl pkcs8 -topk8 converts one)",
            path.display()
        )
        .into()),
    }
}

#[derive(Subcommand)]
pub enum CertCommand {
    /// Issue a holder's second certificate (key generated and kept in the keystore). Under
    /// dual control, a request for an approver.
    IssueSecond {
        /// The holder: a username (999999-jpa) or a registry number (999999).
        #[arg(long)]
        holder: String,
        /// Why, for the audit log.
        #[arg(long = "why", default_value = "issued by an operator")]
        why: String,
        #[command(flatten)]
        glass: crate::commands::cases::BreakGlass,
        #[arg(long)]
        json: bool,
    },
    /// Issue an HPKI card's certificate from the card's PKCS#10 request (the key stays on the card).
    IssueCard {
        /// The holder: a username (999999-jpa) or a registry number (999999).
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
    /// cessationOfOperation, privilegeWithdrawn, cACompromise, unspecified). Under dual
    /// control, a request for an approver.
    Revoke {
        serial: String,
        /// The RFC 5280 reason.
        #[arg(long)]
        reason: String,
        /// Why, in words, for the audit log and the approver (default: the RFC 5280 reason).
        #[arg(long)]
        why: Option<String>,
        #[command(flatten)]
        glass: crate::commands::cases::BreakGlass,
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

pub(crate) fn describe(c: &IssuedCertificate, pem: bool) -> String {
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

pub async fn run_ca(data_dir: &Path, cmd: CaCommand) -> Result<(), Failure> {
    let app = App::open(data_dir).await?;
    match cmd {
        CaCommand::Import(a) => {
            let one = |p12: &Option<PathBuf>,
                       cert: &Option<PathBuf>,
                       file: &Option<PathBuf>,
                       label: &Option<String>|
             -> Result<ImportedCa, Failure> {
                if let Some(p) = p12 {
                    let var = a.key_password_env.as_deref().ok_or_else(|| {
                        format!(
                            "{}: name the variable holding its password with --key-password-env",
                            p.display()
                        )
                    })?;
                    let password = std::env::var(var)
                        .map_err(|_| format!("--key-password-env: {var} is not set"))?;
                    let (certificate, key) = hpki_ca::p12::read(&read_small(p)?, &password)
                        .map_err(|m| format!("{}: {m}", p.display()))?;
                    return Ok(ImportedCa {
                        certificate,
                        key: ImportedKey::Pkcs8(key),
                    });
                }
                let cert = cert
                    .as_ref()
                    .ok_or("give each CA's certificate (--*-cert) or PKCS#12 file (--*-p12)")?;
                let key = match (file, label) {
                    (Some(f), _) => ImportedKey::Pkcs8(read_pkcs8(f, a.key_password_env.as_deref())?),
                    (None, Some(l)) => ImportedKey::Label(l.clone()),
                    (None, None) => {
                        return Err("give the keys: --root-key/--signing-key/--auth-key or --root-label/--signing-label/--auth-label".into())
                    }
                };
                Ok(ImportedCa {
                    certificate: read_small(cert)?,
                    key,
                })
            };
            let root = one(&a.root_p12, &a.root_cert, &a.root_key, &a.root_label)?;
            let signing = one(
                &a.signing_p12,
                &a.signing_cert,
                &a.signing_key,
                &a.signing_label,
            )?;
            let auth = one(&a.auth_p12, &a.auth_cert, &a.auth_key, &a.auth_label)?;
            let lifecycle = &app.lifecycle;
            let op = match a.operator.as_deref() {
                Some(name) => Some(hpki_lifecycle::Acting::with_token(
                    &crate::commands::approval::operator(&app, name, &a.token).await?,
                )?),
                None => None,
            };
            let reason = a.reason.as_deref().unwrap_or_default();
            let step = match (&op, a.request) {
                (None, _) => ImportStep::Unnamed,
                (Some(operator), None) => ImportStep::Ask { operator, reason },
                (Some(operator), Some(request)) => ImportStep::Run { operator, request },
            };
            let cas = match lifecycle
                .import_ca(&cli_actor(), step, [root, signing, auth])
                .await?
            {
                CaImport::Imported(cas) => cas,
                CaImport::Requested(request) => {
                    let digest = match &request.request {
                        hpki_lifecycle::Request::CaImport { fingerprint } => {
                            fingerprint.digest.as_str()
                        }
                        _ => "",
                    };
                    emit(a.json, &request, || {
                        format!(
                            "request {} waits for an approver (not {}): hpki-second approval approve {} --as APPROVER\n\
                             then run this command again with --request {} before {}\nfingerprint {digest}",
                            request.id,
                            request.requested_by,
                            request.id,
                            request.id,
                            request.expires_at.to_rfc3339(),
                        )
                    });
                    app.store.close().await;
                    return Ok(());
                }
            };
            emit(a.json, &cas, || {
                cas.iter()
                    .map(|c| format!("imported the {:?} CA: {}", c.role, c.certificate.subject))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        CaCommand::Show { pem, out_dir, json } => {
            let cas = app.ca.show().await?;
            if let Some(dir) = out_dir {
                std::fs::create_dir_all(&dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                let mut written = Vec::new();
                for c in &cas {
                    let file = dir.join(format!("{}.pem", c.role.as_str()));
                    std::fs::write(&file, &c.certificate.pem)
                        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
                    written.push(json!({ "role": c.role.as_str(), "file": file }));
                }
                emit(json, &written, || {
                    written
                        .iter()
                        .map(|w| {
                            format!(
                                "{} CA certificate: {}",
                                w["role"].as_str().unwrap_or_default(),
                                w["file"].as_str().unwrap_or_default()
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                });
            } else {
                emit(json, &cas, || {
                    cas.iter()
                        .map(|c| {
                            format!(
                                "{} CA ({} keystore, {})\n{}\n  CRL:      {}\n  certificate: {}",
                                c.role.as_str(),
                                c.keystore,
                                c.algorithm.map_or("unknown key", |a| a.as_str()),
                                describe(&c.certificate, pem),
                                c.crl_url,
                                c.certificate_url
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n\n")
                });
            }
        }
        CaCommand::RootCrl(args) => super::root::root_crl(&app, args).await?,
        CaCommand::RootKey(c) => super::root::run_root_key(&app, c).await?,
    }
    app.store.close().await;
    Ok(())
}

pub async fn run_cert(data_dir: &Path, cmd: CertCommand) -> Result<(), Failure> {
    let app = App::open(data_dir).await?;
    match cmd {
        CertCommand::IssueSecond {
            holder,
            why,
            glass,
            json,
        } => {
            let request = hpki_lifecycle::Request::Holder {
                holder: app.username(&holder)?,
                case: hpki_lifecycle::Case::IssueSecond,
            };
            through_gate(&app, request, &why, &glass, json).await?;
        }
        CertCommand::IssueCard {
            holder,
            csr,
            kind,
            json,
        } => {
            // A certificate request is a few hundred bytes; 64 KiB is plenty.
            let bytes = hpki_core::files::read_at_most(&csr, 64 * 1024)?;
            let kind = if kind == "auth" {
                CardKind::Authentication
            } else {
                CardKind::Signing
            };
            let c = app
                .ca
                .issue_card(&cli_actor(), &app.username(&holder)?, &bytes, kind)
                .await?;
            emit(json, &c, || format!("issued {}", describe(&c, false)));
        }
        CertCommand::Show { serial, pem, json } => {
            let serial = Serial::parse(&serial).map_err(|e| format!("SERIAL: {}", e.message))?;
            let c = app.ca.show_certificate(&serial).await?;
            emit(json, &c, || describe(&c, pem));
        }
        CertCommand::Revoke {
            serial,
            reason,
            why,
            glass,
            json,
        } => {
            let serial = Serial::parse(&serial).map_err(|e| format!("SERIAL: {}", e.message))?;
            let code =
                RevocationReason::parse(&reason).map_err(|e| format!("--reason: {}", e.message))?;
            let why = why.unwrap_or_else(|| code.as_str().to_owned());
            let request = hpki_lifecycle::Request::Revoke {
                serial,
                reason: code,
            };
            through_gate(&app, request, &why, &glass, json).await?;
        }
    }
    app.store.close().await;
    Ok(())
}

/// What an operator is told when a revocation's CRL could not be published at once.
pub(crate) const CRL_PENDING: &str =
    "the revocation is recorded and OCSP answers \"revoked\", but the CA's key \
could not sign the CRL now; a running `serve` publishes it as soon as the key signs \
(or run `hpki-second crl publish`)";

pub async fn run_crl(data_dir: &Path, cmd: CrlCommand) -> Result<(), Failure> {
    let app = App::open(data_dir).await?;
    match cmd {
        CrlCommand::Publish { out_dir, json } => {
            let mut written = Vec::new();
            for role in CaRole::ALL {
                let crl = app.ca.issue_crl(&cli_actor(), role).await?;
                let mut line =
                    json!({ "ca": role.as_str(), "number": crl.number, "bytes": crl.der.len() });
                if let Some(dir) = &out_dir {
                    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                    let path = dir.join(format!("{}.crl", role.as_str()));
                    std::fs::write(&path, &crl.der)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    line["file"] = json!(path);
                }
                written.push(line);
            }
            emit(json, &written, || {
                written
                    .iter()
                    .map(|w| {
                        format!(
                            "issued the {} CA's CRL number {} ({} bytes)",
                            w["ca"].as_str().unwrap_or(""),
                            w["number"],
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
