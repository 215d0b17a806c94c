//! Who is on the other end: the client address, for the rate limit and the audit log.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::header::HeaderName;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hpki_core::Error;

use crate::error::PageError;
use crate::HolderPages;

/// The client's address: the TCP peer, or, behind a load balancer that is configured as
/// trusted, the entry it appended to the configured header (`X-Forwarded-For` or RFC 7239
/// `Forwarded`). A request whose header is missing or whose last entry is not an address is
/// refused (400): falling back to the peer would put every client in the load balancer's
/// bucket, and any other entry is the client's own to choose.
pub struct ClientAddr(pub IpAddr);

impl<S> FromRequestParts<S> for ClientAddr
where
    S: Send + Sync,
    HolderPages: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let pages = HolderPages::from_ref(state);
        if let Some(name) = &pages.client_ip_header {
            return forwarded(&parts.headers, name).map(Self).ok_or_else(|| {
                tracing::warn!(
                    header = %name,
                    "a request without a client address in the header the load balancer should write (server.client_ip_header)"
                );
                crate::pages::service_problem(StatusCode::BAD_REQUEST).into_response()
            });
        }
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| Self(c.0.ip()))
            .ok_or_else(|| {
                PageError(Error::Internal("no peer address on the connection".into()))
                    .into_response()
            })
    }
}

/// The address in the last entry of the header: the one our own load balancer appended
/// (entries before it are whatever the client sent). `IP`, `IP:port` and `[IPv6]:port`; for
/// the `Forwarded` header, the `for=` parameter of its last element.
pub(crate) fn forwarded(headers: &HeaderMap, name: &HeaderName) -> Option<IpAddr> {
    let line = headers.get_all(name).iter().next_back()?.to_str().ok()?;
    let last = line.rsplit(',').next()?.trim();
    if name.as_str() == "forwarded" {
        let node = last.split(';').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case("for")
                .then(|| value.trim().trim_matches('"'))
        })?;
        return node_address(node);
    }
    node_address(last)
}

/// `IP`, `IP:port`, `[IPv6]` or `[IPv6]:port`; anything else (`unknown`, an obfuscated
/// identifier) is not an address.
fn node_address(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = node.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    node.strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .and_then(|n| n.parse::<std::net::Ipv6Addr>().ok())
        .map(IpAddr::V6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn from(name: &'static str, lines: &[&'static str]) -> Option<IpAddr> {
        let mut h = HeaderMap::new();
        let name = HeaderName::from_static(name);
        for l in lines {
            h.append(&name, HeaderValue::from_static(l));
        }
        forwarded(&h, &name)
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("ip"))
    }

    #[test]
    fn only_the_entry_the_load_balancer_wrote_counts() {
        let xff = "x-forwarded-for";
        assert_eq!(
            from(xff, &["203.0.113.9, 198.51.100.1", "192.0.2.44"]),
            ip("192.0.2.44")
        );
        assert_eq!(
            from(xff, &["203.0.113.9, 198.51.100.1"]),
            ip("198.51.100.1")
        );
        // With a port, as some load balancers write it.
        assert_eq!(
            from(xff, &["203.0.113.7, 198.51.100.2:5555"]),
            ip("198.51.100.2")
        );
        assert_eq!(from(xff, &["[2001:db8::1]:4711"]), ip("2001:db8::1"));
        assert_eq!(from(xff, &["[2001:db8::2]"]), ip("2001:db8::2"));
        // A last entry that is no address does not let an earlier (client-written) one count.
        assert_eq!(from(xff, &["203.0.113.8, unknown"]), None);
        assert_eq!(from(xff, &["203.0.113.8, "]), None);
        assert_eq!(from(xff, &[]), None);
        // RFC 7239.
        let fwd = "forwarded";
        assert_eq!(
            from(
                fwd,
                &["for=203.0.113.9, for=192.0.2.60;proto=https;by=203.0.113.43"]
            ),
            ip("192.0.2.60")
        );
        assert_eq!(
            from(fwd, &["for=\"[2001:db8:cafe::17]:4711\""]),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(from(fwd, &["for=192.0.2.1, for=_hidden"]), None);
    }
}
