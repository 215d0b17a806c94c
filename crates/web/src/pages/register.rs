//! The registration site's pages (manual 1.2 (4)-(8)): SignIn, the start screen, the label,
//! completion, and the guidance for browsers that cannot register.

use axum::http::StatusCode;
use maud::html;

use super::Page;
use crate::lang::{english, t};

/// No registration session (no cookie, or it expired): start again from the QR code.
pub fn no_registration() -> Page {
    let title = t(
        "もう一度 QR コードを読み取ってください",
        "Please scan the QR code again",
    );
    Page::new(
        StatusCode::UNAUTHORIZED,
        title,
        html! {
            h1 { (title) }
            p { (t("登録の途中で時間が経ったか、ブラウザが切り替わったため、続きを表示できません。",
                   "Too much time passed, or the browser changed, so the registration cannot continue here.")) }
            p { (t("初期登録用 QR のコードをもう一度読み取り、パスワードの入力からやり直してください。iPhone は Safari、Android は Chrome で開いてください。",
                   "Scan the QR code on your initial registration sheet again and start from the password. Use Safari on an iPhone and Chrome on Android.")) }
        },
    )
}

/// The SignIn screen (manual 1.2 (4)): Username is always filled in.
pub fn sign_in(username: &str, csrf: &str) -> Page {
    let mut page = Page::new(
        StatusCode::OK,
        "SignIn",
        html! {
            h1 { "SignIn" }
            p.lead { (t("Username 欄に本人 ID（初期登録用 QR に記載のユーザー名）が入力されていることを確認して、「SignIn」をタップしてください。",
                        "Check that Username shows your ID (the username printed on the sheet), then tap \"SignIn\".")) }
            form method="post" action="/register/signin" {
                input type="hidden" name="csrf" value=(csrf);
                label for="username" { "Username" }
                // autocomplete=off: browsers do not restore a typed value on Back/Forward, and
                // signin.js puts the holder's Username back if anything else emptied it.
                input #username type="text" name="username" value=(username) required
                    autocapitalize="none" autocorrect="off" spellcheck="false" autocomplete="off";
                button type="submit" { "SignIn" }
            }
            script src="/static/signin.js" defer {}
        },
    );
    page.switch_to = "/register";
    page
}

/// The SignIn screen again, after a Username that is not the holder's: filled in again.
pub fn sign_in_mismatch(username: &str, csrf: &str) -> Page {
    let mut page = sign_in(username, csrf);
    page.status = StatusCode::UNPROCESSABLE_ENTITY;
    page.body = html! {
        div.alert role="alert" {
            (t("入力された Username は、この初期登録用 QR の本人 ID と一致しません。正しい Username を入れ直しましたので、確認して「SignIn」をタップしてください。",
               "That Username is not the ID of this registration sheet. The right Username has been filled in again: check it and tap \"SignIn\"."))
        }
        (page.body)
    };
    page
}

/// Guidance for a browser that cannot register (in-app, or not Safari / Chrome). `url` is the
/// address to open in the right browser, copied by a button.
pub fn wrong_browser(browser: &str, ios: bool, url: Option<&str>) -> Page {
    let right = if ios { "Safari" } else { "Chrome" };
    let en = english();
    let title = t(
        "対応ブラウザで開いてください",
        "Please open this page in Safari or Chrome",
    );
    Page::new(
        StatusCode::OK,
        title,
        html! {
            h1 { (title) }
            div.notice {
                @if en {
                    "This page is open in " strong { (browser) } ". Registration would fail here with \"Security Key Error\"."
                } @else {
                    "このページは " strong { (browser) } " で開かれています。このままでは生体認証の登録で「Security Key Error」になります。"
                }
            }
            @if en {
                p { "Use " strong { "Safari" } " on an iPhone or iPad and " strong { "Chrome" } " on Android." }
            } @else {
                p { "iPhone・iPad は " strong { "Safari" } "、Android は " strong { "Chrome" } " で開いてください。" }
            }
            @if let Some(url) = url {
                @if en {
                    p { "Copy this page's address with the button below, paste it into " (right) "'s address bar and open it." }
                } @else {
                    p { "下のボタンでこのページのアドレスをコピーし、" (right) " のアドレス欄に貼り付けて開いてください。" }
                }
                input #copy-source type="text" readonly value=(url) aria-label=(t("このページのアドレス", "This page's address"));
                button #copy-url type="button" data-url=(url) { (t("アドレスをコピー", "Copy the address")) }
                p #copy-done.hint hidden role="status" {
                    @if en { "Copied. Open " (right) " and paste it." } @else { "コピーしました。" (right) " を開いて貼り付けてください。" }
                }
                script src="/static/copy.js" defer {}
            } @else {
                @if en {
                    p { "Scan the QR code on your sheet again with " (right) " and start from the password." }
                } @else {
                    p { (right) " で初期登録用 QR のコードをもう一度読み取り、パスワードの入力からやり直してください。" }
                }
            }
            @if en {
                p.hint { "You can also set the QR code reader to open links in " (right) "." }
            } @else {
                p.hint { "QR コードを読み取るアプリの設定で、開くブラウザを " (right) " にすることもできます。" }
            }
        },
    )
}

