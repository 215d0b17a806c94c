//! The reference signing client, `hpki-second sign`: what a pharmacy system's vendor runs (or
//! reads) to get a document signed with the holder's second certificate from the PC. It signs
//! the holder in as a native app (a public client: the system browser with a loopback
//! redirect, RFC 8252; or the device grant, RFC 8628, with a QR code in the terminal for the
//! registered phone), keeps the signing session's access token, bound to a key of its own
//! (DPoP, RFC 9449), in a file only the user can read (reused for its 18 hours), and has the
//! document signed through the CSC API, each call with a fresh proof of the key: `signDoc`
//! for XML (an e-prescription or any XML, which comes back with its XAdES signature), or
//! `signHash` for a SHA-256 hash. docs/integration.md walks through it against `demo`.

mod dpop;
mod login;
mod session;

use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use crate::Failure;
use dpop::ProofKey;
use session::Session;

#[derive(clap::Args)]
pub struct SignArgs {
    /// The service's address (its issuer), e.g. https://hpki.example.jp.
    #[arg(long)]
    url: String,
    /// The relying system's client ID: a public client (no secret) registered with the
    /// redirect URI http://127.0.0.1/callback and allowed to sign (`--signing scal1`).
    #[arg(long)]
    client_id: String,
    /// An XML document to sign (an e-prescription, or any XML): the document with its XAdES
    /// signature is written to --out.
    #[arg(long, required_unless_present = "hash", conflicts_with = "hash")]
    document: Option<PathBuf>,
    /// A SHA-256 hash (Base64) to sign: the signature (Base64, PKCS#1 v1.5) is printed.
    #[arg(long)]
    hash: Option<String>,
    /// Where the signed document goes (default: beside it, NAME.signed.xml).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Sign in with the device grant: a QR code here for the registered phone (no Bluetooth,
    /// no browser on this computer).
    #[arg(long)]
    device: bool,
    /// Do not open the browser: print the address to open instead.
    #[arg(long)]
    no_browser: bool,
    /// The signing session's file (default: in ~/.config/hpki-second/, readable by the user
    /// alone).
    #[arg(long)]
    session: Option<PathBuf>,
    /// Trust this CA (PEM) for the service's HTTPS certificate instead of the usual roots.
    #[arg(long)]
    ca_file: Option<PathBuf>,
}

pub async fn run(args: SignArgs) -> Result<(), Failure> {
    // HTTP calls, a listener and the terminal block: off the async runtime.
    tokio::task::spawn_blocking(move || sign(&args))
        .await
        .map_err(|e| Failure::from(format!("the signing client stopped: {e}")))?
}

/// The service as the client sees it: its agent, issuer and endpoints.
pub(super) struct Service {
    pub(super) agent: ureq::Agent,
    pub(super) issuer: String,
    pub(super) metadata: Value,
    pub(super) client_id: String,
    /// The service's latest DPoP nonce (RFC 9449 §8), if it asked for one.
    dpop_nonce: std::sync::Mutex<Option<String>>,
}

impl Service {
    fn discover(args: &SignArgs) -> Result<Self, Failure> {
        let agent = crate::http_client::agent_trusting(args.ca_file.as_deref())?;
        let issuer = args.url.trim_end_matches('/').to_owned();
        let (status, metadata) = get(
            &agent,
            &format!("{issuer}/.well-known/openid-configuration"),
        )?;
        if status != 200 || metadata["issuer"] != issuer.as_str() {
            return Err(Failure::from(format!(
                "{issuer} is not an hpki-second service (its discovery document names the issuer {})",
                metadata["issuer"]
            )));
        }
        Ok(Self {
            agent,
            issuer,
            metadata,
            client_id: args.client_id.clone(),
            dpop_nonce: std::sync::Mutex::default(),
        })
    }

    pub(super) fn endpoint(&self, name: &str) -> Result<String, Failure> {
        self.metadata[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Failure::from(format!("the service names no {name}")))
    }

