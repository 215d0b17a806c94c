//! The holder pages' cookies: read by exact name, and written in one place, with `__Host-`
//! names and `Secure` on https so that no other host or path can set or read them.

use axum::http::header::COOKIE;
use axum::http::{HeaderMap, HeaderValue};

/// The value of cookie `name` in the request, if any.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether a cookie goes along with requests from other sites' links (`Lax`) or never
/// (`Strict`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    Strict,
    Lax,
}

/// Cookie names and attributes: `__Host-` names and `Secure` on https, so that no other host
/// or path can set or read them.
#[derive(Clone, Copy, Debug)]
pub struct Cookies {
    pub tls: bool,
}

impl Cookies {
    pub fn name(&self, base: &'static str) -> String {
        if self.tls {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }

    /// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Path=/, with a lifetime.
    pub fn set(&self, base: &'static str, value: &str, max_age_secs: i64) -> HeaderValue {
        self.set_with(base, value, max_age_secs, SameSite::Strict)
    }

    /// The one writer of every cookie the service sets: HttpOnly, Path=/, the given SameSite,
    /// and on https `Secure` with a `__Host-` name.
    pub fn set_with(
        &self,
        base: &'static str,
        value: &str,
        max_age_secs: i64,
        same_site: SameSite,
    ) -> HeaderValue {
        let secure = if self.tls { "; Secure" } else { "" };
        let same_site = match same_site {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
        };
        HeaderValue::from_str(&format!(
            "{}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age_secs}{secure}",
            self.name(base)
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("invalid=1; Max-Age=0"))
    }

    /// The value of the cookie `base` (under its `__Host-` name on https).
    pub fn get<'h>(&self, headers: &'h HeaderMap, base: &'static str) -> Option<&'h str> {
        cookie(headers, &self.name(base))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; hpki-csrf=xyz; hpki-csrf2=no"),
        );
        assert_eq!(cookie(&h, "hpki-csrf"), Some("xyz"));
        assert_eq!(cookie(&h, "csrf"), None);
        let c = Cookies { tls: true };
        let v = c.set("hpki-reg", "v", 60);
        let v = v.to_str().expect("ascii");
        assert!(
            v.starts_with("__Host-hpki-reg=v; Path=/; HttpOnly; SameSite=Strict"),
            "{v}"
        );
        assert!(v.ends_with("; Secure"), "{v}");
        // The language cookie goes through the same writer: Lax, and __Host-/Secure on https.
        let lang = c.set_with("hpki-lang", "en", 60, SameSite::Lax);
        let lang = lang.to_str().expect("ascii");
        assert!(
            lang.starts_with("__Host-hpki-lang=en; Path=/; HttpOnly; SameSite=Lax"),
            "{lang}"
        );
        assert!(lang.ends_with("; Secure"), "{lang}");
        let plain = Cookies { tls: false }.set_with("hpki-lang", "ja", 60, SameSite::Lax);
        assert!(!plain.to_str().expect("ascii").contains("Secure"));
    }
}
