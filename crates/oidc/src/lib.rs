//! The OpenID Connect provider: relying systems (pharmacy and clinic systems) sign a holder
//! in with the passkey registered through the sheet, and get an ID token and an access token
//! for the signing session that login opens.
//!
//! One file per use case: [`clients`] registers relying systems, [`flow`] is the
//! authorization code flow (authorize, the login, token, userinfo, revocation), [`jwt`] signs
//! and checks tokens. This file holds the service, its settings, the token-signing keys and
//! the discovery document.
#![forbid(unsafe_code)]

mod clients;
pub mod dpop;
mod flow;
pub mod holder_page;
mod jwt;

use hpki_core::audit::Action;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::clock::Clock;
use hpki_core::domain::oidc::{AuthMethod, ClientId, TokenAlgorithm, TokenSigningKey};
use hpki_core::keystore::Keystore;
use hpki_core::store::{CertificateStore, OidcStore, Store};
use hpki_core::{Error, PublicUrl};
use hpki_passkey::DeviceService;
use serde_json::{json, Value};

pub use clients::NewClient;
pub use flow::{
    AuthorizeRefusal, AuthorizeRequest, CardAnswer, CardChallenge, CardCode, CardStatus,
    DeviceCodeRefusal, DeviceLogin, HolderSession, LoginPage, SessionRefusal, SigningSession,
    TokenRequest,
};

/// The provider's settings.
#[derive(Clone, Debug)]
pub struct OidcSettings {
    /// The issuer: the service's public URL.
    pub issuer: PublicUrl,
    /// How long one login lets a relying system have the holder's signatures made
    /// (`[signing] session_hours`, 18 as the live service).
    pub session: Duration,
    /// How long the login page may take.
    pub login: Duration,
    /// How long a code may wait to be redeemed.
    pub code: Duration,
    /// How long an ID token is valid.
    pub id_token: Duration,
    /// How long a credential token (scope `credential`, SCAL2) may wait to be used.
    pub credential_token: Duration,
    /// How long a device authorization waits for the holder (RFC 8628 `expires_in`).
    pub device_grant: Duration,
    /// The least time between two polls of a device authorization, at first.
    pub device_poll_secs: i64,
    /// Whether DPoP proofs must carry a nonce of the server's (RFC 9449 §8, §9;
    /// `[oidc] dpop_nonce`).
    pub dpop_nonce: bool,
    /// The algorithm new token-signing keys are made for (`[oidc] token_algorithm`).
    pub algorithm: TokenAlgorithm,
}

impl OidcSettings {
    pub fn new(issuer: PublicUrl, session_hours: u32, algorithm: TokenAlgorithm) -> Self {
        Self {
            issuer,
            algorithm,
            session: Duration::hours(i64::from(session_hours.max(1))),
            login: Duration::minutes(10),
            code: Duration::seconds(60),
            id_token: Duration::minutes(10),
            credential_token: Duration::minutes(5),
            device_grant: Duration::minutes(10),
            device_poll_secs: 5,
            dpop_nonce: false,
        }
    }

    pub fn issuer(&self) -> &str {
        self.issuer.as_str()
    }

    pub(crate) fn endpoint(&self, path: &str) -> String {
        self.issuer.join(path)
    }
}

/// The provider's operations; web and CLI call these.
#[derive(Clone)]
pub struct OidcService {
    store: Arc<dyn OidcStore>,
    holders: Arc<dyn Store>,
    certs: Arc<dyn CertificateStore>,
    devices: DeviceService,
    keystore: Arc<dyn Keystore>,
    clock: Arc<dyn Clock>,
    settings: Arc<OidcSettings>,
    /// The key that signs, as last read, and when: read again after [`KEY_CACHE`], so that a
    /// rotation on any instance is taken up within it (its predecessor stays published far
    /// longer, so tokens signed meanwhile still verify).
    current_key: Arc<std::sync::RwLock<Option<CachedKey>>>,
    /// Relying systems as last read, and when (see `active_client`).
    clients: Arc<std::sync::RwLock<std::collections::HashMap<ClientId, CachedClient>>>,
    /// This instance's DPoP nonce, and the nonces of any instance found valid.
    dpop_nonces: Arc<std::sync::Mutex<flow::DpopNonces>>,
}

/// A relying system (none: disabled) and when it was read.
type CachedClient = (Option<hpki_core::domain::oidc::RelyingParty>, DateTime<Utc>);

