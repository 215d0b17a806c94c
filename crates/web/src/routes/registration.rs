//! The sheet's registration URL `/r/{token}` (manual 1.2 (2)-(3)) and the start of the
//! registration site. Handlers are thin: limit, check the form, call the sheet service, render.

use std::time::Instant;

use axum::extract::rejection::FormRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use hpki_core::audit::Actor;
use hpki_core::secret;
use hpki_core::services::{PasswordCheck, RegistrationLookup, SheetLookup, SheetService};
use hpki_core::Error;
use serde::Deserialize;

use crate::client::{cookie, ClientAddr};
use crate::error::PageError;
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
        .route("/static/site.css", get(css))
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
            let mut raw = [0u8; 32];
            secret::os_random(&mut raw)?;
            let v = hex_string(&raw);
            let set = pages.cookies.set(CSRF, &v, 3600);
            Ok((v, Some(set)))
        }
    }
}

fn hex_string(raw: &[u8]) -> String {
    raw.iter().map(|b| format!("{b:02x}")).collect()
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
        Ok(PasswordCheck::Accepted {
            session,
            expires_at,
        }) => {
            let secs = (expires_at - chrono::Utc::now()).num_seconds().max(60);
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
    State(sheets): State<SheetService>,
    State(pages): State<HolderPages>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let session = cookie(&headers, &pages.cookies.name(SESSION)).unwrap_or("");
    match sheets.registration(session).await? {
        RegistrationLookup::Open(r) => {
            let (csrf, set) = csrf_value(&headers, &pages)?;
            Ok(with_cookie(
                pages::sign_in(&r.holder.username.to_string(), &csrf),
                set,
            ))
        }
        RegistrationLookup::SheetEnded(state) => Ok(pages::unusable_sheet(state).into_response()),
        RegistrationLookup::None => Ok(pages::no_registration().into_response()),
    }
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
