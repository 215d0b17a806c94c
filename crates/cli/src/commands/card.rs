//! The holder's side of an HPKI card login: `hpki-second card sign-in CODE`, run on the
//! computer with the card reader while the login page shows CODE. It fetches the challenge,
//! has the card sign it with its authentication key (after the PIN), and sends the signature
//! with the card's certificate; the login page then continues by itself.

use std::path::PathBuf;

use base64::Engine;
use clap::Subcommand;
use der::Decode;
use hpki_core::domain::oidc::{card_code_typed, card_sign_in_message};
use hpki_keystore_pkcs11::{Card, CardCertificate};
use serde_json::{json, Value};
use x509_cert::ext::pkix::{KeyUsage, KeyUsages};

use crate::Failure;

#[derive(Subcommand)]
pub enum CardCommand {
    /// Sign in on a login page that shows a code, with the HPKI card in this computer's reader.
    SignIn {
        /// The code the login page shows (spaces and full-width digits are fine).
        code: String,
        /// The card reader's PKCS#11 module (the card vendor's .so / .dll); set once in
        /// HPKI_CARD_MODULE, the login page's command leaves it out.
        #[arg(long, env = "HPKI_CARD_MODULE")]
        module: PathBuf,
        /// The slot ID, when several readers hold cards.
        #[arg(long)]
        slot: Option<u64>,
        /// The environment variable that holds the card's PIN (never on the command line).
        #[arg(long, default_value = "HPKI_CARD_PIN")]
        pin_env: String,
        /// The service's address, as the login page shows it.
        #[arg(long)]
        url: String,
        /// The certificate's label on the card, when it holds several authentication
        /// certificates.
        #[arg(long)]
        label: Option<String>,
        /// Trust this CA (PEM) for the service's HTTPS certificate instead of the usual roots.
        #[arg(long)]
        ca_file: Option<PathBuf>,
    },
}

pub async fn run(cmd: CardCommand) -> Result<(), Failure> {
    let CardCommand::SignIn {
        code,
        module,
        slot,
        pin_env,
        url,
        label,
        ca_file,
    } = cmd;
    // The card and HTTP calls block: off the async runtime.
    tokio::task::spawn_blocking(move || {
        sign_in(&SignIn {
            code,
            module,
            slot,
            pin_env,
            url,
            label,
            ca_file,
        })
    })
    .await
    .map_err(|e| Failure::from(format!("the card client stopped: {e}")))?
}

struct SignIn {
    code: String,
    module: PathBuf,
    slot: Option<u64>,
    pin_env: String,
    url: String,
    label: Option<String>,
    ca_file: Option<PathBuf>,
}

fn failure(message: impl Into<String>) -> Failure {
    Failure {
        message: message.into(),
        code: 1,
    }
}

/// POSTs JSON; the answer's JSON, or the service's refusal as the failure.
fn call(agent: &ureq::Agent, url: &str, body: &Value) -> Result<Value, Failure> {
    let mut resp = agent
        .post(url)
        .send_json(body)
        .map_err(|e| failure(format!("cannot reach {url}: {e}")))?;
    let status = resp.status();
    let answer: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(answer);
    }
    let error = answer["error"].as_str().unwrap_or("error");
    let description = answer["error_description"].as_str().unwrap_or("");
    Err(failure(format!(
        "the service refused ({} {error}): {description}",
        status.as_u16()
    )))
}

/// Whether a certificate is for authentication: digitalSignature without nonRepudiation
/// (an HPKI card's signing certificate has nonRepudiation).
fn is_authentication(c: &CardCertificate) -> bool {
    let Ok(cert) = x509_cert::Certificate::from_der(&c.der) else {
        return false;
    };
    match cert.tbs_certificate.get::<KeyUsage>() {
        Ok(Some((_, usage))) => {
            usage.0.contains(KeyUsages::DigitalSignature)
                && !usage.0.contains(KeyUsages::NonRepudiation)
        }
        _ => false,
    }
}

fn sign_in(args: &SignIn) -> Result<(), Failure> {
    let code = card_code_typed(&args.code).ok_or_else(|| {
        failure(format!(
            "{:?} is not the 8-digit code the login page shows",
            args.code
        ))
    })?;
    let base = url::Url::parse(args.url.trim())
        .map_err(|e| failure(format!("--url {:?}: {e}", args.url)))?;
    if !matches!(base.scheme(), "https" | "http") {
        return Err(failure("--url must be the service's https:// address"));
    }
    let origin = base.origin().ascii_serialization();
    let endpoint = |path: &str| format!("{}{path}", base.as_str().trim_end_matches('/'));
    let pin = std::env::var(&args.pin_env).map_err(|_| {
        failure(format!(
            "the environment variable {} (--pin-env) holds no PIN",
            args.pin_env
        ))
    })?;
    let agent = crate::http_client::agent_trusting(args.ca_file.as_deref()).map_err(failure)?;
    let challenge = call(
        &agent,
        &endpoint("/oidc/card/challenge"),
        &json!({ "code": code }),
    )?;
    let (Some(text), Some(client)) = (
        challenge["challenge"].as_str(),
        challenge["client_name"].as_str(),
    ) else {
        return Err(failure("the service's answer has no challenge"));
    };
    eprintln!(
        "Signing in to {client} with the HPKI card / HPKI カードで {client} にサインインします"
    );

    let card = Card::open(&args.module, args.slot, &pin).map_err(|e| failure(e.to_string()))?;
    let certificates = card.certificates().map_err(|e| failure(e.to_string()))?;
    let candidates: Vec<&CardCertificate> = match &args.label {
        Some(l) => certificates.iter().filter(|c| &c.label == l).collect(),
        None => certificates
            .iter()
            .filter(|c| is_authentication(c))
            .collect(),
    };
    let certificate = match candidates.as_slice() {
        [one] => *one,
        [] => {
            let labels: Vec<&str> = certificates.iter().map(|c| c.label.as_str()).collect();
            return Err(failure(format!(
                "no authentication certificate on the card{} (certificates found: {})",
                args.label
                    .as_ref()
                    .map(|l| format!(" labelled {l:?}"))
                    .unwrap_or_default(),
                if labels.is_empty() {
                    "none".to_owned()
                } else {
                    labels.join(", ")
                }
            )));
        }
        many => {
            let labels: Vec<&str> = many.iter().map(|c| c.label.as_str()).collect();
            return Err(failure(format!(
                "several authentication certificates on the card ({}); choose one with --label",
                labels.join(", ")
            )));
        }
    };
    let message = card_sign_in_message(&origin, &code, text);
    let signature = card
        .sign(certificate, message.as_bytes())
        .map_err(|e| failure(e.to_string()))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let answer = call(
        &agent,
        &endpoint("/oidc/card/answer"),
        &json!({
            "code": code,
            "origin": origin,
            "certificate": b64.encode(&certificate.der),
            "signature": b64.encode(&signature),
        }),
    )?;
    let holder = answer["holder"].as_str().unwrap_or("?");
    println!("Signed in as {holder}. The login page continues by itself. / {holder} としてサインインしました。ログイン画面は自動的に進みます。");
    Ok(())
}