/// How long a relying system is used as read.
const CLIENT_CACHE: Duration = Duration::seconds(1);

/// The signing key and when it was read.
type CachedKey = (TokenSigningKey, DateTime<Utc>);

/// How long the signing key is used without looking for a newer one (one read a second, not
/// one per token).
const KEY_CACHE: Duration = Duration::seconds(1);

/// Paths of the endpoints under the issuer.
pub mod paths {
    pub const DISCOVERY: &str = "/.well-known/openid-configuration";
    /// RFC 8414: the same metadata, for OAuth 2.0 clients (the CSC API's v2 `oauth2Issuer`).
    pub const AUTHORIZATION_SERVER_METADATA: &str = "/.well-known/oauth-authorization-server";
    pub const JWKS: &str = "/.well-known/jwks.json";
    pub const AUTHORIZE: &str = "/oidc/authorize";
    pub const TOKEN: &str = "/oidc/token";
    pub const USERINFO: &str = "/oidc/userinfo";
    pub const REVOKE: &str = "/oidc/revoke";
    /// RFC 9126: where a relying system pushes an authorization request.
    pub const PAR: &str = "/oidc/par";
    /// RFC 7662: token introspection for relying systems' resource servers.
    pub const INTROSPECT: &str = "/oidc/introspect";
    /// RFC 8628: where a relying system asks for a device authorization.
    pub const DEVICE_AUTHORIZATION: &str = "/oidc/device_authorization";
    /// Where the holder enters the user code (the QR code's address carries it).
    pub const DEVICE: &str = "/device";
    /// The phone's page once the holder approved: back to the PC.
    pub const DEVICE_DONE: &str = "/device/done";
}

/// The scopes this provider knows, and the claims each releases.
pub const SCOPES: [&str; 5] = ["openid", "profile", "hpki", SERVICE_SCOPE, CREDENTIAL_SCOPE];

/// The scope of a holder's authorization of particular signatures (CSC `credential`, SCAL2).
pub const CREDENTIAL_SCOPE: &str = "credential";

/// The scope of a sign-in that opens a signing session for remote signing (CSC `service`).
pub const SERVICE_SCOPE: &str = "service";

impl OidcService {
    /// A relying system's name (for the holder's page), if it is registered.
    pub async fn client_name(&self, id: &str) -> Result<Option<String>, Error> {
        let Ok(client_id) = ClientId::parse(id) else {
            return Ok(None);
        };
        Ok(self.store.client(&client_id).await?.map(|c| c.name))
    }

