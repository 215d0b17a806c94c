//! Relying systems that sign holders in (OpenID Connect clients), the service's token-signing
//! keys, and the authorizations they go through: each parsed once at the edge.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::InvalidInput;

/// A relying system's client ID, made by us when an operator registers it: `hsc_` and 24
/// hex digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ClientId(String);

impl ClientId {
    pub const PREFIX: &'static str = "hsc_";

    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let s = s.trim();
        let ok = s.strip_prefix(Self::PREFIX).is_some_and(|hex| {
            hex.len() == 24 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidInput::new(
                "client_id",
                format!("{s:?} is not a client ID of this service (hsc_ and 24 hex digits)"),
            ))
        }
    }

    /// A new random client ID.
    pub fn generate() -> Result<Self, crate::Error> {
        let mut raw = [0u8; 12];
        crate::secret::os_random(&mut raw)?;
        Ok(Self(format!("{}{}", Self::PREFIX, hex::encode(raw))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub use super::redirect_uri::{RedirectKind, RedirectUri};

/// How a holder may sign in to a relying system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginMethods {
    /// The passkey on the phone registered through the sheet.
    Passkey,
    /// The HPKI card's authentication certificate.
    Card,
    /// Either.
    Any,
}

impl LoginMethods {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passkey => "passkey",
            Self::Card => "card",
            Self::Any => "any",
        }
    }

    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        match s.trim() {
            "passkey" => Ok(Self::Passkey),
            "card" => Ok(Self::Card),
            "any" => Ok(Self::Any),
            other => Err(InvalidInput::new(
                "auth",
                format!("{other:?} must be passkey, card or any"),
            )),
        }
    }

    pub fn allows(self, method: AuthMethod) -> bool {
        matches!(
            (self, method),
            (Self::Any, _) | (Self::Passkey, AuthMethod::Passkey) | (Self::Card, AuthMethod::Card)
        )
    }
}

/// How a holder was authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// A passkey with user verification: RFC 8176 `hwk` + `user`.
    Passkey,
    /// The HPKI card's key: `sc` (+ `pin`).
    Card,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passkey => "passkey",
            Self::Card => "card",
        }
    }

    pub fn from_stored(s: &str) -> Option<Self> {
        match s {
            "passkey" => Some(Self::Passkey),
            "card" => Some(Self::Card),
            _ => None,
        }
    }

    /// The `acr` of a login by this method.
    pub fn acr(self) -> &'static str {
        match self {
            Self::Passkey => "urn:hpki-second:acr:passkey",
            Self::Card => "urn:hpki-second:acr:card",
        }
    }

    /// The method an `acr` value names.
    pub fn from_acr(acr: &str) -> Option<Self> {
        [Self::Passkey, Self::Card]
            .into_iter()
            .find(|m| m.acr() == acr)
    }

    /// The `amr` values (RFC 8176).
    pub fn amr(self) -> &'static [&'static str] {
        match self {
            Self::Passkey => &["hwk", "user"],
            Self::Card => &["sc", "pin"],
        }
    }
}

/// A registered relying system.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RelyingParty {
    pub id: i64,
    pub client_id: ClientId,
    pub name: String,
    pub redirect_uris: Vec<RedirectUri>,
    pub methods: LoginMethods,
    /// Whether and how it may have the holder's signatures made (CSC).
    pub signing: super::csc::SigningModes,
    /// The client secret's hash (never the secret): client_secret_basic / client_secret_post.
    #[serde(skip)]
    pub secret_hash: Option<String>,
    /// The client's public keys (a JWK Set), for private_key_jwt (RFC 7523).
    pub jwks: Option<ClientKeys>,
    /// Registered as requiring DPoP-bound access tokens (RFC 9449 `dpop_bound_access_tokens`):
    /// its token requests without a DPoP proof are refused.
    pub dpop_bound: bool,
    /// Registered as pushing its authorization requests (RFC 9126
    /// `require_pushed_authorization_requests`): others are refused.
    pub par_required: bool,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

impl RelyingParty {
    /// `confidential` (it authenticates: a secret or keys) or `public` (a native app or a
    /// browser app: PKCE alone).
    pub fn client_type(&self) -> &'static str {
        if self.secret_hash.is_some() || self.jwks.is_some() {
            "confidential"
        } else {
            "public"
        }
    }

    /// Whether its token requests must carry a DPoP proof (RFC 9449), binding its tokens to
    /// its key: registered so, or a public client allowed to sign (its tokens live on a PC,
    /// where a copy would otherwise sign prescriptions anywhere for 18 hours).
    pub fn requires_dpop(&self) -> bool {
        self.dpop_bound
            || (self.client_type() == "public" && self.signing != super::csc::SigningModes::NONE)
    }

    pub fn token_endpoint_auth_method(&self) -> &'static str {
        match (&self.secret_hash, &self.jwks) {
            (Some(_), _) => "client_secret_basic",
            (None, Some(_)) => "private_key_jwt",
            (None, None) => "none",
        }
    }
}

