//! The authorization code flow with PKCE, one file per use case: [`authorize`] checks a
//! relying system's request and opens the login, [`login`] is the holder's answer on the login
//! page, [`token`] authenticates the relying system and exchanges the code, [`session`] is what
//! the tokens give (userinfo, revocation, the signing sessions). This file holds what they
//! share: the error constructors, PKCE's syntax, the relying system lookup, whether a holder may
//! still sign, and the claims.

mod authorize;
mod card;
mod device;
mod dpop;
mod introspect;
mod login;
mod session;
mod token;

pub use authorize::{AuthorizeRefusal, AuthorizeRequest, LoginPage};
pub use card::{CardAnswer, CardChallenge, CardCode, CardStatus};
pub use device::{DeviceCodeRefusal, DeviceLogin};
pub(crate) use dpop::DpopNonces;
pub use session::{HolderSession, SessionRefusal, SigningSession};
pub use token::TokenRequest;

use hpki_core::domain::oidc::{ClientId, LoginRefusal, OAuthError, OAuthErrorCode, RelyingParty};
use hpki_core::domain::{CertificateKind, Holder, HolderStatus, StoredCertificate};
use hpki_core::Error;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::OidcService;

fn oauth(code: OAuthErrorCode, description: impl Into<String>) -> Error {
    Error::OAuth(OAuthError::new(code, description))
}

fn login_refused(refusal: LoginRefusal, detail: impl Into<String>) -> Error {
    Error::Login {
        refusal,
        detail: detail.into(),
    }
}

/// RFC 7636: 43 to 128 characters of `[A-Za-z0-9-._~]`.
fn pkce_value(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Why a sign-in's scope cannot be: `openid` missing, or `service` asked by a relying system
/// registered without signing.
fn scope_refusal(scope: &[&str], client: &RelyingParty) -> Result<(), &'static str> {
    if !scope.contains(&"openid") {
        return Err("the scope must include openid");
    }
    if scope.contains(&crate::SERVICE_SCOPE)
        && client.signing == hpki_core::domain::csc::SigningModes::NONE
    {
        return Err(
            "this relying system may not have signatures made (scope service): it is \
             registered without signing",
        );
    }
    Ok(())
}

impl OidcService {
    /// The subject of a holder: stable, opaque, the same for every relying system.
    fn subject(&self, holder: &Holder) -> String {
        let mut h = Sha256::new();
        h.update(b"hpki-second sub\0");
        h.update(self.settings.issuer().as_bytes());
        h.update(b"\0");
        h.update(holder.id.to_be_bytes());
        hex::encode(&h.finalize()[..16])
    }

    /// The relying system, if registered and enabled. Read at most once a second per client
    /// (two lookups per login otherwise): a client disabled on any instance is refused
    /// everywhere within a second (at once on the instance that disabled it).
    async fn active_client(&self, id: &str) -> Result<Option<RelyingParty>, Error> {
        let Ok(client_id) = ClientId::parse(id) else {
            return Ok(None);
        };
        let now = self.clock.now();
        if let Ok(cache) = self.clients.read() {
            if let Some((client, read_at)) = cache.get(&client_id) {
                if now < *read_at + crate::CLIENT_CACHE {
                    return Ok(client.clone());
                }
            }
        }
        let client = self
            .store
            .client(&client_id)
            .await?
            .filter(|c| c.disabled_at.is_none());
        if let Ok(mut cache) = self.clients.write() {
            // Unknown IDs are not kept: anyone can make up as many as they like.
            if client.is_some() {
                if cache.len() >= 10_000 {
                    cache.clear();
                }
                cache.insert(client_id, (client.clone(), now));
            }
        }
        Ok(client)
    }

    /// Whether the holder may still have signatures made: active in the registry, with a
    /// second certificate valid now (returned: the newest), and (for a passkey login) the
    /// device credential used still active. For a signing session (`signed_in_at`), also that
    /// no second certificate of the holder was revoked since the sign-in: a revocation ends
    /// the session for good, even once a new certificate is issued. `Err` says why not.
    async fn may_sign(
        &self,
        holder: &Holder,
        device_id: Option<i64>,
        signed_in_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Result<StoredCertificate, (LoginRefusal, String)>, Error> {
        if holder.status != HolderStatus::Active {
            return Ok(Err((
                LoginRefusal::HolderSuspended,
                format!("holder {} is {}", holder.username, holder.status.as_str()),
            )));
        }
        let now = self.clock.now();
        let certificates = self.certs.certificates_of_holder(holder.id).await?;
        if let Some(since) = signed_in_at {
            if let Some(r) = certificates.iter().find(|c| {
                c.cert.kind == CertificateKind::Second
                    && c.revocation.is_some_and(|r| r.at >= since)
            }) {
                return Ok(Err((
                    LoginRefusal::LoginEnded,
                    format!(
                        "the second certificate {} was revoked after this sign-in; sign in again",
                        r.cert.serial
                    ),
                )));
            }
        }
        let second = match StoredCertificate::signing_second(certificates, now) {
            Ok(c) => c,
            Err(why) => {
                return Ok(Err((
                    LoginRefusal::NoSecondCertificate,
                    format!("holder {} {why}", holder.username),
                )))
            }
        };
        if let Some(id) = device_id {
            let active = self.devices.is_active(holder, id).await?;
            if !active {
                return Ok(Err((
                    LoginRefusal::LoginEnded,
                    format!("the device credential {id} used to sign in was deleted or stopped"),
                )));
            }
        }
        Ok(Ok(second))
    }
}

/// The claims a scope releases: `profile` the names, `hpki` the HPKI identity.
fn add_claims(claims: &mut Value, scope: &str, holder: &Holder) {
    let scopes: Vec<&str> = scope.split(' ').collect();
    if scopes.contains(&"profile") {
        claims["name"] = json!(holder.name_kanji.written());
        claims["family_name"] = json!(holder.name_kanji.family());
        if let Some(g) = holder.name_kanji.given() {
            claims["given_name"] = json!(g);
        }
        claims["preferred_username"] = json!(holder.username.to_string());
    }
    if scopes.contains(&"hpki") {
        claims["hpki_username"] = json!(holder.username.to_string());
        claims["registry_number"] = json!(holder.username.registry_number().as_str());
        claims["qualification"] = json!(holder.qualification.code());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_values_are_checked() {
        assert!(pkce_value(&"a".repeat(43)));
        assert!(pkce_value(&"-._~".repeat(11)));
        assert!(!pkce_value(&"a".repeat(42)));
        assert!(!pkce_value(&"a".repeat(129)));
        assert!(!pkce_value(&format!("{}+", "a".repeat(43))));
    }
}
