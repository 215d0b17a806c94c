//! The holder's own page (「利用状況」), after "Sign In" (or registering) on the registration
//! site: the second certificate's status and expiry, the registered devices with "this phone
//! is lost", and the signing history.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hpki_core::domain::device::{DeviceCredential, DeviceState};
use maud::{html, Markup};

use super::Page;
use crate::lang::{english, t};

/// A signature as the holder sees it: when, for which system, how many documents.
pub struct SignatureLine {
    pub at: DateTime<Utc>,
    pub system: String,
    pub documents: usize,
    /// Asked of the holder for those documents (SCAL2), or in a signing session (SCAL1).
    pub consented: bool,
}

/// A system the holder is signed in to (a running signing session).
pub struct SessionLine {
    pub system: String,
    pub card: bool,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// The second certificate as the holder sees it.
pub struct SecondCertificate {
    pub serial: String,
    pub not_after: DateTime<Utc>,
    /// valid, revoked, expired, not_yet_valid.
    pub status: &'static str,
}

/// Everything the page shows.
pub struct HolderView<'a> {
    pub name: &'a str,
    pub username: &'a str,
    pub second: Option<SecondCertificate>,
    pub devices: &'a [DeviceCredential],
    /// The device this browser signed in with.
    pub current_device: Option<i64>,
    pub signatures: &'a [SignatureLine],
    pub sessions: &'a [SessionLine],
    pub csrf: &'a str,
    /// Said at the top after an action (the phone reported lost).
    pub notice: Option<Markup>,
    /// Where the page is (`/register/me` or `/me`) and its forms go.
    pub base: &'static str,
}

/// A time in Japan's time, as a date and minute.
fn jst(at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&hpki_core::clock::japan());
    if english() {
        local.format("%Y-%m-%d %H:%M").to_string()
    } else {
        local.format("%Y年%-m月%-d日 %H:%M").to_string()
    }
}

fn jst_date(at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&hpki_core::clock::japan());
    if english() {
        local.format("%Y-%m-%d").to_string()
    } else {
        local.format("%Y年%-m月%-d日").to_string()
    }
}

fn certificate_status(status: &str) -> &'static str {
    match status {
        "valid" => t("有効", "Valid"),
        "revoked" => t("失効", "Revoked"),
        "expired" => t("有効期限切れ", "Expired"),
        _ => t("有効期間前", "Not yet valid"),
    }
}

fn device_state(state: DeviceState) -> &'static str {
    match state {
        DeviceState::Active => t("利用中", "In use"),
        DeviceState::Suspect => t("停止中（安全のため）", "Stopped (for safety)"),
        DeviceState::ReportedLost => t("停止中（紛失の届出）", "Stopped (reported lost)"),
        DeviceState::Deleted => t("削除済み", "Deleted"),
    }
}

