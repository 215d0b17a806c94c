//! The sheet's registration URL `/r/{token}` (manual 1.2 (2)-(3)) and the start of the
//! registration site. Handlers are thin: limit, check the form, call the sheet service, render.

use std::time::Instant;

use axum::extract::rejection::FormRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use hpki_core::audit::Actor;
use hpki_core::secret;
use hpki_core::services::{
    PasswordCheck, Registration, RegistrationLookup, SheetLookup, SheetService,
    REGISTRATION_SESSION_MINUTES,
};
use hpki_core::Error;
use serde::Deserialize;

use crate::client::{cookie, ClientAddr};
use crate::error::{ApiError, PageError};
use crate::pages::{self, PasswordProblem};
use crate::{AppState, HolderPages};

const CSRF: &str = "hpki-csrf";
const SESSION: &str = "hpki-reg";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/r/{token}",
            get(show)
                .post(submit)
                // Enough for any real form; a 10 KB password still reaches the check that
                // refuses it without counting.
                .layer(DefaultBodyLimit::max(32 * 1024)),
        )
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
        .route("/static/site.css", get(css))
        .route("/static/register.js", get(register_js))
        .route("/static/copy.js", get(copy_js))
        .route("/static/signin.js", get(signin_js))
}

async fn signin_js() -> Response {
    script(include_str!("../../static/signin.js"))
}

fn script(body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn register_js() -> Response {
    script(include_str!("../../static/register.js"))
}

async fn copy_js() -> Response {
    script(include_str!("../../static/copy.js"))
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/site.css"),
    )
        .into_response()
}

/// The form's CSRF value: the browser's cookie if it has one, else a new one to set.
fn csrf_value(
    headers: &HeaderMap,
    pages: &HolderPages,
) -> Result<(String, Option<HeaderValue>), Error> {
    let name = pages.cookies.name(CSRF);
    match cookie(headers, &name) {
        Some(v) if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok((v.to_owned(), None))
        }
        _ => {
            let v = secret::new_token("")?;
            let set = pages.cookies.set(CSRF, &v, 3600);
            Ok((v, Some(set)))
        }
    }
}

