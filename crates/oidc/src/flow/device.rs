//! The device authorization grant (RFC 8628), the holder's side and the relying system's
//! request: the system asks for a device authorization and shows its QR code and user code;
//! the phone that enters the code (one phone per code) gets a sign-in page for that request,
//! where the holder approves with the phone's passkey (the login then hands out the device
//! code as its code, see `login.rs`) or refuses. The polls are `token.rs`'s.

use hpki_core::audit::Action;
use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::domain::csc::CredentialConsent;
use hpki_core::domain::device_grant::{DeviceGrantStage, NewDeviceGrant, UserCode};
use hpki_core::domain::oidc::{
    AuthMethod, Authorization, LoginRefusal, OAuthError, OAuthErrorCode, RelyingParty,
};
use hpki_core::secret::{new_token, token_hash};
use hpki_core::Error;
use serde_json::{json, Value};

use super::{login_refused, oauth, TokenRequest};
use crate::{paths, OidcService};

/// Why a code entered on the phone opens nothing. The page says each in Japanese and English.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceCodeRefusal {
    /// Not 8 letters of the code's alphabet.
    Unreadable,
    /// No request has this code now: mistyped, expired, refused, or its system disabled.
    Unknown,
    /// Another phone (or this one, earlier) entered it: one phone per code.
    Used,
}

/// The phone's sign-in page for a device authorization.
pub struct DeviceLogin {
    /// The browser's login token (the cookie), as for the code flow's login page.
    pub login_token: String,
    pub client_name: String,
    /// The code as the PC shows it, to compare.
    pub user_code: String,
    /// Whether the system asks to have signatures made (scope `service`).
    pub signing: bool,
    /// For `scope=credential` (SCAL2): the signatures the holder is asked to approve.
    pub consent: Option<CredentialConsent>,
    /// The first options for `navigator.credentials.get()`.
    pub options: Option<Value>,
}

