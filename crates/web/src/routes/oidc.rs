//! The OpenID Connect provider's endpoints: discovery and keys, the authorization endpoint
//! (the holder's login page), the login's WebAuthn calls, token, userinfo and revocation.

use axum::extract::{DefaultBodyLimit, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use hpki_core::audit::Actor;
use hpki_core::domain::oidc::{LoginRefusal, OAuthError, OAuthErrorCode};
use hpki_core::Error;
use hpki_oidc::{paths, AuthorizeRefusal, AuthorizeRequest, OidcService, TokenRequest};

use crate::client::ClientAddr;
use crate::csrf::Csrf;
use crate::error::{ApiError, PageError};
use crate::{pages, AppState};

/// The browser's login (one authorization request waiting for the holder).
pub(super) const LOGIN: &str = "hpki-login";

pub fn router() -> Router<AppState> {
    let api = Router::new()
        .route(paths::TOKEN, post(token))
        .route(paths::DEVICE_AUTHORIZATION, post(device_authorization))
        .route(paths::USERINFO, get(userinfo).post(userinfo))
        .route(paths::REVOKE, post(revoke))
        .route(paths::INTROSPECT, post(introspect))
        // The CSC API's OAuth 2.0 endpoints are this provider's (one authorization server).
        .route("/csc/v1/oauth2/token", post(token))
        .route("/csc/v2/oauth2/token", post(token))
        .route("/csc/v1/oauth2/revoke", post(revoke))
        .route("/csc/v2/oauth2/revoke", post(revoke))
        // The CSC specification's clients build `{oauth2}/oauth2/token` from `info`'s
        // `oauth2` (v1) or `oauth2Issuer` (v2), both the issuer.
        .route("/oauth2/token", post(token))
        .route("/oauth2/revoke", post(revoke))
        // A pushed request may carry the labels of 100 documents (percent-encoded kanji).
        .route(
            paths::PAR,
            post(push_authorization).layer(DefaultBodyLimit::max(PAR_BODY_LIMIT)),
        )
        .route(
            "/oauth2/par",
            post(push_authorization).layer(DefaultBodyLimit::max(PAR_BODY_LIMIT)),
        )
        .layer(DefaultBodyLimit::max(16 * 1024))
        .layer(axum::middleware::from_fn(crate::error::api_errors_as_json));
    Router::new()
        .route(paths::DISCOVERY, get(discovery))
        .route(paths::AUTHORIZATION_SERVER_METADATA, get(discovery))
        .route(paths::JWKS, get(jwks))
        .route(paths::AUTHORIZE, get(authorize))
        .route("/csc/v1/oauth2/authorize", get(authorize))
        .route("/csc/v2/oauth2/authorize", get(authorize))
        .route("/oauth2/authorize", get(authorize))
        .route(
            "/oidc/login/options",
            post(login_options).layer(DefaultBodyLimit::max(1024)),
        )
        .route(
            "/oidc/login/finish",
            post(login_finish).layer(DefaultBodyLimit::max(64 * 1024)),
        )
        .merge(api)
}

/// Public, cacheable JSON (the discovery document, the keys).
fn public_json(body: serde_json::Value, max_age: &'static str) -> Response {
    let mut resp = Json(body).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(max_age));
    resp.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    resp
}

async fn discovery(State(oidc): State<OidcService>) -> Response {
    public_json(oidc.discovery(), "public, max-age=3600")
}

async fn jwks(State(oidc): State<OidcService>) -> Result<Response, ApiError> {
    // Short: a rotated key must reach relying systems well within the overlap.
    Ok(public_json(oidc.jwks().await?, "public, max-age=300"))
}

