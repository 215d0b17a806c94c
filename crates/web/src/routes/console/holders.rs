//! Holder search, its CSV export, and a holder's page.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use hpki_core::domain::{Holder, Username};
use hpki_core::Error;
use serde::Deserialize;

use super::cases::{named, words};
use super::{who, Console};
use crate::csrf::Csrf;
use crate::error::PageError;
use crate::lang::t;
use crate::pages::console as page;
use crate::AppState;

#[derive(Deserialize)]
pub(super) struct SearchQuery {
    q: Option<String>,
}

pub(super) async fn search(
    State(state): State<AppState>,
    Console(op): Console,
    Query(q): Query<SearchQuery>,
    csrf: Csrf,
) -> Result<Response, PageError> {
    let query = q.q.unwrap_or_default();
    let w = who(&op, csrf.value());
    let p = if query.trim().is_empty() {
        page::search(&w, "", None, None)
    } else {
        match state.holders.search(&query, 100).await {
            Ok(found) => page::search(
                &w,
                &query,
                Some(page::Found {
                    holders: &found.holders,
                    total: found.total,
                }),
                None,
            ),
            Err(Error::Invalid(_)) => page::search(
                &w,
                &query,
                None,
                Some(t(
                    "登録番号・ユーザー名・氏名の一部を入力してください。",
                    "Type part of a registry number, username or name.",
                )),
            ),
            Err(e) => return Err(e.into()),
        }
    };
    Ok(csrf.respond(p))
}

fn username(raw: &str) -> Result<Username, Error> {
    Username::parse(raw).map_err(|_| Error::NotFound(format!("holder {raw:?}")))
}

pub(super) async fn find(state: &AppState, raw: &str) -> Result<Holder, Error> {
    state.holders.show(&username(raw)?).await
}

#[derive(Deserialize)]
pub(super) struct HolderQuery {
    before: Option<i64>,
    done: Option<String>,
    requested: Option<i64>,
}

pub(super) async fn holder_page(
    State(state): State<AppState>,
    Console(op): Console,
    Path(raw): Path<String>,
    Query(q): Query<HolderQuery>,
    csrf: Csrf,
) -> Result<Response, PageError> {
    let holder = find(&state, &raw).await?;
    let certificates: Vec<page::CertificateLine> = state
        .ca
        .holder_certificates(&holder)
        .await?
        .into_iter()
        .map(|c| page::CertificateLine {
            serial: c.serial,
            kind: c.kind,
            status: c.status.as_str(),
            not_after: c.not_after,
        })
        .collect();
    let devices = state.devices.devices_of(&holder).await?;
    let sheet_views = state.sheets.show(&holder.username).await?;
    let sheets: Vec<page::SheetLine> = sheet_views
        .iter()
        .rev()
        .map(|s| page::SheetLine {
            state: s.state.as_str(),
            attempts: format!("{} / {}", s.attempts_used, s.max_attempts),
            issued_at: s.issued_at,
            expires_at: s.expires_at,
        })
        .collect();
    let signatures: Vec<_> = state
        .csc
        .signatures(&holder.username, None, 20)
        .await?
        .into_iter()
        .map(|s| (s.at, s.client_name, s.hashes.len()))
        .collect();
    // The holder's trail: events about them, their certificates and their sheets.
    let mut targets = vec![holder.username.to_string()];
    targets.extend(certificates.iter().map(|c| c.serial.clone()));
    targets.extend(sheet_views.iter().map(|s| format!("sheet:{}", s.sheet_id)));
    const PAGE: u32 = 50;
    let events = state.audit.trail(&targets, q.before, PAGE).await?;
    let older = (events.len() == PAGE as usize)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    let trail: Vec<page::TrailLine> = events
        .into_iter()
        .map(|e| page::TrailLine {
            seq: e.seq,
            at: chrono::DateTime::from_timestamp_micros(e.at_micros).unwrap_or_default(),
            actor: e.actor,
            reason: serde_json::from_str::<serde_json::Value>(&e.details)
                .ok()
                .and_then(|d| d["reason"].as_str().map(str::to_owned)),
            action: e.action,
            target: e.target,
        })
        .collect();
    let notice = match (q.requested, q.done.as_deref().and_then(named)) {
        (Some(id), _) => Some(page::done_notice(if crate::lang::english() {
            format!("Request {id} is waiting for another operator with the approver role (dual control): nothing has changed yet.")
        } else {
            format!("依頼 {id} は、承認者（approver）の承認を待っています（二者承認）。まだ何も変わっていません。")
        })),
        (None, Some(case)) => Some(page::done_notice(words(case).done.to_owned())),
        (None, None) if q.done.as_deref() == Some("photo") => Some(page::done_notice(
            t("顔写真を登録しました。", "The face photo is set.").to_owned(),
        )),
        (None, None) => None,
    };
    let p = page::holder(&page::HolderPage {
        who: who(&op, csrf.value()),
        holder: &holder,
        certificates: &certificates,
        devices: &devices,
        sheets: &sheets,
        signatures: &signatures,
        trail: &trail,
        older,
        may_change: super::acting(&op).is_ok(),
        notice,
    });
    Ok(csrf.respond(p))
}

