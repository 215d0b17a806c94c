//! Who is on the other end: the client address, for the rate limit and the audit log.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::header::HeaderName;
use axum::http::request::Parts;
use axum::http::HeaderMap;
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

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
}
