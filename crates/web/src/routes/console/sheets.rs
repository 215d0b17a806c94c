//! The expiring sheets' batch: listed, then reissued and printed in one run.

use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use hpki_core::Error;
use serde::Deserialize;

use super::{who, Acts, Console};
use crate::csrf::Csrf;
use crate::error::{ConsoleError, PageError};
use crate::lang::t;
use crate::pages::console as page;
use crate::AppState;

#[derive(Deserialize)]
pub(super) struct WithinQuery {
    within: Option<String>,
}

/// Days from a form field (full-width digits too), 1 to 365; 14 when left empty.
fn days(raw: Option<&str>) -> Option<u32> {
    use unicode_normalization::UnicodeNormalization;
    match raw.map(|r| r.nfkc().collect::<String>()) {
        None => Some(14),
        Some(r) if r.trim().is_empty() => Some(14),
        Some(r) => r.trim().parse().ok().filter(|d| (1..=365).contains(d)),
    }
}

pub(super) async fn expiring_sheets(
    State(state): State<AppState>,
    Console(op): Console,
    Query(q): Query<WithinQuery>,
    csrf: Csrf,
) -> Result<Response, PageError> {
    let (within, problem) = match days(q.within.as_deref()) {
        Some(d) => (d, None),
        None => (
            14,
            Some(t(
                "日数は 1 から 365 の数で入力してください。",
                "Give the days as a number from 1 to 365.",
            )),
        ),
    };
    let views = state
        .sheets
        .expiring_within(chrono::Duration::days(i64::from(within)))
        .await?;
    let lines: Vec<page::Expiring<'_>> = views
        .iter()
        .map(|v| page::Expiring {
            username: &v.username,
            expires_at: v.expires_at,
            attempts: format!("{} / {}", v.attempts_used, v.max_attempts),
        })
        .collect();
    let p = page::expiring(
        &who(&op, csrf.value()),
        within,
        &lines,
        op.operator.role.may_change(),
        problem,
    );
    Ok(csrf.respond(p))
}

#[derive(Deserialize)]
pub(super) struct ReissueForm {
    csrf: Option<String>,
    within: Option<String>,
}

/// Reissues every sheet that expires within the days (and gives holders without one theirs)
/// in one print run: the PDF is the answer. A holder who cannot be printed stops the run
/// before anything is issued, with the reasons.
pub(super) async fn reissue_expiring(
    State(state): State<AppState>,
    Acts(op, acting): Acts,
    csrf: Csrf,
    form: Result<Form<ReissueForm>, FormRejection>,
) -> Result<Response, ConsoleError> {
    let Ok(Form(form)) = form else {
        return Ok(Redirect::to("/admin/sheets").into_response());
    };
    if !csrf.matches(form.csrf.as_deref()) {
        return Ok(Redirect::to("/admin/sheets").into_response());
    }
    let Some(within) = days(form.within.as_deref()) else {
        return Ok(Redirect::to("/admin/sheets").into_response());
    };
    let Some(mut sink) = super::sheet_pdf(&state)? else {
        return Ok(page::forbidden(t(
            "このサーバーには印刷用のフォントがないため、まとめて印刷できません。hpki-second sheet issue --all-pending --expiring-within … --out … を使ってください。",
            "This server has no sheet font, so it cannot print; use hpki-second sheet issue --all-pending --expiring-within … --out ….",
        ))
        .into_response());
    };
    let usable_for = chrono::Duration::days(i64::from(within));
    let run = state
        .sheets
        .print_needing(acting.actor(), &mut sink, usable_for)
        .await?;
    if run.printed == 0 {
        return Ok(Redirect::to(&format!("/admin/sheets?within={within}")).into_response());
    }
    let pdf = sink.finish().map_err(Error::Internal)?;
    tracing::info!(operator = %op.operator.name, printed = run.printed, "sheets reissued and printed from the console");
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"sheets-{}.pdf\"", run.printed),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        pdf,
    )
        .into_response())
}
