//! The operator console's screens (`/admin`): enrolment, sign-in, holder search, the holder's
//! page, and the manual's section 2 as confirmations with a typed reason. The same templating,
//! CSP, language switch and accessibility rules as the holder pages; the WebAuthn ceremonies
//! run in /static/console.js. The worklists (approvals, expiring sheets, lost phones) are in
//! [`worklists`].

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hpki_core::domain::device::{DeviceCredential, DeviceState};
use hpki_core::domain::Holder;
use maud::{html, Markup};

use super::Page;
use crate::lang::{english, t};

fn jst(at: DateTime<Utc>) -> String {
    at.with_timezone(&hpki_core::clock::japan())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn date(at: DateTime<Utc>) -> String {
    at.with_timezone(&hpki_core::clock::japan())
        .format("%Y-%m-%d")
        .to_string()
}

/// The signed-in operator's line: who, which role, sign out.
pub struct Who<'a> {
    pub name: &'a str,
    pub role: &'a str,
    pub csrf: &'a str,
}

fn who_bar(w: &Who<'_>) -> Markup {
    html! {
        div.console-bar {
            span { (t("オペレーター：", "Operator: ")) strong { (w.name) } " (" (w.role) ")" }
            a href="/admin" { (t("検索", "Search")) }
            a href="/admin/approvals" { (t("承認待ち", "Approvals")) }
            a href="/admin/sheets" { (t("期限が近い用紙", "Expiring sheets")) }
            a href="/admin/lost-phones" { (t("紛失の届出", "Lost phones")) }
            form method="post" action="/admin/sign-out" {
                input type="hidden" name="csrf" value=(w.csrf);
                button.link type="submit" { (t("サインアウト", "Sign out")) }
            }
        }
    }
}

fn console_page(status: StatusCode, title: &'static str, body: Markup) -> Page {
    let mut p = Page::new(status, title, body);
    p.switch_to = "";
    p
}

/// The enrolment link's page: register a passkey or security key for the console.
pub fn enrol(operator: &str, link: &str, csrf: &str) -> Page {
    let title = t("コンソールの利用登録", "Console enrolment");
    console_page(
        StatusCode::OK,
        title,
        html! {
            meta name="csrf-token" content=(csrf);
            h1 { (title) }
            p.lead { (t("オペレーター ", "Operator ")) strong { (operator) } }
            p { (t("このパソコンのパスキー、またはセキュリティキーを登録します。登録後は、それでコンソールにサインインします（パスワードはありません）。",
                   "Register a passkey on this computer, or a security key. You then sign in to the console with it (there is no password).")) }
            p #live .visually-hidden role="status" aria-live="polite" {}
            div #console-ceremony data-mode="enrol" data-link=(link) {
                div.alert #failed role="alert" hidden { p #failed-message {} }
                button #go type="button" { (t("パスキーを登録する", "Register a passkey")) }
            }
            script src="/static/webauthn.js" defer {}
            script src="/static/console.js" defer {}
        },
    )
}

/// A link that does not work (used, expired, unknown).
pub fn enrol_unusable() -> Page {
    let title = t(
        "この登録用リンクは使えません",
        "This enrolment link cannot be used",
    );
    let mut p = console_page(
        StatusCode::NOT_FOUND,
        title,
        html! {
            h1 { (title) }
            p { (t("登録用リンクは一度だけ、発行から 24 時間使えます。管理者に新しいリンクを依頼してください（hpki-second operator enrol --name …）。",
                   "An enrolment link works once, for 24 hours. Ask an administrator for a new one (hpki-second operator enrol --name …).")) }
        },
    );
    p.error = true;
    p
}