impl OidcService {
    /// A relying system's device authorization request (RFC 8628 §3.1), authenticated as at
    /// the token endpoint: the codes and where the phone goes.
    pub async fn device_authorization(
        &self,
        r: &TokenRequest,
        basic: Option<(String, String)>,
    ) -> Result<Value, Error> {
        use OAuthErrorCode as C;
        let endpoint = self.settings.endpoint(paths::DEVICE_AUTHORIZATION);
        let client = match self.authenticate_client(&endpoint, r, basic).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "a device authorization request whose client did not authenticate was refused");
                return Err(e);
            }
        };
        if !client.methods.allows(AuthMethod::Passkey) {
            return Err(oauth(
                C::UnauthorizedClient,
                "the holder approves a device authorization with the registered phone's passkey, \
                 and this relying system does not take passkey sign-ins",
            ));
        }
        let (scope, consent) = device_scope(r, &client).map_err(Error::OAuth)?;
        let now = self.clock.now();
        let device_code = new_token("hdc_")?;
        let expires_at = now + self.settings.device_grant;
        // A user code still in the table (even an old one) is drawn again.
        for _ in 0..5 {
            let user_code = UserCode::generate()?;
            let grant = NewDeviceGrant {
                device_code_hash: token_hash(&device_code),
                user_code_hash: user_code.hash(),
                client_id: client.client_id.clone(),
                scope: scope.clone(),
                created_at: now,
                expires_at,
                interval_secs: self.settings.device_poll_secs,
                consent: consent.clone(),
            };
            if self.store.insert_device_grant(&grant).await? {
                let verification = self.settings.endpoint(paths::DEVICE);
                return Ok(json!({
                    "device_code": device_code,
                    "user_code": user_code.display(),
                    "verification_uri": verification,
                    "verification_uri_complete": format!("{verification}?user_code={}", user_code.as_str()),
                    "expires_in": self.settings.device_grant.num_seconds(),
                    "interval": self.settings.device_poll_secs,
                }));
            }
        }
        Err(Error::Internal("no free user code in five draws".into()))
    }

    /// The phone enters a user code (typed, or from the QR code's address): the sign-in page
    /// for its request, bound to this phone's browser (`current_login`, its login cookie, when
    /// it entered the code before: the page again); or why not.
    pub async fn device_entry(
        &self,
        typed: &str,
        current_login: Option<&str>,
    ) -> Result<Result<DeviceLogin, DeviceCodeRefusal>, Error> {
        let Some(user_code) = UserCode::typed(typed) else {
            return Ok(Err(DeviceCodeRefusal::Unreadable));
        };
        let now = self.clock.now();
        let token = new_token("hsl_")?;
        let entered = self
            .store
            .enter_device_grant(&user_code.hash(), &token_hash(&token), now)
            .await?;
        let (a, login_token) = match entered {
            Some(a) => (a, token),
            None => match self.entered_before(&user_code, current_login).await? {
                Ok(mine) => mine,
                Err(refused) => return Ok(Err(refused)),
            },
        };
        let Some(client) = self.active_client(a.request.client_id.as_str()).await? else {
            return Ok(Err(DeviceCodeRefusal::Unknown));
        };
        Ok(Ok(DeviceLogin {
            login_token,
            client_name: client.name,
            user_code: user_code.display(),
            signing: a
                .request
                .scope
                .split(' ')
                .any(|s| s == crate::SERVICE_SCOPE),
            options: self.first_options(&a.request.login_hash).await,
            consent: a.request.consent,
        }))
    }

    /// A user code that opened no new login: this browser's own login for it (a reload,
    /// another language) and its token, or why not.
    async fn entered_before(
        &self,
        user_code: &UserCode,
        current_login: Option<&str>,
    ) -> Result<Result<(Authorization, String), DeviceCodeRefusal>, Error> {
        let now = self.clock.now();
        let grant = self
            .store
            .device_grant_by_user_code(&user_code.hash())
            .await?;
        let Some(grant) = grant.filter(|g| g.stage(now) == DeviceGrantStage::Entered) else {
            // Unknown, refused or over.
            return Ok(Err(DeviceCodeRefusal::Unknown));
        };
        let Some(token) = current_login else {
            return Ok(Err(DeviceCodeRefusal::Used));
        };
        Ok(match self.waiting_login(token).await {
            Ok(a) if Some(a.id) == grant.authorization_id => Ok((a, token.to_owned())),
            _ => Err(DeviceCodeRefusal::Used),
        })
    }

    /// The first passkey options a sign-in page carries (the script asks for new ones when
    /// they age, or when they are missing).
    pub(super) async fn first_options(&self, login_hash: &str) -> Option<Value> {
        match self.devices.begin_login(login_hash).await {
            Ok(o) => Some(o),
            Err(e) => {
                tracing::warn!(error = %e, "the sign-in page goes out without its first options");
                None
            }
        }
    }

    /// The holder refuses on the phone: the relying system's polls then answer
    /// `access_denied`.
    pub async fn device_deny(&self, actor: &Actor, login_token: &str) -> Result<(), Error> {
        let a = self.waiting_login(login_token).await?;
        let ended = || {
            login_refused(
                LoginRefusal::LoginEnded,
                "this request was answered already, or it has expired",
            )
        };
        let grant = match &a.code_hash {
            Some(device_code) => self.store.device_grant_by_code(device_code).await?,
            None => None,
        }
        .ok_or_else(ended)?;
        let now = self.clock.now();
        let event = AuditEvent::new(
            now,
            actor,
            Action::OIDC_DEVICE_DENIED,
            a.request.client_id.to_string(),
            json!({ "device_grant": grant.id, "authorization": a.id }),
        );
        if self.store.deny_device_grant(grant.id, now, &event).await? {
            Ok(())
        } else {
            Err(ended())
        }
    }
}

/// The scope of a device authorization: `credential` alone (SCAL2: the signatures asked for
/// are approved on the phone, for a relying system registered for it), or the known scopes
/// asked for, `openid` among them, and `service` only for a relying system that may sign.
fn device_scope(
    r: &TokenRequest,
    client: &RelyingParty,
) -> Result<(String, Option<CredentialConsent>), OAuthError> {
    use OAuthErrorCode as C;
    let asked = r.scope.as_deref().unwrap_or("");
    if asked.split(' ').any(|s| s == crate::CREDENTIAL_SCOPE) {
        if !client.signing.consent {
            return Err(OAuthError::new(
                C::InvalidScope,
                "this relying system may not ask holders to approve signatures (scope \
                 credential): it is registered without SCAL2 signing",
            ));
        }
        let consent = CredentialConsent::parse(&r.consent)
            .map_err(|e| OAuthError::new(C::InvalidRequest, e))?;
        return Ok((crate::CREDENTIAL_SCOPE.to_owned(), Some(consent)));
    }
    let scope: Vec<&str> = asked
        .split(' ')
        .filter(|s| crate::SCOPES.contains(s))
        .collect();
    super::scope_refusal(&scope, client).map_err(|why| OAuthError::new(C::InvalidScope, why))?;
    Ok((scope.join(" "), None))
}