fn with_cookie(page: impl IntoResponse, set: Option<HeaderValue>) -> Response {
    let mut resp = page.into_response();
    if let Some(v) = set {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

fn for_lookup(
    lookup: SheetLookup,
    token: &str,
    csrf: &str,
    max_attempts: u32,
    problem: Option<PasswordProblem>,
) -> pages::Page {
    match lookup {
        SheetLookup::Active { remaining } => {
            pages::password_form(token, csrf, remaining, max_attempts, problem)
        }
        SheetLookup::Unusable(state) => pages::unusable_sheet(state),
        SheetLookup::Unknown => pages::unknown_sheet(),
    }
}

/// The password screen, or the page that says why the sheet cannot be used.
async fn show(
    State(sheets): State<SheetService>,
    State(pages): State<HolderPages>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let lookup = sheets.lookup(&token).await?;
    if !matches!(lookup, SheetLookup::Active { .. }) {
        return Ok(for_lookup(lookup, &token, "", 0, None).into_response());
    }
    // An in-app or other browser cannot register: say so before the password is typed, with
    // this address to copy into Safari / Chrome (the token is still in it here).
    if let Some(page) = wrong_browser(&headers, Some(&format!("{}/r/{token}", pages.public_url))) {
        return Ok(page.into_response());
    }
    let (csrf, set) = csrf_value(&headers, &pages)?;
    let page = for_lookup(lookup, &token, &csrf, sheets.max_attempts(), None);
    Ok(with_cookie(page, set))
}

#[derive(Deserialize)]
struct PasswordForm {
    csrf: Option<String>,
    password: Option<String>,
}

/// The password check: the address's rate limit first (before any lookup or hashing), then
/// the CSRF check, then the sheet service.
async fn submit(
    State(sheets): State<SheetService>,
    State(pages): State<HolderPages>,
    ClientAddr(ip): ClientAddr,
    Path(token): Path<String>,
    headers: HeaderMap,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Result<Response, PageError> {
    if let Err(wait) = pages.limiter.take(ip, Instant::now()) {
        let mut resp = pages::rate_limited(wait.as_secs()).into_response();
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        tracing::warn!(client = %ip, "password attempts rate-limited");
        return Ok(resp);
    }
    let max = sheets.max_attempts();
    let form = match form {
        Ok(Form(f)) => f,
        Err(_) => PasswordForm {
            csrf: None,
            password: None,
        },
    };
    let expected = cookie(&headers, &pages.cookies.name(CSRF)).unwrap_or("");
    let sent = form.csrf.as_deref().unwrap_or("");
    if expected.is_empty() || !secret::ct_eq(expected.as_bytes(), sent.as_bytes()) {
        return Ok(pages::stale_form(&token).into_response());
    }
    let password = form.password.unwrap_or_default();
    let password = password.trim();
    if password.is_empty() {
        let lookup = sheets.lookup(&token).await?;
        return Ok(
            for_lookup(lookup, &token, sent, max, Some(PasswordProblem::Missing)).into_response(),
        );
    }
    let actor = Actor::client(&ip.to_string());
    match sheets.check_password(&actor, &token, password).await {
        Ok(PasswordCheck::Accepted { session, .. }) => {
            // A new session lasts this long from now (the service's clock decides when it
            // ends; the cookie only need not outlive it).
            let secs = REGISTRATION_SESSION_MINUTES * 60;
            let mut resp = Redirect::to("/register").into_response();
            resp.headers_mut().append(
                header::SET_COOKIE,
                pages.cookies.set(SESSION, &session, secs),
            );
            Ok(resp)
        }
        Ok(PasswordCheck::Wrong { remaining }) => Ok(pages::password_form(
            &token,
            sent,
            remaining,
            max,
            Some(PasswordProblem::Wrong { remaining }),
        )
        .into_response()),
        Ok(PasswordCheck::Unusable(state)) => Ok(pages::unusable_sheet(state).into_response()),
        Ok(PasswordCheck::Unknown) => Ok(pages::unknown_sheet().into_response()),
        Err(Error::Invalid(_)) => {
            let lookup = sheets.lookup(&token).await?;
            Ok(
                for_lookup(lookup, &token, sent, max, Some(PasswordProblem::TooLong))
                    .into_response(),
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// The SignIn screen (manual 1.2 (4)), for the browser whose password was accepted. Username
/// comes from the registration itself, so it is filled in on every visit.
async fn sign_in(
    State(pages): State<HolderPages>,
    Registered(reg): Registered,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let (csrf, set) = csrf_value(&headers, &pages)?;
    Ok(with_cookie(
        pages::sign_in(&reg.holder.username.to_string(), &csrf),
        set,
    ))
}

fn user_agent(headers: &HeaderMap) -> &str {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn wrong_browser(headers: &HeaderMap, url: Option<&str>) -> Option<pages::Page> {
    use hpki_passkey::agent::{self, Browser, Platform};
    let ua = user_agent(headers);
    let name = match agent::browser(ua) {
        Browser::InApp(n) => format!("{n} のアプリ内ブラウザ"),
        Browser::Other(n) => n.to_owned(),
        Browser::Supported | Browser::Unknown => return None,
    };
    Some(pages::wrong_browser(
        &name,
        agent::platform(ua) == Platform::Ios,
        url,
    ))
}

/// The registration behind the browser's session cookie. Without one, the handler is not
/// reached: the browser gets the page that says why (no session, or the sheet ended meanwhile).
struct Registered(Registration);

async fn registration(
    sheets: &SheetService,
    pages: &HolderPages,
    headers: &HeaderMap,
) -> Result<Result<Registration, pages::Page>, Error> {
    let session = cookie(headers, &pages.cookies.name(SESSION)).unwrap_or("");
    Ok(match sheets.registration(session).await? {
        RegistrationLookup::Open(r) => Ok(*r),
        RegistrationLookup::SheetEnded(state) => Err(pages::unusable_sheet(state)),
        RegistrationLookup::None => Err(pages::no_registration()),
    })
}

impl FromRequestParts<AppState> for Registered {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match registration(&state.sheets, &state.holder_pages, &parts.headers).await {
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
        let pages = &state.holder_pages;
        let sent = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !csrf_matches(&parts.headers, pages, sent) {
            return Err(ApiError(Error::Unauthenticated));
        }
        registration(&state.sheets, pages, &parts.headers)
            .await?
            .map(Self)
            .map_err(|_| ApiError(Error::Unauthenticated))
    }
}

fn csrf_matches(headers: &HeaderMap, pages: &HolderPages, sent: &str) -> bool {
    let expected = cookie(headers, &pages.cookies.name(CSRF)).unwrap_or("");
    !expected.is_empty() && secret::ct_eq(expected.as_bytes(), sent.as_bytes())
}

#[derive(Deserialize)]
struct SignInForm {
    csrf: Option<String>,
    username: Option<String>,
}

/// SignIn (manual 1.2 (4)): the Username must be the sheet's holder. A mismatch shows the
/// screen again with the right Username filled in: it is never left empty.
async fn sign_in_submit(
    State(pages): State<HolderPages>,
    Registered(reg): Registered,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Result<Response, PageError> {
    let form = form.map(|Form(f)| f).unwrap_or(SignInForm {
        csrf: None,
        username: None,
    });
    let username = reg.holder.username.to_string();
    let (csrf, set) = csrf_value(&headers, &pages)?;
    if !csrf_matches(&headers, &pages, form.csrf.as_deref().unwrap_or("")) {
        return Ok(with_cookie(pages::sign_in(&username, &csrf), set));
    }
    let typed = form.username.unwrap_or_default();
    if !typed.trim().eq_ignore_ascii_case(&username) {
        return Ok(with_cookie(pages::sign_in_mismatch(&username, &csrf), set));
    }
    Ok(Redirect::to("/register/start").into_response())
}

/// The registration start screen: "Register", or "Sign In" when a device is registered.
async fn start(
    State(devices): State<hpki_passkey::DeviceService>,
    State(pages): State<HolderPages>,
    Registered(reg): Registered,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    if let Some(page) = wrong_browser(&headers, None) {
        return Ok(page.into_response());
    }
    let registered = devices.has_active_device(&reg.holder).await?;
    let (csrf, set) = csrf_value(&headers, &pages)?;
    Ok(with_cookie(
        pages::start(&pages::Start {
            csrf: &csrf,
            registered,
        }),
        set,
    ))
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
        format!("/register/signed-in?device={}", done.device.id)
    } else {
        let device = devices
            .finish_registration(
                &actor,
                &reg.holder,
                &reg.session_hash,
                &body,
                user_agent(&headers),
            )
            .await?;
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
    State(pages): State<HolderPages>,
    Registered(reg): Registered,
    Query(q): Query<DeviceQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let Some(device) = own_device(&devices, &reg, q.device).await? else {
        return Ok(Redirect::to("/register/start").into_response());
    };
    let (csrf, set) = csrf_value(&headers, &pages)?;
    Ok(with_cookie(
        pages::label(device.id, &device.label, &csrf),
        set,
    ))
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
    State(pages): State<HolderPages>,
    Registered(reg): Registered,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    form: Result<Form<LabelForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Ok(Form(form)) = form else {
        return Ok(Redirect::to("/register/done").into_response());
    };
    if !csrf_matches(&headers, &pages, form.csrf.as_deref().unwrap_or("")) {
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
                let (csrf, set) = csrf_value(&headers, &pages)?;
                let mut page = pages::label(device.id, &device.label, &csrf);
                page.status = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
                return Ok(with_cookie(page, set));
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

/// For tests of the status table: a page's status is what the manual's situation calls for.
#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use hpki_core::domain::sheet::SheetState;

    #[test]
    fn every_unusable_state_has_its_own_page_and_status() {
        let mut titles = std::collections::HashSet::new();
        for (state, status) in [
            (SheetState::Locked, StatusCode::LOCKED),
            (SheetState::Expired, StatusCode::GONE),
            (SheetState::Superseded, StatusCode::GONE),
            (SheetState::Revoked, StatusCode::GONE),
        ] {
            let p = pages::unusable_sheet(state);
            assert_eq!(p.status, status, "{state:?}");
            assert!(titles.insert(p.title), "{state:?} shares a page");
        }
        assert_eq!(pages::unknown_sheet().status, StatusCode::NOT_FOUND);
    }
}