/// A relying system's public keys for private_key_jwt: a JWK Set of RSA (2048 bits or more) or
/// EC P-256 signature keys, checked when registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ClientKeys(serde_json::Value);

impl ClientKeys {
    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        let field = "jwks";
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| InvalidInput::new(field, format!("is not JSON: {e}")))?;
        let keys = value["keys"]
            .as_array()
            .ok_or_else(|| InvalidInput::new(field, "must be a JWK Set: {\"keys\": [ … ]}"))?;
        if keys.is_empty() || keys.len() > 10 {
            return Err(InvalidInput::new(field, "must hold 1 to 10 keys"));
        }
        for (i, k) in keys.iter().enumerate() {
            if k.get("d").is_some() || k.get("p").is_some() {
                return Err(InvalidInput::new(
                    field,
                    format!("key {i} holds a private part: register the public keys only"),
                ));
            }
            let usable = match k["kty"].as_str() {
                Some("RSA") => {
                    let n = k["n"].as_str().unwrap_or_default();
                    // base64url of at least 256 bytes: 2048 bits.
                    n.len() >= 342 && k["e"].is_string()
                }
                Some("EC") => k["crv"] == "P-256" && k["x"].is_string() && k["y"].is_string(),
                _ => false,
            };
            if !usable {
                return Err(InvalidInput::new(
                    field,
                    format!(
                        "key {i} is neither an RSA key of 2048 bits or more nor an EC P-256 key"
                    ),
                ));
            }
            if k.get("use").is_some_and(|u| u != "sig") {
                return Err(InvalidInput::new(
                    field,
                    format!("key {i} is not for signatures (use must be sig)"),
                ));
            }
        }
        Ok(Self(value))
    }

    /// The keys, as registered.
    pub fn keys(&self) -> &[serde_json::Value] {
        self.0["keys"].as_array().map_or(&[], Vec::as_slice)
    }

    pub fn to_json(&self) -> String {
        self.0.to_string()
    }
}

/// A relying system about to be registered.
#[derive(Clone, Debug)]
pub struct NewRelyingParty {
    pub client_id: ClientId,
    pub name: String,
    pub redirect_uris: Vec<RedirectUri>,
    pub methods: LoginMethods,
    pub signing: super::csc::SigningModes,
    pub secret_hash: Option<String>,
    pub jwks: Option<ClientKeys>,
    pub dpop_bound: bool,
    pub par_required: bool,
    pub created_at: DateTime<Utc>,
}

/// The JWS algorithm of the service's tokens (`[oidc] token_algorithm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum TokenAlgorithm {
    /// ECDSA P-256 with SHA-256 (the default).
    #[serde(rename = "ES256")]
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 on an RSA-2048 key, for relying systems whose library
    /// knows nothing else (RS256 is the algorithm every OpenID Connect library must accept).
    #[serde(rename = "RS256")]
    Rs256,
}

impl TokenAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "ES256" => Some(Self::Es256),
            "RS256" => Some(Self::Rs256),
            _ => None,
        }
    }

    /// The keystore's key type for it.
    pub fn key_algorithm(self) -> crate::keystore::KeyAlgorithm {
        match self {
            Self::Es256 => crate::keystore::KeyAlgorithm::EcdsaP256,
            Self::Rs256 => crate::keystore::KeyAlgorithm::Rsa2048,
        }
    }
}

/// A key the service signs ID tokens and access tokens with, held in the keystore.
#[derive(Clone, Debug)]
pub struct TokenSigningKey {
    /// The JWK `kid`: the first 16 bytes of the SHA-256 of the public key, hex.
    pub kid: String,
    pub algorithm: TokenAlgorithm,
    pub key_ref: crate::keystore::KeyRef,
    /// The public key, SubjectPublicKeyInfo DER.
    pub spki_der: Vec<u8>,
    pub created_at: DateTime<Utc>,
    /// From then on it no longer signs; it stays in the JWKS for as long as a token it
    /// signed may still be in use (the overlap of a rotation).
    pub superseded_at: Option<DateTime<Utc>>,
}

/// An authorization request from a relying system, checked, waiting for the holder to sign
/// in.
#[derive(Clone, Debug)]
pub struct NewAuthorization {
    /// SHA-256 of the browser's login token (the cookie).
    pub login_hash: String,
    pub client_id: ClientId,
    /// How the relying system receives what the login grants.
    pub grant: Grant,
    pub scope: String,
    pub nonce: Option<String>,
    pub max_age: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub login_expires_at: DateTime<Utc>,
    /// For `scope=credential` (SCAL2): what the holder is asked to authorize.
    pub consent: Option<super::csc::CredentialConsent>,
}