/// The console's sign-in; `enrolled` after an enrolment just finished.
pub fn login(csrf: &str, enrolled: bool) -> Page {
    let title = t("コンソールにサインイン", "Sign in to the console");
    let mut p = console_page(
        StatusCode::OK,
        title,
        html! {
            meta name="csrf-token" content=(csrf);
            h1 { (title) }
            @if enrolled {
                div.notice role="status" {
                    p { (t("パスキーを登録しました。オペレーター名を入力し、そのパスキーでサインインしてください。",
                           "Your passkey is registered. Enter your operator name and sign in with it.")) }
                }
            }
            p #live .visually-hidden role="status" aria-live="polite" {}
            div #console-ceremony data-mode="login" {
                label for="name" { (t("オペレーター名", "Operator name")) }
                input #name type="text" name="name" autocomplete="username webauthn" autocapitalize="none" spellcheck="false" required;
                div.alert #failed role="alert" hidden { p #failed-message {} }
                button #go type="button" { (t("パスキーでサインイン", "Sign in with a passkey")) }
            }
            script src="/static/webauthn.js" defer {}
            script src="/static/console.js" defer {}
        },
    );
    p.switch_to = "/admin/login";
    p
}

/// A holder in a list of matches.
pub struct Found<'a> {
    pub holders: &'a [Holder],
    pub total: usize,
}

pub fn search(who: &Who<'_>, q: &str, found: Option<Found<'_>>, problem: Option<&str>) -> Page {
    let title = t("保有者の検索", "Find a holder");
    let mut p = console_page(
        StatusCode::OK,
        title,
        html! {
            (who_bar(who))
            h1 { (title) }
            form.search method="get" action="/admin" role="search" {
                label for="q" { (t("登録番号・ユーザー名・氏名（漢字・かな・ローマ字）", "Registry number, username or name (kanji, kana, romaji)")) }
                input #q type="text" name="q" value=(q) autocomplete="off" aria-describedby=[problem.map(|_| "q-problem")];
                @if let Some(why) = problem { p.alert #q-problem role="alert" { (why) } }
                button type="submit" { (t("検索", "Search")) }
            }
            @if let Some(f) = found {
                p role="status" {
                    @if english() { (f.total) " holder(s) match" } @else { (f.total) " 件" }
                    @if f.total > f.holders.len() {
                        (t("（先頭の ", " (the first ")) (f.holders.len()) (t(" 件を表示）", " shown)"))
                    }
                }
                @if !f.holders.is_empty() {
                    a href=(format!("/admin/export.csv?q={}", url_encoded(q))) download="holders.csv" {
                        (t("検索結果をすべて CSV で書き出す", "Export every match as CSV"))
                    }
                    table.history {
                        caption.visually-hidden { (t("検索結果", "Matches")) }
                        thead { tr {
                            th scope="col" { (t("ユーザー名", "Username")) }
                            th scope="col" { (t("氏名", "Name")) }
                            th scope="col" { (t("状態", "Status")) }
                        } }
                        tbody {
                            @for h in f.holders {
                                tr {
                                    td { a href=(format!("/admin/holders/{}", h.username)) { (h.username.to_string()) } }
                                    td { (h.name_kanji.written()) br; span.hint { (h.name_kana.as_str()) } }
                                    td { (status_word(h.status.as_str())) }
                                }
                            }
                        }
                    }
                }
            }
        },
    );
    p.switch_to = "/admin";
    p
}

fn url_encoded(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn status_word(s: &str) -> &'static str {
    match s {
        "active" => t("有効", "Active"),
        "suspended" => t("停止中", "Suspended"),
        "valid" => t("有効", "Valid"),
        "revoked" => t("失効", "Revoked"),
        "expired" => t("期限切れ", "Expired"),
        "not_yet_valid" => t("有効期間前", "Not yet valid"),
        "locked" => t("ロック", "Locked"),
        "superseded" => t("再発行済み", "Superseded"),
        _ => t("その他", "Other"),
    }
}

fn device_word(s: DeviceState) -> &'static str {
    match s {
        DeviceState::Active => t("利用中", "Active"),
        DeviceState::Suspect => t("停止（安全のため）", "Stopped (suspect)"),
        DeviceState::ReportedLost => t("停止（本人が紛失を届出）", "Stopped (reported lost)"),
        DeviceState::Deleted => t("削除済み", "Deleted"),
    }
}

