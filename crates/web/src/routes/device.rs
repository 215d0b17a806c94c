//! The phone's side of the device authorization grant (RFC 8628): `/device` takes the user
//! code (from the QR code's address, or typed) under a per-address limit, and opens the
//! sign-in for the system on the PC; `/device/deny` refuses it; `/device/done` says to go back
//! to the PC. The passkey ceremony itself is the login page's (`/oidc/login/*`, login.js).

use std::time::Instant;

use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use hpki_core::audit::Actor;
use hpki_core::Error;
use hpki_oidc::{paths, OidcService};
use serde::Deserialize;

use crate::client::ClientAddr;
use crate::csrf::{Csrf, CsrfOnly};
use crate::error::PageError;
use crate::{pages, AppState, HolderPages};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::DEVICE, get(open).post(entered))
        .route("/device/deny", post(deny))
        .route(paths::DEVICE_DONE, get(done))
}

#[derive(Deserialize)]
struct CodeQuery {
    user_code: Option<String>,
}

#[derive(Deserialize)]
struct CodeForm {
    csrf: Option<String>,
    user_code: Option<String>,
}

/// The QR code's address (`?user_code=`), or the page to type a code in.
async fn open(
    State(oidc): State<OidcService>,
    State(pages_state): State<HolderPages>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    csrf: Csrf,
    query: Result<Query<CodeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    match query.ok().and_then(|Query(q)| q.user_code) {
        Some(code) => sign_in(&oidc, &pages_state, ip, &headers, csrf, &code).await,
        None => {
            let page = pages::device_entry(csrf.value(), None, false);
            Ok(csrf.respond(page))
        }
    }
}

/// A code typed in.
async fn entered(
    State(oidc): State<OidcService>,
    State(pages_state): State<HolderPages>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    csrf: Csrf,
    form: Result<Form<CodeForm>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.ok().map(|Form(f)| f);
    let sent = form.as_ref().and_then(|f| f.csrf.as_deref());
    if !csrf.matches(sent) {
        // A page older than the browser's cookie: the form again, nothing counted.
        let page = pages::device_entry(csrf.value(), None, false);
        return Ok(csrf.respond(page));
    }
    let code = form.and_then(|f| f.user_code).unwrap_or_default();
    sign_in(&oidc, &pages_state, ip, &headers, csrf, &code).await
}

/// The code's sign-in page: the address's limit first (before any lookup), then the code.
async fn sign_in(
    oidc: &OidcService,
    pages_state: &HolderPages,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    csrf: Csrf,
    code: &str,
) -> Result<Response, PageError> {
    if let Err(wait) = pages_state.device_limiter.take(ip, Instant::now()) {
        tracing::warn!(client = %ip, "device user codes rate-limited");
        let page = csrf.respond(pages::device_entry("", None, true));
        return Ok(crate::ratelimit::retry_after(page, wait));
    }
    let current = pages_state.cookies.get(headers, super::oidc::LOGIN);
    match oidc.device_entry(code, current).await? {
        Ok(login) => {
            let options = login.options.as_ref().map(|o| o.to_string());
            let page = pages::device_login(
                &login,
                csrf.value(),
                options.as_deref(),
                pages::contact(&pages_state.contact),
            );
            let secs = oidc.settings().login.num_seconds();
            let mut resp = csrf.respond(page);
            resp.headers_mut().append(
                header::SET_COOKIE,
                pages_state
                    .cookies
                    .set(super::oidc::LOGIN, &login.login_token, secs),
            );
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(resp)
        }
        Err(refused) => {
            let page = pages::device_entry(csrf.value(), Some(refused), false);
            Ok(csrf.respond(page))
        }
    }
}

/// The holder refuses: the system's polls answer `access_denied`.
async fn deny(
    State(oidc): State<OidcService>,
    State(pages_state): State<HolderPages>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    csrf: Csrf,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Result<Response, PageError> {
    if !csrf.matches_form(form) {
        return Ok(pages::device_denied(true).into_response());
    }
    let token = pages_state
        .cookies
        .get(&headers, super::oidc::LOGIN)
        .unwrap_or("");
    let actor = Actor::client(&ip.to_string());
    match oidc.device_deny(&actor, token).await {
        Ok(()) => Ok(pages::device_denied(false).into_response()),
        Err(Error::Login { .. }) => Ok(pages::device_denied(true).into_response()),
        Err(e) => Err(e.into()),
    }
}

async fn done() -> Response {
    pages::device_done().into_response()
}
