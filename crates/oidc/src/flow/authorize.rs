//! A relying system's authorization request: checked, refused (to a page, or back to its
//! redirect URI), or turned into a login waiting for the holder.

use hpki_core::domain::csc::{ConsentRequest, CredentialConsent};
use hpki_core::domain::oidc::{
    AuthMethod, Grant, NewAuthorization, OAuthError, OAuthErrorCode, RedirectUri, RelyingParty,
};
use hpki_core::secret::{new_token, token_hash};
use hpki_core::Error;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{oauth, pkce_value, TokenRequest};
use crate::OidcService;

/// The longest `state` and `nonce` taken (they come back in redirects and tokens).
const MAX_ECHOED: usize = 1024;

/// The query of an authorization request (or the form of a pushed one), unchecked.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct AuthorizeRequest {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub acr_values: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
    /// CSC `oauth2/authorize` with `scope=credential` (SCAL2): what the holder authorizes.
    #[serde(flatten)]
    pub consent: ConsentRequest,
}

/// Why an authorization request goes no further.
#[derive(Debug)]
pub enum AuthorizeRefusal {
    /// The client or its redirect URI cannot be trusted: never redirect, show this.
    NoRedirect(String),
    /// An error for the relying system, sent to its redirect URI (`to`, which carries it).
    Redirect { to: String, error: OAuthError },
    /// The service could not decide (database, keystore).
    Service(Error),
}

impl From<Error> for AuthorizeRefusal {
    fn from(e: Error) -> Self {
        Self::Service(e)
    }
}

/// What the login page needs: the browser's login token (for its cookie), whom the holder is
/// signing in to, and the first WebAuthn options (the page's script asks for new ones only
/// when these get old; none if they could not be made now, and the script asks at once).
#[derive(Clone, Debug)]
pub struct LoginPage {
    pub login_token: String,
    pub client_name: String,
    /// Which ways of signing in the relying system takes.
    pub passkey: bool,
    pub card: bool,
    pub options: Option<Value>,
    /// For `scope=credential`: the signatures the holder is asked to authorize.
    pub consent: Option<CredentialConsent>,
}

/// `uri` with the query parameters added (keeping any query it has).
pub(super) fn with_query(uri: &RedirectUri, params: &[(&str, &str)]) -> String {
    match url::Url::parse(uri.as_str()) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            u.to_string()
        }
        Err(_) => uri.as_str().to_owned(),
    }
}

/// How long a pushed request's `request_uri` opens it (RFC 9126 §2.2).
const PUSHED_SECS: i64 = 90;
/// The prefix of a pushed request's `request_uri`.
const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// An authorization request that checked out, before its login is opened.
struct Checked {
    grant: Grant,
    scope: String,
    nonce: Option<String>,
    max_age: Option<i64>,
    consent: Option<CredentialConsent>,
    /// The methods `acr_values` asked for (none: any the relying system takes).
    asked: Vec<AuthMethod>,
}

impl OidcService {
    /// Checks an authorization request, or takes the pushed one its `request_uri` names
    /// (RFC 9126), and opens the login for it.
    pub async fn authorize(&self, r: &AuthorizeRequest) -> Result<LoginPage, AuthorizeRefusal> {
        let client_id = r.client_id.as_deref().unwrap_or("").trim();
        let Some(client) = self.active_client(client_id).await? else {
            return Err(AuthorizeRefusal::NoRedirect(format!(
                "the relying system {client_id:?} is not registered here (or is disabled)"
            )));
        };
        let checked = match r.request_uri.as_deref() {
            Some(uri) if uri.starts_with(REQUEST_URI_PREFIX) => {
                // Until it expires (90 seconds), not once: RFC 9126 §4 lets a reload (or the
                // page's language link) open it again; each opening is a new login.
                let params = self
                    .store
                    .par_request(&token_hash(uri), &client.client_id, self.clock.now())
                    .await
                    .map_err(Error::from)?
                    .ok_or_else(|| {
                        AuthorizeRefusal::NoRedirect(
                            "the request_uri is unknown or has expired: the relying system \
                             pushes its request again"
                                .into(),
                        )
                    })?;
                let pushed: AuthorizeRequest = serde_json::from_str(&params).map_err(|e| {
                    Error::Internal(format!("a pushed authorization request as stored: {e}"))
                })?;
                self.check_request(&client, &pushed, true)?
            }
            _ => self.check_request(&client, r, false)?,
        };
        self.open_login(client, checked).await
    }