/// A certificate as the console lists it.
pub struct CertificateLine {
    pub serial: String,
    pub kind: &'static str,
    pub status: &'static str,
    pub not_after: DateTime<Utc>,
}

/// A sheet as the console lists it.
pub struct SheetLine {
    pub state: &'static str,
    pub attempts: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// An audit event as the console lists it.
pub struct TrailLine {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// The reason typed for it (the event's `reason`), if any.
    pub reason: Option<String>,
}

/// Everything the console's holder page shows.
pub struct HolderPage<'a> {
    pub who: Who<'a>,
    pub holder: &'a Holder,
    pub certificates: &'a [CertificateLine],
    pub devices: &'a [DeviceCredential],
    pub sheets: &'a [SheetLine],
    pub signatures: &'a [(DateTime<Utc>, String, usize)],
    pub trail: &'a [TrailLine],
    /// The oldest event shown, to page back.
    pub older: Option<i64>,
    pub may_change: bool,
    pub notice: Option<Markup>,
}

fn kind_word(kind: &str) -> &'static str {
    match kind {
        "second" => t("セカンド電子証明書", "Second certificate"),
        "card-sign" => t("HPKI カード（署名用）", "HPKI card (signing)"),
        "card-auth" => t("HPKI カード（認証用）", "HPKI card (authentication)"),
        _ => t("その他", "Other"),
    }
}

/// A button that asks for the confirmation of an action.
fn action(username: &str, name: &str, label: &str, csrf: &str, device: Option<i64>) -> Markup {
    html! {
        form.action method="post" action=(format!("/admin/holders/{username}/confirm/{name}")) {
            input type="hidden" name="csrf" value=(csrf);
            @if let Some(d) = device { input type="hidden" name="device" value=(d); }
            button.secondary type="submit" { (label) }
        }
    }
}