pub fn holder_page(v: &HolderView<'_>) -> Page {
    let title = t("セカンド電子証明書の利用状況", "Your second certificate");
    let mut page = Page::new(
        StatusCode::OK,
        title,
        html! {
            h1 { (title) }
            @if let Some(n) = &v.notice { (n) }
            p.lead { (v.name) "（" (v.username) "）" }

            h2 { (t("セカンド電子証明書", "Second electronic certificate")) }
            @match &v.second {
                Some(c) => {
                    dl.facts {
                        dt { (t("状態", "Status")) }
                        dd { strong { (certificate_status(c.status)) } }
                        dt { (t("有効期限", "Valid until")) }
                        dd { (jst_date(c.not_after)) }
                        dt { (t("シリアル番号", "Serial number")) }
                        dd { code { (c.serial) } }
                    }
                    @if c.status != "valid" {
                        div.notice role="note" {
                            p { (t("この証明書では署名できません。認証局にお問い合わせください。",
                                   "This certificate cannot sign. Contact the certification authority.")) }
                        }
                    }
                }
                None => p { (t("セカンド電子証明書はまだ発行されていません。", "No second certificate has been issued yet.")) }
            }

            h2 { (t("登録済みの端末", "Registered devices")) }
            @if v.devices.is_empty() {
                p { (t("登録済みの端末はありません。", "No device is registered.")) }
            }
            ul.devices {
                @for d in v.devices {
                    li {
                        strong { (d.label) }
                        @if v.current_device == Some(d.id) {
                            " " span.tag { (t("この端末", "This device")) }
                        }
                        br;
                        span.hint {
                            (device_state(d.state)) " ・ "
                            (t("登録 ", "Registered ")) (jst_date(d.created_at))
                            @if let Some(u) = d.last_used_at {
                                " ・ " (t("最終利用 ", "Last used ")) (jst(u))
                            }
                        }
                        @if d.state == DeviceState::Active {
                            form method="post" action=(format!("{}/lost", v.base)) {
                                input type="hidden" name="csrf" value=(v.csrf);
                                input type="hidden" name="device" value=(d.id);
                                button.danger type="submit" aria-label=(lost_label(&d.label)) {
                                    (t("この端末を紛失した", "This phone is lost"))
                                }
                            }
                        }
                    }
                }
            }

            h2 { (t("サインイン中のシステム", "Systems you are signed in to")) }
            @if v.sessions.is_empty() {
                p { (t("サインイン中のシステムはありません。", "You are not signed in to any system.")) }
            } @else {
                ul.devices {
                    @for s in v.sessions {
                        li {
                            strong { (s.system) }
                            br;
                            span.hint {
                                @if s.card { (t("HPKI カード", "HPKI card")) } @else { (t("スマートフォン", "Phone")) }
                                @if let Some(since) = s.since { " ・ " (jst(since)) (t(" から", "")) }
                                @if let Some(until) = s.until { " ・ " (t("署名できる期限 ", "may sign until ")) (jst(until)) }
                            }
                        }
                    }
                }
                form method="post" action=(format!("{}/sign-out", v.base)) {
                    input type="hidden" name="csrf" value=(v.csrf);
                    button.secondary type="submit" { (t("すべてのシステムからサインアウトする", "Sign out of every system")) }
                }
            }

            h2 { (t("署名の履歴", "Signing history")) }
            @if v.signatures.is_empty() {
                p { (t("まだ署名はありません。", "Nothing has been signed yet.")) }
            } @else {
                table.history {
                    caption.visually-hidden { (t("最近の署名（新しい順）", "Recent signatures, newest first")) }
                    thead { tr {
                        th scope="col" { (t("日時", "When")) }
                        th scope="col" { (t("システム", "System")) }
                        th scope="col" { (t("文書数", "Documents")) }
                    } }
                    tbody {
                        @for s in v.signatures {
                            tr {
                                td { (jst(s.at)) }
                                td { (s.system)
                                     @if s.consented { br; span.hint { (t("文書ごとに承認", "Authorized per document")) } } }
                                td { (s.documents) }
                            }
                        }
                    }
                }
            }
            p.hint { (t("身に覚えのない署名がある場合は、すぐに認証局にお問い合わせください。",
                        "If you see a signature you did not make, contact the certification authority at once.")) }
            @if v.base == "/me" {
                form method="post" action="/me/leave" {
                    input type="hidden" name="csrf" value=(v.csrf);
                    button.secondary type="submit" { (t("このページからサインアウトする", "Sign out of this page")) }
                }
            }
        },
    );
    page.switch_to = v.base;
    page
}

/// The button's accessible name: its visible text first (WCAG 2.5.3), then which device.
fn lost_label(label: &str) -> String {
    if english() {
        format!("This phone is lost: {label}")
    } else {
        format!("この端末を紛失した：{label}")
    }
}

/// What the page says after the holder reported a phone lost.
pub fn reported_lost_notice(label: &str, contact: Markup) -> Markup {
    html! {
        div.notice role="status" {
            p { strong { (label) } (t(" の利用を停止しました。この端末ではサインインも署名もできません。",
                                      " has been stopped: it can no longer sign in or sign.")) }
            p { (t("お手元の初期登録用 QR も使えなくなりました（端末や用紙を拾った人が登録できないように）。",
                   "Your initial registration sheet can no longer be used either (so that whoever finds the phone or the sheet cannot register).")) }
            p { (t("続けて、認証局に紛失をご連絡ください。新しい端末は、認証局が発行する新しい初期登録用 QR で登録できます。",
                   "Now tell the certification authority about the loss. A new phone can be registered with a new initial registration sheet, which the certification authority issues.")) }
            (contact)
        }
    }
}

