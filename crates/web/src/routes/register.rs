//! The registration site under `/register` (manual 1.2 (4)-(8)): SignIn with the Username
//! filled in, the start screen (Register, or Sign In once a device is registered), the
//! WebAuthn JSON endpoints, the label screen and 「処理が完了しました」. Every handler needs
//! the registration session that the sheet's password opened ([`Registered`]).

use axum::extract::rejection::FormRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use hpki_core::audit::Actor;
use hpki_core::services::{Registration, RegistrationLookup};
use hpki_core::Error;
use serde::Deserialize;

use crate::client::ClientAddr;
use crate::cookies::cookie;
use crate::csrf::Csrf;
use crate::error::{ApiError, PageError};
use crate::pages;
use crate::AppState;

/// The registration session's cookie.
pub(super) const SESSION: &str = "hpki-reg";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/register", get(sign_in))
        .route(
            "/register/signin",
            post(sign_in_submit).get(|| async { Redirect::to("/register") }),
        )
        .route("/register/start", get(start))
        .route("/register/options", post(ceremony_options))
        .route(
            "/register/finish",
            post(ceremony_finish).layer(DefaultBodyLimit::max(64 * 1024)),
        )
        .route("/register/label", get(label_page).post(label_submit))
        .route("/register/done", get(done))
        .route("/register/signed-in", get(signed_in))
}

/// The SignIn screen (manual 1.2 (4)), for the browser whose password was accepted. Username
/// comes from the registration itself, so it is filled in on every visit.
async fn sign_in(Registered(reg): Registered, csrf: Csrf) -> Response {
    let page = pages::sign_in(&reg.holder.username.to_string(), csrf.value());
    csrf.respond(page)
}

fn user_agent(headers: &HeaderMap) -> &str {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

pub(super) fn wrong_browser(headers: &HeaderMap, url: Option<&str>) -> Option<pages::Page> {
    use hpki_passkey::agent::{self, Platform};
    let ua = user_agent(headers);
    let ios = agent::platform(ua) == Platform::Ios;
    let name = crate::words::unsupported_browser(agent::browser(ua), ios)?;
    Some(pages::wrong_browser(&name, ios, url))
}

/// The registration behind the browser's session cookie. Without one, the handler is not
/// reached: the browser gets the page that says why (no session, or the sheet ended meanwhile).
struct Registered(Registration);

async fn registration(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Result<Registration, pages::Page>, Error> {
    let session = cookie(headers, &state.holder_pages.cookies.name(SESSION)).unwrap_or("");
    let contact = &state.holder_pages.contact;
    Ok(match state.registrations.registration(session).await? {
        RegistrationLookup::Open(r) => Ok(*r),
        RegistrationLookup::SheetEnded(ended) => Err(pages::unusable_sheet(ended, contact)),
        RegistrationLookup::HolderSuspended => Err(pages::holder_suspended(contact)),
        RegistrationLookup::None => Err(pages::no_registration()),
    })
}

impl FromRequestParts<AppState> for Registered {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match registration(state, &parts.headers).await {
            Ok(Ok(r)) => Ok(Self(r)),
            Ok(Err(page)) => Err(page.into_response()),
            Err(e) => Err(PageError(e).into_response()),
        }
    }
}

/// The same for the JSON endpoints of the start screen, which also need the `X-CSRF-Token`
/// header; refusals are JSON (401).
struct RegisteredApi(Registration);

impl FromRequestParts<AppState> for RegisteredApi {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let csrf = Csrf::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError(e.0))?;
        if !csrf.matches_header(&parts.headers) {
            return Err(ApiError(Error::Unauthenticated));
        }
        registration(state, &parts.headers)
            .await?
            .map(Self)
            .map_err(|_| ApiError(Error::Unauthenticated))
    }
}

#[derive(Deserialize)]
struct SignInForm {
    csrf: Option<String>,
    username: Option<String>,
}

/// SignIn (manual 1.2 (4)): the Username must be the sheet's holder. A mismatch shows the
/// screen again with the right Username filled in: it is never left empty.
async fn sign_in_submit(
    Registered(reg): Registered,
    csrf: Csrf,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or(SignInForm {
        csrf: None,
        username: None,
    });
    let username = reg.holder.username.to_string();
    if !csrf.matches(form.csrf.as_deref()) {
        let page = pages::sign_in(&username, csrf.value());
        return csrf.respond(page);
    }
    let typed = form.username.unwrap_or_default();
    if !typed.trim().eq_ignore_ascii_case(&username) {
        let page = pages::sign_in_mismatch(&username, csrf.value());
        return csrf.respond(page);
    }
    Redirect::to("/register/start").into_response()
}

/// The registration start screen: "Register", or "Sign In" when a device is registered.
async fn start(
    State(devices): State<hpki_passkey::DeviceService>,
    Registered(reg): Registered,
    headers: HeaderMap,
    csrf: Csrf,
) -> Result<Response, PageError> {
    if let Some(page) = wrong_browser(&headers, None) {
        return Ok(page.into_response());
    }
    let registered = devices.has_active_device(&reg.holder).await?;
    let page = pages::start(&pages::Start {
        csrf: csrf.value(),
        registered,
    });
    Ok(csrf.respond(page))
}

#[derive(Deserialize)]
struct Mode {
    mode: Option<String>,
}