pub fn holder(v: &HolderPage<'_>) -> Page {
    let h = v.holder;
    let u = h.username.to_string();
    let title = t("保有者", "Holder");
    let csrf = v.who.csrf;
    console_page(
        StatusCode::OK,
        title,
        html! {
            (who_bar(&v.who))
            @if let Some(n) = &v.notice { (n) }
            meta name="csrf-token" content=(csrf);
            h1 { (h.name_kanji.written()) "（" (u) "）" }
            div.holder-head {
                @if h.photo_sha256.is_some() {
                    img.photo src=(format!("/admin/holders/{u}/photo")) alt=(t("顔写真", "Face photo")) width="120";
                } @else {
                    p.hint { (t("顔写真が登録されていません（用紙を印刷できません）。", "No face photo on record (no sheet can be printed).")) }
                }
                dl.facts {
                    dt { (t("フリガナ", "Kana")) } dd { (h.name_kana.as_str()) }
                    dt { (t("ローマ字", "Romaji")) } dd { (h.name_roman.as_ref().map_or("—", |r| r.as_str())) }
                    dt { (t("生年月日", "Date of birth")) } dd { (h.date_of_birth.to_string()) }
                    dt { (t("資格", "Qualification")) } dd { (t(h.qualification.name_ja(), h.qualification.code())) }
                    dt { (t("状態", "Status")) } dd { strong { (status_word(h.status.as_str())) } }
                    dt { (t("登録", "Registered")) } dd { (jst(h.created_at)) }
                }
            }

            @if v.may_change {
                div #photo-upload data-path=(format!("/admin/holders/{u}/photo")) {
                    label for="photo-file" {
                        @if h.photo_sha256.is_some() { (t("顔写真を差し替える（JPEG・PNG）", "Replace the face photo (JPEG, PNG)")) }
                        @else { (t("顔写真を登録する（JPEG・PNG）", "Set the face photo (JPEG, PNG)")) }
                    }
                    input #photo-file type="file" accept="image/jpeg,image/png";
                    div.alert #photo-failed role="alert" hidden { p #photo-failed-message {} }
                    button #photo-go.secondary type="button" { (t("アップロード", "Upload")) }
                }
                script src="/static/console-photo.js" defer {}
            }

            h2 { (t("証明書", "Certificates")) }
            @if v.certificates.is_empty() { p { (t("発行された証明書はありません。", "No certificate has been issued.")) } }
            @else {
                table.history {
                    caption.visually-hidden { (t("証明書", "Certificates")) }
                    thead { tr { th scope="col" { (t("種類", "Kind")) } th scope="col" { (t("状態", "Status")) } th scope="col" { (t("有効期限", "Valid until")) } th scope="col" { (t("シリアル番号", "Serial")) } } }
                    tbody { @for c in v.certificates { tr {
                        td { (kind_word(c.kind)) } td { (status_word(c.status)) } td { (date(c.not_after)) } td { code { (c.serial) } }
                    } } }
                }
            }

            h2 { (t("登録済みの端末", "Registered devices")) }
            @if v.devices.is_empty() { p { (t("登録済みの端末はありません。", "No device is registered.")) } }
            @else {
                table.history {
                    caption.visually-hidden { (t("登録済みの端末", "Registered devices")) }
                    thead { tr { th scope="col" { (t("名前", "Label")) } th scope="col" { (t("状態", "State")) } th scope="col" { (t("登録", "Registered")) } th scope="col" { (t("最終利用", "Last used")) } @if v.may_change { th scope="col" { (t("操作", "Action")) } } } }
                    tbody { @for d in v.devices { tr {
                        td { (d.label) br; span.hint { "ID " (d.id) } }
                        td { (device_word(d.state)) }
                        td { (date(d.created_at)) }
                        td { (d.last_used_at.map_or_else(|| "—".to_owned(), jst)) }
                        @if v.may_change { td { (action(&u, "lost-phone-device", t("削除（端末の紛失）", "Delete (phone lost)"), csrf, Some(d.id))) } }
                    } } }
                }
            }

            h2 { (t("初期登録用 QR", "Registration sheets")) }
            @if v.sheets.is_empty() { p { (t("発行された用紙はありません。", "No sheet has been issued.")) } }
            @else {
                table.history {
                    caption.visually-hidden { (t("初期登録用 QR", "Registration sheets")) }
                    thead { tr { th scope="col" { (t("状態", "State")) } th scope="col" { (t("パスワード誤り", "Wrong passwords")) } th scope="col" { (t("発行", "Issued")) } th scope="col" { (t("有効期限", "Expires")) } } }
                    tbody { @for s in v.sheets { tr {
                        td { (status_word(s.state)) } td { (s.attempts) } td { (jst(s.issued_at)) } td { (jst(s.expires_at)) }
                    } } }
                }
            }

            @if v.may_change {
                h2 { (t("手続き（マニュアル 2 章）", "Cases (manual section 2)")) }
                div.actions {
                    (action(&u, "reissue", t("初期登録用 QR を再発行（期限切れ・ロック）", "Reissue the sheet (expired, locked)"), csrf, None))
                    (action(&u, "lost-card", t("HPKI カード紛失：カードの証明書のみ失効", "HPKI card lost: revoke the card certificates only"), csrf, None))
                    (action(&u, "lost-card-all", t("HPKI カード紛失：セカンド電子証明書も失効", "HPKI card lost: revoke the second certificate too"), csrf, None))
                    (action(&u, "lost-phone-second", t("スマートフォン紛失：セカンド電子証明書を失効", "Phone lost: revoke the second certificate"), csrf, None))
                    (action(&u, "renew", t("セカンド電子証明書と用紙を新しく発行", "Issue a new second certificate and sheet"), csrf, None))
                    @if h.status.as_str() == "active" {
                        (action(&u, "suspend", t("利用を停止", "Suspend"), csrf, None))
                    } @else {
                        (action(&u, "resume", t("利用を再開", "Resume"), csrf, None))
                    }
                }
            }

            h2 { (t("署名の履歴", "Signatures")) }
            @if v.signatures.is_empty() { p { (t("署名はありません。", "No signatures.")) } }
            @else {
                table.history {
                    caption.visually-hidden { (t("署名の履歴（新しい順）", "Signatures, newest first")) }
                    thead { tr { th scope="col" { (t("日時", "When")) } th scope="col" { (t("システム", "System")) } th scope="col" { (t("文書数", "Documents")) } } }
                    tbody { @for (at, system, n) in v.signatures { tr { td { (jst(*at)) } td { (system) } td { (n) } } } }
                }
            }

            h2 { (t("監査ログ", "Audit trail")) }
            table.history {
                caption.visually-hidden { (t("この保有者に関する記録（新しい順）", "Events about this holder, newest first")) }
                thead { tr { th scope="col" { "#" } th scope="col" { (t("日時", "When")) } th scope="col" { (t("操作者", "Actor")) } th scope="col" { (t("内容", "Action")) } } }
                tbody { @for e in v.trail { tr {
                    td { (e.seq) } td { (jst(e.at)) } td { (e.actor) }
                    td {
                        code { (e.action) } br; span.hint { (e.target) }
                        @if let Some(r) = &e.reason { br; (t("理由：", "Reason: ")) (r) }
                    }
                } } }
            }
            @if let Some(seq) = v.older {
                a href=(format!("/admin/holders/{u}?before={seq}")) { (t("さらに古い記録", "Older events")) }
            }
        },
    )
}

