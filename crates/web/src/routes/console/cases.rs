//! The manual's section 2 as console actions: a confirmation with a typed reason, then
//! the case carried out (or asked for, under dual control).

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use hpki_core::Error;
use hpki_lifecycle::{Case, CaseResult, Outcome};
use serde::Deserialize;

use super::holders::find;
use super::{as_sink, refused_role, sheet_issued, sheet_pdf, who, Console};
use crate::csrf::Csrf;
use crate::error::ConsoleError;
use crate::lang::t;
use crate::pages::console as page;
use crate::AppState;

/// The manual's section 2 as console actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Action {
    Reissue,
    Suspend,
    Resume,
    LostCard,
    LostCardAll,
    LostPhoneDevice,
    LostPhoneSecond,
    Renew,
}

impl Action {
    pub(super) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "reissue" => Self::Reissue,
            "suspend" => Self::Suspend,
            "resume" => Self::Resume,
            "lost-card" => Self::LostCard,
            "lost-card-all" => Self::LostCardAll,
            "lost-phone-device" => Self::LostPhoneDevice,
            "lost-phone-second" => Self::LostPhoneSecond,
            "renew" => Self::Renew,
            _ => return None,
        })
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Reissue => "reissue",
            Self::Suspend => "suspend",
            Self::Resume => "resume",
            Self::LostCard => "lost-card",
            Self::LostCardAll => "lost-card-all",
            Self::LostPhoneDevice => "lost-phone-device",
            Self::LostPhoneSecond => "lost-phone-second",
            Self::Renew => "renew",
        }
    }

    /// A revocation: done only after a fresh passkey assertion.
    pub(super) fn revokes(self) -> bool {
        matches!(
            self,
            Self::LostCard | Self::LostCardAll | Self::LostPhoneSecond
        )
    }

    pub(super) fn title(self) -> &'static str {
        match self {
            Self::Reissue => t("初期登録用 QR の再発行", "Reissue the registration sheet"),
            Self::Suspend => t("利用の停止", "Suspend the holder"),
            Self::Resume => t("利用の再開", "Resume the holder"),
            Self::LostCard => t(
                "HPKI カード紛失（カードの証明書のみ）",
                "HPKI card lost (card certificates only)",
            ),
            Self::LostCardAll => t(
                "HPKI カード紛失（セカンド電子証明書も）",
                "HPKI card lost (and the second certificate)",
            ),
            Self::LostPhoneDevice => t(
                "スマートフォン紛失（端末の削除）",
                "Phone lost (delete the device)",
            ),
            Self::LostPhoneSecond => t(
                "スマートフォン紛失（セカンド電子証明書の失効）",
                "Phone lost (revoke the second certificate)",
            ),
            Self::Renew => t(
                "セカンド電子証明書と用紙の発行",
                "A new second certificate and sheet",
            ),
        }
    }

    pub(super) fn effect(self) -> &'static str {
        match self {
            Self::Reissue => t("新しい用紙を発行します。今の用紙は使えなくなります（マニュアル 2.1.2・2.1.3）。",
                               "A new sheet is issued; the current one stops working (manual 2.1.2, 2.1.3)."),
            Self::Suspend => t("用紙・登録サイト・サインイン・署名のすべてが使えなくなります。再開するまで続きます。",
                               "The sheet, the registration site, sign-in and signing all stop until resumed."),
            Self::Resume => t("停止を解除し、すべてを元どおり使えるようにします。", "Lifts the suspension; everything works again."),
            Self::LostCard => t("HPKI カードの署名用・認証用の証明書を失効します（OCSP・CRL に即時反映）。セカンド電子証明書とスマートフォンでのサインイン・署名はそのまま使えます（マニュアル 2.2.1）。",
                                "Revokes the HPKI card's signing and authentication certificates (in OCSP and the CRL at once). The second certificate, phone sign-in and signing keep working (manual 2.2.1)."),
            Self::LostCardAll => t("HPKI カードの証明書とセカンド電子証明書を失効します。サインインと署名はできなくなります（マニュアル 2.2.1）。",
                                   "Revokes the card certificates and the second certificate; sign-in and signing stop (manual 2.2.1)."),
            Self::LostPhoneDevice => t("この端末の認証情報を削除します。その端末ではサインインも署名もできなくなり、新しい用紙で新しい端末を登録できます（マニュアル 2.2.2）。",
                                       "Deletes this device credential: it cannot sign in or sign any more, and a new phone can be registered with a new sheet (manual 2.2.2)."),
            Self::LostPhoneSecond => t("セカンド電子証明書を失効します（OCSP・CRL に即時反映）。署名はできなくなります（マニュアル 2.2.2）。",
                                       "Revokes the second certificate (in OCSP and the CRL at once); signing stops (manual 2.2.2)."),
            Self::Renew => t("新しい鍵でセカンド電子証明書を発行し、新しい用紙も発行します（失効の後に）。",
                             "Issues a second certificate with a new key and a new sheet (after a revocation)."),
        }
    }

    pub(super) fn done(self) -> &'static str {
        match self {
            Self::Reissue | Self::Renew => t("発行しました。", "Issued."),
            Self::Suspend => t("利用を停止しました。", "The holder is suspended."),
            Self::Resume => t("利用を再開しました。", "The holder is active again."),
            Self::LostCard => t(
                "HPKI カードの証明書を失効しました。セカンド電子証明書は有効です。",
                "The card certificates are revoked; the second certificate stays valid.",
            ),
            Self::LostCardAll => t(
                "HPKI カードの証明書とセカンド電子証明書を失効しました。",
                "The card certificates and the second certificate are revoked.",
            ),
            Self::LostPhoneDevice => t(
                "端末の認証情報を削除しました。",
                "The device credential is deleted.",
            ),
            Self::LostPhoneSecond => t(
                "セカンド電子証明書を失効しました。",
                "The second certificate is revoked.",
            ),
        }
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
    Console(op): Console,
    Path((raw, name)): Path<(String, String)>,
    csrf: Csrf,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, ConsoleError> {
    if let Some(resp) = refused_role(&op) {
        return Ok(resp);
    }
    let holder = find(&state, &raw).await?;
    let Some(action) = Action::parse(&name) else {
        return Err(Error::NotFound(format!("action {name:?}")).into());
    };
    let form = form.map(|Form(f)| f).ok();
    if !csrf.matches(form.as_ref().and_then(|f| f.csrf.as_deref())) {
        return Ok(Redirect::to(&format!("/admin/holders/{}", holder.username)).into_response());
    }
    let device = form.and_then(|f| f.device);
    let label = device_label(&state, &holder, device).await?;
    let p = confirm_page(&op, &csrf, &holder, action, device, label.as_deref(), None);
    Ok(csrf.respond(p))
}