    /// A pushed authorization request (RFC 9126): the relying system authenticated as at the
    /// token endpoint, the request checked as at the authorization endpoint, kept for a
    /// moment; the `request_uri` that names it once. Errors are JSON for the relying system.
    pub async fn push_authorization(
        &self,
        auth: &TokenRequest,
        r: &AuthorizeRequest,
        basic: Option<(String, String)>,
    ) -> Result<Value, Error> {
        let endpoint = self.settings.endpoint(crate::paths::PAR);
        let client = self.authenticate_client(&endpoint, auth, basic).await?;
        if r.client_id
            .as_deref()
            .is_some_and(|id| id != client.client_id.as_str())
        {
            return Err(oauth(
                OAuthErrorCode::InvalidRequest,
                "client_id is not the client that authenticated",
            ));
        }
        if r.request_uri.is_some() {
            return Err(oauth(
                OAuthErrorCode::InvalidRequest,
                "a pushed request cannot name a request_uri",
            ));
        }
        self.check_request(&client, r, true)
            .map_err(|refusal| match refusal {
                AuthorizeRefusal::Redirect { error, .. } => Error::OAuth(error),
                AuthorizeRefusal::NoRedirect(why) => oauth(OAuthErrorCode::InvalidRequest, why),
                AuthorizeRefusal::Service(e) => e,
            })?;
        let request_uri = format!("{REQUEST_URI_PREFIX}{}", new_token("")?);
        let params = serde_json::to_string(&AuthorizeRequest {
            client_id: Some(client.client_id.to_string()),
            ..r.clone()
        })
        .map_err(|e| Error::Internal(format!("a pushed authorization request: {e}")))?;
        let now = self.clock.now();
        let expires = now + chrono::Duration::seconds(PUSHED_SECS);
        self.store
            .insert_par_request(
                &token_hash(&request_uri),
                &client.client_id,
                &params,
                expires,
                now,
            )
            .await?;
        Ok(json!({ "request_uri": request_uri, "expires_in": PUSHED_SECS }))
    }

