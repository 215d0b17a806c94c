//! The holder pages' own style sheet and scripts, compiled into the binary (the pages' CSP
//! allows scripts from this origin only).

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/site.css", get(css))
        .route("/static/register.js", get(register_js))
        .route("/static/webauthn.js", get(webauthn_js))
        .route("/static/login.js", get(login_js))
        .route("/static/console.js", get(console_js))
        .route("/static/console-photo.js", get(console_photo_js))
        .route("/static/copy.js", get(copy_js))
        .route("/static/signin.js", get(signin_js))
        // Browsers ask for it on every site; an SVG answers where a 404 was logged before.
        .route("/favicon.ico", get(favicon))
}

async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        include_str!("../../static/icon.svg"),
    )
        .into_response()
}

/// The registration start screen's script: its messages are keyed by the ceremony refusal
/// codes (a test checks it has one for each, in both languages).
pub(crate) const REGISTER_JS: &str = include_str!("../../static/register.js");

fn script(body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn register_js() -> Response {
    script(REGISTER_JS)
}

/// The login page's script: messages keyed by the login's refusal codes (a test checks them).
pub(crate) const LOGIN_JS: &str = include_str!("../../static/login.js");

async fn login_js() -> Response {
    script(LOGIN_JS)
}

async fn console_photo_js() -> Response {
    script(include_str!("../../static/console-photo.js"))
}

async fn console_js() -> Response {
    script(include_str!("../../static/console.js"))
}

async fn webauthn_js() -> Response {
    script(include_str!("../../static/webauthn.js"))
}

async fn copy_js() -> Response {
    script(include_str!("../../static/copy.js"))
}

async fn signin_js() -> Response {
    script(include_str!("../../static/signin.js"))
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/site.css"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use hpki_core::domain::device::CeremonyRefusal;

    /// The Japanese and the English message tables of a page's script.
    fn tables(js: &str) -> (String, String) {
        let start = js
            .find("const MESSAGES = EN ? {")
            .expect("the message tables");
        let rest = &js[start..];
        let split = rest.find("} : {").expect("the Japanese table");
        let end = rest.find("};").expect("the end of the tables");
        (rest[split..end].to_owned(), rest[..split].to_owned())
    }

    fn assert_explained(js: &str, codes: impl IntoIterator<Item = &'static str>) {
        let (ja, en) = tables(js);
        for code in codes {
            let key = format!("\n    {code}: '");
            assert!(ja.contains(&key), "no Japanese message for {code}");
            assert!(en.contains(&key), "no English message for {code}");
        }
    }

    #[test]
    fn register_js_explains_every_refusal_in_both_languages() {
        assert_explained(super::REGISTER_JS, CeremonyRefusal::ALL.map(|r| r.code()));
    }

    /// The login page meets every refusal of a sign-in except those of registering and of a
    /// holder already known (a login finds its holder from the passkey), and every login
    /// refusal.
    #[test]
    fn login_js_explains_every_refusal_a_login_can_meet() {
        use hpki_core::domain::oidc::LoginRefusal;
        let registration_only = [
            CeremonyRefusal::TooManyDevices,
            CeremonyRefusal::CredentialExists,
            CeremonyRefusal::OtherHolder,
            CeremonyRefusal::NoDevice,
        ];
        let ceremony = CeremonyRefusal::ALL
            .into_iter()
            .filter(|r| !registration_only.contains(r))
            .map(|r| r.code());
        assert_explained(super::LOGIN_JS, ceremony);
        assert_explained(super::LOGIN_JS, LoginRefusal::ALL.map(|r| r.code()));
    }
}
