//! The holder-facing HTML pages: Japanese by default, English when asked (see `lang`); no
//! inline script or style (the CSP allows neither); every form with its CSRF field.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use crate::lang::{english, t};

pub mod console;
mod device;
mod holder_page;
mod login;
mod register;
mod sheet;

pub use device::{device_denied, device_done, device_entry, device_login};
pub use holder_page::{
    confirm_lost, holder_page, holder_page_left, holder_page_sign_in_failed,
    holder_page_signed_out, reported_lost_notice, reported_lost_page, signed_out_notice,
    HolderView, SecondCertificate, SessionLine, SignatureLine,
};

/// Whom to contact (the configured contact), as the sheet pages show it.
pub fn contact(contact: &crate::Contact) -> maud::Markup {
    sheet::contact_block(contact)
}
pub use login::{login, login_request_refused, LoginMethods};
pub use register::{
    done, label, no_registration, sign_in, sign_in_mismatch, signed_in, start, wrong_browser, Start,
};
pub use sheet::{
    holder_suspended, password_form, rate_limited, stale_form, unknown_sheet, unusable_sheet,
    PasswordProblem,
};

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
