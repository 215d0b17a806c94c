//! The holder's own page, reached two ways with the same screens and actions:
//! - `/register/me`: the browser whose registration session (the sheet) then signed in with a
//!   registered passkey ("Sign In", or the registration itself);
//! - `/me`: any browser, after an OpenID Connect sign-in with the passkey or the HPKI card.
//!   The page is a relying system of this provider (`hpki_oidc::holder_page`): `/me` without a
//!   session sends the browser to the login page with PKCE, `/me/callback` redeems the code
//!   and keeps the access token in an HttpOnly cookie as the page's session (30 minutes at
//!   most, and ended by "sign out of every system").

use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use hpki_core::audit::Actor;
use hpki_core::domain::device::DeviceState;
use hpki_core::domain::{Holder, HolderStatus};
use hpki_core::Error;
use hpki_oidc::holder_page::{PageSession, CALLBACK_PATH, PAGE_PATH, PAGE_SESSION};
use serde::Deserialize;

use crate::client::ClientAddr;
use crate::cookies::SameSite;
use crate::csrf::{Csrf, CsrfOnly};
use crate::error::PageError;
use crate::pages;
use crate::AppState;

/// The `/me` session's cookie (the holder page's access token), and the sign-in's state.
const PAGE_COOKIE: &str = "hpki-me";
const SIGNING_IN: &str = "hpki-me-login";

/// How long the login may take before `/me/callback` no longer knows it.
const SIGNING_IN_SECONDS: i64 = 600;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/register/me", get(holder_page))
        .route("/register/me/lost", post(report_lost))
        .route("/register/me/sign-out", post(sign_out))
        .route(PAGE_PATH, get(holder_page))
        .route(CALLBACK_PATH, get(callback))
        .route("/me/lost", post(report_lost))
        .route("/me/sign-out", post(sign_out))
        .route("/me/leave", post(leave))
}

/// Whose page this browser may see, and through which door.
/// The holder's page on the registration site (after "Sign In"); `/me` is the other door.
const REGISTRATION_BASE: &str = "/register/me";

struct PageAccess {
    holder: Holder,
    /// The device credential signed in with (none: the HPKI card).
    current_device: Option<i64>,
    /// `/register/me` or `/me`: where the page's forms go.
    base: &'static str,
}

/// A browser without access: `/register/me` sends it to the registration site's start
/// screen, `/me` to the sign-in; the pages of a suspended holder or an ended sheet say why.
impl FromRequestParts<AppState> for PageAccess {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if parts.uri.path().starts_with("/register/") {
            let super::register::SignedIn(reg, device) =
                super::register::SignedIn::from_request_parts(parts, state).await?;
            return Ok(Self {
                holder: reg.holder,
                current_device: Some(device),
                base: REGISTRATION_BASE,
            });
        }
        let token = state
            .holder_pages
            .cookies
            .get(&parts.headers, PAGE_COOKIE)
            .unwrap_or("");
        let session = if token.is_empty() {
            None
        } else {
            state
                .oidc
                .holder_page_session(token)
                .await
                .map_err(|e| PageError(e).into_response())?
        };
        match session {
            None if parts.method == axum::http::Method::GET => {
                Err(start_sign_in(state).unwrap_or_else(|e| PageError(e).into_response()))
            }
            None => Err(Redirect::to(PAGE_PATH).into_response()),
            Some(PageSession { holder, .. }) if holder.status == HolderStatus::Suspended => {
                Err(pages::holder_suspended(&state.holder_pages.contact).into_response())
            }
            Some(PageSession { holder, device_id }) => Ok(Self {
                holder,
                current_device: device_id,
                base: PAGE_PATH,
            }),
        }
    }
}

/// Sends the browser to the login page for the holder page (what the callback needs kept in
/// a short-lived cookie).
fn start_sign_in(state: &AppState) -> Result<Response, Error> {
    let sign_in = state.oidc.start_holder_page_sign_in()?;
    let mut resp = Redirect::to(&sign_in.authorize_path).into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        state.holder_pages.cookies.set_with(
            SIGNING_IN,
            &sign_in.kept,
            SIGNING_IN_SECONDS,
            SameSite::Lax,
        ),
    );
    Ok(resp)
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
}

/// The login came back: the state must be this browser's, the code is redeemed (PKCE) and the
/// access token becomes the page's session.
async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddr(ip): ClientAddr,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, PageError> {
    let cookies = state.holder_pages.cookies;
    let failed = || {
        let mut resp = pages::holder_page_sign_in_failed().into_response();
        resp.headers_mut().append(
            header::SET_COOKIE,
            cookies.set_with(SIGNING_IN, "", 0, SameSite::Lax),
        );
        resp
    };
    let token = state
        .oidc
        .finish_holder_page_sign_in(
            &Actor::client(&ip.to_string()),
            cookies.get(&headers, SIGNING_IN),
            q.code,
            q.state.as_deref(),
        )
        .await?;
    let Some(token) = token else {
        return Ok(failed());
    };
    let mut resp = Redirect::to(PAGE_PATH).into_response();
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        cookies.set_with(
            PAGE_COOKIE,
            &token,
            PAGE_SESSION.num_seconds(),
            SameSite::Lax,
        ),
    );
    h.append(
        header::SET_COOKIE,
        cookies.set_with(SIGNING_IN, "", 0, SameSite::Lax),
    );
    Ok(resp)
}

#[derive(Deserialize)]
struct HolderPageQuery {
    lost: Option<i64>,
    signed_out: Option<u64>,
}