/// What an action is, as the confirmation says it.
pub struct Confirm<'a> {
    pub who: Who<'a>,
    pub username: &'a str,
    pub name: &'a str,
    pub action: &'a str,
    pub title: &'static str,
    pub effect: &'static str,
    pub device: Option<i64>,
    /// The device's label, when the action is about one.
    pub device_label: Option<&'a str>,
    /// A revocation: a fresh passkey assertion first.
    pub needs_reauth: bool,
    pub problem: Option<&'static str>,
}

pub fn confirm(c: &Confirm<'_>) -> Page {
    let title = t("手続きの確認", "Confirm");
    let mut p = console_page(
        StatusCode::OK,
        title,
        html! {
            meta name="csrf-token" content=(c.who.csrf);
            (who_bar(&c.who))
            h1 { (c.title) }
            p.lead { (c.name) "（" (c.username) "）" }
            @if let (Some(id), Some(label)) = (c.device, c.device_label) {
                p { (t("端末：", "Device: ")) strong { (label) } " (ID " (id) ")" }
            }
            div.notice { p { (c.effect) } }
            @if let Some(why) = c.problem { div.alert role="alert" { p { (why) } } }
            form method="post" action=(format!("/admin/holders/{}/do/{}", c.username, c.action)) {
                input type="hidden" name="csrf" value=(c.who.csrf);
                @if let Some(d) = c.device { input type="hidden" name="device" value=(d); }
                label for="reason" { (t("理由（監査ログに残ります）", "Reason (kept in the audit log)")) }
                textarea #reason name="reason" rows="3" required {}
                @if c.needs_reauth {
                    p #live .visually-hidden role="status" aria-live="polite" {}
                    div #console-ceremony data-mode="reauth" {
                        p { (t("失効の前に、パスキーでもう一度本人確認をしてください。", "Before a revocation, confirm it is you with your passkey again.")) }
                        div.alert #failed role="alert" hidden { p #failed-message {} }
                        p #reauth-done role="status" hidden { (t("本人確認ができました。", "Confirmed.")) }
                        button #go.secondary type="button" { (t("パスキーで本人確認", "Confirm with my passkey")) }
                    }
                }
                // Disabled until the fresh assertion when one is needed (console.js enables it;
                // the server checks it again).
                button.danger #do type="submit" disabled[c.needs_reauth] { (t("実行する", "Do it")) }
            }
            a.button.secondary href=(format!("/admin/holders/{}", c.username)) { (t("やめる", "Cancel")) }
            @if c.needs_reauth {
                script src="/static/webauthn.js" defer {}
                script src="/static/console.js" defer {}
            }
        },
    );
    p.switch_to = "";
    p
}

