//! The language of the holder pages: Japanese by default; English when the browser prefers it
//! (`Accept-Language`) or the holder chose it (the switch in the page header: `?lang=en|ja`,
//! remembered in a cookie). Set per request by a middleware, read where text is chosen.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use crate::cookies::{Cookies, SameSite};

tokio::task_local! {
    static ENGLISH: bool;
    /// The request's query without `lang=`: the language switch keeps the page's state
    /// (`?device=3` on the label screen).
    static KEPT_QUERY: String;
}

/// The current request's query without its `lang=` parameters, ending in `&` when not empty.
pub fn kept_query() -> String {
    KEPT_QUERY.try_with(Clone::clone).unwrap_or_default()
}

fn without_lang(query: Option<&str>) -> String {
    query
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("lang="))
        .map(|kv| format!("{kv}&"))
        .collect()
}

/// Whether the current request's pages are in English.
pub fn english() -> bool {
    ENGLISH.try_with(|e| *e).unwrap_or(false)
}

/// Runs `f` with the pages' language set (the middleware does this per request; tests too).
pub async fn scope<F: std::future::Future>(english: bool, f: F) -> F::Output {
    ENGLISH.scope(english, f).await
}

/// The Japanese or the English text, for the current request.
pub fn t(ja: &'static str, en: &'static str) -> &'static str {
    if english() {
        en
    } else {
        ja
    }
}

/// The same for text made at run time (with numbers or names in it).
pub fn t_owned(ja: String, en: String) -> String {
    if english() {
        en
    } else {
        ja
    }
}

const COOKIE: &str = "hpki-lang";

fn from_query(req: &Request) -> Option<bool> {
    req.uri().query()?.split('&').find_map(|kv| match kv {
        "lang=en" => Some(true),
        "lang=ja" => Some(false),
        _ => None,
    })
}

fn from_cookie(req: &Request, cookies: Cookies) -> Option<bool> {
    match cookies.get(req.headers(), COOKIE)? {
        "en" => Some(true),
        "ja" => Some(false),
        _ => None,
    }
}

/// English iff the highest-weighted of `ja` and `en` in Accept-Language is `en`.
fn from_accept_language(req: &Request) -> bool {
    let Some(v) = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let (mut ja, mut en) = (-1.0f32, -1.0f32);
    for (i, part) in v.split(',').enumerate() {
        let mut bits = part.trim().split(';');
        let tag = bits.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = bits
            .find_map(|b| b.trim().strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0)
            // Earlier entries win ties.
            - i as f32 * 0.0001;
        let primary = tag.split('-').next().unwrap_or("");
        if primary == "ja" {
            ja = ja.max(q);
        } else if primary == "en" {
            en = en.max(q);
        }
    }
    en > ja
}

/// Chooses the language of the request and, when the holder switched, remembers it.
pub async fn negotiate(State(cookies): State<Cookies>, req: Request, next: Next) -> Response {
    let chosen = from_query(&req);
    let english = chosen
        .or_else(|| from_cookie(&req, cookies))
        .unwrap_or_else(|| from_accept_language(&req));
    let kept = without_lang(req.uri().query());
    let mut resp = scope(english, KEPT_QUERY.scope(kept, next.run(req))).await;
    if let Some(en) = chosen {
        // Lax: a holder who follows a link to the site keeps the language they chose.
        let v = cookies.set_with(
            COOKIE,
            if en { "en" } else { "ja" },
            365 * 24 * 3600,
            SameSite::Lax,
        );
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(accept: &str) -> Request {
        Request::builder()
            .header(header::ACCEPT_LANGUAGE, accept)
            .body(axum::body::Body::empty())
            .expect("request")
    }

    #[test]
    fn the_switch_keeps_the_rest_of_the_query() {
        assert_eq!(without_lang(Some("device=3&lang=en")), "device=3&");
        assert_eq!(without_lang(Some("lang=ja")), "");
        assert_eq!(without_lang(None), "");
        assert_eq!(without_lang(Some("a=1&&b=2")), "a=1&b=2&");
    }

    #[test]
    fn accept_language_picks_the_preferred_of_japanese_and_english() {
        assert!(!from_accept_language(&req("ja-JP,ja;q=0.9,en-US;q=0.8")));
        assert!(from_accept_language(&req("en-US,en;q=0.9,ja;q=0.8")));
        assert!(from_accept_language(&req("en-GB")));
        assert!(
            !from_accept_language(&req("fr-FR,de;q=0.5")),
            "neither: Japanese"
        );
        assert!(
            from_accept_language(&req("en;q=0.5,ja;q=0.5")),
            "a tie: the first"
        );
        assert!(from_accept_language(&req("ja;q=0.1, en")));
        assert!(!from_accept_language(&req("garbage;;q=x")));
    }
}