/// The authorization endpoint: a request that can be trusted opens the login page; one that
/// cannot gets a page saying why (never a redirect to an address that is not registered).
async fn authorize(
    State(oidc): State<OidcService>,
    State(pages_state): State<crate::HolderPages>,
    csrf: Csrf,
    request: Result<Query<AuthorizeRequest>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    let Ok(Query(request)) = request else {
        let why = "the request's parameters cannot be read";
        tracing::warn!(reason = why, "an authorization request was refused");
        return Ok(pages::login_request_refused(why).into_response());
    };
    match oidc.authorize(&request).await {
        Ok(login) => {
            let options = login.options.as_ref().map(|o| o.to_string());
            let methods = pages::LoginMethods {
                passkey: login.passkey,
                options: options.as_deref(),
                card_url: login.card.then(|| oidc.settings().issuer()),
            };
            let page = pages::login(
                &login.client_name,
                login.consent.as_ref(),
                csrf.value(),
                methods,
                pages::contact(&pages_state.contact),
            );
            let secs = oidc.settings().login.num_seconds();
            let mut resp = csrf.respond(page);
            resp.headers_mut().append(
                header::SET_COOKIE,
                pages_state.cookies.set(LOGIN, &login.login_token, secs),
            );
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(resp)
        }
        Err(AuthorizeRefusal::NoRedirect(why)) => {
            // Not audited (anyone can send these), but an operator sees them.
            tracing::warn!(reason = %why, "an authorization request was refused");
            Ok(pages::login_request_refused(&why).into_response())
        }
        Err(AuthorizeRefusal::Redirect { to, .. }) => Ok(Redirect::to(&to).into_response()),
        Err(AuthorizeRefusal::Service(e)) => Err(e.into()),
    }
}

/// The login page's JSON calls: the CSRF header must match, and the login cookie names the
/// authorization.
pub(super) struct LoginApi(pub(super) String);

impl FromRequestParts<AppState> for LoginApi {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let csrf = Csrf::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError(e.0))?;
        if !csrf.matches_header(&parts.headers) {
            return Err(ApiError(Error::Login {
                refusal: LoginRefusal::LoginEnded,
                detail: "the page is out of date; open the relying system's sign-in again".into(),
            }));
        }
        let token = state
            .holder_pages
            .cookies
            .get(&parts.headers, LOGIN)
            .unwrap_or("")
            .to_owned();
        Ok(Self(token))
    }
}

async fn login_options(
    State(oidc): State<OidcService>,
    LoginApi(token): LoginApi,
    // Read (and ignored): a body left unread makes hyper close the keep-alive connection
    // after the answer, and the page's next POST (the finish) fails on a dead connection.
    _body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    Ok(Json(oidc.login_options(&token).await?).into_response())
}

async fn login_finish(
    State(oidc): State<OidcService>,
    LoginApi(token): LoginApi,
    ClientAddr(ip): ClientAddr,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let actor = Actor::client(&ip.to_string());
    let redirect = oidc.login_finish(&actor, &token, &body).await?;
    Ok(Json(serde_json::json!({ "redirect": redirect })).into_response())
}

/// HTTP Basic client authentication (RFC 6749 2.3.1: the parts form-urlencoded).
fn basic_auth(headers: &HeaderMap) -> Result<Option<(String, String)>, Error> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || {
        Error::OAuth(OAuthError::new(
            OAuthErrorCode::InvalidClient,
            "the Authorization header is not HTTP Basic with client_id:client_secret",
        ))
    };
    let value = value.to_str().map_err(|_| bad())?;
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return Err(bad());
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

/// Token responses are never cached (RFC 6749 5.1).
fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// A relying system's call to the token or revocation endpoint: who sends it (for the audit
/// log), the form, and HTTP Basic client credentials if any. A body that is not the form is
/// `invalid_request`; a malformed Basic header `invalid_client`.
struct ClientCall {
    actor: Actor,
    request: TokenRequest,
    basic: Option<(String, String)>,
    /// The request's DPoP proof, if it has one, and what it is checked against.
    dpop: hpki_oidc::dpop::DpopRequest,
}

impl axum::extract::FromRequest<AppState> for ClientCall {
    type Rejection = Response;