    /// A form POST (the token and device endpoints), with a DPoP proof of `key` if given:
    /// the status and the JSON answer.
    fn form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        key: Option<&ProofKey>,
    ) -> Result<(u16, Value), Failure> {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.proved(url, |nonce| {
            let mut request = self
                .agent
                .post(url)
                .header("Content-Type", "application/x-www-form-urlencoded");
            if let Some(key) = key {
                request = request.header("DPoP", &key.proof("POST", url, None, nonce)?);
            }
            request
                .send(body.as_bytes())
                .map_err(|e| Failure::from(format!("{url}: {e}")))
        })
    }

    /// A CSC call with the session's token: under the DPoP scheme with a fresh proof of its
    /// key, or as a bearer token (a session kept by an earlier version).
    fn csc(&self, s: &Session, method: &str, body: &Value) -> Result<(u16, Value), Failure> {
        let url = format!("{}/csc/v2/{method}", self.issuer);
        let token = &s.access_token;
        let key = s.dpop_key.as_deref().and_then(ProofKey::from_stored);
        self.proved(&url, |nonce| {
            let request = self.agent.post(&url);
            let request = match &key {
                Some(key) => request
                    .header("Authorization", &format!("DPoP {token}"))
                    .header("DPoP", &key.proof("POST", &url, Some(token), nonce)?),
                None => request.header("Authorization", &format!("Bearer {token}")),
            };
            request
                .header("Content-Type", "application/json")
                .send(body.to_string().as_bytes())
                .map_err(|e| Failure::from(format!("{url}: {e}")))
        })
    }

    /// A request `send` makes (its DPoP proof with the server's latest nonce, if any), made
    /// again once when the server answers `use_dpop_nonce` (RFC 9449 §8, §9). The nonce each
    /// answer brings is kept for the next request.
    fn proved(
        &self,
        url: &str,
        send: impl Fn(Option<&str>) -> Result<ureq::http::Response<ureq::Body>, Failure>,
    ) -> Result<(u16, Value), Failure> {
        let first = self.answer_keeping_nonce(url, send(self.nonce().as_deref())?)?;
        if first.1["error"] != "use_dpop_nonce" {
            return Ok(first);
        }
        self.answer_keeping_nonce(url, send(self.nonce().as_deref())?)
    }

    fn answer_keeping_nonce(
        &self,
        url: &str,
        resp: ureq::http::Response<ureq::Body>,
    ) -> Result<(u16, Value), Failure> {
        if let Some(n) = resp
            .headers()
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok())
        {
            *self.lock_nonce() = Some(n.to_owned());
        }
        answer(url, resp)
    }

    fn nonce(&self) -> Option<String> {
        self.lock_nonce().clone()
    }

    fn lock_nonce(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.dpop_nonce
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn get(agent: &ureq::Agent, url: &str) -> Result<(u16, Value), Failure> {
    let resp = agent
        .get(url)
        .call()
        .map_err(|e| Failure::from(format!("{url}: {e}")))?;
    answer(url, resp)
}

fn answer(url: &str, mut resp: ureq::http::Response<ureq::Body>) -> Result<(u16, Value), Failure> {
    let status = resp.status().as_u16();
    let body: Value = resp
        .body_mut()
        .read_json()
        .map_err(|e| Failure::from(format!("{url}: the answer ({status}) is not JSON: {e}")))?;
    Ok((status, body))
}

/// Why a call failed, as the service said it.
fn refused(what: &str, status: u16, body: &Value) -> Failure {
    Failure::from(format!(
        "{what}: {status} {} {}",
        body["error"].as_str().unwrap_or(""),
        body["error_description"].as_str().unwrap_or("")
    ))
}

fn sign(args: &SignArgs) -> Result<(), Failure> {
    let what = Signing::from_args(args)?;
    let service = Service::discover(args)?;
    let file = match &args.session {
        Some(f) => f.clone(),
        None => session::default_file(&service.issuer, &service.client_id)?,
    };
    // A session kept from before is used while it lasts; one the service ended (the holder
    // signed out, the phone was reported lost) is dropped, and the holder signs in again.
    if let Some(kept) = Session::load(&file, &service) {
        match sign_with(&service, &kept, &what) {
            Err(SignError::SessionEnded(why)) => {
                eprintln!("the kept signing session has ended ({why}): signing in again");
                let _ = std::fs::remove_file(&file);
            }
            done => return done.map_err(Failure::from),
        }
    }
    let s = login::sign_in(&service, args)?;
    s.save(&file)?;
    eprintln!(
        "signing session kept in {} until {}",
        file.display(),
        s.until()
    );
    sign_with(&service, &s, &what).map_err(Failure::from)
}

enum SignError {
    /// The access token was refused (401): the session is over.
    SessionEnded(String),
    Other(Failure),
}

impl From<Failure> for SignError {
    fn from(f: Failure) -> Self {
        Self::Other(f)
    }
}

impl From<SignError> for Failure {
    fn from(e: SignError) -> Self {
        match e {
            SignError::SessionEnded(why) => Failure::from(why),
            SignError::Other(f) => f,
        }
    }
}

/// The credential, a SAD for one signature, and the signature.
/// What is to be signed, read and checked before anyone signs in.
enum Signing {
    /// An XML document, and where the signed one goes.
    Document { xml: Vec<u8>, out: PathBuf },
    /// A SHA-256 hash, in Base64.
    Hash(String),
}

impl Signing {
    fn from_args(args: &SignArgs) -> Result<Self, Failure> {
        match (&args.document, &args.hash) {
            (Some(document), _) => Ok(Self::Document {
                xml: std::fs::read(document)
                    .map_err(|e| Failure::from(format!("{}: {e}", document.display())))?,
                out: args
                    .out
                    .clone()
                    .unwrap_or_else(|| document.with_extension("signed.xml")),
            }),
            (None, Some(h)) => STANDARD
                .decode(h.trim())
                .ok()
                .filter(|raw| raw.len() == 32)
                .map(|raw| Self::Hash(STANDARD.encode(raw)))
                .ok_or_else(|| Failure::from("--hash must be a SHA-256 hash in Base64")),
            (None, None) => Err(Failure::from("give --document FILE or --hash BASE64")),
        }
    }
}

/// The credential, a SAD for one signature, and the signature.
fn sign_with(service: &Service, s: &Session, what: &Signing) -> Result<(), SignError> {
    let call = |method: &str, body: Value| -> Result<Value, SignError> {
        let (status, answer) = service.csc(s, method, &body)?;
        match status {
            200 => Ok(answer),
            401 => Err(SignError::SessionEnded(
                answer["error_description"]
                    .as_str()
                    .unwrap_or("the token was refused")
                    .to_owned(),
            )),
            _ => Err(SignError::Other(refused(method, status, &answer))),
        }
    };
    let list = call("credentials/list", json!({}))?;
    let credential = list["credentialIDs"][0]
        .as_str()
        .ok_or_else(|| Failure::from("the holder has no credential to sign with"))?
        .to_owned();
    let authorized = call(
        "credentials/authorize",
        json!({ "credentialID": credential, "numSignatures": 1 }),
    )?;
    let sad = authorized["SAD"].as_str().unwrap_or_default().to_owned();
    match what {
        Signing::Hash(hash) => {
            let signed = call(
                "signatures/signHash",
                json!({ "credentialID": credential, "SAD": sad, "hashes": [hash],
                        "signAlgo": "1.2.840.113549.1.1.11" }),
            )?;
            let signature = signed["signatures"][0]
                .as_str()
                .ok_or_else(|| Failure::from("signHash answered no signature"))?;
            println!("{signature}");
        }
        Signing::Document { xml, out } => {
            let signed = call(
                "signatures/signDoc",
                json!({ "credentialID": credential, "SAD": sad,
                        "documents": [{ "document": STANDARD.encode(xml), "signature_format": "X" }] }),
            )?;
            let out_doc = signed["DocumentWithSignature"][0]
                .as_str()
                .and_then(|d| STANDARD.decode(d).ok())
                .ok_or_else(|| Failure::from("signDoc answered no signed document"))?;
            std::fs::write(out, out_doc)
                .map_err(|e| Failure::from(format!("{}: {e}", out.display())))?;
            println!("signed by {credential}: {}", out.display());
        }
    }
    Ok(())
}
