//! The sheet's registration URL `/r/{token}` (manual 1.2 (2)-(3)): the password screen, or the
//! page that says why the sheet cannot be used. Thin: the address's rate limit, the CSRF
//! check, then the registration service, which holds the rule (five wrong passwords lock).

use std::time::Instant;

use axum::extract::rejection::FormRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use hpki_core::audit::Actor;
use hpki_core::domain::sheet::SheetToken;
use hpki_core::services::{
    PasswordCheck, RegistrationService, SheetLookup, REGISTRATION_SESSION_MINUTES,
};
use serde::Deserialize;

use super::register::{wrong_browser, SESSION};
use crate::client::ClientAddr;
use crate::csrf::Csrf;
use crate::error::PageError;
use crate::pages::{self, PasswordProblem};
use crate::{AppState, HolderPages};

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/r/{token}",
        get(show)
            .post(submit)
            // Enough for any real form; a 10 KB password still reaches the check that
            // refuses it without counting.
            .layer(DefaultBodyLimit::max(32 * 1024)),
    )
}

fn for_lookup(
    holder_pages: &HolderPages,
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
        SheetLookup::Unusable(state) => pages::unusable_sheet(state, &holder_pages.contact),
        SheetLookup::Unknown => pages::unknown_sheet(&holder_pages.contact),
        SheetLookup::HolderSuspended => pages::holder_suspended(&holder_pages.contact),
    }
}

/// The password screen, or the page that says why the sheet cannot be used.
async fn show(
    State(registrations): State<RegistrationService>,
    State(pages): State<HolderPages>,
    Path(raw): Path<String>,
    headers: axum::http::HeaderMap,
    csrf: Csrf,
) -> Result<Response, PageError> {
    // A malformed token is answered like one that never existed.
    let Ok(sheet) = SheetToken::parse(&raw) else {
        return Ok(pages::unknown_sheet(&pages.contact).into_response());
    };
    let token = sheet.expose();
    let lookup = registrations.lookup(&sheet).await?;
    if !matches!(lookup, SheetLookup::Active { .. }) {
        return Ok(for_lookup(&pages, lookup, token, "", 0, None).into_response());
    }
    // An in-app or other browser cannot register: say so before the password is typed, with
    // this address to copy into Safari / Chrome (the token is still in it here).
    let here = pages.public_url.sheet_url(&sheet);
    if let Some(page) = wrong_browser(&headers, Some(&here)) {
        return Ok(page.into_response());
    }
    let max = registrations.attempt_limit().get();
    let page = for_lookup(&pages, lookup, token, csrf.value(), max, None);
    Ok(csrf.respond(page))
}

#[derive(Deserialize)]
struct PasswordForm {
    csrf: Option<String>,
    password: Option<String>,
}

/// The password check: the address's rate limit first (before any lookup or hashing), then
/// the CSRF check, then the registration service.
async fn submit(
    State(registrations): State<RegistrationService>,
    State(pages): State<HolderPages>,
    ClientAddr(ip): ClientAddr,
    Path(raw): Path<String>,
    csrf: Csrf,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Result<Response, PageError> {
    if let Err(wait) = pages.limiter.take(ip, Instant::now()) {
        tracing::warn!(client = %ip, "password attempts rate-limited");
        let page = pages::rate_limited(wait.as_secs()).into_response();
        return Ok(crate::ratelimit::retry_after(page, wait));
    }
    let max = registrations.attempt_limit().get();
    let form = match form {
        Ok(Form(f)) => f,
        Err(_) => PasswordForm {
            csrf: None,
            password: None,
        },
    };
    let Ok(sheet) = SheetToken::parse(&raw) else {
        return Ok(pages::unknown_sheet(&pages.contact).into_response());
    };
    let token = sheet.expose();
    if !csrf.matches(form.csrf.as_deref()) {
        return Ok(pages::stale_form(token).into_response());
    }
    let sent = csrf.value();
    let password = form.password.unwrap_or_default();
    let actor = Actor::client(&ip.to_string());
    match registrations
        .check_password(&actor, &sheet, &password)
        .await
    {
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
            token,
            sent,
            remaining,
            max,
            Some(PasswordProblem::Wrong { remaining }),
        )
        .into_response()),
        Ok(PasswordCheck::Unusable(state)) => {
            Ok(pages::unusable_sheet(state, &pages.contact).into_response())
        }
        Ok(PasswordCheck::Unknown) => Ok(pages::unknown_sheet(&pages.contact).into_response()),
        Ok(PasswordCheck::HolderSuspended) => {
            Ok(pages::holder_suspended(&pages.contact).into_response())
        }
        Ok(PasswordCheck::NotCounted(why)) => {
            let lookup = registrations.lookup(&sheet).await?;
            let problem = Some(PasswordProblem::NotCounted(why));
            Ok(for_lookup(&pages, lookup, token, sent, max, problem).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
