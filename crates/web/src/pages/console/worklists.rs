//! The console's worklists: requests waiting for an approver, sheets expiring soon, phones
//! their holders reported lost. Each a list with the one action it leads to.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hpki_core::domain::device::DeviceCredential;
use hpki_core::domain::Holder;
use maud::{html, Markup};

use super::{console_page, date, jst, kind_word, who_bar, Who};
use crate::lang::{english, t};
use crate::pages::Page;

/// A request waiting for approval, as the list shows it.
pub struct RequestLine<'a> {
    pub id: i64,
    /// The holder it is for (none: a CA import).
    pub holder: Option<&'a hpki_core::domain::Username>,
    /// The holder's name.
    pub holder_name: Option<&'a str>,
    /// The certificates a revocation would revoke: kind and serial.
    pub certificates: &'a [(&'static str, String)],
    pub title: &'static str,
    /// What a CA import would take in.
    pub import: Option<&'a hpki_ca::ImportFingerprint>,
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
