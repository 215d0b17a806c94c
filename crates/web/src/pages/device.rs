//! The phone's pages of the device authorization grant (RFC 8628): the user code typed in (or
//! brought by the QR code), the sign-in for the system on the PC with the phone's passkey or
//! the refusal, and what to do next.

use axum::http::StatusCode;
use hpki_oidc::{DeviceCodeRefusal, DeviceLogin};
use maud::{html, Markup};

use super::login::{consent_list, passkey_part, sign_in_footer};
use super::Page;
use crate::lang::t;

/// Why the code typed opens nothing, and what to do.
fn refusal_text(r: DeviceCodeRefusal) -> (&'static str, &'static str) {
    match r {
        DeviceCodeRefusal::Unreadable => (
            t("コードは英字 8 文字です（例：BCDF-GHJK）。", "The code is 8 letters (for example BCDF-GHJK)."),
            t("パソコンの画面のコードをもう一度入力してください。", "Type the code on the computer's screen again."),
        ),
        DeviceCodeRefusal::Unknown => (
            t("このコードは使えません。打ち間違いか、有効期限（10 分）が切れています。",
              "This code cannot be used: it was mistyped, or it has expired (codes last 10 minutes)."),
            t("パソコンの画面のコードを確かめて入力し直すか、パソコンでサインインをやり直してください。",
              "Check the code on the computer's screen and type it again, or start the sign-in again on the computer."),
        ),
        DeviceCodeRefusal::Used => (
            t("このコードは別のスマートフォンで入力済みです。コードは 1 台でしか使えません。",
              "This code was entered on another phone already: a code works on one phone only."),
            t("パソコンでサインインをやり直し、新しいコードを登録済みのスマートフォンで読み取ってください。",
              "Start the sign-in again on the computer and scan the new code with your registered phone."),
        ),
    }
}

/// Where the holder types the code the PC shows (or why the last one did not work).
pub fn device_entry(csrf: &str, refused: Option<DeviceCodeRefusal>, limited: bool) -> Page {
    let title = t("パソコンでのサインイン", "Sign in on a computer");
    let mut page = Page::new(
        match (refused, limited) {
            (_, true) => StatusCode::TOO_MANY_REQUESTS,
            (Some(_), _) => StatusCode::BAD_REQUEST,
            (None, _) => StatusCode::OK,
        },
        title,
        html! {
            h1 { (title) }
            @if limited {
                div.alert role="alert" {
                    p { (t("コードの入力が続けて行われたため、しばらく受け付けません。",
                           "Too many codes were entered from here: none are taken for a while.")) }
                }
                p { (t("1 分ほど待ってから、もう一度入力してください。", "Wait about a minute and type it again.")) }
            } @else if let Some(r) = refused {
                @let (what, next) = refusal_text(r);
                div.alert role="alert" { p { (what) } }
                p { (next) }
            }
            p { (t("パソコンの画面に表示されているコードを入力してください。画面の QR コードを登録済みのスマートフォンのカメラで読み取ると、入力は要りません。",
                   "Type the code shown on the computer's screen. If you scan the screen's QR code with your registered phone's camera, there is nothing to type.")) }
            form method="post" action="/device" {
                input type="hidden" name="csrf" value=(csrf);
                label for="user_code" { (t("コード（英字 8 文字）", "Code (8 letters)")) }
                input #user_code name="user_code" type="text" autocomplete="one-time-code"
                    autocapitalize="characters" spellcheck="false" inputmode="text"
                    required maxlength="20" placeholder="BCDF-GHJK";
                button type="submit" { (t("次へ", "Next")) }
            }
        },
    );
    page.error = refused.is_some() || limited;
    page.switch_to = "/device";
    page
}

/// The sign-in for the system on the PC: which system, the code to compare, what it asks
/// for; the passkey approves, the form refuses.
pub fn device_login(
    login: &DeviceLogin,
    csrf: &str,
    options: Option<&str>,
    contact: Markup,
) -> Page {
    let (title, go) = if login.consent.is_some() {
        (
            t("署名の承認", "Authorize signatures"),
            t("承認する", "Authorize"),
        )
    } else {
        (
            t(
                "パソコンでのサインインの確認",
                "Confirm a sign-in on a computer",
            ),
            t("承認してサインイン", "Approve and sign in"),
        )
    };
    Page::new(
        StatusCode::OK,
        title,
        html! {
            meta name="csrf-token" content=(csrf);
            h1 { (title) }
            @if let Some(c) = &login.consent {
                (consent_list(&login.client_name, c))
            } @else {
                p.lead {
                    strong { (login.client_name) }
                    (t(" が、パソコンでのサインインを求めています。",
                       " asks you to sign in on a computer."))
                }
            }
            p { (t("パソコンの画面のコードと同じか確かめてください：", "Check that the computer shows the same code:")) }
            p.card-code aria-label=(t("コード", "Code")) { (login.user_code) }
            @if login.consent.is_none() {
                @if login.signing {
                    p { (t("承認すると、このシステムは 18 時間、あなたのセカンド電子証明書で電子処方箋などに署名できるようになります。",
                           "If you approve, this system can sign prescriptions and other documents with your second electronic certificate for 18 hours.")) }
                } @else {
                    p { (t("承認すると、このシステムにあなたの資格と氏名が伝わります。",
                           "If you approve, this system learns your qualification and name.")) }
                }
            }
            p.hint { (t("心当たりがない場合や、コードが違う場合は「拒否する」を押してください。",
                        "If you did not start this, or the codes differ, press \"Refuse\".")) }
            p #live .visually-hidden role="status" aria-live="polite" {}
            (passkey_part(go, options, false))
            form method="post" action="/device/deny" {
                input type="hidden" name="csrf" value=(csrf);
                button.secondary type="submit" { (t("拒否する", "Refuse")) }
            }
            (sign_in_footer(contact))
        },
    )
}

/// After the approval: back to the PC.
pub fn device_done() -> Page {
    let title = t("処理が完了しました", "Done");
    Page::new(
        StatusCode::OK,
        title,
        html! {
            h1 { (title) }
            p { (t("本人確認ができました。パソコンの画面に戻ってください。サインインは自動的に進みます。",
                   "You are confirmed. Go back to the computer: the sign-in continues by itself.")) }
            p.hint { (t("このページは閉じてかまいません。", "You can close this page.")) }
        },
    )
}

/// After a refusal.
pub fn device_denied(already: bool) -> Page {
    let title = t("サインインを拒否しました", "Sign-in refused");
    let mut page = Page::new(
        if already {
            StatusCode::CONFLICT
        } else {
            StatusCode::OK
        },
        title,
        html! {
            h1 { (title) }
            @if already {
                div.alert role="alert" {
                    p { (t("この求めには、すでに答えたか、有効期限が切れています。",
                           "This request was answered already, or it has expired.")) }
                }
            } @else {
                p { (t("パソコンのシステムにはサインインしませんでした。", "The system on the computer was not signed in.")) }
            }
            p { (t("心当たりのない求めが続く場合は、認証局にご連絡ください。",
                   "If requests you did not start keep coming, tell the certification authority.")) }
        },
    );
    page.error = already;
    page
}