/// What the start screen (manual 1.2 (5)) needs.
pub struct Start<'a> {
    pub csrf: &'a str,
    /// A device is registered: "Sign In" (manual step 8) instead of "Register".
    pub registered: bool,
}

/// The registration start screen: the Register (or Sign In) button, and the explanations the
/// script shows when WebAuthn is missing or fails. The ceremony itself runs in
/// /static/register.js, which calls WebAuthn directly in the tap handler.
pub fn start(s: &Start<'_>) -> Page {
    let (mode, button, title) = if s.registered {
        (
            "signin",
            "Sign In",
            t("登録済みの端末の確認", "Check the registered device"),
        )
    } else {
        (
            "register",
            "Register",
            t("認証情報の登録", "Register your device"),
        )
    };
    Page::new(
        StatusCode::OK,
        title,
        html! {
            meta name="csrf-token" content=(s.csrf);
            h1 { (title) }
            // Present from the start, so that screen readers announce what register.js puts in.
            p #live .visually-hidden role="status" aria-live="polite" {}
            div #ceremony data-mode=(mode) {
                section #ready data-state="" {
                    @if s.registered {
                        p.lead { (t("この初期登録用 QR の本人には、登録済みの端末があります。「Sign In」をタップし、生体認証を行うと、この端末が登録されているか確認できます。",
                                    "A device is registered for you. Tap \"Sign In\" and use your biometrics to check that it is this one.")) }
                    } @else {
                        p.lead { (t("「Register」をタップすると、生体認証（指紋・顔認証など）の画面が表示されます。画面の案内に従って認証してください。",
                                    "Tap \"Register\": your phone asks for your fingerprint or face. Follow what it shows.")) }
                    }
                }
                section #working data-state="" hidden {
                    p role="status" { (t("生体認証の画面を表示しています…", "Waiting for your biometrics…")) }
                }
                section #unsupported data-state="" hidden {
                    div.alert role="alert" {
                        p { (t("このブラウザは生体認証による登録（FIDO2 / WebAuthn）に対応していません。",
                               "This browser cannot register with biometrics (FIDO2 / WebAuthn).")) }
                    }
                    p { (t("iPhone・iPad は Safari、Android は Chrome の最新版で、初期登録用 QR のコードをもう一度読み取ってください。",
                           "Scan the QR code on your sheet again with the latest Safari (iPhone, iPad) or Chrome (Android).")) }
                    p { (t("端末が対応していない場合は、セカンド電子証明書を HPKI カードによる認証でご利用ください。",
                           "If your device cannot do it, use your second certificate with HPKI card authentication.")) }
                }
                section #no-platform data-state="" hidden {
                    div.alert role="alert" {
                        p { (t("この端末では、生体認証（指紋・顔認証）または画面ロックが使えないようです。",
                               "This device does not seem to have biometrics (fingerprint, face) or a screen lock set up.")) }
                    }
                    p { (t("端末の設定で指紋・顔認証（または画面ロック）を登録してから、初期登録用 QR のコードをもう一度読み取ってください。",
                           "Set up fingerprint or face recognition (or a screen lock) in the device settings, then scan the QR code again.")) }
                    p { (t("生体認証に対応していない端末では、セカンド電子証明書を HPKI カードによる認証でご利用ください。",
                           "On a device without biometrics, use your second certificate with HPKI card authentication.")) }
                }
                section #security-key-error data-state="" hidden {
                    div.alert role="alert" {
                        p { strong { "Security Key Error" } (t("：生体認証を完了できませんでした。", ": the biometric check did not complete.")) }
                    }
                    p { (t("次のいずれかが原因と考えられます。", "One of these is the likely cause:")) }
                    ul.steps {
                        @if s.registered {
                            // Phone B scanning the sheet of a holder whose phone A is registered:
                            // the likeliest cause, and what to do (manual 2.2.2).
                            li #not-this-phone { strong { (t("この端末は登録済みの端末ではない", "This is not the registered phone")) }
                                 (t("：登録した端末でお試しください。端末を替えた・なくした場合は、認証局に登録済みの端末の削除を依頼し、新しい初期登録用 QR で新しい端末を登録してください。",
                                    ": try again on the phone you registered. If you changed or lost it, ask the certification authority to delete the registered phone, then register the new one with a new initial registration sheet.")) }
                        }
                        li { strong { (t("端末に生体認証が登録されていない", "No biometrics set up on the device")) }
                             (t("：端末の設定で指紋・顔認証を登録してから、QR コードの読み取りからやり直してください。",
                                ": set up fingerprint or face recognition, then start again by scanning the QR code.")) }
                        li { strong { (t("対応していないブラウザで開いている", "An unsupported browser")) }
                             (t("：iPhone は Safari、Android は Chrome で QR コードを読み取り直してください。",
                                ": scan the QR code again and open it in Safari (iPhone) or Chrome (Android).")) }
                    }
                    p.hint { (t("認証の画面を閉じた場合も、この表示になります。その場合はもう一度ボタンをタップしてください。",
                                "Closing the biometric prompt also shows this; then just tap the button again.")) }
                }
                section #failed data-state="" hidden {
                    div.alert role="alert" { p #failed-message {} }
                }
                noscript {
                    div.alert { (t("このページは JavaScript を使います。ブラウザの設定で JavaScript を有効にしてください。",
                                   "This page needs JavaScript. Turn it on in the browser settings.")) }
                }
                button #go type="button" disabled { (button) }
            }
            script src="/static/webauthn.js" defer {}
            script src="/static/register.js" defer {}
        },
    )
}

