//! The holder-facing HTML pages: plain Japanese, no inline script or style (the CSP allows
//! neither), every form with its CSRF field.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hpki_core::domain::sheet::SheetState;
use maud::{html, Markup, DOCTYPE};

/// A rendered page with its status.
pub struct Page {
    pub status: StatusCode,
    pub title: &'static str,
    pub body: Markup,
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let doc = html! {
            (DOCTYPE)
            html lang="ja" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    meta name="robots" content="noindex";
                    title { (self.title) " | HPKI セカンド電子証明書" }
                    link rel="stylesheet" href="/static/site.css";
                }
                body {
                    header.bar { "HPKI セカンド電子証明書 登録サイト" }
                    main { (self.body) }
                }
            }
        };
        let mut resp = (self.status, doc.into_string()).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        resp
    }
}

/// What to do when a sheet cannot be used: ask the CA for a new one (manual 2.1.2, 2.1.3).
const APPLY_AGAIN: &str =
    "認証局に新しい初期登録用 QR の発行を申し込んでください。申し込み方法は、用紙を受け取った窓口（認証局）の案内をご確認ください。";

/// The page for a registration URL that cannot be used, the same whether or not it existed.
pub fn unknown_sheet() -> Page {
    Page {
        status: StatusCode::NOT_FOUND,
        title: "この QR コードは使用できません",
        body: html! {
            h1 { "この QR コードは使用できません" }
            p { "QR コードが正しく読み取れなかったか、この QR コードは登録に使えません。" }
            p { "もう一度 QR コードを読み取ってください。それでもこの画面が表示される場合は、" (APPLY_AGAIN) }
        },
    }
}

/// The page for a sheet that exists but has ended. Says nothing about the holder.
pub fn unusable_sheet(state: SheetState) -> Page {
    let (status, title, body) = match state {
        SheetState::Locked => (
            StatusCode::LOCKED,
            "パスワードの入力回数が上限に達しました",
            html! {
                p { "パスワードを決められた回数間違えたため、この QR コードではモバイルデバイスを登録できなくなりました。" }
                p { "セカンド電子証明書そのものは有効です。" (APPLY_AGAIN) }
            },
        ),
        SheetState::Expired => (
            StatusCode::GONE,
            "この QR コードは有効期限が切れています",
            html! {
                p { "初期登録用 QR には有効期限があります。期限が切れた QR コードではモバイルデバイスを登録できません。" }
                p { "期限が切れたのは QR コードだけで、セカンド電子証明書そのものの期限ではありません。" (APPLY_AGAIN) }
            },
        ),
        SheetState::Superseded => (
            StatusCode::GONE,
            "新しい初期登録用 QR が発行されています",
            html! {
                p { "この QR コードより新しい初期登録用 QR が発行されたため、この QR コードは使えません。" }
                p { "新しい用紙の QR コードを読み取ってください。新しい用紙がお手元にない場合は、認証局にお問い合わせください。" }
            },
        ),
        SheetState::Revoked | SheetState::Active => (
            StatusCode::GONE,
            "この QR コードは取り消されました",
            html! {
                p { "認証局がこの初期登録用 QR を取り消したため、この QR コードは使えません。" }
                p { "モバイルデバイスの登録が必要な場合は、" (APPLY_AGAIN) }
            },
        ),
    };
    Page {
        status,
        title,
        body: html! { h1 { (title) } (body) },
    }
}

/// Why the password form is shown again.
pub enum PasswordProblem {
    Wrong { remaining: u32 },
    Missing,
    TooLong,
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
    let action = format!("/r/{token}");
    Page {
        status,
        title: "パスワードの入力",
        body: html! {
            h1 { "パスワードの入力" }
            @match problem {
                Some(PasswordProblem::Wrong { remaining }) => {
                    div.alert role="alert" {
                        "パスワードが違います。あと " strong { (remaining) " 回" }
                        " 間違えると、この QR コードは使えなくなります。用紙の文字をよく確かめて入力してください。"
                    }
                }
                Some(PasswordProblem::Missing) => {
                    div.alert role="alert" { "パスワードを入力してください。" }
                }
                Some(PasswordProblem::TooLong) => {
                    div.alert role="alert" {
                        "入力が長すぎます。初期登録用 QR に記載された 12 文字のパスワードを入力してください（この入力は回数に数えていません）。"
                    }
                }
                None => {
                    @if remaining < max_attempts {
                        div.notice { "これまでにパスワードを間違えています。あと " (remaining) " 回間違えると、この QR コードは使えなくなります。" }
                    }
                }
            }
            p.lead { "初期登録用 QR の用紙に記載されているパスワードを入力してください。" }
            p.hint { "HPKI カード申請時の暗証番号とは異なります。大文字と小文字は区別されます。" }
            form method="post" action=(action) autocomplete="off" {
                input type="hidden" name="csrf" value=(csrf);
                label for="password" { "パスワード" }
                input #password type="text" name="password" required
                    autocapitalize="none" autocorrect="off" spellcheck="false"
                    autocomplete="off" maxlength="64" aria-describedby="attempts";
                p.hint #attempts { "パスワードを " (max_attempts) " 回間違えると、この QR コードは使えなくなります。" }
                button type="submit" { "次へ" }
            }
        },
    }
}

