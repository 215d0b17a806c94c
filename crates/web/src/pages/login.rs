//! The login page a relying system sends the holder to (the OpenID Connect authorization
//! endpoint): sign in with the passkey registered through the sheet. The ceremony runs in
//! /static/login.js.

use axum::http::StatusCode;
use hpki_core::domain::csc::CredentialConsent;
use maud::{html, Markup};

use super::Page;
use crate::lang::{t, t_owned};

/// The first bytes of a hash, grouped, for the holder to compare with what their system shows.
fn fingerprint(hash: &[u8]) -> String {
    hash.iter()
        .take(8)
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .chunks(2)
        .map(|c| c.concat())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the holder is asked to sign (SCAL2): how many, the documents' names, the hashes.
pub(super) fn consent_list(client_name: &str, c: &CredentialConsent) -> Markup {
    let n = c.hashes.len();
    html! {
        p.lead {
            strong { (client_name) }
            (t_owned(format!(" が、あなたのセカンド電子証明書で次の {n} 件の文書に署名することを求めています。"),
               format!(" asks to sign the following {n} document(s) with your second electronic certificate.")))
        }
        @if let Some(d) = &c.description {
            p { (t("説明：", "Description: ")) (d) }
        }
        ol.documents aria-label=(t("署名する文書", "Documents to be signed")) {
            @for (i, (hash, label)) in c.hashes.iter().zip(&c.labels).enumerate() {
                li {
                    @if label.is_empty() {
                        (t_owned(format!("文書 {}", i + 1), format!("Document {}", i + 1)))
                    } @else {
                        (label)
                    }
                    br;
                    span.hint { (t("ハッシュ値の先頭：", "Hash begins: ")) code { (fingerprint(hash)) } }
                }
            }
        }
        p { (t("承認すると、上の文書だけに、それぞれ一度だけ署名されます。",
               "If you authorize, only the documents above are signed, each once.")) }
    }
}

/// The ways the login page offers: the passkey (with its first options, if made), and the
/// HPKI card (with the service's address, for the card client's command).
pub struct LoginMethods<'a> {
    pub passkey: bool,
    pub options: Option<&'a str>,
    pub card_url: Option<&'a str>,
}

/// The HPKI card part: a button for a code, the code and the command to run, and what went
/// wrong. The flow runs in /static/login.js.
fn card_part(url: &str, consent: bool, alone: bool) -> Markup {
    let go = if consent {
        t("HPKI カードで承認する", "Authorize with the HPKI card")
    } else {
        t("HPKI カードでサインイン", "Sign in with the HPKI card")
    };
    html! {
        section #card aria-labelledby="card-title" data-url=(url) {
            @if alone {
                h2 #card-title .visually-hidden { (go) }
            } @else {
                h2 #card-title { (t("HPKI カードを使う場合", "With your HPKI card")) }
            }
            div #card-ready data-card-state="" {
                p { (t("カードリーダーに HPKI カードを挿したパソコンで、画面に表示されるコードを使ってカードの PIN を入力します。",
                       "On a computer with your HPKI card in its reader, you use the code shown here and enter the card's PIN.")) }
            }
            div #card-waiting data-card-state="" hidden {
                p { (t("このパソコンで次のコマンドを実行し、カードの PIN を入力してください（コードの有効期限は 5 分です）。",
                       "Run this command on this computer and enter the card's PIN (the code is valid for 5 minutes).")) }
                p.card-code aria-label=(t("ワンタイムコード", "One-time code")) { span #card-code {} }
                pre.command { code #card-command {} }
                p.hint { (t("カードリーダーのモジュール（HPKI_CARD_MODULE）と PIN（HPKI_CARD_PIN）の設定は、導入時の案内のとおりです。",
                            "The card reader's module (HPKI_CARD_MODULE) and the PIN (HPKI_CARD_PIN) are set as in your setup guide.")) }
                p.hint role="status" { (t("カードの確認を待っています。確認できると自動的に次へ進みます。",
                                          "Waiting for the card. The page continues by itself once the card is confirmed.")) }
            }
            div #card-failed data-card-state="" hidden {
                div.alert role="alert" { p #card-failed-message {} }
            }
            div #card-done data-card-state="" hidden {
                p role="status" { (t("カードで本人確認ができました。元のシステムに戻ります…", "Confirmed with the card. Returning to the system…")) }
            }
            button #card-go .secondary type="button" { (t("コードを表示する", "Show a code")) }
        }
    }
}

/// The login page: whom the holder signs in to (or what they are asked to authorize), and
/// the ways to answer.
pub fn login(
    client_name: &str,
    consent: Option<&CredentialConsent>,
    csrf: &str,
    methods: LoginMethods<'_>,
    contact: maud::Markup,
) -> Page {
    let options = methods.options;
    let title = if consent.is_some() {
        t("署名の承認", "Authorize signatures")
    } else {
        t(
            "HPKI セカンド電子証明書でサインイン",
            "Sign in with your HPKI second certificate",
        )
    };
    let go = if consent.is_some() {
        t("承認する", "Authorize")
    } else {
        t("サインイン", "Sign in")
    };
    Page::new(
        StatusCode::OK,
        title,
        html! {
            meta name="csrf-token" content=(csrf);
            h1 { (title) }
            @if let Some(c) = consent {
                (consent_list(client_name, c))
            } @else {
                p.lead {
                    strong { (client_name) }
                    (t(" が、セカンド電子証明書による本人確認を求めています。",
                       " asks you to confirm who you are with your second electronic certificate."))
                }
            }
            p #live .visually-hidden role="status" aria-live="polite" {}
            @if methods.passkey {
                (passkey_part(go, options, true))
            }
            @if let Some(url) = methods.card_url {
                (card_part(url, consent.is_some(), !methods.passkey))
            }
            (sign_in_footer(contact))
        },
    )
}