pub(super) async fn photo(
    State(state): State<AppState>,
    _: Console,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    let photo = state.holders.photo(&username(&raw)?).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        photo.jpeg().to_vec(),
    )
        .into_response())
}

/// Every match of a search as CSV (auditors too: exports are reading).
pub(super) async fn export(
    State(state): State<AppState>,
    Console(op): Console,
    Query(q): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let query = q.q.unwrap_or_default();
    let found = state
        .holders
        .search(&query, hpki_core::services::search::MAX_LIMIT)
        .await?;
    let csv = hpki_core::services::search::holders_csv(&found.holders)?;
    tracing::info!(operator = %op.operator.name, matches = found.total, "holder search exported");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"holders.csv\"",
            ),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        csv,
    )
        .into_response())
}

/// The worklist of phones their holders reported lost (on their own page) that no operator has
/// dealt with yet: each with its holder, to call them and decide (delete the device, or revoke
/// the second certificate) on the holder's page.
pub(super) async fn lost_phones(
    State(state): State<AppState>,
    Console(op): Console,
    csrf: Csrf,
) -> Result<Response, PageError> {
    const MOST: u32 = 500;
    let devices = state.devices.reported_lost(MOST).await?;
    let mut ids: Vec<i64> = devices.iter().map(|d| d.owner_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let holders = state.holders.by_ids(&ids).await?;
    let lines: Vec<page::LostPhone<'_>> = devices
        .iter()
        .filter_map(|d| {
            let h = holders.iter().find(|h| h.id == d.owner_id)?;
            Some(page::LostPhone {
                holder: h,
                device: d,
            })
        })
        .collect();
    let p = page::lost_phones(
        &who(&op, csrf.value()),
        &lines,
        devices.len() == MOST as usize,
    );
    Ok(csrf.respond(p))
}

/// A face photo uploaded on the holder's page (console.js sends the file's bytes): the same
/// checks as the CLI and the API (JPEG or PNG, size and sides), then re-encoded and audited.
pub(super) async fn upload_photo(
    State(state): State<AppState>,
    super::ConsoleApi(who): super::ConsoleApi,
    Path(raw): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, crate::error::ApiError> {
    let op = who.ok_or(crate::error::ApiError(Error::Unauthenticated))?;
    let acting = super::acting(&op)?;
    let holder = find(&state, &raw).await?;
    state
        .holders
        .set_photo(acting.actor(), &holder.username, body.to_vec())
        .await?;
    Ok(axum::Json(serde_json::json!({
        "next": format!("/admin/holders/{}?done=photo", holder.username)
    }))
    .into_response())
}
