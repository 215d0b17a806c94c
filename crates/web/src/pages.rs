//! The holder-facing HTML pages: Japanese by default, English when asked (see `lang`); no
//! inline script or style (the CSP allows neither); every form with its CSRF field.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hpki_core::domain::sheet::SheetState;
use maud::{html, Markup, DOCTYPE};

use crate::lang::{english, t};

/// A rendered page with its status.
pub struct Page {
    pub status: StatusCode,
    pub title: &'static str,
    pub body: Markup,
    /// Where the language switch leads (the page's own address when it has a GET route).
    pub switch_to: &'static str,
    /// The page answers a mistake: its title says so first (what a screen reader reads).
    pub error: bool,
}

impl Page {
    fn new(status: StatusCode, title: &'static str, body: Markup) -> Self {
        Self {
            status,
            title,
            body,
            switch_to: "",
            error: false,
        }
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let en = english();
        let (lang, other, other_code, other_name) = if en {
            ("en", "日本語", "ja", "ja")
        } else {
            ("ja", "English", "en", "en")
        };
        // The same page in the other language: its own query kept (a page that names another
        // address to switch to starts from that address's plain form).
        let kept = if self.switch_to.is_empty() {
            crate::lang::kept_query()
        } else {
            String::new()
        };
        let switch = format!("{}?{kept}lang={other_code}", self.switch_to);
        let doc = html! {
            (DOCTYPE)
            html lang=(lang) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="robots" content="noindex";
                    title {
                        @if self.error { (t("エラー：", "Error: ")) }
                        (self.title) " | " (t("HPKI セカンド電子証明書", "HPKI second electronic certificate"))
                    }
                    link rel="stylesheet" href="/static/site.css";
                    link rel="icon" href="/favicon.ico" type="image/svg+xml";
                }
                body {
                    header.bar {
                        span { (t("HPKI セカンド電子証明書", "HPKI second certificate")) }
                        a.lang href=(switch) hreflang=(other_name) lang=(other_name) { (other) }
                    }
                    main { (self.body) }
                }
            }
        };
        let mut resp = (self.status, doc.into_string()).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        resp.headers_mut().insert(
            header::VARY,
            HeaderValue::from_static("Accept-Language, Cookie"),
        );
        resp
    }
}

/// What to do when a sheet cannot be used: ask the CA for a new one (manual 2.1.2, 2.1.3).
fn apply_again() -> &'static str {
    t(
        "認証局に新しい初期登録用 QR の発行を申し込んでください。申し込み方法は、用紙を受け取った窓口（認証局）の案内をご確認ください。",
        "Apply to the certification authority for a new initial registration sheet; the office that gave you this sheet will tell you how.",
    )
}

/// Whom to contact, when configured: the way out of every page of a sheet that cannot be used.
fn contact_block(contact: &crate::Contact) -> Markup {
    if contact.is_empty() {
        return html! {};
    }
    let tel: String = contact
        .phone
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect();
    html! {
        section.contact aria-labelledby="contact-heading" {
            h2 #contact-heading { (t("お問い合わせ", "Contact")) }
            @if !contact.name.is_empty() { p { (contact.name) } }
            @if !contact.phone.is_empty() {
                p { (t("電話：", "Phone: ")) a href=(format!("tel:{tel}")) { (contact.phone) } }
            }
            @if !contact.url.is_empty() {
                p { a href=(contact.url) { (contact.url) } }
            }
        }
    }
}

/// The page for a registration URL that cannot be used, the same whether or not it existed.
pub fn unknown_sheet(contact: &crate::Contact) -> Page {
    let title = t(
        "この QR コードは使用できません",
        "This QR code cannot be used",
    );
    Page::new(
        StatusCode::NOT_FOUND,
        title,
        html! {
            h1 { (title) }
            p { (t("QR コードが正しく読み取れなかったか、この QR コードは登録に使えません。",
                   "The QR code was not read correctly, or it cannot be used for registration.")) }
            p { (t("もう一度 QR コードを読み取ってください。それでもこの画面が表示される場合は、",
                   "Scan the QR code again. If you see this page again: ")) (apply_again()) }
            (contact_block(contact))
        },
    )
}