/// How a relying system receives what a login grants.
#[derive(Clone, Debug, PartialEq)]
pub enum Grant {
    /// The authorization code flow: the browser goes back to `redirect_uri` with a code (and
    /// `state`), which the relying system redeems with the verifier of `code_challenge`
    /// (PKCE S256).
    Code {
        redirect_uri: RedirectUri,
        state: Option<String>,
        code_challenge: String,
    },
    /// The device authorization grant (RFC 8628): the holder approves on the phone, and the
    /// relying system, polling with its device code, redeems that as the code.
    Device,
}

impl Grant {
    /// The grant type, as the token endpoint names it.
    pub fn grant_type(&self) -> &'static str {
        match self {
            Self::Code { .. } => "authorization_code",
            Self::Device => DEVICE_CODE_GRANT,
        }
    }
}

/// RFC 8628's grant type.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Where an authorization stands: a state machine that only moves forward.
#[derive(Clone, Debug, PartialEq)]
pub enum AuthorizationStage {
    /// Waiting for the holder to sign in (until `login_expires_at`).
    WaitingForLogin,
    /// Signed in; the code was handed to the relying system and not yet redeemed.
    CodeIssued,
    /// The code was redeemed: the signing session runs until `session_expires_at`.
    SessionActive,
    /// Over: expired, signed out, revoked, or ended by a replayed code.
    Ended,
}

/// An authorization as stored: the request, then who signed in and how, then the signing
/// session it opened.
#[derive(Clone, Debug)]
pub struct Authorization {
    pub id: i64,
    pub request: NewAuthorization,
    pub holder_id: Option<i64>,
    pub device_id: Option<i64>,
    pub method: Option<AuthMethod>,
    pub auth_time: Option<DateTime<Utc>>,
    pub code_hash: Option<String>,
    pub code_expires_at: Option<DateTime<Utc>>,
    pub code_used_at: Option<DateTime<Utc>>,
    pub session_expires_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
}

impl Authorization {
    pub fn stage(&self, now: DateTime<Utc>) -> AuthorizationStage {
        if self.ended_at.is_some() {
            return AuthorizationStage::Ended;
        }
        match (self.holder_id, self.code_used_at, self.session_expires_at) {
            (None, _, _) if now < self.request.login_expires_at => {
                AuthorizationStage::WaitingForLogin
            }
            (Some(_), None, _) if self.code_expires_at.is_some_and(|e| now < e) => {
                AuthorizationStage::CodeIssued
            }
            (Some(_), Some(_), Some(until)) if now < until => AuthorizationStage::SessionActive,
            _ => AuthorizationStage::Ended,
        }
    }
}

/// What redeeming a code found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redemption {
    /// The code was good: its authorization now has an active session.
    Redeemed,
    /// The code had been redeemed before: its authorization is now ended (what it issued is
    /// revoked, RFC 6749 4.1.2).
    Replayed,
    /// No such code (or it expired unused).
    Unknown,
}

/// An OAuth 2.0 / OpenID Connect protocol error (RFC 6749 5.2, OIDC Core 3.1.2.6, RFC 6750):
/// the code a relying system acts on, and a description for its developers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    pub code: OAuthErrorCode,
    pub description: String,
    /// With `use_dpop_nonce`: the nonce the next proof must carry (the `DPoP-Nonce` header).
    pub dpop_nonce: Option<String>,
}

/// The OAuth error codes this provider sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    LoginRequired,
    InvalidToken,
    /// A valid token whose scope does not cover the call (RFC 6750): userinfo without `openid`.
    InsufficientScope,
    /// RFC 8628: the holder has not approved yet; poll again.
    AuthorizationPending,
    /// RFC 8628: polled too soon; wait 5 seconds more between polls.
    SlowDown,
    /// RFC 8628: the device code expired.
    ExpiredToken,
    /// RFC 9449: a DPoP proof missing where one is needed, malformed, for another request or
    /// key, too old, or used before.
    InvalidDpopProof,
    /// RFC 9449 §8, §9: the proof must carry the server's current nonce (sent with it).
    UseDpopNonce,
}

impl OAuthErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::LoginRequired => "login_required",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
        }
    }
}

impl std::fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl OAuthError {
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            dpop_nonce: None,
        }
    }

    /// `use_dpop_nonce`, with the nonce to use.
    pub fn use_dpop_nonce(nonce: String) -> Self {
        Self {
            dpop_nonce: Some(nonce),
            ..Self::new(
                OAuthErrorCode::UseDpopNonce,
                "make the DPoP proof again with the nonce of the DPoP-Nonce header",
            )
        }
    }
}

