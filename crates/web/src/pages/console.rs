//! The operator console's screens (`/admin`): enrolment, sign-in, holder search, the holder's
//! page, and the manual's section 2 as confirmations with a typed reason. The same templating,
//! CSP, language switch and accessibility rules as the holder pages; the WebAuthn ceremonies
//! run in /static/console.js.

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

/// A request waiting for approval, as the list shows it.
pub struct RequestLine<'a> {
    pub id: i64,
    /// The holder it is for (none: a CA import).
    pub holder: Option<&'a str>,
    /// The holder's name.
    pub holder_name: Option<&'a str>,
    /// The certificates a revocation would revoke: kind and serial.
    pub certificates: &'a [(&'static str, String)],
    pub title: &'static str,
    /// What a CA import would take in.
    pub import: Option<hpki_ca::ImportFingerprint>,
    pub reason: &'a str,
    pub requested_by: &'a str,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// This operator may decide it (an approver, not the requester).
    pub decidable: bool,
    /// Deciding it needs a fresh passkey assertion (a revocation, a CA import).
    pub needs_reauth: bool,
}

pub fn approvals(who: &Who<'_>, requests: &[RequestLine<'_>], notice: Option<Markup>) -> Page {
    let title = t("承認待ちの依頼", "Requests waiting for approval");
    let needs_reauth = requests.iter().any(|r| r.decidable && r.needs_reauth);
    let mut p = console_page(
        StatusCode::OK,
        title,
        html! {
            meta name="csrf-token" content=(who.csrf);
            (who_bar(who))
            @if let Some(n) = notice { (n) }
            h1 { (title) }
            p { (t("失効とセカンド電子証明書の発行は、依頼した人とは別の承認者（approver）が承認して初めて実行されます（二者承認）。",
                   "Revocations and new second certificates are carried out only once an approver other than the requester approves them (dual control).")) }
            @if needs_reauth {
                p #live .visually-hidden role="status" aria-live="polite" {}
                div #console-ceremony data-mode="reauth" {
                    p { (t("失効を承認する前に、パスキーでもう一度本人確認をしてください。", "Before approving a revocation, confirm it is you with your passkey again.")) }
                    div.alert #failed role="alert" hidden { p #failed-message {} }
                    p #reauth-done role="status" hidden { (t("本人確認ができました。", "Confirmed.")) }
                    button #go.secondary type="button" { (t("パスキーで本人確認", "Confirm with my passkey")) }
                }
            }
            @if requests.is_empty() {
                p { (t("承認待ちの依頼はありません。", "No request is waiting.")) }
            }
            @for r in requests {
                section.request aria-labelledby=(format!("request-{}", r.id)) {
                    h2 #(format!("request-{}", r.id)) { (t("依頼 ", "Request ")) (r.id) "：" (r.title) }
                    dl.facts {
                        @if let Some(h) = r.holder {
                            dt { (t("保有者", "Holder")) }
                            dd {
                                @if let Some(name) = r.holder_name { (name) "（" }
                                a href=(format!("/admin/holders/{h}")) { (h) }
                                @if r.holder_name.is_some() { "）" }
                            }
                        }
                        @if !r.certificates.is_empty() {
                            dt { (t("失効する証明書", "Certificates to revoke")) }
                            dd { @for (kind, serial) in r.certificates { (kind_word(kind)) " " code { (serial) } br; } }
                        }
                        @if let Some(f) = &r.import {
                            @for c in &f.certificates {
                                dt { (c.role) " CA" } dd { (c.subject) br; span.mono { "SHA-256 " (c.sha256) } br; (c.key) }
                            }
                            dt { (t("取り込みの指紋", "Import fingerprint")) } dd.mono { (f.digest) }
                        }
                        dt { (t("理由", "Reason")) } dd { (r.reason) }
                        dt { (t("依頼者", "Requested by")) } dd { (r.requested_by) " ・ " (jst(r.requested_at)) }
                        dt { (t("期限", "Expires")) } dd { (jst(r.expires_at)) }
                    }
                    @if r.decidable {
                        form method="post" action=(format!("/admin/approvals/{}/approve", r.id)) {
                            input type="hidden" name="csrf" value=(who.csrf);
                            @if r.needs_reauth {
                                button.danger.needs-reauth type="submit" disabled { (t("承認して実行する", "Approve and carry out")) }
                            } @else {
                                button.danger type="submit" { (t("承認して実行する", "Approve and carry out")) }
                            }
                        }
                        form method="post" action=(format!("/admin/approvals/{}/reject", r.id)) {
                            input type="hidden" name="csrf" value=(who.csrf);
                            label for=(format!("reject-{}", r.id)) { (t("却下の理由", "Why it is rejected")) }
                            input type="text" id=(format!("reject-{}", r.id)) name="reason" required;
                            button.secondary type="submit" { (t("却下する", "Reject")) }
                        }
                    } @else {
                        p.hint { (t("承認できるのは、依頼者以外の承認者（approver）です。", "Only an approver other than the requester can decide it.")) }
                    }
                }
            }
            @if needs_reauth {
                script src="/static/webauthn.js" defer {}
                script src="/static/console.js" defer {}
            }
        },
    );
    p.switch_to = "/admin/approvals";
    p
}