/// The label screen (manual 1.2 (7)): filled in automatically; OK saves it.
pub fn label(device_id: i64, label: &str, csrf: &str) -> Page {
    let title = t("ラベル登録", "Label");
    Page::new(
        StatusCode::OK,
        title,
        html! {
            h1 { (title) }
            p.lead { (t("登録した認証情報を見分けるためのラベルです。値は自動で設定されているので、そのまま「OK」をタップしてください。",
                        "A name to tell this registration apart. It is filled in for you: just tap \"OK\".")) }
            form method="post" action="/register/label" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="device" value=(device_id);
                label for="label" { (t("ラベル", "Label")) }
                input #label type="text" name="label" value=(label) maxlength="64" required;
                button type="submit" { "OK" }
            }
        },
    )
}

/// The completion screen (manual 1.2 (8)).
pub fn done() -> Page {
    let title = t("処理が完了しました", "Registration complete");
    Page::new(
        StatusCode::OK,
        title,
        html! {
            h1 { (title) }
            p { (t("この端末を HPKI セカンド電子証明書の認証端末として登録しました。",
                   "This device is now registered for your HPKI second electronic certificate.")) }
            p.hint { (t("登録できたか確かめるには、もう一度初期登録用 QR のコードを読み取ってください。「Register」だったボタンが「Sign In」に変わっていれば、登録は完了しています。",
                        "To check, scan the QR code again: if the \"Register\" button has become \"Sign In\", the registration is complete.")) }
            a.button href="/register/me" { (t("利用状況を見る", "See your certificate and devices")) }
        },
    )
}

/// After a successful Sign In (manual step 8's check).
pub fn signed_in(label: &str) -> Page {
    let title = t("この端末は登録されています", "This device is registered");
    Page::new(
        StatusCode::OK,
        title,
        html! {
            h1 { (title) }
            p { (t("生体認証で本人確認ができました。この端末は HPKI セカンド電子証明書の認証端末として登録されています。",
                   "Your biometrics were verified: this device is registered for your HPKI second electronic certificate.")) }
            p.hint { (t("登録名：", "Registered as: ")) (label) }
            a.button href="/register/me" { (t("利用状況を見る", "See your certificate and devices")) }
        },
    )
}
