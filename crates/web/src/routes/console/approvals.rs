//! Dual control: the requests waiting for an approver, approved or rejected.

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use hpki_lifecycle::ca_import::{requested_fingerprint, CA_IMPORT};
use hpki_lifecycle::{Case, CaseResult};
use serde::Deserialize;

use super::cases::Action;
use super::{as_sink, sheet_issued, sheet_pdf, who, Console};
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
        let case: Option<Case> = serde_json::from_str(&r.params).ok();
        about.push(match (r.holder.is_empty(), case) {
            (false, Some(case)) => subject_of(&state, &r.holder, case).await?,
            _ => (None, Vec::new()),
        });
    }
    let lines: Vec<page::RequestLine<'_>> = pending
        .iter()
        .zip(&about)
        .map(|(r, (name, certificates))| {
            let case: Option<Case> = serde_json::from_str(&r.params).ok();
            let import = requested_fingerprint(r);
            page::RequestLine {
                id: r.id,
                holder: (!r.holder.is_empty()).then_some(r.holder.as_str()),
                holder_name: name.as_deref(),
                certificates,
                title: match &import {
                    Some(_) => t(
                        "CA 階層の取り込み（ca import）",
                        "CA hierarchy import (ca import)",
                    ),
                    None => Action::parse(&r.action).map_or("", Action::title),
                },
                import,
                reason: &r.reason,
                requested_by: &r.requested_by,
                requested_at: r.requested_at,
                expires_at: r.expires_at,
                decidable: approver && r.requested_by != op.operator.name,
                needs_reauth: case.is_some_and(Case::revokes) || r.action == CA_IMPORT,
            }
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
    holder: &str,
    case: Case,
) -> Result<(Option<String>, Vec<(&'static str, String)>), hpki_core::Error> {
    let Ok(h) = super::holders::find(state, holder).await else {
        return Ok((None, Vec::new()));
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

pub(super) async fn approve(
    State(state): State<AppState>,
    Console(op): Console,
    Path(id): Path<i64>,
    csrf: Csrf,
    form: Result<Form<DecideForm>, FormRejection>,
) -> Result<Response, ConsoleError> {
    let sent = form.ok().and_then(|Form(f)| f.csrf);
    if !csrf.matches(sent.as_deref()) {
        return Ok(Redirect::to("/admin/approvals").into_response());
    }
    // Approving a revocation (or a CA import) needs a fresh assertion, as doing one does.
    let request = state.lifecycle.requested(id).await?;
    let sensitive = match &request {
        Some(r) if r.action == CA_IMPORT => true,
        Some(r) => serde_json::from_str::<Case>(&r.params).is_ok_and(Case::revokes),
        None => false,
    };
    if sensitive && !op.recently_authenticated(state.console.now(), state.console.settings().reauth)
    {
        return Ok(page::forbidden(t(
            "失効を承認する前に、パスキーでもう一度本人確認をしてください（承認待ちの画面で）。",
            "Confirm it is you with your passkey (on the approvals page) before approving a revocation.",
        ))
        .into_response());
    }
    // A renewal's new sheet is printed for the approver, as for an operator who renews.
    let renews = matches!(&request, Some(r) if r.action != CA_IMPORT
        && serde_json::from_str::<Case>(&r.params).is_ok_and(|c| c == Case::RenewSecond));
    let mut pdf = if renews { sheet_pdf(&state)? } else { None };
    match state
        .lifecycle
        .approve(&op.operator, id, as_sink(&mut pdf))
        .await?
    {
        // A renewal's new sheet: its address and password are shown to the approver, once.
        CaseResult::Renewal(r) => {
            let serial = r.certificate.as_ref().map(|c| c.serial.as_str());
            Ok(sheet_issued(&op, csrf, &r.sheet, serial, pdf)?)
        }
        CaseResult::Authorized { .. } => {
            Ok(Redirect::to("/admin/approvals?done=authorized").into_response())
        }
        _ => Ok(Redirect::to("/admin/approvals?done=approved").into_response()),
    }
}

pub(super) async fn reject(
    State(state): State<AppState>,
    Console(op): Console,
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
    state.lifecycle.reject(&op.operator, id, &reason).await?;
    Ok(Redirect::to("/admin/approvals?done=rejected").into_response())
}