    async fn from_request(
        request: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let ClientAddr(ip) = ClientAddr::from_request_parts(&mut parts, state).await?;
        let basic = basic_auth(&parts.headers).map_err(|e| ApiError(e).into_response())?;
        let dpop = crate::extract::dpop_request(&parts);
        let request = axum::extract::Request::from_parts(parts, body);
        let Form(form) = Form::<TokenRequest>::from_request(request, state)
            .await
            .map_err(|e| {
                ApiError(Error::OAuth(OAuthError::new(
                    OAuthErrorCode::InvalidRequest,
                    format!("the request must be an application/x-www-form-urlencoded form: {e}"),
                )))
                .into_response()
            })?;
        Ok(Self {
            actor: Actor::client(&ip.to_string()),
            request: form,
            basic,
            dpop,
        })
    }
}

async fn token(State(oidc): State<OidcService>, call: ClientCall) -> Response {
    let tokens = oidc
        .token(&call.actor, &call.request, call.basic, &call.dpop)
        .await;
    no_store(match tokens {
        Ok(body) => Json(body).into_response(),
        Err(e) => crate::error::token_endpoint_error(e),
    })
}

/// RFC 8628 3.1: a relying system asks for a device authorization (authenticated as at the
/// token endpoint).
async fn device_authorization(State(oidc): State<OidcService>, call: ClientCall) -> Response {
    let answer = oidc.device_authorization(&call.request, call.basic).await;
    no_store(match answer {
        Ok(body) => Json(body).into_response(),
        Err(e) => crate::error::token_endpoint_error(e),
    })
}

/// The largest pushed authorization request taken.
const PAR_BODY_LIMIT: usize = 256 * 1024;

/// RFC 9126: a relying system pushes an authorization request (its client authentication and
/// the request's parameters in one form); 201 with the `request_uri` to send the browser with.
async fn push_authorization(
    State(oidc): State<OidcService>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let parsed = (
        serde_urlencoded::from_bytes::<TokenRequest>(&body),
        serde_urlencoded::from_bytes::<AuthorizeRequest>(&body),
        basic_auth(&headers),
    );
    let answer = match parsed {
        (Ok(auth), Ok(request), Ok(basic)) if is_form => {
            oidc.push_authorization(&auth, &request, basic).await
        }
        (_, _, Err(e)) => Err(e),
        _ => Err(Error::OAuth(OAuthError::new(
            OAuthErrorCode::InvalidRequest,
            "the request must be an application/x-www-form-urlencoded form",
        ))),
    };
    no_store(match answer {
        Ok(body) => (StatusCode::CREATED, Json(body)).into_response(),
        Err(e) => crate::error::token_endpoint_error(e),
    })
}

/// RFC 7662: a relying system's resource server asks about one of its access tokens.
async fn introspect(State(oidc): State<OidcService>, call: ClientCall) -> Response {
    no_store(match oidc.introspect(&call.request, call.basic).await {
        Ok(body) => Json(body).into_response(),
        Err(e) => crate::error::token_endpoint_error(e),
    })
}

async fn userinfo(
    State(oidc): State<OidcService>,
    parts: axum::http::request::Parts,
) -> Result<Response, ApiError> {
    let Some(access) = crate::extract::access_token(&parts) else {
        let mut resp = StatusCode::UNAUTHORIZED.into_response();
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(crate::error::CHALLENGES),
        );
        return Ok(resp);
    };
    match oidc.userinfo(&access).await {
        Ok(claims) => Ok(no_store(Json(claims).into_response())),
        Err(Error::OAuth(e)) if e.code == OAuthErrorCode::InvalidToken => {
            let mut resp = ApiError(Error::OAuth(e)).into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            Ok(resp)
        }
        Err(Error::OAuth(e)) if e.code == OAuthErrorCode::InsufficientScope => {
            let mut resp = ApiError(Error::OAuth(e)).into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"insufficient_scope\", scope=\"openid\""),
            );
            Ok(resp)
        }
        Err(e) => Err(e.into()),
    }
}

async fn revoke(State(oidc): State<OidcService>, call: ClientCall) -> Response {
    match oidc
        .revoke(&call.actor, &call.request, call.basic, &call.dpop)
        .await
    {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => crate::error::token_endpoint_error(e),
    }
}