/// The holder's own page.
async fn holder_page(
    State(state): State<AppState>,
    access: PageAccess,
    Query(q): Query<HolderPageQuery>,
    csrf: Csrf,
) -> Result<Response, PageError> {
    let holder = &access.holder;
    let second = state
        .ca
        .holder_certificates(holder)
        .await?
        .into_iter()
        .rfind(|c| c.kind == hpki_core::domain::CertificateKind::Second.as_str())
        .map(|c| pages::SecondCertificate {
            serial: c.serial,
            not_after: c.not_after,
            status: c.status.as_str(),
        });
    let devices = state.devices.devices_of(holder).await?;
    let signatures: Vec<pages::SignatureLine> = state
        .csc
        .signatures(&holder.username, None, 20)
        .await?
        .into_iter()
        .map(|s| pages::SignatureLine {
            at: s.at,
            documents: s.hashes.len(),
            consented: s.mode == "scal2",
            system: s.client_name,
        })
        .collect();
    let sessions: Vec<pages::SessionLine> = state
        .oidc
        .active_sessions(holder)
        .await?
        .into_iter()
        .map(|s| pages::SessionLine {
            system: s.client_name,
            card: s.method == Some(hpki_core::domain::oidc::AuthMethod::Card),
            since: s.signed_in_at,
            until: s.expires_at,
        })
        .collect();
    let notice = match (q.lost, q.signed_out) {
        (Some(id), _) => devices
            .iter()
            .find(|d| d.id == id)
            .filter(|d| d.state == DeviceState::ReportedLost)
            .map(|d| {
                pages::reported_lost_notice(&d.label, pages::contact(&state.holder_pages.contact))
            }),
        (None, Some(n)) => Some(pages::signed_out_notice(n)),
        (None, None) => None,
    };
    let name = holder.name_kanji.written();
    let username = holder.username.to_string();
    let page = pages::holder_page(&pages::HolderView {
        name: &name,
        username: &username,
        second,
        devices: &devices,
        current_device: access.current_device,
        signatures: &signatures,
        sessions: &sessions,
        csrf: csrf.value(),
        notice,
        base: access.base,
    });
    Ok(csrf.respond(page))
}

#[derive(Deserialize)]
struct LostForm {
    csrf: Option<String>,
    device: Option<i64>,
    confirm: Option<String>,
}

/// "This phone is lost": a confirmation first, then the device credential stops at once.
async fn report_lost(
    State(state): State<AppState>,
    State(devices): State<hpki_passkey::DeviceService>,
    State(lifecycle): State<hpki_lifecycle::LifecycleService>,
    access: PageAccess,
    ClientAddr(ip): ClientAddr,
    csrf: Csrf,
    form: Result<Form<LostForm>, FormRejection>,
) -> Result<Response, PageError> {
    let back = Redirect::to(access.base).into_response();
    let Ok(Form(form)) = form else {
        return Ok(back);
    };
    if !csrf.matches(form.csrf.as_deref()) {
        return Ok(back);
    }
    let Some(id) = form.device else {
        return Ok(back);
    };
    let Some(device) = devices
        .devices_of(&access.holder)
        .await?
        .into_iter()
        .find(|d| d.id == id)
    else {
        return Ok(back);
    };
    if form.confirm.as_deref() != Some("yes") {
        let page = pages::confirm_lost(device.id, &device.label, csrf.value(), access.base);
        return Ok(csrf.respond(page));
    }
    let actor = Actor::client(&ip.to_string());
    match lifecycle
        .phone_reported_lost(&actor, &access.holder, device.id)
        .await
    {
        // On the registration site the page's session ended with the sheet that opened it:
        // what happened and what to do, on a page of its own.
        Ok((_, Some(_))) if access.base == REGISTRATION_BASE => {
            let contact = pages::contact(&state.holder_pages.contact);
            return Ok(pages::reported_lost_page(&device.label, contact).into_response());
        }
        // Stopped already (by another tab): the page says how it stands.
        Ok(_) | Err(Error::NotFound(_)) | Err(Error::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(Redirect::to(&format!("{}?lost={}", access.base, device.id)).into_response())
}

/// "Sign out of every system": every running signing session of the holder ends at once
/// (on `/me`, the page's own session with them).
async fn sign_out(
    State(state): State<AppState>,
    access: PageAccess,
    ClientAddr(ip): ClientAddr,
    csrf: Csrf,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Result<Response, PageError> {
    if !csrf.matches_form(form) {
        return Ok(Redirect::to(access.base).into_response());
    }
    let actor = Actor::client(&ip.to_string());
    let ended = state
        .oidc
        .end_sessions(
            &actor,
            &access.holder.username,
            "signed out by the holder on their page",
        )
        .await?;
    if access.base == PAGE_PATH {
        // The page's own session ended with the others: said here, not on the page.
        return Ok(without_page_session(
            &state,
            pages::holder_page_signed_out(ended),
        ));
    }
    Ok(Redirect::to(&format!("{}?signed_out={ended}", access.base)).into_response())
}

/// "Sign out of this page" (`/me` only): the page's own session ends; the relying systems'
/// sessions are left as they are.
async fn leave(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddr(ip): ClientAddr,
    csrf: Csrf,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Result<Response, PageError> {
    if !csrf.matches_form(form) {
        return Ok(Redirect::to(PAGE_PATH).into_response());
    }
    let cookies = state.holder_pages.cookies;
    if let Some(token) = cookies.get(&headers, PAGE_COOKIE) {
        state
            .oidc
            .end_holder_page_session(&Actor::client(&ip.to_string()), token)
            .await?;
    }
    Ok(without_page_session(&state, pages::holder_page_left()))
}

/// A page that also drops the `/me` session's cookie.
fn without_page_session(state: &AppState, page: pages::Page) -> Response {
    let mut resp = page.into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        state
            .holder_pages
            .cookies
            .set_with(PAGE_COOKIE, "", 0, SameSite::Lax),
    );
    resp
}