    pub fn new(
        store: Arc<dyn OidcStore>,
        holders: Arc<dyn Store>,
        certs: Arc<dyn CertificateStore>,
        devices: DeviceService,
        keystore: Arc<dyn Keystore>,
        clock: Arc<dyn Clock>,
        settings: OidcSettings,
    ) -> Self {
        Self {
            store,
            holders,
            certs,
            devices,
            keystore,
            clock,
            settings: Arc::new(settings),
            current_key: Arc::default(),
            clients: Arc::default(),
            dpop_nonces: Arc::default(),
        }
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// The discovery document (OpenID Connect Discovery 1.0), also the authorization server's
    /// metadata (RFC 8414).
    pub fn discovery(&self) -> Value {
        let s = &self.settings;
        json!({
            "issuer": s.issuer(),
            "authorization_endpoint": s.endpoint(paths::AUTHORIZE),
            "token_endpoint": s.endpoint(paths::TOKEN),
            "userinfo_endpoint": s.endpoint(paths::USERINFO),
            "jwks_uri": s.endpoint(paths::JWKS),
            "revocation_endpoint": s.endpoint(paths::REVOKE),
            "introspection_endpoint": s.endpoint(paths::INTROSPECT),
            "pushed_authorization_request_endpoint": s.endpoint(paths::PAR),
            "require_pushed_authorization_requests": false,
            "authorization_details_types_supported": ["credential"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", hpki_core::domain::oidc::DEVICE_CODE_GRANT],
            "device_authorization_endpoint": s.endpoint(paths::DEVICE_AUTHORIZATION),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [s.algorithm.as_str()],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
            "revocation_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "introspection_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
            "code_challenge_methods_supported": ["S256"],
            "dpop_signing_alg_values_supported": dpop::ALGORITHMS,
            "scopes_supported": SCOPES,
            "claims_supported": [
                "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "acr", "sid",
                "name", "family_name", "given_name", "preferred_username",
                "hpki_username", "registry_number", "qualification"
            ],
            "acr_values_supported": [AuthMethod::Passkey.acr(), AuthMethod::Card.acr()],
            "prompt_values_supported": ["login"],
            "authorization_response_iss_parameter_supported": true,
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
        })
    }

    /// The public keys relying systems check tokens with: the signing key, and the keys it
    /// replaced for as long as their tokens may be in use.
    pub async fn jwks(&self) -> Result<Value, Error> {
        let now = self.clock.now();
        let keys: Vec<Value> = self
            .published_keys(now)
            .await?
            .iter()
            .map(jwt::jwk)
            .collect::<Result<_, _>>()?;
        Ok(json!({ "keys": keys }))
    }

    /// Keys whose tokens may still be in use at `now`.
    async fn published_keys(&self, now: DateTime<Utc>) -> Result<Vec<TokenSigningKey>, Error> {
        let overlap = self.settings.session.max(self.settings.id_token);
        Ok(self
            .store
            .token_signing_keys()
            .await?
            .into_iter()
            .filter(|k| k.superseded_at.is_none_or(|at| now < at + overlap))
            .collect())
    }

    /// The key that signs now. `NotSetUp` until `ensure_signing_key` (at `init` or `serve`)
    /// made one.
    async fn signing_key(&self) -> Result<TokenSigningKey, Error> {
        let now = self.clock.now();
        if let Ok(cached) = self.current_key.read() {
            if let Some((key, read_at)) = cached.as_ref() {
                if now < *read_at + KEY_CACHE {
                    return Ok(key.clone());
                }
            }
        }
        let key = self
            .store
            .token_signing_keys()
            .await?
            .into_iter()
            .find(|k| k.superseded_at.is_none())
            .ok_or(Error::NotSetUp(hpki_core::Unset::TokenSigningKey))?;
        if let Ok(mut cached) = self.current_key.write() {
            *cached = Some((key.clone(), now));
        }
        Ok(key)
    }

    /// Makes the first token-signing key if there is none (at `init`, and at `serve` for a
    /// data directory made before there were keys), or a new one when `[oidc]
    /// token_algorithm` was changed (the old key stays published through the overlap). Of two
    /// instances starting at once, one makes it.
    pub async fn ensure_signing_key(&self, actor: &Actor) -> Result<(), Error> {
        match self.signing_key().await {
            Ok(key) if key.algorithm == self.settings.algorithm => Ok(()),
            Ok(_) => self.new_signing_key(actor, false).await.map(|_| ()),
            Err(Error::NotSetUp(_)) => self.new_signing_key(actor, true).await.map(|_| ()),
            Err(e) => Err(e),
        }
    }

    /// A new token-signing key in the keystore; the old one stops signing but stays in the
    /// JWKS for as long as its tokens may be in use. Returns the new key's `kid`.
    pub async fn rotate_signing_key(&self, actor: &Actor) -> Result<String, Error> {
        self.new_signing_key(actor, false).await
    }

    async fn new_signing_key(&self, actor: &Actor, only_if_none: bool) -> Result<String, Error> {
        let now = self.clock.now();
        let algorithm = self.settings.algorithm;
        let generated = self
            .keystore
            .generate(
                algorithm.key_algorithm(),
                &format!("oidc-token-{}", now.format("%Y%m%dT%H%M%S%6f")),
            )
            .await
            .map_err(Error::from)?;
        let key = TokenSigningKey {
            kid: jwt::kid_of(&generated.spki_der),
            algorithm,
            key_ref: generated.key_ref,
            spki_der: generated.spki_der,
            created_at: now,
            superseded_at: None,
        };
        let event = AuditEvent::new(
            now,
            actor,
            Action::OIDC_SIGNING_KEY_CREATED,
            key.kid.clone(),
            json!({ "algorithm": algorithm.as_str(), "keystore": self.keystore.backend() }),
        );
        let inserted = self
            .store
            .insert_token_signing_key(&key, only_if_none, &event)
            .await?;
        // This instance signs with the new key at once (others within `KEY_CACHE`).
        if let Ok(mut cached) = self.current_key.write() {
            *cached = None;
        }
        if !inserted {
            // Another instance made one meanwhile (the key made here stays unused).
            return Ok(self.signing_key().await?.kid);
        }
        Ok(key.kid)
    }
}
