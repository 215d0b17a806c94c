//! The manual's section 2 as console actions: a confirmation with a typed reason, then
//! the case carried out (or asked for, under dual control).

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use hpki_core::{Error, OperatorRefusal};
use hpki_lifecycle::{Case, CaseResult, Outcome, Request};
use serde::Deserialize;

use super::holders::find;
use super::{as_sink, sheet_issued, sheet_pdf, who, Acts};
use crate::csrf::Csrf;
use crate::error::ConsoleError;
use crate::lang::t;
use crate::pages::console as page;
use crate::AppState;

/// What the console says of each case: its title, what it does, and what was done.
pub(super) struct Words {
    pub title: &'static str,
    pub effect: &'static str,
    pub done: &'static str,
}

/// The case a console address or notice names (a lost phone's device aside).
pub(super) fn named(name: &str) -> Option<Case> {
    Case::ALL.into_iter().find(|c| c.name() == name)
}

pub(super) fn words(case: Case) -> Words {
    let (title, effect, done) = match case {
        Case::ReissueSheet => (
            t("初期登録用 QR の再発行", "Reissue the registration sheet"),
            t("新しい用紙を発行します。今の用紙は使えなくなります（マニュアル 2.1.2・2.1.3）。",
              "A new sheet is issued; the current one stops working (manual 2.1.2, 2.1.3)."),
            t("発行しました。", "Issued."),
        ),
        Case::Suspend => (
            t("利用の停止", "Suspend the holder"),
            t("用紙・登録サイト・サインイン・署名のすべてが使えなくなります。再開するまで続きます。",
              "The sheet, the registration site, sign-in and signing all stop until resumed."),
            t("利用を停止しました。", "The holder is suspended."),
        ),
        Case::Resume => (
            t("利用の再開", "Resume the holder"),
            t("停止を解除し、すべてを元どおり使えるようにします。", "Lifts the suspension; everything works again."),
            t("利用を再開しました。", "The holder is active again."),
        ),
        Case::LostCard { also_second: false } => (
            t("HPKI カード紛失（カードの証明書のみ）", "HPKI card lost (card certificates only)"),
            t("HPKI カードの署名用・認証用の証明書を失効します（OCSP・CRL に即時反映）。セカンド電子証明書とスマートフォンでのサインイン・署名はそのまま使えます（マニュアル 2.2.1）。",
              "Revokes the HPKI card's signing and authentication certificates (in OCSP and the CRL at once). The second certificate, phone sign-in and signing keep working (manual 2.2.1)."),
            t("HPKI カードの証明書を失効しました。セカンド電子証明書は有効です。",
              "The card certificates are revoked; the second certificate stays valid."),
        ),
        Case::LostCard { also_second: true } => (
            t("HPKI カード紛失（セカンド電子証明書も）", "HPKI card lost (and the second certificate)"),
            t("HPKI カードの証明書とセカンド電子証明書を失効します。サインインと署名はできなくなります（マニュアル 2.2.1）。",
              "Revokes the card certificates and the second certificate; sign-in and signing stop (manual 2.2.1)."),
            t("HPKI カードの証明書とセカンド電子証明書を失効しました。",
              "The card certificates and the second certificate are revoked."),
        ),
        Case::LostPhoneDevice { .. } => (
            t("スマートフォン紛失（端末の削除）", "Phone lost (delete the device)"),
            t("この端末の認証情報を削除します。その端末ではサインインも署名もできなくなり、新しい用紙で新しい端末を登録できます（マニュアル 2.2.2）。",
              "Deletes this device credential: it cannot sign in or sign any more, and a new phone can be registered with a new sheet (manual 2.2.2)."),
            t("端末の認証情報を削除しました。", "The device credential is deleted."),
        ),
        Case::LostPhoneSecond => (
            t("スマートフォン紛失（セカンド電子証明書の失効）", "Phone lost (revoke the second certificate)"),
            t("セカンド電子証明書を失効します（OCSP・CRL に即時反映）。署名はできなくなります（マニュアル 2.2.2）。",
              "Revokes the second certificate (in OCSP and the CRL at once); signing stops (manual 2.2.2)."),
            t("セカンド電子証明書を失効しました。", "The second certificate is revoked."),
        ),
        Case::IssueSecond => (
            t("セカンド電子証明書の発行", "A second certificate"),
            t("新しい鍵でセカンド電子証明書を発行します（用紙は発行しません）。",
              "Issues a second certificate with a new key (no sheet)."),
            t("発行しました。", "Issued."),
        ),
        Case::RenewSecond => (
            t("セカンド電子証明書と用紙の発行", "A new second certificate and sheet"),
            t("新しい鍵でセカンド電子証明書を発行し、新しい用紙も発行します（失効の後に）。",
              "Issues a second certificate with a new key and a new sheet (after a revocation)."),
            t("発行しました。", "Issued."),
        ),
    };
    Words {
        title,
        effect,
        done,
    }
}

#[derive(Deserialize)]
pub(super) struct ActionForm {
    csrf: Option<String>,
    reason: Option<String>,
    device: Option<i64>,
}

