//! The operator console (`/admin`): enrolment through a single-use link, sign-in with the
//! operator's passkey, holder search, the holder's page, and the manual's section 2 as
//! confirmations with a typed reason (a revocation after a fresh passkey assertion). Thin:
//! the console service decides who is signed in, the lifecycle and sheet services act.
//!
//! One file per use case: [`account`] (enrolment, sign-in, re-authentication, sign-out),
//! [`holders`] (search, export, a holder's page), [`cases`] (the manual's section 2),
//! [`approvals`] (dual control), [`sheets`] (the expiring sheets' batch). This file holds the
//! router and what they share: who is signed in, and the role check.

mod account;
mod approvals;
mod cases;
mod holders;
mod sheets;

use account::*;
use approvals::*;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use cases::*;
use holders::*;
use hpki_core::Error;
use hpki_lifecycle::Acting;
use hpki_operator_accounts::SignedInOperator;
use sheets::*;

use crate::client::ClientAddr;
use crate::csrf::Csrf;
use crate::error::{ApiError, ConsoleError, PageError};
use crate::pages::console as page;
use crate::AppState;

/// The console session's cookie, and the sign-in's (which binds the ceremony to the browser).
pub(super) const SESSION: &str = "hpki-admin";
pub(super) const SIGNING_IN: &str = "hpki-admin-login";

pub fn router(photo_max_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/admin/enrol/{link}", get(enrol_page))
        .route("/admin/enrol/{link}/options", post(enrol_options))
        .route(
            "/admin/enrol/{link}/finish",
            post(enrol_finish).layer(DefaultBodyLimit::max(64 * 1024)),
        )
        .route("/admin/login", get(login_page))
        .route("/admin/login/options", post(login_options))
        .route(
            "/admin/login/finish",
            post(login_finish).layer(DefaultBodyLimit::max(64 * 1024)),
        )
        .route("/admin/sign-out", post(sign_out))
        .route("/admin/reauth/options", post(reauth_options))
        .route(
            "/admin/reauth/finish",
            post(reauth_finish).layer(DefaultBodyLimit::max(64 * 1024)),
        )
        .route("/admin", get(search))
        .route("/admin/export.csv", get(export))
        .route("/admin/holders/{username}", get(holder_page))
        .route(
            "/admin/holders/{username}/photo",
            // One byte over the limit is enough for the service to say how large is too large.
            get(photo)
                .post(upload_photo)
                .layer(DefaultBodyLimit::max(photo_max_bytes + 1)),
        )
        .route("/admin/holders/{username}/confirm/{action}", post(confirm))
        .route("/admin/holders/{username}/do/{action}", post(act))
        .route("/admin/approvals", get(approvals))
        .route("/admin/lost-phones", get(lost_phones))
        .route("/admin/sheets", get(expiring_sheets))
        .route("/admin/sheets/reissue", post(reissue_expiring))
        .route("/admin/approvals/{id}/approve", post(approve))
        .route("/admin/approvals/{id}/reject", post(reject))
}

/// A console page's operator: a session, or the sign-in page.
pub(super) struct Console(SignedInOperator);

impl FromRequestParts<AppState> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let token = state
            .holder_pages
            .cookies
            .get(&parts.headers, SESSION)
            .unwrap_or("");
        match state.console.session(token).await {
            Ok(who) => Ok(Self(who)),
            Err(Error::Unauthenticated) => Err(Redirect::to("/admin/login").into_response()),
            Err(e) => Err(PageError(e).into_response()),
        }
    }
}

/// A console JSON call: CSRF header, and the session when there must be one. The calls of
/// enrolment and sign-in share the card client's limit per address (names cannot be probed
/// at speed).
pub(super) struct ConsoleApi(Option<SignedInOperator>);

impl FromRequestParts<AppState> for ConsoleApi {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ClientAddr(ip) = ClientAddr::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError(Error::Unauthenticated))?;
        if state
            .holder_pages
            .card_limiter
            .take(ip, std::time::Instant::now())
            .is_err()
        {
            tracing::warn!(client = %ip, "console sign-in calls rate-limited");
            return Err(ApiError(Error::RateLimited));
        }
        let csrf = Csrf::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError(e.0))?;
        if !csrf.matches_header(&parts.headers) {
            return Err(ApiError(Error::Unauthenticated));
        }
        let token = state
            .holder_pages
            .cookies
            .get(&parts.headers, SESSION)
            .unwrap_or("");
        Ok(Self(state.console.session(token).await.ok()))
    }
}

/// A PDF to print sheets into, when the service has its sheet font (the PDF is the only
/// place a new sheet's password is kept after the page that shows it).
pub(super) fn sheet_pdf(
    state: &AppState,
) -> Result<Option<crate::sheet_pdf::SheetPdf<'_, Vec<u8>>>, Error> {
    state
        .printing
        .as_ref()
        .map(|p| crate::sheet_pdf::SheetPdf::new(Vec::new(), &p.font, &p.settings))
        .transpose()
        .map_err(Error::Internal)
}

/// A finished one-sheet PDF as base64, for the page's download link.
fn pdf_link(pdf: crate::sheet_pdf::SheetPdf<'_, Vec<u8>>) -> Result<String, Error> {
    use base64::Engine as _;
    let bytes = pdf.finish().map_err(Error::Internal)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The page that shows a new sheet once: its address and password, the new second
/// certificate's serial if one came with it, and the PDF when it was printed.
pub(super) fn sheet_issued(
    op: &SignedInOperator,
    csrf: Csrf,
    sheet: &hpki_core::services::IssuedSheet,
    certificate: Option<&str>,
    pdf: Option<crate::sheet_pdf::SheetPdf<'_, Vec<u8>>>,
) -> Result<Response, Error> {
    let pdf = pdf.map(pdf_link).transpose()?;
    let p = page::sheet_issued(
        &who(op, csrf.value()),
        &page::Issued {
            username: &sheet.username,
            url: &sheet.url,
            password: &sheet.password,
            expires: sheet.expires_at,
            certificate,
            pdf: pdf.as_deref(),
        },
    );
    Ok(csrf.respond(p))
}

/// The sink a case prints a renewal's sheet into, if there is a PDF.
pub(super) fn as_sink<'a>(
    pdf: &'a mut Option<crate::sheet_pdf::SheetPdf<'_, Vec<u8>>>,
) -> Option<&'a mut dyn hpki_core::services::SheetSink> {
    pdf.as_mut()
        .map(|p| p as &mut dyn hpki_core::services::SheetSink)
}

pub(super) fn who<'a>(s: &'a SignedInOperator, csrf: &'a str) -> page::Who<'a> {
    page::Who {
        name: &s.operator.name,
        role: s.operator.role.as_str(),
        csrf,
    }
}

pub(super) fn user_agent(headers: &HeaderMap) -> &str {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A console page's operator who may change things, as the gate takes them: the role check
/// is `Acting`'s, the only one; an auditor gets the page that says why.
pub(super) struct Acts(SignedInOperator, Acting);

impl FromRequestParts<AppState> for Acts {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Console(op) = Console::from_request_parts(parts, state).await?;
        match acting(&op) {
            Ok(acting) => Ok(Self(op, acting)),
            Err(e) => Err(ConsoleError(e).into_response()),
        }
    }
}

/// The gate's handle for a console session's operator, with its last passkey assertion.
pub(super) fn acting(op: &SignedInOperator) -> Result<Acting, Error> {
    Acting::in_console(&op.operator, op.session.reauth_at)
}