/// The label of the holder's device `id`, which a confirmation names.
async fn device_label(
    state: &AppState,
    holder: &hpki_core::domain::Holder,
    id: Option<i64>,
) -> Result<Option<String>, Error> {
    let Some(id) = id else { return Ok(None) };
    Ok(state
        .devices
        .devices_of(holder)
        .await?
        .into_iter()
        .find(|d| d.id == id)
        .map(|d| d.label))
}

/// The confirmation of an action, with what went wrong in the last attempt if anything.
fn confirm_page(
    op: &hpki_console::SignedInOperator,
    csrf: &Csrf,
    holder: &hpki_core::domain::Holder,
    action: Action,
    device: Option<i64>,
    device_label: Option<&str>,
    problem: Option<&'static str>,
) -> crate::pages::Page {
    page::confirm(&page::Confirm {
        who: who(op, csrf.value()),
        username: &holder.username.to_string(),
        name: &holder.name_kanji.written(),
        action: action.name(),
        title: action.title(),
        effect: action.effect(),
        device,
        device_label,
        needs_reauth: action.revokes(),
        problem,
    })
}

pub(super) async fn act(
    State(state): State<AppState>,
    Console(op): Console,
    Path((raw, name)): Path<(String, String)>,
    csrf: Csrf,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, ConsoleError> {
    if let Some(resp) = refused_role(&op) {
        return Ok(resp);
    }
    let holder = find(&state, &raw).await?;
    let Some(action) = Action::parse(&name) else {
        return Err(Error::NotFound(format!("action {name:?}")).into());
    };
    let Ok(Form(form)) = form else {
        return Ok(Redirect::to(&format!("/admin/holders/{}", holder.username)).into_response());
    };
    let u = holder.username.to_string();
    let back = Redirect::to(&format!("/admin/holders/{u}")).into_response();
    if !csrf.matches(form.csrf.as_deref()) {
        return Ok(back);
    }
    let reason = form.reason.clone().unwrap_or_default();
    let now = state.console.now();
    let label = device_label(&state, &holder, form.device).await?;
    let again = |problem: &'static str| {
        let p = confirm_page(
            &op,
            &csrf,
            &holder,
            action,
            form.device,
            label.as_deref(),
            Some(problem),
        );
        let mut resp = p.into_response();
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        resp
    };
    if reason.trim().is_empty() {
        return Ok(again(t("理由を入力してください。", "Give the reason.")));
    }
    if action.revokes() && !op.recently_authenticated(now, state.console.settings().reauth) {
        return Ok(again(t(
            "失効の前に、パスキーでもう一度本人確認をしてください。",
            "Confirm it is you with your passkey before a revocation.",
        )));
    }
    if action == Action::Reissue {
        // Printed at once when the font is at hand (the PDF is the only place the password is
        // kept after this page); a holder who cannot be printed (no photo) is said why and
        // nothing is issued.
        let mut pdf = sheet_pdf(&state)?;
        let sheet = state
            .sheets
            .issue_to(&op.actor(), &holder.username, as_sink(&mut pdf))
            .await?;
        return Ok(sheet_issued(&op, csrf, &sheet, None, pdf)?);
    }
    let case = match action {
        Action::Suspend => Case::Suspend,
        Action::Resume => Case::Resume,
        Action::LostCard => Case::LostCard { also_second: false },
        Action::LostCardAll => Case::LostCard { also_second: true },
        Action::LostPhoneDevice => match form.device {
            Some(device) => Case::LostPhoneDevice { device },
            None => return Ok(back),
        },
        Action::LostPhoneSecond => Case::LostPhoneSecond,
        Action::Renew | Action::Reissue => Case::RenewSecond,
    };
    // A renewal's new sheet is printed at once, as a reissued one is.
    let mut pdf = if case == Case::RenewSecond {
        sheet_pdf(&state)?
    } else {
        None
    };
    let outcome = state
        .lifecycle
        .carry_out(
            &op.operator,
            &holder.username,
            case,
            &reason,
            as_sink(&mut pdf),
        )
        .await?;
    match outcome {
        Outcome::Pending { request } => {
            return Ok(
                Redirect::to(&format!("/admin/holders/{u}?requested={}", request.id))
                    .into_response(),
            )
        }
        Outcome::Done {
            result: CaseResult::Renewal(r),
        } => {
            let serial = r.certificate.as_ref().map(|c| c.serial.as_str());
            return Ok(sheet_issued(&op, csrf, &r.sheet, serial, pdf)?);
        }
        Outcome::Done { .. } => {}
    }
    Ok(Redirect::to(&format!("/admin/holders/{u}?done={}", action.name())).into_response())
}
