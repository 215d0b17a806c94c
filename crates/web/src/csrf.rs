//! CSRF protection of the holder pages' forms and JSON calls: a double-submit value. The
//! browser keeps a random value in a `SameSite=Strict`, `HttpOnly` cookie; each form carries
//! it in a hidden field (the JSON calls in `X-CSRF-Token`), and a submission counts only if the
//! two are equal (compared in constant time). One extractor serves every form.

use axum::extract::rejection::FormRejection;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Form;
use hpki_core::secret;
use serde::Deserialize;

use crate::cookies::cookie;
use crate::error::PageError;
use crate::AppState;

const COOKIE: &str = "hpki-csrf";
/// How long a CSRF cookie lives; a form older than this is shown again, not counted.
const LIFETIME_SECS: i64 = 3600;

/// The browser's CSRF value: the one its cookie holds, or a new one that the response sets.
pub struct Csrf {
    value: String,
    /// The cookie to set when the browser had none.
    set: Option<HeaderValue>,
    /// Whether the value came from the browser (only then can a submission match it).
    from_browser: bool,
}

impl Csrf {
    /// The value to put into the page's forms.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether `sent` (a form's hidden field or the `X-CSRF-Token` header) is the value the
    /// browser's cookie holds. Never true without the cookie.
    pub fn matches(&self, sent: Option<&str>) -> bool {
        let sent = sent.unwrap_or("");
        self.from_browser && secret::ct_eq(self.value.as_bytes(), sent.as_bytes())
    }

    /// Whether a button's form (only the hidden field; unreadable counts as absent) carries
    /// the browser's value.
    pub fn matches_form(&self, form: Result<Form<CsrfOnly>, FormRejection>) -> bool {
        self.matches(form.ok().and_then(|Form(f)| f.csrf).as_deref())
    }

    /// Whether a JSON call's `X-CSRF-Token` header is the browser's value.
    pub fn matches_header(&self, headers: &axum::http::HeaderMap) -> bool {
        self.matches(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))
    }

    /// The response, with the new cookie when the browser had none.
    pub fn respond(self, page: impl IntoResponse) -> Response {
        let mut resp = page.into_response();
        if let Some(v) = self.set {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
        resp
    }
}

/// The form of a button that posts nothing but the CSRF value (sign out, leave).
#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: Option<String>,
}

fn well_formed(v: &str) -> bool {
    v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit())
}

impl FromRequestParts<AppState> for Csrf {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let cookies = &state.holder_pages.cookies;
        if let Some(v) = cookie(&parts.headers, &cookies.name(COOKIE)).filter(|v| well_formed(v)) {
            return Ok(Self {
                value: v.to_owned(),
                set: None,
                from_browser: true,
            });
        }
        let value = secret::new_token("")?;
        let set = Some(cookies.set(COOKIE, &value, LIFETIME_SECS));
        Ok(Self {
            value,
            set,
            from_browser: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_browsers_own_value_matches() {
        let v = "a".repeat(64);
        let from_browser = Csrf {
            value: v.clone(),
            set: None,
            from_browser: true,
        };
        assert!(from_browser.matches(Some(&v)));
        assert!(!from_browser.matches(Some(&"b".repeat(64))));
        assert!(!from_browser.matches(None));
        let new = Csrf {
            value: v.clone(),
            set: None,
            from_browser: false,
        };
        assert!(!new.matches(Some(&v)), "a value the browser never had");
        assert!(!well_formed("short"));
    }
}
