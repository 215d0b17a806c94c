//! Dual control: the requests waiting for an approver, approved or rejected.

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use hpki_core::domain::Username;
use hpki_lifecycle::{Case, CaseResult, Request};
use serde::Deserialize;

use super::cases::words;
use super::{as_sink, sheet_issued, sheet_pdf, who, Acts, Console};
use crate::csrf::Csrf;
use crate::error::{ConsoleError, PageError};
use crate::lang::t;
use crate::pages::console as page;
use crate::AppState;

#[derive(Deserialize)]
pub(super) struct ApprovalsQuery {
    done: Option<String>,
}

pub(super) async fn approvals(
    State(state): State<AppState>,
    Console(op): Console,
    Query(q): Query<ApprovalsQuery>,
    csrf: Csrf,
) -> Result<Response, PageError> {
    let pending = state.lifecycle.pending_requests().await?;
    let approver = op.operator.role == hpki_core::store::OperatorRole::Approver;
    // Whom each request is about, as the approver needs to see it: the name, and the
    // certificates a revocation would revoke.
    let mut about = Vec::with_capacity(pending.len());
    for r in &pending {
        about.push(match &r.request {
            Request::Holder { holder, case } => subject_of(&state, holder, *case).await?,
            Request::Revoke { serial, .. } => match state.ca.show_certificate(serial).await {
                Ok(c) => (Some(c.subject), vec![(c.kind, c.serial)]),
                Err(_) => (None, Vec::new()),
            },
            Request::CaImport { .. } => (None, Vec::new()),
        });
    }
    let lines: Vec<page::RequestLine<'_>> = pending
        .iter()
        .zip(&about)
        .map(|(r, (name, certificates))| page::RequestLine {
            id: r.id,
            holder: r.request.holder(),
            holder_name: name.as_deref(),
            certificates,
            title: match &r.request {
                Request::Holder { case, .. } => words(*case).title,
                Request::Revoke { .. } => t(
                    "証明書の失効（シリアル番号を指定）",
                    "A certificate revoked by its serial",
                ),
                Request::CaImport { .. } => t(
                    "CA 階層の取り込み（ca import）",
                    "CA hierarchy import (ca import)",
                ),
            },
            import: match &r.request {
                Request::CaImport { fingerprint } => Some(fingerprint),
                Request::Holder { .. } | Request::Revoke { .. } => None,
            },
            reason: &r.reason,
            requested_by: &r.requested_by,
            requested_at: r.requested_at,
            expires_at: r.expires_at,
            decidable: approver && r.requested_by != op.operator.name,
            needs_reauth: r.request.needs_fresh_assertion(),
        })
        .collect();
    let notice = q.done.map(|d| {
        page::done_notice(
            match d.as_str() {
                "approved" => t("承認し、実行しました。", "Approved and carried out."),
                "authorized" => t(
                    "承認しました。取り込みは、依頼者がコマンド（ca import --request）で実行します。",
                    "Approved. The requester now runs the import (ca import --request).",
                ),
                _ => t("却下しました。", "Rejected."),
            }
            .to_owned(),
        )
    });
    let p = page::approvals(&who(&op, csrf.value()), &lines, notice);
    Ok(csrf.respond(p))
}

/// The holder's name, and the certificates `case` would revoke (kind and serial).
async fn subject_of(
    state: &AppState,
    holder: &Username,
    case: Case,
) -> Result<(Option<String>, Vec<(&'static str, String)>), hpki_core::Error> {
    let h = match state.holders.show(holder).await {
        Ok(h) => h,
        Err(hpki_core::Error::NotFound(_)) => return Ok((None, Vec::new())),
        Err(e) => return Err(e),
    };
    let kinds: &[&str] = match case {
        Case::LostCard { also_second: false } => &["card-sign", "card-auth"],
        Case::LostCard { also_second: true } => &["card-sign", "card-auth", "second"],
        Case::LostPhoneSecond => &["second"],
        _ => &[],
    };
    let certificates = state
        .ca
        .holder_certificates(&h)
        .await?
        .into_iter()
        .filter(|c| kinds.contains(&c.kind) && c.status.as_str() == "valid")
        .map(|c| (c.kind, c.serial))
        .collect();
    Ok((Some(h.name_kanji.written()), certificates))
}

#[derive(Deserialize)]
pub(super) struct DecideForm {
    csrf: Option<String>,
    reason: Option<String>,
}

/// Extract, decide, render: the gate checks the approver, the request and a fresh assertion.
pub(super) async fn approve(
    State(state): State<AppState>,
    Acts(op, acting): Acts,
    Path(id): Path<i64>,
    csrf: Csrf,
    form: Result<Form<DecideForm>, FormRejection>,
) -> Result<Response, ConsoleError> {
    let sent = form.ok().and_then(|Form(f)| f.csrf);
    if !csrf.matches(sent.as_deref()) {
        return Ok(Redirect::to("/admin/approvals").into_response());
    }
    // A new sheet is printed for the approver, as for an operator who renews.
    let asked = state.lifecycle.requested(id).await?;
    let gives_sheet = asked
        .as_ref()
        .and_then(|r| r.request.case())
        .is_some_and(Case::gives_sheet);
    let mut pdf = if gives_sheet {
        sheet_pdf(&state)?
    } else {
        None
    };
    match state
        .lifecycle
        .approve(&acting, id, as_sink(&mut pdf))
        .await?
    {
        // A new sheet: its address and password are shown to the approver, once.
        CaseResult::Renewal(r) => {
            let serial = r.certificate.as_ref().map(|c| c.serial.as_str());
            Ok(sheet_issued(&op, csrf, &r.sheet, serial, pdf)?)
        }
        CaseResult::Sheet(sheet) => Ok(sheet_issued(&op, csrf, &sheet, None, pdf)?),
        CaseResult::Authorized { .. } => {
            Ok(Redirect::to("/admin/approvals?done=authorized").into_response())
        }
        _ => Ok(Redirect::to("/admin/approvals?done=approved").into_response()),
    }
}

pub(super) async fn reject(
    State(state): State<AppState>,
    Acts(_, acting): Acts,
    Path(id): Path<i64>,
    csrf: Csrf,
    form: Result<Form<DecideForm>, FormRejection>,
) -> Result<Response, ConsoleError> {
    let Ok(Form(form)) = form else {
        return Ok(Redirect::to("/admin/approvals").into_response());
    };
    if !csrf.matches(form.csrf.as_deref()) {
        return Ok(Redirect::to("/admin/approvals").into_response());
    }
    let reason = form.reason.unwrap_or_default();
    state.lifecycle.reject(&acting, id, &reason).await?;
    Ok(Redirect::to("/admin/approvals?done=rejected").into_response())
}
