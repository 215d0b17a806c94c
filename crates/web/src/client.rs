//! Who is on the other end: the client address (for the rate limit and the audit log) and the
//! cookies of the holder pages.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::header::{HeaderName, COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use hpki_core::Error;

use crate::error::PageError;
use crate::HolderPages;

/// The client's address: the TCP peer, or, behind a load balancer that is configured as
/// trusted, the last address it appended to the configured header (`X-Forwarded-For`).
pub struct ClientAddr(pub IpAddr);

impl<S> FromRequestParts<S> for ClientAddr
where
    S: Send + Sync,
    HolderPages: FromRef<S>,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let pages = HolderPages::from_ref(state);
        if let Some(name) = &pages.client_ip_header {
            return forwarded(&parts.headers, name).map(Self).ok_or_else(|| {
                PageError(Error::Internal(format!(
                    "the request has no client address in {name} (server.client_ip_header): is the load balancer configured?"
                )))
            });
        }
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| Self(c.0.ip()))
            .ok_or_else(|| PageError(Error::Internal("no peer address on the connection".into())))
    }
}

/// The right-most address in the header: the one our own load balancer added.
fn forwarded(headers: &HeaderMap, name: &HeaderName) -> Option<IpAddr> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .next_back()
}

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
    fn the_last_forwarded_address_counts() {
        let mut h = HeaderMap::new();
        let name = HeaderName::from_static("x-forwarded-for");
        h.append(&name, HeaderValue::from_static("203.0.113.9, 198.51.100.1"));
        h.append(&name, HeaderValue::from_static("192.0.2.44"));
        assert_eq!(
            forwarded(&h, &name),
            Some("192.0.2.44".parse().expect("ip"))
        );
        assert_eq!(forwarded(&HeaderMap::new(), &name), None);
    }

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
    }
}
