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
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or_else(|| {
                PageError(Error::Internal("no peer address on the connection".into()))
                    .into_response()
            })?;
        match &pages.forwarding {
            Some(f) if f.trusts(peer) => forwarded(&parts.headers, &f.header)
                .map(Self)
                .ok_or_else(|| {
                    tracing::warn!(
                        header = %f.header,
                        "a request without a client address in the header the load balancer should write (server.client_ip_header)"
                    );
                    crate::pages::service_problem(StatusCode::BAD_REQUEST).into_response()
                }),
            // Directly from a client (not a trusted proxy): its own address, whatever it says.
            _ => Ok(Self(peer)),
        }
    }
}

/// Where a load balancer writes the client's address, and which peers are such load balancers
/// (`server.trusted_proxies`; none listed: every peer is, so the servers must be reachable
/// only from it).
#[derive(Clone, Debug)]
pub struct Forwarding {
    pub header: HeaderName,
    pub trusted: Vec<Network>,
}

impl Forwarding {
    /// Whether `peer` may say who the client is.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        self.trusted.is_empty() || self.trusted.iter().any(|n| n.contains(peer))
    }
}

/// An address block: `10.0.0.0/8`, `2001:db8::/32`, or one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(s: &str) -> Option<Self> {
        let (address, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?),
            None => {
                let a = s.trim().parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let most = if address.is_ipv4() { 32 } else { 128 };
        (prefix <= most).then_some(Self { address, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let shift = |width: u32| width - u32::from(self.prefix);
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(shift(32)).unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(shift(128)).unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
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
    #[test]
    fn trusted_proxies_are_address_blocks() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let net = |s: &str| Network::parse(s).expect(s);
        assert!(net("10.0.0.0/8").contains(ip("10.20.30.40")));
        assert!(!net("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(net("192.168.1.7").contains(ip("192.168.1.7")));
        assert!(!net("192.168.1.7").contains(ip("192.168.1.8")));
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(net("2001:db8::/32").contains(ip("2001:db8:1::5")));
        assert!(!net("2001:db8::/32").contains(ip("2001:db9::5")));
        assert!(
            !net("10.0.0.0/8").contains(ip("::ffff:10.0.0.1")),
            "families differ"
        );
        for bad in ["10.0.0.0/33", "::/129", "ten", "10.0.0.0/x", ""] {
            assert_eq!(Network::parse(bad), None, "{bad}");
        }
        let f = Forwarding {
            header: HeaderName::from_static("x-forwarded-for"),
            trusted: vec![net("10.0.0.0/8")],
        };
        assert!(f.trusts(ip("10.1.2.3")));
        assert!(
            !f.trusts(ip("198.51.100.1")),
            "a client's own header is not believed"
        );
        let any = Forwarding {
            header: HeaderName::from_static("x-forwarded-for"),
            trusted: Vec::new(),
        };
        assert!(
            any.trusts(ip("198.51.100.1")),
            "none listed: every peer is the proxy"
        );
    }

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
