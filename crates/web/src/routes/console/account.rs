//! Enrolment through the single-use link, sign-in, re-authentication and sign-out.

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use hpki_core::audit::Actor;
use hpki_core::Error;
use hpki_operator_accounts::ConsoleService;
use serde::Deserialize;
use serde_json::json;

use super::{user_agent, Console, ConsoleApi, SESSION, SIGNING_IN};
use crate::client::ClientAddr;
use crate::csrf::{Csrf, CsrfOnly};
use crate::error::{ApiError, PageError};
use crate::pages::console as page;
use crate::AppState;

pub(super) async fn enrol_page(
    State(console): State<ConsoleService>,
    Path(link): Path<String>,
    csrf: Csrf,
) -> Result<Response, PageError> {
    match console.enrolment_operator(&link).await {
        Ok(op) => {
            let p = page::enrol(&op.name, &link, csrf.value());
            Ok(csrf.respond(p))
        }
        Err(Error::NotFound(_)) => Ok(page::enrol_unusable().into_response()),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn enrol_options(
    State(console): State<ConsoleService>,
    _: ConsoleApi,
    Path(link): Path<String>,
    _body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    Ok(Json(console.enrolment_options(&link).await?).into_response())
}

pub(super) async fn enrol_finish(
    State(console): State<ConsoleService>,
    _: ConsoleApi,
    Path(link): Path<String>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let actor = Actor::client(&ip.to_string());
    console
        .finish_enrolment(&actor, &link, &body, user_agent(&headers))
        .await?;
    Ok(Json(json!({ "next": "/admin/login?enrolled=1" })).into_response())
}

#[derive(Deserialize)]
pub(super) struct LoginQuery {
    enrolled: Option<String>,
}

pub(super) async fn login_page(
    csrf: Csrf,
    axum::extract::Query(q): axum::extract::Query<LoginQuery>,
) -> Response {
    let p = page::login(csrf.value(), q.enrolled.is_some());
    csrf.respond(p)
}

#[derive(Deserialize)]
pub(super) struct LoginName {
    name: String,
}

/// The sign-in's options; a random value in a short cookie binds the ceremony to this browser.
pub(super) async fn login_options(
    State(state): State<AppState>,
    _: ConsoleApi,
    Json(who): Json<LoginName>,
) -> Result<Response, ApiError> {
    let browser = hpki_core::secret::new_token("hsb_")?;
    let options = state.console.sign_in_options(&who.name, &browser).await?;
    let mut resp = Json(options).into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        state.holder_pages.cookies.set(SIGNING_IN, &browser, 300),
    );
    Ok(resp)
}

#[derive(Deserialize)]
pub(super) struct LoginAnswer {
    name: String,
    credential: serde_json::Value,
}

pub(super) async fn login_finish(
    State(state): State<AppState>,
    _: ConsoleApi,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    Json(answer): Json<LoginAnswer>,
) -> Result<Response, ApiError> {
    let browser = state
        .holder_pages
        .cookies
        .get(&headers, SIGNING_IN)
        .unwrap_or("")
        .to_owned();
    let actor = Actor::client(&ip.to_string());
    let response = answer.credential.to_string();
    let (token, _) = state
        .console
        .finish_sign_in(&actor, &answer.name, &browser, response.as_bytes())
        .await?;
    let secs = state.console.settings().absolute.num_seconds();
    let mut resp = Json(json!({ "next": "/admin" })).into_response();
    let cookies = &state.holder_pages.cookies;
    resp.headers_mut()
        .append(header::SET_COOKIE, cookies.set(SESSION, &token, secs));
    resp.headers_mut()
        .append(header::SET_COOKIE, cookies.set(SIGNING_IN, "", 0));
    Ok(resp)
}

pub(super) async fn sign_out(
    State(state): State<AppState>,
    Console(who): Console,
    csrf: Csrf,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Result<Response, PageError> {
    if !csrf.matches_form(form) {
        return Ok(Redirect::to("/admin").into_response());
    }
    state.console.sign_out(&who.actor(), &who).await?;
    let mut resp = Redirect::to("/admin/login").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        state.holder_pages.cookies.set(SESSION, "", 0),
    );
    Ok(resp)
}

pub(super) async fn reauth_options(
    State(console): State<ConsoleService>,
    ConsoleApi(who): ConsoleApi,
    _body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let who = who.ok_or(ApiError(Error::Unauthenticated))?;
    Ok(Json(console.reauth_options(&who).await?).into_response())
}

pub(super) async fn reauth_finish(
    State(console): State<ConsoleService>,
    ConsoleApi(who): ConsoleApi,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let who = who.ok_or(ApiError(Error::Unauthenticated))?;
    console.finish_reauth(&who.actor(), &who, &body).await?;
    Ok(Json(json!({ "ok": true })).into_response())
}