    /// Checks an authorization request of `client` (`pushed`: it came through PAR).
    fn check_request(
        &self,
        client: &RelyingParty,
        r: &AuthorizeRequest,
        pushed: bool,
    ) -> Result<Checked, AuthorizeRefusal> {
        let Some(redirect_uri) = r
            .redirect_uri
            .as_deref()
            .and_then(|u| client.redirect_uris.iter().find_map(|reg| reg.matching(u)))
        else {
            return Err(AuthorizeRefusal::NoRedirect(
                "the redirect_uri is missing or not one registered for this relying system".into(),
            ));
        };
        let state = r.state.as_deref().filter(|s| !s.is_empty());
        let refuse = |code: OAuthErrorCode, description: &str| {
            let mut params = vec![
                ("error", code.as_str()),
                ("error_description", description),
                ("iss", self.settings.issuer()),
            ];
            if let Some(s) = state.filter(|s| s.len() <= MAX_ECHOED) {
                params.push(("state", s));
            }
            AuthorizeRefusal::Redirect {
                to: with_query(&redirect_uri, &params),
                error: OAuthError::new(code, description),
            }
        };
        use OAuthErrorCode as C;
        if state.is_some_and(|s| s.len() > MAX_ECHOED) {
            return Err(refuse(C::InvalidRequest, "state is longer than 1024 bytes"));
        }
        if r.request.is_some() || r.request_uri.is_some() {
            return Err(refuse(
                C::InvalidRequest,
                "request objects (request, or a request_uri not pushed here) are not supported",
            ));
        }
        if client.par_required && !pushed {
            return Err(refuse(
                C::InvalidRequest,
                "this relying system pushes its authorization requests (PAR, RFC 9126): send \
                 the request_uri the pushed authorization request endpoint gave",
            ));
        }
        if r.response_type.as_deref() != Some("code") {
            return Err(refuse(
                C::UnsupportedResponseType,
                "only the authorization code flow (response_type=code) is supported",
            ));
        }
        let scope: Vec<&str> = r
            .scope
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|s| crate::SCOPES.contains(s))
            .collect();
        // scope=credential (CSC, SCAL2): the holder authorizes signatures of these hashes;
        // otherwise an OpenID Connect sign-in.
        let consent = if scope.contains(&crate::CREDENTIAL_SCOPE) {
            if !client.signing.consent {
                return Err(refuse(
                    C::InvalidScope,
                    "this relying system may not ask holders to authorize signatures (scope credential): it is registered without SCAL2 signing",
                ));
            }
            Some(CredentialConsent::parse(&r.consent).map_err(|e| refuse(C::InvalidRequest, &e))?)
        } else {
            None
        };
        let scope = if consent.is_some() {
            vec![crate::CREDENTIAL_SCOPE]
        } else {
            scope
        };
        if consent.is_none() {
            super::scope_refusal(&scope, client).map_err(|why| refuse(C::InvalidScope, why))?;
        }
        let Some(challenge) = r.code_challenge.as_deref().filter(|c| pkce_value(c)) else {
            return Err(refuse(
                C::InvalidRequest,
                "PKCE is required: code_challenge (43-128 characters) with code_challenge_method=S256",
            ));
        };
        if r.code_challenge_method.as_deref() != Some("S256") {
            return Err(refuse(
                C::InvalidRequest,
                "code_challenge_method must be S256 (plain is not accepted)",
            ));
        }
        let nonce = r.nonce.as_deref().filter(|n| !n.is_empty());
        if nonce.is_some_and(|n| n.len() > MAX_ECHOED) {
            return Err(refuse(C::InvalidRequest, "nonce is longer than 1024 bytes"));
        }
        let prompts: Vec<&str> = r.prompt.as_deref().unwrap_or("").split(' ').collect();
        if prompts.contains(&"none") {
            // There is no sign-in to reuse: every login is a fresh one.
            return Err(refuse(
                C::LoginRequired,
                "the holder must sign in (every login here is a fresh authentication)",
            ));
        }
        let max_age = match r.max_age.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => match v.parse::<i64>() {
                Ok(n) if n >= 0 => Some(n),
                _ => {
                    return Err(refuse(
                        C::InvalidRequest,
                        "max_age must be a whole number of seconds",
                    ))
                }
            },
        };
        // acr_values (voluntary, OIDC Core 3.1.2.1): the page offers only the methods asked
        // for, among those the relying system takes; unknown values are ignored. The ID
        // token's acr and amr say which one was used.
        let asked: Vec<AuthMethod> = r
            .acr_values
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter_map(AuthMethod::from_acr)
            .collect();
        Ok(Checked {
            grant: Grant::Code {
                redirect_uri,
                state: state.map(str::to_owned),
                code_challenge: challenge.to_owned(),
            },
            scope: scope.join(" "),
            nonce: nonce.map(str::to_owned),
            max_age,
            consent,
            asked,
        })
    }

    /// The login for a checked request: recorded, and its page's first options.
    async fn open_login(
        &self,
        client: RelyingParty,
        c: Checked,
    ) -> Result<LoginPage, AuthorizeRefusal> {
        let now = self.clock.now();
        let login_token = new_token("hsl_")?;
        let request = NewAuthorization {
            login_hash: token_hash(&login_token),
            client_id: client.client_id.clone(),
            grant: c.grant,
            scope: c.scope,
            nonce: c.nonce,
            max_age: c.max_age,
            created_at: now,
            login_expires_at: now + self.settings.login,
            consent: c.consent,
        };
        self.store
            .insert_authorization(&request)
            .await
            .map_err(Error::from)?;
        let offered = |m: AuthMethod| {
            client.methods.allows(m) && (c.asked.is_empty() || c.asked.contains(&m))
        };
        let (passkey, card) = match (offered(AuthMethod::Passkey), offered(AuthMethod::Card)) {
            (false, false) => (
                client.methods.allows(AuthMethod::Passkey),
                client.methods.allows(AuthMethod::Card),
            ),
            both => both,
        };
        let options = match passkey {
            true => self.first_options(&request.login_hash).await,
            false => None,
        };
        Ok(LoginPage {
            login_token,
            client_name: client.name,
            passkey,
            card,
            options,
            consent: request.consent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_keep_the_registered_query() {
        let uri = RedirectUri::parse("https://rp.example.jp/cb?x=1").expect("uri");
        assert_eq!(
            with_query(&uri, &[("code", "a b"), ("state", "s&t")]),
            "https://rp.example.jp/cb?x=1&code=a+b&state=s%26t"
        );
    }
}