pub(super) async fn confirm(
    State(state): State<AppState>,
    Acts(op, _): Acts,
    Path((raw, name)): Path<(String, String)>,
    csrf: Csrf,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, ConsoleError> {
    let holder = find(&state, &raw).await?;
    let form = form.map(|Form(f)| f).ok();
    let back = Redirect::to(&format!("/admin/holders/{}", holder.username)).into_response();
    if !csrf.matches(form.as_ref().and_then(|f| f.csrf.as_deref())) {
        return Ok(back);
    }
    let Some(case) = case_of(&name, form.as_ref())? else {
        return Ok(back);
    };
    let label = device_label(&state, &holder, case).await?;
    let p = confirm_page(&op, &csrf, &holder, case, label.as_deref(), None);
    Ok(csrf.respond(p))
}

/// The case an address names, with the device its form names: none for a lost phone's
/// device without one (the holder's page always sends it), an error for an unknown name.
fn case_of(name: &str, form: Option<&ActionForm>) -> Result<Option<Case>, Error> {
    if named(name).is_none() {
        return Err(Error::NotFound(format!("action {name:?}")));
    }
    Ok(Case::from_name(name, form.and_then(|f| f.device)))
}

/// The label of the device a lost phone's case deletes, which the confirmation names.
async fn device_label(
    state: &AppState,
    holder: &hpki_core::domain::Holder,
    case: Case,
) -> Result<Option<String>, Error> {
    let Case::LostPhoneDevice { device } = case else {
        return Ok(None);
    };
    Ok(state
        .devices
        .devices_of(holder)
        .await?
        .into_iter()
        .find(|d| d.id == device)
        .map(|d| d.label))
}

/// The confirmation of an action, with what went wrong in the last attempt if anything.
fn confirm_page(
    op: &hpki_operator_accounts::SignedInOperator,
    csrf: &Csrf,
    holder: &hpki_core::domain::Holder,
    case: Case,
    device_label: Option<&str>,
    problem: Option<&'static str>,
) -> crate::pages::Page {
    let w = words(case);
    let device = match case {
        Case::LostPhoneDevice { device } => Some(device),
        _ => None,
    };
    page::confirm(&page::Confirm {
        who: who(op, csrf.value()),
        username: &holder.username.to_string(),
        name: &holder.name_kanji.written(),
        action: case.name(),
        title: w.title,
        effect: w.effect,
        device,
        device_label,
        needs_reauth: case.revokes(),
        problem,
    })
}

/// Extract, submit, render: the gate applies every rule; a refusal the operator can put right
/// on the same page (no reason, an assertion too old) shows the confirmation again.
pub(super) async fn act(
    State(state): State<AppState>,
    Acts(op, acting): Acts,
    Path((raw, name)): Path<(String, String)>,
    csrf: Csrf,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, ConsoleError> {
    let holder = find(&state, &raw).await?;
    let u = holder.username.to_string();
    let back = Redirect::to(&format!("/admin/holders/{u}")).into_response();
    let Ok(Form(form)) = form else {
        return Ok(back);
    };
    if !csrf.matches(form.csrf.as_deref()) {
        return Ok(back);
    }
    let Some(case) = case_of(&name, Some(&form))? else {
        return Ok(back);
    };
    // A new sheet is printed at once when the font is at hand (the PDF is the only place its
    // password is kept after the page that shows it).
    let mut pdf = if case.gives_sheet() {
        sheet_pdf(&state)?
    } else {
        None
    };
    let request = Request::Holder {
        holder: holder.username.clone(),
        case,
    };
    let reason = form.reason.as_deref().unwrap_or_default();
    let outcome = match state
        .lifecycle
        .submit(&acting, request, reason, as_sink(&mut pdf))
        .await
    {
        Ok(outcome) => outcome,
        Err(e) => {
            let problem = match &e {
                Error::Invalid(fields) if fields.iter().any(|f| f.field == "reason") => {
                    t("理由を入力してください。", "Give the reason.")
                }
                Error::OperatorRefused(OperatorRefusal::StaleAssertion) => t(
                    "失効の前に、パスキーでもう一度本人確認をしてください。",
                    "Confirm it is you with your passkey before a revocation.",
                ),
                _ => return Err(e.into()),
            };
            let label = device_label(&state, &holder, case).await?;
            let p = confirm_page(&op, &csrf, &holder, case, label.as_deref(), Some(problem));
            let mut resp = p.into_response();
            *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            return Ok(resp);
        }
    };
    Ok(match outcome {
        Outcome::Pending { request } => {
            Redirect::to(&format!("/admin/holders/{u}?requested={}", request.id)).into_response()
        }
        Outcome::Done {
            result: CaseResult::Renewal(r),
        } => {
            let serial = r.certificate.as_ref().map(|c| c.serial.as_str());
            sheet_issued(&op, csrf, &r.sheet, serial, pdf)?
        }
        Outcome::Done {
            result: CaseResult::Sheet(sheet),
        } => sheet_issued(&op, csrf, &sheet, None, pdf)?,
        Outcome::Done { .. } => {
            Redirect::to(&format!("/admin/holders/{u}?done={}", case.name())).into_response()
        }
    })
}