fn is_sign_in(mode: Option<&str>) -> bool {
    mode == Some("signin")
}

/// The options for `navigator.credentials.create()` or `.get()`.
async fn ceremony_options(
    State(devices): State<hpki_passkey::DeviceService>,
    RegisteredApi(reg): RegisteredApi,
    body: Option<Json<Mode>>,
) -> Result<Response, ApiError> {
    let mode = body.and_then(|Json(m)| m.mode);
    let options = if is_sign_in(mode.as_deref()) {
        devices
            .begin_sign_in(&reg.holder, &reg.session_hash)
            .await?
    } else {
        devices
            .begin_registration(&reg.holder, &reg.session_hash)
            .await?
    };
    Ok(Json(options).into_response())
}

/// The authenticator's answer: verified, then where the browser goes next.
async fn ceremony_finish(
    State(devices): State<hpki_passkey::DeviceService>,
    State(registrations): State<hpki_core::services::RegistrationService>,
    RegisteredApi(reg): RegisteredApi,
    ClientAddr(ip): ClientAddr,
    Query(mode): Query<Mode>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let actor = Actor::client(&ip.to_string());
    let next = if is_sign_in(mode.mode.as_deref()) {
        let done = devices
            .finish_sign_in(&actor, &reg.holder, &reg.session_hash, &body)
            .await?;
        // This browser may now see the holder's own page.
        registrations
            .signed_in(&actor, &reg, done.device.id)
            .await?;
        format!("/register/signed-in?device={}", done.device.id)
    } else {
        let device = devices
            .finish_registration(
                &actor,
                &reg.holder,
                &reg.session_hash,
                &body,
                user_agent(&headers),
                crate::words::automatic_label,
            )
            .await?;
        registrations.signed_in(&actor, &reg, device.id).await?;
        format!("/register/label?device={}", device.id)
    };
    Ok(Json(serde_json::json!({ "next": next })).into_response())
}

#[derive(Deserialize)]
struct DeviceQuery {
    device: Option<i64>,
}

/// The holder's device `id`, if it is theirs.
async fn own_device(
    devices: &hpki_passkey::DeviceService,
    reg: &Registration,
    id: Option<i64>,
) -> Result<Option<hpki_core::domain::device::DeviceCredential>, Error> {
    let Some(id) = id else { return Ok(None) };
    Ok(devices
        .devices_of(&reg.holder)
        .await?
        .into_iter()
        .find(|d| d.id == id))
}

/// The label screen (manual 1.2 (7)), filled in with the automatic label.
async fn label_page(
    State(devices): State<hpki_passkey::DeviceService>,
    Registered(reg): Registered,
    Query(q): Query<DeviceQuery>,
    csrf: Csrf,
) -> Result<Response, PageError> {
    let Some(device) = own_device(&devices, &reg, q.device).await? else {
        return Ok(Redirect::to("/register/start").into_response());
    };
    let page = pages::label(device.id, &device.label, csrf.value());
    Ok(csrf.respond(page))
}

#[derive(Deserialize)]
struct LabelForm {
    csrf: Option<String>,
    device: Option<i64>,
    label: Option<String>,
}

/// OK on the label screen: the label is saved (an empty one keeps the automatic label).
async fn label_submit(
    State(devices): State<hpki_passkey::DeviceService>,
    Registered(reg): Registered,
    ClientAddr(ip): ClientAddr,
    csrf: Csrf,
    form: Result<Form<LabelForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Ok(Form(form)) = form else {
        return Ok(Redirect::to("/register/done").into_response());
    };
    if !csrf.matches(form.csrf.as_deref()) {
        return Ok(Redirect::to("/register/start").into_response());
    }
    let Some(device) = own_device(&devices, &reg, form.device).await? else {
        return Ok(Redirect::to("/register/start").into_response());
    };
    let label = form.label.unwrap_or_default();
    let label = label.trim();
    if !label.is_empty() && label != device.label {
        let actor = Actor::client(&ip.to_string());
        if let Err(e) = devices
            .set_label(&actor, &reg.holder, device.id, label)
            .await
        {
            if let Error::Invalid(_) = e {
                let mut page = pages::label(device.id, &device.label, csrf.value());
                page.status = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
                return Ok(csrf.respond(page));
            }
            return Err(e.into());
        }
    }
    Ok(Redirect::to("/register/done").into_response())
}

/// The completion screen, for the browser whose registration it is.
async fn done(_: Registered) -> pages::Page {
    pages::done()
}

async fn signed_in(
    State(devices): State<hpki_passkey::DeviceService>,
    Registered(reg): Registered,
    Query(q): Query<DeviceQuery>,
) -> Result<Response, PageError> {
    Ok(match own_device(&devices, &reg, q.device).await? {
        Some(d) => pages::signed_in(&d.label).into_response(),
        None => Redirect::to("/register/start").into_response(),
    })
}

/// The registration of a browser that signed in with a registered passkey ("Sign In", or the
/// registration itself) in this session; other browsers go to the start screen, whose "Sign
/// In" leads here.
pub(super) struct SignedIn(pub(super) Registration, pub(super) i64);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Registered(reg) = Registered::from_request_parts(parts, state).await?;
        match reg.signed_in_device {
            Some(device) => Ok(Self(reg, device)),
            None => Err(Redirect::to("/register/start").into_response()),
        }
    }
}