/// How a sign-in page ends: what to do when the phone is lost (a holder whose phone is gone
/// cannot sign in here), whom to call, and the ceremony's scripts.
pub(super) fn sign_in_footer(contact: Markup) -> Markup {
    html! {
        p.hint { (t("登録したスマートフォンを紛失したときは、すぐに認証局にご連絡ください（端末の登録の削除、または証明書の失効を行います）。",
                    "If you lost your registered phone, tell the certification authority at once (it deletes the phone's registration or revokes the certificate).")) }
        (contact)
        script src="/static/webauthn.js" defer {}
        script src="/static/login.js" defer {}
    }
}

/// The passkey's part of a sign-in page: the states /static/login.js moves through, and the
/// button (`go`, its label) that starts the ceremony with `options`. `computer`: the page may
/// be on a computer (it then says to scan the browser's QR code with the phone).
pub(super) fn passkey_part(go: &str, options: Option<&str>, computer: bool) -> Markup {
    html! {
        div #login data-options=[options] {
            section #ready data-state="" {
                @if computer {
                    p { (t_owned(format!("「{go}」をタップし、登録済みのスマートフォンで生体認証（指紋・顔認証など）を行ってください。"),
                           format!("Tap \"{go}\" and use your biometrics (fingerprint, face) on your registered phone."))) }
                } @else {
                    p { (t_owned(format!("「{go}」をタップし、このスマートフォンで生体認証（指紋・顔認証など）を行ってください。"),
                           format!("Tap \"{go}\" and use your biometrics (fingerprint, face) on this phone."))) }
                }
                @if computer {
                    p.hint { (t("パソコンでは、表示される QR コードを登録済みのスマートフォンで読み取ってください。",
                                "On a computer, scan the QR code it shows with your registered phone.")) }
                }
            }
            section #working data-state="" hidden {
                p role="status" { (t("生体認証の画面を表示しています…", "Waiting for your biometrics…")) }
            }
            section #unsupported data-state="" hidden {
                div.alert role="alert" {
                    p { (t("このブラウザは生体認証によるサインイン（FIDO2 / WebAuthn）に対応していません。",
                           "This browser cannot sign in with biometrics (FIDO2 / WebAuthn).")) }
                }
                p { (t("最新の Safari・Chrome・Edge でもう一度お試しください。",
                       "Try again in the latest Safari, Chrome or Edge.")) }
            }
            section #security-key-error data-state="" hidden {
                div.alert role="alert" {
                    p { strong { "Security Key Error" } (t("：生体認証を完了できませんでした。", ": the biometric check did not complete.")) }
                }
                p { (t("次のいずれかが原因と考えられます。", "One of these is the likely cause:")) }
                ul.steps {
                    li { strong { (t("登録済みの端末ではない", "Not the registered phone")) }
                         (t("：初期登録用 QR で登録したスマートフォンでお試しください。端末を替えた・なくした場合は、認証局にお問い合わせください。",
                            ": use the phone you registered with your initial registration sheet. If you changed or lost it, contact the certification authority.")) }
                    li { strong { (t("認証の画面を閉じた", "The prompt was closed")) }
                         (t("：もう一度「サインイン」をタップしてください。",
                            ": tap \"Sign in\" again.")) }
                }
            }
            section #failed data-state="" hidden {
                div.alert role="alert" { p #failed-message {} }
            }
            section #done data-state="" hidden {
                p role="status" { (t("本人確認ができました。元のシステムに戻ります…", "Confirmed. Returning to the system…")) }
            }
            noscript {
                div.alert { (t("このページは JavaScript を使います。ブラウザの設定で JavaScript を有効にしてください。",
                               "This page needs JavaScript. Turn it on in the browser settings.")) }
            }
            button #go type="button" disabled { (go) }
        }
    }
}

/// A sign-in request that cannot be trusted (an unknown relying system, a redirect URI it did
/// not register): shown here, never sent back.
pub fn login_request_refused(why: &str) -> Page {
    let title = t("サインインを始められません", "This sign-in cannot start");
    let mut page = Page::new(
        StatusCode::BAD_REQUEST,
        title,
        html! {
            h1 { (title) }
            div.alert role="alert" {
                p { (t("サインインを求めたシステムの設定に問題があるため、本人確認を始められません。",
                       "The system that sent you here is not set up correctly, so the sign-in cannot start.")) }
            }
            p { (t("このページを閉じ、元のシステムの管理者にお問い合わせください。",
                   "Close this page and contact that system's administrator.")) }
            p.hint { (t("詳細（管理者向け）：", "Details (for the administrator): ")) (why) }
        },
    );
    page.error = true;
    page
}