/// Why a holder who answered the login page correctly still gets no token. The code is the
/// contract with `login.js`, which has a message for each in Japanese and English.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginRefusal {
    /// The holder is suspended in the registry.
    HolderSuspended,
    /// The holder's second certificate is revoked, expired, or was never issued: nothing to
    /// sign with.
    NoSecondCertificate,
    /// The relying system does not accept this way of signing in.
    MethodNotAllowed,
    /// The login page was opened too long ago, finished in another tab, or is unknown.
    LoginEnded,
    /// Signatures were asked of another holder's certificate than the passkey's (SCAL2).
    NotYourCredential,
    /// The HPKI card code is wrong, was used, or has expired.
    CardCodeUnknown,
    /// The card's certificate is not an authentication certificate this service issued to a
    /// holder (another CA's, a signing certificate, a changed copy).
    CardNotRecognised,
    /// The card's authentication certificate is revoked.
    CardRevoked,
    /// The card's authentication certificate has expired (or is not valid yet).
    CardExpired,
    /// The card's signature is not over this login's challenge with the certificate's key.
    CardSignatureInvalid,
}

impl LoginRefusal {
    pub const ALL: [Self; 10] = [
        Self::HolderSuspended,
        Self::NoSecondCertificate,
        Self::MethodNotAllowed,
        Self::LoginEnded,
        Self::NotYourCredential,
        Self::CardCodeUnknown,
        Self::CardNotRecognised,
        Self::CardRevoked,
        Self::CardExpired,
        Self::CardSignatureInvalid,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::HolderSuspended => "holder_suspended",
            Self::NoSecondCertificate => "no_second_certificate",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::LoginEnded => "login_ended",
            Self::NotYourCredential => "not_your_credential",
            Self::CardCodeUnknown => "card_code_unknown",
            Self::CardNotRecognised => "card_not_recognised",
            Self::CardRevoked => "card_revoked",
            Self::CardExpired => "card_expired",
            Self::CardSignatureInvalid => "card_signature_invalid",
        }
    }

    /// The refusal a code names (as stored with a card login).
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// An HPKI card login: the one-time code shown on the login page, the challenge the card
/// signs, and what became of it. One per authorization (a new code replaces the old).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardLogin {
    pub authorization_id: i64,
    /// The challenge, base64url: random, single-use.
    pub challenge: String,
    pub expires_at: DateTime<Utc>,
    pub outcome: CardOutcome,
}

/// Where a card login stands: the page polls until it is not `Waiting`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CardOutcome {
    /// Nobody has answered the code yet.
    Waiting,
    /// A card signed the challenge with a certificate issued to this holder.
    Verified {
        holder_id: i64,
        certificate_serial: String,
        at: DateTime<Utc>,
    },
    /// The answer was refused; the code is spent (the page offers a new one).
    Refused {
        refusal: LoginRefusal,
        detail: String,
    },
}

/// How many digits a card login's code has.
pub const CARD_CODE_DIGITS: usize = 8;

/// A card login's code as typed: full-width digits, spaces and hyphens are fine (`１２３４
/// ５６７８`, `1234-5678`); `None` unless that leaves exactly the code's digits.
pub fn card_code_typed(typed: &str) -> Option<String> {
    use unicode_normalization::UnicodeNormalization;
    let code: String = typed
        .nfkc()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    (code.len() == CARD_CODE_DIGITS && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

/// The text a card signs for a login: what it is, which service asked (the origin the card
/// client contacted, so that a relayed challenge from another site fails), the code and the
/// challenge.
pub fn card_sign_in_message(origin: &str, code: &str, challenge: &str) -> String {
    format!("hpki-second card sign-in\n{origin}\n{code}\n{challenge}\n")
}

#[cfg(test)]
mod card_tests {
    use super::*;

    #[test]
    fn card_codes_are_read_as_typed() {
        assert_eq!(card_code_typed("1234 5678").as_deref(), Some("12345678"));
        assert_eq!(
            card_code_typed("１２３４－５６７８").as_deref(),
            Some("12345678")
        );
        assert_eq!(card_code_typed(" 1234-5678\n").as_deref(), Some("12345678"));
        assert_eq!(card_code_typed("1234567"), None);
        assert_eq!(card_code_typed("123456789"), None);
        assert_eq!(card_code_typed("1234567a"), None);
        assert_eq!(card_code_typed("١٢٣٤٥٦٧٨"), None);
    }

    #[test]
    fn refusals_read_back_from_their_codes() {
        for r in LoginRefusal::ALL {
            assert_eq!(LoginRefusal::from_code(r.code()), Some(r));
        }
        assert_eq!(LoginRefusal::from_code("verified"), None);
    }
}
