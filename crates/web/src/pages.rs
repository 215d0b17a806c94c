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
                input #username type="text" name="username" value=(username) required
                    autocapitalize="none" autocorrect="off" spellcheck="false" autocomplete="username";
                button type="submit" { "SignIn" }
            }
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
