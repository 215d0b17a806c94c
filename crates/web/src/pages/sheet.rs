//! The sheet's own pages (manual 1.2 (3), 2.1.2, 2.1.3): the password screen and why a sheet
//! cannot be used, with the way out (apply again, the contact).

use axum::http::StatusCode;
use hpki_core::domain::sheet::SheetState;
use maud::{html, Markup};

use super::Page;
use crate::lang::{english, t};

/// What to do when a sheet cannot be used: ask the CA for a new one (manual 2.1.2, 2.1.3).
fn apply_again() -> &'static str {
    t(
        "認証局に新しい初期登録用 QR の発行を申し込んでください。申し込み方法は、用紙を受け取った窓口（認証局）の案内をご確認ください。",
        "Apply to the certification authority for a new initial registration sheet; the office that gave you this sheet will tell you how.",
    )
}

/// Whom to contact, when configured: the way out of every page of a sheet that cannot be used.
pub(super) fn contact_block(contact: &crate::Contact) -> Markup {
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
                p { (t("この初期登録用 QR は取り消されたため、使えません。認証局が取り消したか、登録した端末の紛失が届け出られた（利用状況ページの「この端末を紛失した」）ためです。",
                       "This initial registration sheet was withdrawn, so its QR code cannot be used: by the certification authority, or because the phone registered with it was reported lost (\u{201c}This phone is lost\u{201d} on your page).")) }
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

/// The page for a sheet whose holder is suspended: nothing can be done with it until the
/// certification authority resumes the holder.
pub fn holder_suspended(contact: &crate::Contact) -> Page {
    let title = t(
        "現在、この QR コードは使用できません",
        "This QR code cannot be used at the moment",
    );
    Page::new(
        StatusCode::FORBIDDEN,
        title,
        html! {
            h1 { (title) }
            div.alert role="alert" {
                p { (t("セカンド電子証明書の利用が停止されているため、モバイルデバイスの登録やサインインはできません。",
                       "The use of your second certificate is suspended, so no mobile device can be registered or signed in.")) }
            }
            p { (t("利用を再開するには、認証局にお問い合わせください。",
                   "To use it again, contact the certification authority.")) }
            (contact_block(contact))
        },
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
    use hpki_core::domain::sheet::PasswordInputError as E;
    let en = english();
    match why {
        E::Empty => t("パスワードを入力してください。", "Enter the password.").to_owned(),
        E::TooLong => t(
            "入力が長すぎます。初期登録用 QR に記載されたパスワードを入力してください。",
            "That is far too long. Enter the password printed on the sheet.",
        )
        .to_owned(),
        E::NotOnTheSheet(c) => {
            if en {
                format!("The password printed on the sheet has no \u{201c}{c}\u{201d}. It uses only letters and the digits 3, 4, 6, 7 and 9 (no 0, O, 1, l, I, 5, S, 2, Z, 8 or B). Check the sheet again.")
            } else {
                format!("「{c}」はパスワードに使われていない文字です。パスワードは英字と数字（3・4・6・7・9）だけで、0・O・1・l・I・5・S・2・Z・8・B は使われていません。用紙をもう一度確かめてください。")
            }
        }
        E::WrongLength { typed, printed } => {
            if en {
                format!("The password has {printed} characters; {typed} were entered. Check the sheet again.")
            } else {
                format!("パスワードは {printed} 文字です（入力は {typed} 文字でした）。用紙をもう一度確かめてください。")
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
