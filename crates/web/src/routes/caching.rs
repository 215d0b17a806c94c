//! HTTP caching of what relying parties and CDNs fetch again and again (OCSP answers by GET,
//! CRLs): validators, freshness that never outlives the answer, and conditional GETs.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

/// How a response may be cached.
pub struct Freshness {
    /// A strong entity tag, quoted.
    pub etag: String,
    pub last_modified: DateTime<Utc>,
    /// Until when a cache may keep it (never past the answer's own nextUpdate).
    pub fresh_until: DateTime<Utc>,
}

/// An HTTP-date (RFC 9110, 5.6.7), e.g. `Mon, 07 Dec 2026 17:35:09 GMT`.
pub fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn tag_matches(list: &str, etag: &str) -> bool {
    list.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// Whether a conditional GET may be answered 304: If-None-Match when present (it takes
/// precedence, RFC 9110 13.2.2), else If-Modified-Since at or after the last change.
pub fn not_modified(headers: &HeaderMap, f: &Freshness) -> bool {
    if let Some(list) = headers.get(header::IF_NONE_MATCH) {
        return list.to_str().is_ok_and(|l| tag_matches(l, &f.etag));
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
        .is_some_and(|since| since.timestamp() >= f.last_modified.timestamp())
}

/// The body with its validators and freshness, or `304 Not Modified` with them when the
/// request's validators match. `max-age` counts from `now` and stops at `fresh_until`.
pub fn respond(
    headers: &HeaderMap,
    content_type: &'static str,
    body: impl IntoResponse,
    f: &Freshness,
    now: DateTime<Utc>,
) -> Response {
    let max_age = (f.fresh_until - now).num_seconds().max(0);
    let mut out = if not_modified(headers, f) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body.into_response()
    };
    let h = out.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let values = [
        (
            header::CACHE_CONTROL,
            format!("public, max-age={max_age}, no-transform, must-revalidate"),
        ),
        (header::ETAG, f.etag.clone()),
        (header::LAST_MODIFIED, http_date(f.last_modified)),
        (
            header::EXPIRES,
            http_date(now + chrono::Duration::seconds(max_age)),
        ),
    ];
    for (name, value) in values {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn freshness() -> Freshness {
        Freshness {
            etag: "\"abc\"".into(),
            last_modified: "2026-12-07T10:00:00Z".parse().expect("t"),
            fresh_until: "2026-12-07T10:54:00Z".parse().expect("t"),
        }
    }

    fn with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).expect("value"));
        h
    }

    #[test]
    fn conditional_requests_match_as_rfc_9110_says() {
        let f = freshness();
        assert!(not_modified(&with(header::IF_NONE_MATCH, "\"abc\""), &f));
        assert!(not_modified(
            &with(header::IF_NONE_MATCH, "\"x\", W/\"abc\""),
            &f
        ));
        assert!(not_modified(&with(header::IF_NONE_MATCH, "*"), &f));
        assert!(!not_modified(&with(header::IF_NONE_MATCH, "\"abcd\""), &f));
        let since = |s: &str| with(header::IF_MODIFIED_SINCE, s);
        assert!(not_modified(&since("Mon, 07 Dec 2026 10:00:00 GMT"), &f));
        assert!(not_modified(&since("Mon, 07 Dec 2026 11:00:00 GMT"), &f));
        assert!(!not_modified(&since("Mon, 07 Dec 2026 09:59:59 GMT"), &f));
        assert!(!not_modified(&since("yesterday"), &f));
        // If-None-Match wins over If-Modified-Since.
        let mut both = since("Mon, 07 Dec 2026 11:00:00 GMT");
        both.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert!(!not_modified(&both, &f));
    }

    #[test]
    fn max_age_never_reaches_past_the_end_of_freshness() {
        let f = freshness();
        let now: DateTime<Utc> = "2026-12-07T10:50:00Z".parse().expect("t");
        let r = respond(&HeaderMap::new(), "application/pkix-crl", "x", &f, now);
        let cc = r.headers()[header::CACHE_CONTROL].to_str().expect("cc");
        assert!(cc.contains("max-age=240,"), "{cc}");
        assert_eq!(
            r.headers()[header::EXPIRES],
            "Mon, 07 Dec 2026 10:54:00 GMT"
        );
        let late = respond(
            &HeaderMap::new(),
            "application/pkix-crl",
            "x",
            &f,
            f.fresh_until + chrono::Duration::hours(1),
        );
        let cc = late.headers()[header::CACHE_CONTROL].to_str().expect("cc");
        assert!(cc.contains("max-age=0,"), "{cc}");
    }
}
