//! Remote signing with the second certificate through the Cloud Signature Consortium API
//! (v1.0.4.0 and v2.0.0.2): a relying system that signed a holder in (OpenID Connect, scope
//! `service`) lists and reads the holder's credential, gets signature activation data (SAD)
//! and has hashes signed with the key the service holds.
//!
//! One file per use case: [`credentials`] (`credentials/list`, `credentials/info`),
//! [`signing`] (`credentials/authorize`, `credentials/extendTransaction`,
//! `signatures/signHash`), [`documents`] (v2 `signatures/signDoc`: CAdES with [`cades`],
//! e-prescriptions with [`xades`], every XML document first bounded by [`xml_bounds`]), [`algorithms`] (what `signAlgo` and its parameters name),
//! [`history`] (the holder's signatures, from the audit log). This file holds the service, the
//! bearer check every call starts with, and `info`.
#![forbid(unsafe_code)]

mod algorithms;
mod c14n;
mod cades;
mod checked;
mod credentials;
mod documents;
mod history;
mod ids;
mod signing;
pub mod xades;
pub mod xml_bounds;

use hpki_core::audit::Action;
use std::sync::Arc;

use chrono::Duration;
use hpki_ca::CaService;
use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::clock::Clock;
use hpki_core::domain::csc::{CredentialId, SigningMode};
use hpki_core::domain::oidc::{OAuthError, OAuthErrorCode};
use hpki_core::pool::WorkerPool;
use hpki_core::store::{CscStore, Store};
use hpki_core::Error;
use hpki_oidc::{OidcService, SigningSession};
use serde_json::{json, Value};

pub use algorithms::SignAlgorithm;
pub use credentials::{CredentialInfoRequest, CredentialListRequest};
pub use documents::SignDocRequest;
pub use history::SignatureRecord;
pub use signing::{AuthorizeRequest, ExtendRequest, SignHashRequest};

/// Which version of the API a call came in on (the answers differ in a few fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiVersion {
    V1,
    V2,
}

/// The service's remote-signing settings.
#[derive(Clone, Debug)]
pub struct CscSettings {
    /// How long a SAD may wait to be used (never beyond its signing session).
    pub sad_lifetime: Duration,
    /// The most hashes one call may sign (`multisign`), and one SAD authorize.
    pub max_signatures: u32,
}

impl Default for CscSettings {
    fn default() -> Self {
        Self {
            sad_lifetime: Duration::minutes(10),
            max_signatures: 100,
        }
    }
}

/// The remote-signing operations; the web layer calls these with the bearer token.
#[derive(Clone)]
pub struct CscService {
    oidc: OidcService,
    ca: CaService,
    store: Arc<dyn CscStore>,
    holders: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: Arc<CscSettings>,
    /// Sessions and SADs checked recently, for the signing endpoints (see `checked`).
    checked: Arc<checked::Checked>,
    /// Where XML documents are parsed and canonicalized: one thread fewer than the cores, so
    /// that the async runtime always has a core for every other request.
    xml: Arc<WorkerPool>,
}

/// The CSC action names in audit events.
const REFUSED: Action = Action::CSC_REFUSED;

fn refusal(code: OAuthErrorCode, description: impl Into<String>) -> Error {
    Error::OAuth(OAuthError::new(code, description))
}