/// The page for a sheet that exists but has ended. Says nothing about the holder.
pub fn unusable_sheet(state: SheetState, contact: &crate::Contact) -> Page {
    let (status, title, body) = match state {
        SheetState::Locked => (
            StatusCode::LOCKED,
            t(
                "パスワードの入力回数が上限に達しました",
                "Too many wrong passwords",
            ),
            html! {
                p { (t("パスワードを決められた回数間違えたため、この QR コードではモバイルデバイスを登録できなくなりました。",
                       "The password was entered wrongly too many times, so this QR code can no longer register a mobile device.")) }
                p { (t("セカンド電子証明書そのものは有効です。", "Your second certificate itself is still valid. ")) (apply_again()) }
            },
        ),
        SheetState::Expired => (
            StatusCode::GONE,
            t(
                "この QR コードは有効期限が切れています",
                "This QR code has expired",
            ),
            html! {
                p { (t("初期登録用 QR には有効期限があります。期限が切れた QR コードではモバイルデバイスを登録できません。",
                       "Initial registration QR codes expire; an expired one cannot register a mobile device.")) }
                p { (t("期限が切れたのは QR コードだけで、セカンド電子証明書そのものの期限ではありません。",
                       "Only the QR code has expired, not your second certificate. ")) (apply_again()) }
            },
        ),
        SheetState::Superseded => (
            StatusCode::GONE,
            t(
                "新しい初期登録用 QR が発行されています",
                "A newer registration sheet was issued",
            ),
            html! {
                p { (t("この QR コードより新しい初期登録用 QR が発行されたため、この QR コードは使えません。",
                       "A newer initial registration sheet has been issued for you, so this QR code cannot be used.")) }
                p { (t("新しい用紙の QR コードを読み取ってください。新しい用紙がお手元にない場合は、認証局にお問い合わせください。",
                       "Scan the QR code on the new sheet. If you do not have it, contact the certification authority.")) }
            },
        ),
        SheetState::Revoked | SheetState::Active => (
            StatusCode::GONE,
            t(
                "この QR コードは取り消されました",
                "This QR code was withdrawn",
            ),
            html! {
                p { (t("認証局がこの初期登録用 QR を取り消したため、この QR コードは使えません。",
                       "The certification authority withdrew this initial registration sheet, so its QR code cannot be used.")) }
                p { (t("モバイルデバイスの登録が必要な場合は、", "If you need to register a mobile device: ")) (apply_again()) }
            },
        ),
    };
    Page::new(
        status,
        title,
        html! { h1 { (title) } (body) (contact_block(contact)) },
    )
}

/// Why the password form is shown again.
pub enum PasswordProblem {
    Wrong {
        remaining: u32,
    },
    /// The input could not be the printed password: said why, and that it did not count.
    NotCounted(hpki_core::domain::sheet::PasswordInputError),
}

/// Why typed input cannot be the printed password, in the page's language.
fn not_counted(why: hpki_core::domain::sheet::PasswordInputError) -> String {
    use hpki_core::domain::sheet::{PasswordInputError as E, PASSWORD_LEN};
    let en = english();
    match why {
        E::Empty => t("パスワードを入力してください。", "Enter the password.").to_owned(),
        E::TooLong => {
            if en {
                format!("That is far too long. Enter the {PASSWORD_LEN}-character password printed on the sheet.")
            } else {
                format!("入力が長すぎます。初期登録用 QR に記載された {PASSWORD_LEN} 文字のパスワードを入力してください。")
            }
        }
        E::NotOnTheSheet(c) => {
            if en {
                format!("The password printed on the sheet has no \u{201c}{c}\u{201d}. It uses only letters and the digits 3, 4, 6, 7 and 9 (no 0, O, 1, l, I, 5, S, 2, Z, 8 or B). Check the sheet again.")
            } else {
                format!("「{c}」はパスワードに使われていない文字です。パスワードは英字と数字（3・4・6・7・9）だけで、0・O・1・l・I・5・S・2・Z・8・B は使われていません。用紙をもう一度確かめてください。")
            }
        }
        E::WrongLength { typed } => {
            if en {
                format!("The password has {PASSWORD_LEN} characters; {typed} were entered. Check the sheet again.")
            } else {
                format!("パスワードは {PASSWORD_LEN} 文字です（入力は {typed} 文字でした）。用紙をもう一度確かめてください。")
            }
        }
    }
}

