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

    /// The Japanese and the English message tables of register.js.
    fn tables() -> (String, String) {
        let js = super::REGISTER_JS;
        let start = js
            .find("const MESSAGES = EN ? {")
            .expect("the message tables");
        let rest = &js[start..];
        let split = rest.find("} : {").expect("the Japanese table");
        let end = rest.find("};").expect("the end of the tables");
        (rest[split..end].to_owned(), rest[..split].to_owned())
    }

    #[test]
    fn register_js_explains_every_refusal_in_both_languages() {
        let (ja, en) = tables();
        for r in CeremonyRefusal::ALL {
            let key = format!("\n    {}: '", r.code());
            assert!(ja.contains(&key), "no Japanese message for {}", r.code());
            assert!(en.contains(&key), "no English message for {}", r.code());
        }
    }
}