impl CscService {
    pub fn new(
        oidc: OidcService,
        ca: CaService,
        store: Arc<dyn CscStore>,
        holders: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        settings: CscSettings,
    ) -> Self {
        Self {
            oidc,
            ca,
            store,
            holders,
            clock,
            settings: Arc::new(settings),
            checked: Arc::default(),
            xml: Arc::new(WorkerPool::new(
                "xml",
                std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1)),
            )),
        }
    }

    /// `info`: what this service is and offers (no authentication).
    pub fn info(&self, version: ApiVersion) -> Value {
        let issuer = self.oidc.settings().issuer().to_owned();
        let mut methods = vec![
            "credentials/list",
            "credentials/info",
            "credentials/authorize",
            "credentials/extendTransaction",
            "signatures/signHash",
        ];
        match version {
            ApiVersion::V1 => methods.insert(0, "info"),
            ApiVersion::V2 => methods.push("signatures/signDoc"),
        }
        let mut info = json!({
            "specs": match version { ApiVersion::V1 => "1.0.4.0", ApiVersion::V2 => "2.0.0.2" },
            "name": "hpki-second",
            "logo": format!("{issuer}/favicon.ico"),
            "region": "JP",
            "lang": "ja-JP",
            "description": "HPKI second electronic certificate: remote signing with the holder's second certificate",
            "authType": ["oauth2code"],
            // The base of `oauth2/authorize`, `oauth2/token`, `oauth2/revoke` (all served
            // there), and (v2) the issuer of the RFC 8414 metadata that names them too.
            "oauth2": issuer,
            "methods": methods,
        });
        if version == ApiVersion::V2 {
            info["oauth2Issuer"] = json!(issuer);
            info["asynchronousOperationMode"] = json!(false);
            info["validationInfo"] = json!(false);
            info["signAlgorithms"] = json!({
                "algos": SignAlgorithm::ALL.iter().map(|a| a.oid()).collect::<Vec<_>>(),
            });
            info["signature_formats"] = json!({
                "formats": ["C", "X"],
                "envelope_properties": [["Detached"], ["Enveloped"]],
            });
            info["conformance_levels"] = json!(["Ades-B-B"]);
        }
        info
    }

    /// The signing session behind a bearer token, for a relying system that may sign: every
    /// call but `info` starts here. Refusals of a known holder's session are audited.
    /// The signing session for a signing endpoint: as checked recently on this instance, or
    /// read and checked now. What it names is checked again when the SAD is spent.
    async fn session_for_signing(
        &self,
        actor: &Actor,
        endpoint: &str,
        token: &str,
    ) -> Result<Arc<SigningSession>, Error> {
        let key = hpki_core::secret::token_hash(token);
        let now = self.clock.now();
        if let Some(s) = self.checked.session(&key, now) {
            return Ok(s);
        }
        let s = Arc::new(self.session(actor, endpoint, token).await?);
        self.checked.keep_session(key, s.clone(), now);
        Ok(s)
    }

    async fn session(
        &self,
        actor: &Actor,
        endpoint: &str,
        token: &str,
    ) -> Result<SigningSession, Error> {
        let s = match self.oidc.signing_session(token).await? {
            Ok(s) => s,
            Err(r) => {
                if let Some(holder) = &r.holder {
                    self.audit_refusal(
                        actor,
                        endpoint,
                        &holder.username.to_string(),
                        r.client_id.as_ref().map(|c| c.as_str()),
                        &r.description,
                    )
                    .await?;
                }
                return Err(refusal(OAuthErrorCode::InvalidToken, r.description));
            }
        };
        let scopes: Vec<&str> = s.authorization.request.scope.split(' ').collect();
        if !scopes.contains(&hpki_oidc::SERVICE_SCOPE)
            && !scopes.contains(&hpki_oidc::CREDENTIAL_SCOPE)
        {
            return Err(self
                .refuse(
                    actor,
                    endpoint,
                    &s,
                    OAuthErrorCode::AccessDenied,
                    "the access token was not issued for signing: sign the holder in with scope \"openid service\", or have the holder authorize the signatures (scope credential)",
                )
                .await);
        }
        Ok(s)
    }

    /// Whether the token is a credential token (SCAL2): the holder authorized particular hashes.
    pub(crate) fn is_consent(s: &SigningSession) -> bool {
        s.authorization.request.consent.is_some()
    }

    /// The credential a call names, which must be the session's holder's.
    async fn credential_of(
        &self,
        actor: &Actor,
        endpoint: &str,
        s: &SigningSession,
        credential_id: Option<&str>,
    ) -> Result<CredentialId, Error> {
        let Some(text) = credential_id.filter(|c| !c.is_empty()) else {
            return Err(refusal(
                OAuthErrorCode::InvalidRequest,
                "Missing (or invalid type) string parameter credentialID",
            ));
        };
        let id = CredentialId::parse(text).map_err(|e| {
            refusal(
                OAuthErrorCode::InvalidRequest,
                format!("Invalid parameter credentialID: {}", e.message),
            )
        })?;
        if id.holder() != &s.holder.username {
            return Err(self
                .refuse(
                    actor,
                    endpoint,
                    s,
                    OAuthErrorCode::InvalidRequest,
                    &format!(
                        "Invalid parameter credentialID: {text} is not the credential of the holder who signed in"
                    ),
                )
                .await);
        }
        Ok(id)
    }

    /// Whether the relying system may sign in this mode.
    async fn check_mode(
        &self,
        actor: &Actor,
        endpoint: &str,
        s: &SigningSession,
        mode: SigningMode,
    ) -> Result<(), Error> {
        if s.client.signing.allows(mode) {
            return Ok(());
        }
        let what = match mode {
            SigningMode::Session => "within a signing session (SCAL1)",
            SigningMode::Consent => "with the holder's consent per document (SCAL2)",
        };
        Err(self
            .refuse(
                actor,
                endpoint,
                s,
                OAuthErrorCode::AccessDenied,
                &format!(
                    "the relying system {} may not have signatures made {what}",
                    s.client.client_id
                ),
            )
            .await)
    }

    /// Whether the call presented its access token as the token's binding asks (RFC 9449: a
    /// DPoP-bound token with a proof of its key for this call); a refusal is audited, as a
    /// stolen token tried elsewhere would be.
    async fn presented(
        &self,
        actor: &Actor,
        endpoint: &str,
        s: &SigningSession,
        access: &hpki_oidc::dpop::AccessToken,
    ) -> Result<(), Error> {
        match self.oidc.check_binding(&s.claims, access).await {
            // The protocol's turn (a proof again with the server's nonce), not a refusal.
            Err(Error::OAuth(e)) if e.code == OAuthErrorCode::UseDpopNonce => Err(Error::OAuth(e)),
            Err(Error::OAuth(e)) => Err(self
                .refuse(actor, endpoint, s, e.code, &e.description)
                .await),
            other => other,
        }
    }

    /// Audits a refusal in a session and returns the error to answer with.
    async fn refuse(
        &self,
        actor: &Actor,
        endpoint: &str,
        s: &SigningSession,
        code: OAuthErrorCode,
        description: &str,
    ) -> Error {
        let audited = self
            .audit_refusal(
                actor,
                endpoint,
                &s.holder.username.to_string(),
                Some(s.client.client_id.as_str()),
                description,
            )
            .await;
        match audited {
            Ok(()) => refusal(code, description),
            Err(e) => e,
        }
    }

    async fn audit_refusal(
        &self,
        actor: &Actor,
        endpoint: &str,
        holder: &str,
        client_id: Option<&str>,
        description: &str,
    ) -> Result<(), Error> {
        let event = AuditEvent::new(
            self.clock.now(),
            actor,
            REFUSED,
            holder.to_owned(),
            json!({ "endpoint": endpoint, "client_id": client_id, "reason": description }),
        );
        Ok(self.store.record_refusal(&event).await?)
    }
}