/// The password screen (manual 1.2 (3)).
pub fn password_form(
    token: &str,
    csrf: &str,
    remaining: u32,
    max_attempts: u32,
    problem: Option<PasswordProblem>,
) -> Page {
    let status = match problem {
        None => StatusCode::OK,
        Some(PasswordProblem::Wrong { .. }) => StatusCode::FORBIDDEN,
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let en = english();
    let action = hpki_core::PublicUrl::sheet_path(token);
    let title = t("パスワードの入力", "Enter the password");
    let mut page = Page::new(
        status,
        title,
        html! {
            h1 { (title) }
            @match problem {
                Some(PasswordProblem::Wrong { remaining }) => {
                    div.alert #password-error role="alert" {
                        @if en {
                            "Wrong password. After " strong { (remaining) " more" }
                            " wrong attempts this QR code stops working. Check the characters on the sheet carefully."
                        } @else {
                            "パスワードが違います。あと " strong { (remaining) " 回" }
                            " 間違えると、この QR コードは使えなくなります。用紙の文字をよく確かめて入力してください。"
                        }
                    }
                }
                Some(PasswordProblem::NotCounted(why)) => {
                    div.alert #password-error role="alert" {
                        (not_counted(why))
                        " "
                        (t("（この入力は回数に数えていません）", "(This did not count as an attempt.)"))
                    }
                }
                None => {
                    @if remaining < max_attempts {
                        div.notice {
                            @if en {
                                "A wrong password was entered before. After " (remaining) " more wrong attempts this QR code stops working."
                            } @else {
                                "これまでにパスワードを間違えています。あと " (remaining) " 回間違えると、この QR コードは使えなくなります。"
                            }
                        }
                    }
                }
            }
            p.lead { (t("初期登録用 QR の用紙に記載されているパスワードを入力してください。",
                        "Enter the password printed on your initial registration sheet.")) }
            p.hint { (t("HPKI カード申請時の暗証番号とは異なります。大文字と小文字は区別されます。",
                        "It is not the PIN of your HPKI card. Upper and lower case differ.")) }
            form method="post" action=(action) autocomplete="off" {
                input type="hidden" name="csrf" value=(csrf);
                label for="password" { (t("パスワード", "Password")) }
                // After a mistake: the field is marked invalid, tied to the message, and focused.
                input #password type="text" name="password" required
                    autocapitalize="none" autocorrect="off" spellcheck="false"
                    autocomplete="off" maxlength="64"
                    aria-invalid=[problem.is_some().then_some("true")]
                    aria-describedby=(if problem.is_some() { "password-error attempts" } else { "attempts" })
                    autofocus[problem.is_some()];
                p.hint #attempts {
                    @if en {
                        "After " (max_attempts) " wrong passwords this QR code stops working."
                    } @else {
                        "パスワードを " (max_attempts) " 回間違えると、この QR コードは使えなくなります。"
                    }
                }
                button type="submit" { (t("次へ", "Next")) }
            }
        },
    );
    page.error = problem.is_some();
    page
}

/// Too many attempts from this address: come back later.
pub fn rate_limited(retry_after_secs: u64) -> Page {
    let minutes = retry_after_secs.div_ceil(60).max(1);
    let title = t("しばらく待ってから入力してください", "Please wait a little");
    Page::new(
        StatusCode::TOO_MANY_REQUESTS,
        title,
        html! {
            h1 { (title) }
            @if english() {
                p { "There were many attempts in a short time, so input is paused. Scan the QR code and try again in about " (minutes) " minute(s)." }
            } @else {
                p { "短い時間に多くの入力があったため、受付を一時的に止めています。約 " (minutes) " 分後に、もう一度 QR コードを読み取って入力してください。" }
            }
            p.hint { (t("この待ち時間は QR コードの入力回数には数えていません。", "This pause does not count against the QR code's attempts.")) }
        },
    )
}

/// The form was not sent from our page (CSRF check failed) or the page is too old.
pub fn stale_form(token: &str) -> Page {
    let again = hpki_core::PublicUrl::sheet_path(token);
    let title = t("ページを開き直してください", "Please open the page again");
    Page::new(
        StatusCode::FORBIDDEN,
        title,
        html! {
            h1 { (title) }
            p { (t("このページは古くなったか、別の画面から送信されました。入力は受け付けていません（回数にも数えていません）。",
                   "This page was out of date or sent from elsewhere. Nothing was accepted (and nothing counted as an attempt).")) }
            a.button href=(again) { (t("パスワード入力に戻る", "Back to the password")) }
        },
    )
}

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

/// A failure of the service itself (the database is down, a bug): nothing the holder did.
pub fn service_problem(status: StatusCode) -> Page {
    let title = t(
        "ただいま処理できません",
        "The service cannot do this right now",
    );
    Page::new(
        status,
        title,
        html! {
            h1 { (title) }
            p { (t("サービス側の都合で、この操作を完了できませんでした。入力した内容は登録されていません。",
                   "A problem on our side stopped this. Nothing you entered was registered.")) }
            p { (t("しばらく待ってから、もう一度 QR コードを読み取ってください。",
                   "Please wait a while, then scan the QR code again.")) }
        },
    )
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
        },
    )
}

/// A page's status is what the manual's situation calls for.
#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use hpki_core::domain::sheet::SheetState;

    #[test]
    fn every_unusable_state_has_its_own_page_and_status() {
        let mut titles = std::collections::HashSet::new();
        for (state, status) in [
            (SheetState::Locked, StatusCode::LOCKED),
            (SheetState::Expired, StatusCode::GONE),
            (SheetState::Superseded, StatusCode::GONE),
            (SheetState::Revoked, StatusCode::GONE),
        ] {
            let p = unusable_sheet(state, &crate::Contact::default());
            assert_eq!(p.status, status, "{state:?}");
            assert!(titles.insert(p.title), "{state:?} shares a page");
        }
        let contact = crate::Contact::default();
        assert_eq!(unknown_sheet(&contact).status, StatusCode::NOT_FOUND);
    }
}