/// The page after the holder reported a phone lost on the registration site: the sheet that
/// opened the page was withdrawn with the phone, so the page itself is closed; this says what
/// happened and what to do.
pub fn reported_lost_page(label: &str, contact: Markup) -> Page {
    let title = t("端末の利用を停止しました", "The phone has been stopped");
    Page::new(
        StatusCode::OK,
        title,
        html! {
            h1 { (title) }
            (reported_lost_notice(label, contact))
        },
    )
}

/// "This phone is lost": what it does, and the button that does it.
pub fn confirm_lost(device_id: i64, label: &str, csrf: &str, base: &'static str) -> Page {
    let title = t("端末の紛失の届出", "Report a lost phone");
    let mut page = Page::new(
        StatusCode::OK,
        title,
        html! {
            h1 { (title) }
            p { strong { (label) } (t(" の利用を停止します。", " will be stopped.")) }
            ul.steps {
                li { (t("この端末では、サインインも署名もできなくなります。", "It can no longer sign in or sign.")) }
                li { (t("お手元の初期登録用 QR も使えなくなります。", "Your initial registration sheet stops working too.")) }
                li { (t("停止は取り消せません。端末が見つかった場合も、認証局に新しい初期登録用 QR を申し込んで登録し直します。",
                        "This cannot be undone: if the phone turns up, ask the certification authority for a new initial registration sheet and register it again.")) }
                li { (t("セカンド電子証明書そのものは有効なままです。", "Your second certificate itself stays valid.")) }
            }
            form method="post" action=(format!("{base}/lost")) {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="device" value=(device_id);
                input type="hidden" name="confirm" value="yes";
                button.danger type="submit" { (t("利用を停止する", "Stop it")) }
            }
            a.button.secondary href=(base) { (t("やめる", "Cancel")) }
        },
    );
    page.switch_to = base;
    page
}

/// What the page says after the holder signed out of every system.
pub fn signed_out_notice(ended: u64) -> Markup {
    html! {
        div.notice role="status" {
            p { (if english() {
                    format!("Signed out of {ended} system(s): they can no longer have your signatures made until you sign in again.")
                } else {
                    format!("{ended} 件のサインインを終了しました。もう一度サインインするまで、これらのシステムでは署名できません。")
                }) }
        }
    }
}

/// A `/me` page that says one thing and offers to sign in again.
fn me_page(status: StatusCode, title: &'static str, body: Markup) -> Page {
    let mut page = Page::new(
        status,
        title,
        html! {
            h1 { (title) }
            (body)
            a.button href="/me" { (t("もう一度サインインする", "Sign in again")) }
        },
    );
    page.switch_to = "/me";
    page
}

/// `/me` after "sign out of every system": the page's own session ended with the others.
pub fn holder_page_signed_out(ended: u64) -> Page {
    me_page(
        StatusCode::OK,
        t("サインアウトしました", "Signed out"),
        signed_out_notice(ended),
    )
}

/// `/me/callback` without a sign-in this browser started (an old or foreign link, cookies
/// off, the login given up): nothing happened; try again.
pub fn holder_page_sign_in_failed() -> Page {
    me_page(
        StatusCode::BAD_REQUEST,
        t("サインインできませんでした", "The sign-in did not complete"),
        html! {
            p { (t("サインインが途中で終わったか、時間が経ちすぎました。このブラウザーで、もう一度はじめからサインインしてください（Cookie を有効にしてください）。",
                   "The sign-in was interrupted or took too long. Sign in again from the start in this browser (with cookies enabled).")) }
        },
    )
}

/// `/me` after "sign out of this page".
pub fn holder_page_left() -> Page {
    me_page(
        StatusCode::OK,
        t("サインアウトしました", "Signed out"),
        html! {
            p { (t("このページからサインアウトしました。サインイン中のシステムはそのままです。",
                   "You signed out of this page. The systems you are signed in to are left as they are.")) }
        },
    )
}