/// Too many attempts from this address: come back later.
pub fn rate_limited(retry_after_secs: u64) -> Page {
    let minutes = retry_after_secs.div_ceil(60).max(1);
    Page {
        status: StatusCode::TOO_MANY_REQUESTS,
        title: "しばらく待ってから入力してください",
        body: html! {
            h1 { "しばらく待ってから入力してください" }
            p { "短い時間に多くの入力があったため、受付を一時的に止めています。約 " (minutes) " 分後に、もう一度 QR コードを読み取って入力してください。" }
            p.hint { "この待ち時間は QR コードの入力回数には数えていません。" }
        },
    }
}

/// The form was not sent from our page (CSRF check failed) or the page is too old.
pub fn stale_form(token: &str) -> Page {
    let again = format!("/r/{token}");
    Page {
        status: StatusCode::FORBIDDEN,
        title: "ページを開き直してください",
        body: html! {
            h1 { "ページを開き直してください" }
            p { "このページは古くなったか、別の画面から送信されました。入力は受け付けていません（回数にも数えていません）。" }
            a.button href=(again) { "パスワード入力に戻る" }
        },
    }
}

/// No registration session (no cookie, or it expired): start again from the QR code.
pub fn no_registration() -> Page {
    Page {
        status: StatusCode::UNAUTHORIZED,
        title: "もう一度 QR コードを読み取ってください",
        body: html! {
            h1 { "もう一度 QR コードを読み取ってください" }
            p { "登録の途中で時間が経ったか、ブラウザが切り替わったため、続きを表示できません。" }
            p { "初期登録用 QR のコードをもう一度読み取り、パスワードの入力からやり直してください。iPhone は Safari、Android は Chrome で開いてください。" }
        },
    }
}