/// A new sheet's address and password, shown once.
/// A new sheet: its address and password shown once, and its PDF (base64) when it was printed.
pub struct Issued<'a> {
    pub username: &'a str,
    pub url: &'a str,
    pub password: &'a str,
    pub expires: DateTime<Utc>,
    pub certificate: Option<&'a str>,
    pub pdf: Option<&'a str>,
}

pub fn sheet_issued(who: &Who<'_>, i: &Issued<'_>) -> Page {
    let (username, url, password, expires, certificate) =
        (i.username, i.url, i.password, i.expires, i.certificate);
    let title = t("用紙を発行しました", "Sheet issued");
    console_page(
        StatusCode::OK,
        title,
        html! {
            (who_bar(who))
            h1 { (title) }
            @if let Some(serial) = certificate {
                p { (t("新しいセカンド電子証明書：", "New second certificate: ")) code { (serial) } }
            }
            div.notice {
                p { (t("この画面にだけ表示されます。用紙を印刷するか、保有者に安全な方法で伝えてください。古い用紙は使えなくなりました。",
                       "Shown only here. Print the sheet or give it to the holder safely. The old sheet no longer works.")) }
            }
            dl.facts {
                dt { (t("保有者", "Holder")) } dd { (username) }
                dt { "URL" } dd { code { (url) } }
                dt { (t("パスワード", "Password")) } dd { code.password { (password) } }
                dt { (t("有効期限", "Expires")) } dd { (jst(expires)) }
            }
            @if let Some(pdf) = i.pdf {
                a.button download=(format!("sheet-{username}.pdf")) href=(format!("data:application/pdf;base64,{pdf}")) {
                    (t("用紙の PDF をダウンロード", "Download the sheet's PDF"))
                }
            } @else {
                p.hint { (t("この用紙は PDF にしていません（このサーバーに印刷用のフォントがありません）。PDF が必要なら、フォントのあるところで hpki-second sheet reissue --holder ",
                            "This sheet was not made into a PDF (this server has no sheet font). For a PDF, run where the font is: hpki-second sheet reissue --holder ")) (username) " --out sheet.pdf" }
            }
            a.button href=(format!("/admin/holders/{username}")) { (t("保有者のページへ", "Back to the holder")) }
        },
    )
}

/// What an action changed, at the top of the holder's page.
pub fn done_notice(text: String) -> Markup {
    html! { div.notice role="status" { p { (text) } } }
}

/// The console's links, for pages that do not know who is signed in (refusals).
fn console_links() -> Markup {
    html! {
        nav.console-bar aria-label=(t("コンソール", "Console")) {
            a href="/admin" { (t("検索", "Search")) }
            a href="/admin/approvals" { (t("承認待ち", "Approvals")) }
            a href="/admin/sheets" { (t("期限が近い用紙", "Expiring sheets")) }
            a href="/admin/lost-phones" { (t("紛失の届出", "Lost phones")) }
        }
    }
}

/// A refusal: what cannot be done and why, in the page's language, with the console's links;
/// `detail` (the service's own words, for the record) under it when there is more to say.
pub fn refused(why: &str, detail: Option<&str>) -> Page {
    let title = t("この操作はできません", "Not allowed");
    let mut p = console_page(
        StatusCode::FORBIDDEN,
        title,
        html! {
            (console_links())
            h1 { (title) }
            div.alert role="alert" { @for line in why.lines() { p { (line) } } }
            @if let Some(d) = detail {
                details { summary { (t("詳細（記録用）", "Details (for the record)")) } pre.mono { (d) } }
            }
            a href="/admin" { (t("検索へ戻る", "Back to search")) }
        },
    );
    p.error = true;
    p
}

/// An operator whose role only reads, or another refusal already in the page's language.
pub fn forbidden(why: &str) -> Page {
    refused(why, None)
}

mod worklists;
pub use worklists::{approvals, expiring, lost_phones, Expiring, LostPhone, RequestLine};