/// A sheet that expires soon, as the batch screen lists it.
pub struct Expiring<'a> {
    pub username: &'a str,
    pub expires_at: DateTime<Utc>,
    pub attempts: String,
}

/// Sheets that expire within `days`, and the one action that reissues and prints them all.
pub fn expiring(
    who: &Who<'_>,
    days: u32,
    sheets: &[Expiring<'_>],
    may_change: bool,
    problem: Option<&str>,
) -> Page {
    let title = t("期限が近い初期登録用 QR", "Sheets expiring soon");
    let mut p = console_page(
        StatusCode::OK,
        title,
        html! {
            (who_bar(who))
            h1 { (title) }
            form.search method="get" action="/admin/sheets" {
                label for="within" { (t("何日以内に期限が切れる用紙", "Expiring within (days)")) }
                input #within type="text" inputmode="numeric" name="within" value=(days);
                button type="submit" { (t("表示", "Show")) }
            }
            @if let Some(why) = problem { div.alert role="alert" { p { (why) } } }
            p role="status" {
                @if english() { (sheets.len()) " sheet(s) expire within " (days) " days" }
                @else { (days) " 日以内に期限が切れる用紙：" (sheets.len()) " 件" }
            }
            @if !sheets.is_empty() {
                table.history {
                    caption.visually-hidden { (t("期限が近い用紙", "Sheets expiring soon")) }
                    thead { tr { th scope="col" { (t("保有者", "Holder")) } th scope="col" { (t("有効期限", "Expires")) } th scope="col" { (t("パスワード誤り", "Wrong passwords")) } } }
                    tbody { @for s in sheets.iter().take(200) { tr {
                        td { a href=(format!("/admin/holders/{}", s.username)) { (s.username) } }
                        td { (jst(s.expires_at)) }
                        td { (s.attempts) }
                    } } }
                }
                @if may_change {
                    form method="post" action="/admin/sheets/reissue" {
                        input type="hidden" name="csrf" value=(who.csrf);
                        input type="hidden" name="within" value=(days);
                        p { (t("これらの保有者（と、用紙のない保有者）に新しい用紙を発行し、1 つの PDF に印刷します。古い用紙は使えなくなります。PDF がダウンロードされます。",
                               "Issues new sheets to these holders (and to holders without one) and prints them in one PDF; the old sheets stop working. The PDF is downloaded.")) }
                        button.danger type="submit" { (t("まとめて再発行して印刷", "Reissue and print them all")) }
                    }
                }
            }
        },
    );
    p.switch_to = "/admin/sheets";
    p
}

/// A phone its holder reported lost, waiting for an operator.
pub struct LostPhone<'a> {
    pub holder: &'a Holder,
    pub device: &'a DeviceCredential,
}

/// The worklist of phones reported lost by their holders.
pub fn lost_phones(who: &Who<'_>, phones: &[LostPhone<'_>], more: bool) -> Page {
    let title = t("紛失が届け出られた端末", "Phones reported lost");
    let mut p = console_page(
        StatusCode::OK,
        title,
        html! {
            (who_bar(who))
            h1 { (title) }
            p { (t("保有者が利用状況ページの「この端末を紛失した」で停止した端末です（その時点で用紙も取り消されています）。保有者に連絡し、保有者のページで端末の削除、またはセカンド電子証明書の失効を行ってください（マニュアル 2.2.2）。削除すると一覧から消えます。",
                   "Phones their holders stopped with \u{201c}This phone is lost\u{201d} on their page (their sheet was withdrawn then). Contact the holder and, on the holder's page, delete the device or revoke the second certificate (manual 2.2.2). Deleted devices leave this list.")) }
            p role="status" {
                @if english() { (phones.len()) " phone(s)" } @else { (phones.len()) " 件" }
                @if more { (t("（先頭のみ表示）", " (the first ones shown)")) }
            }
            @if !phones.is_empty() {
                table.history {
                    caption.visually-hidden { (t("紛失が届け出られた端末（新しい順）", "Phones reported lost, newest first")) }
                    thead { tr {
                        th scope="col" { (t("保有者", "Holder")) }
                        th scope="col" { (t("端末", "Device")) }
                        th scope="col" { (t("登録", "Registered")) }
                        th scope="col" { (t("最終利用", "Last used")) }
                    } }
                    tbody { @for l in phones { tr {
                        td {
                            a href=(format!("/admin/holders/{}", l.holder.username)) { (l.holder.username.to_string()) }
                            br; (l.holder.name_kanji.written())
                        }
                        td { (l.device.label) br; span.hint { "ID " (l.device.id) } }
                        td { (date(l.device.created_at)) }
                        td { (l.device.last_used_at.map_or_else(|| "—".to_owned(), jst)) }
                    } } }
                }
            }
        },
    );
    p.switch_to = "/admin/lost-phones";
    p
}