/// The SignIn screen (manual 1.2 (4)): Username is always filled in.
pub fn sign_in(username: &str, csrf: &str) -> Page {
    Page {
        status: StatusCode::OK,
        title: "SignIn",
        body: html! {
            h1 { "SignIn" }
            p.lead { "Username 欄に本人 ID（初期登録用 QR に記載のユーザー名）が入力されていることを確認して、「SignIn」をタップしてください。" }
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
    }
}

/// A failure of the service itself (the database is down, a bug): nothing the holder did.
pub fn service_problem(status: StatusCode) -> Page {
    Page {
        status,
        title: "ただいま処理できません",
        body: html! {
            h1 { "ただいま処理できません" }
            p { "サービス側の都合で、この操作を完了できませんでした。入力した内容は登録されていません。" }
            p { "しばらく待ってから、もう一度 QR コードを読み取ってください。" }
        },
    }
}

/// The SignIn screen again, after a Username that is not the holder's: filled in again.
pub fn sign_in_mismatch(username: &str, csrf: &str) -> Page {
    let mut page = sign_in(username, csrf);
    page.status = StatusCode::UNPROCESSABLE_ENTITY;
    page.body = html! {
        div.alert role="alert" {
            "入力された Username は、この初期登録用 QR の本人 ID と一致しません。正しい Username を入れ直しましたので、確認して「SignIn」をタップしてください。"
        }
        (page.body)
    };
    page
}

/// Guidance for a browser that cannot register (in-app, or not Safari / Chrome). `url` is the
/// address to open in the right browser, copied by a button.
pub fn wrong_browser(browser: &str, ios: bool, url: Option<&str>) -> Page {
    let right = if ios { "Safari" } else { "Chrome" };
    Page {
        status: StatusCode::OK,
        title: "対応ブラウザで開いてください",
        body: html! {
            h1 { "対応ブラウザで開いてください" }
            div.notice {
                "このページは " strong { (browser) } " で開かれています。このままでは生体認証の登録で「Security Key Error」になります。"
            }
            p { "iPhone・iPad は " strong { "Safari" } "、Android は " strong { "Chrome" } " で開いてください。" }
            @if let Some(url) = url {
                p { "下のボタンでこのページのアドレスをコピーし、" (right) " のアドレス欄に貼り付けて開いてください。" }
                input #copy-source type="text" readonly value=(url) aria-label="このページのアドレス";
                button #copy-url type="button" data-url=(url) { "アドレスをコピー" }
                p #copy-done.hint hidden role="status" { "コピーしました。" (right) " を開いて貼り付けてください。" }
                script src="/static/copy.js" defer {}
            } @else {
                p { (right) " で初期登録用 QR のコードをもう一度読み取り、パスワードの入力からやり直してください。" }
            }
            p.hint { "QR コードを読み取るアプリの設定で、開くブラウザを " (right) " にすることもできます。" }
        },
    }
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
        ("signin", "Sign In", "登録済みの端末の確認")
    } else {
        ("register", "Register", "認証情報の登録")
    };
    Page {
        status: StatusCode::OK,
        title,
        body: html! {
            meta name="csrf-token" content=(s.csrf);
            h1 { (title) }
            div #ceremony data-mode=(mode) {
                section #ready data-state="" {
                    @if s.registered {
                        p.lead { "この初期登録用 QR の本人には、登録済みの端末があります。「Sign In」をタップし、生体認証を行うと、この端末が登録されているか確認できます。" }
                    } @else {
                        p.lead { "「Register」をタップすると、生体認証（指紋・顔認証など）の画面が表示されます。画面の案内に従って認証してください。" }
                    }
                }
                section #working data-state="" hidden {
                    p role="status" { "生体認証の画面を表示しています…" }
                }
                section #unsupported data-state="" hidden {
                    div.alert role="alert" {
                        p { "このブラウザは生体認証による登録（FIDO2 / WebAuthn）に対応していません。" }
                    }
                    p { "iPhone・iPad は Safari、Android は Chrome の最新版で、初期登録用 QR のコードをもう一度読み取ってください。" }
                    p { "端末が対応していない場合は、セカンド電子証明書を HPKI カードによる認証でご利用ください。" }
                }
                section #no-platform data-state="" hidden {
                    div.alert role="alert" {
                        p { "この端末では、生体認証（指紋・顔認証）または画面ロックが使えないようです。" }
                    }
                    p { "端末の設定で指紋・顔認証（または画面ロック）を登録してから、初期登録用 QR のコードをもう一度読み取ってください。" }
                    p { "生体認証に対応していない端末では、セカンド電子証明書を HPKI カードによる認証でご利用ください。" }
                }
                section #security-key-error data-state="" hidden {
                    div.alert role="alert" {
                        p { strong { "Security Key Error" } "：生体認証を完了できませんでした。" }
                    }
                    p { "次のどちらかが原因と考えられます。" }
                    ul.steps {
                        li { strong { "端末に生体認証が登録されていない" } "：端末の設定で指紋・顔認証を登録してから、QR コードの読み取りからやり直してください。" }
                        li { strong { "対応していないブラウザで開いている" } "：iPhone は Safari、Android は Chrome で QR コードを読み取り直してください。" }
                    }
                    p.hint { "認証の画面を閉じた場合も、この表示になります。その場合はもう一度ボタンをタップしてください。" }
                }
                section #failed data-state="" hidden {
                    div.alert role="alert" { p #failed-message {} }
                }
                noscript {
                    div.alert { "このページは JavaScript を使います。ブラウザの設定で JavaScript を有効にしてください。" }
                }
                button #go type="button" disabled { (button) }
            }
            script src="/static/register.js" defer {}
        },
    }
}

/// The label screen (manual 1.2 (7)): filled in automatically; OK saves it.
pub fn label(device_id: i64, label: &str, csrf: &str) -> Page {
    Page {
        status: StatusCode::OK,
        title: "ラベル登録",
        body: html! {
            h1 { "ラベル登録" }
            p.lead { "登録した認証情報を見分けるためのラベルです。値は自動で設定されているので、そのまま「OK」をタップしてください。" }
            form method="post" action="/register/label" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="device" value=(device_id);
                label for="label" { "ラベル" }
                input #label type="text" name="label" value=(label) maxlength="64" required;
                button type="submit" { "OK" }
            }
        },
    }
}

/// The completion screen (manual 1.2 (8)).
pub fn done() -> Page {
    Page {
        status: StatusCode::OK,
        title: "処理が完了しました",
        body: html! {
            h1 { "処理が完了しました" }
            p { "この端末を HPKI セカンド電子証明書の認証端末として登録しました。" }
            p.hint { "登録できたか確かめるには、もう一度初期登録用 QR のコードを読み取ってください。「Register」だったボタンが「Sign In」に変わっていれば、登録は完了しています。" }
        },
    }
}

/// After a successful Sign In (manual step 8's check).
pub fn signed_in(label: &str) -> Page {
    Page {
        status: StatusCode::OK,
        title: "この端末は登録されています",
        body: html! {
            h1 { "この端末は登録されています" }
            p { "生体認証で本人確認ができました。この端末は HPKI セカンド電子証明書の認証端末として登録されています。" }
            p.hint { "登録名：" (label) }
        },
    }
}
