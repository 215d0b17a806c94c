//! A per-client-address limit (sheet passwords, the card client's calls, device codes), checked
//! before any lookup or hashing: a token bucket per address (IPv6 by /64, since one subscriber
//! holds a whole /64).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many attempts an address may make at once, and how fast it earns them back.
#[derive(Clone, Copy, Debug)]
pub struct RateLimit {
    pub burst: u32,
    pub per_minute: u32,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

pub struct AddressLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

/// Buckets kept before full ones are dropped (a full bucket is the same as no bucket).
const MAX_BUCKETS: usize = 100_000;

fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl AddressLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit: RateLimit {
                burst: limit.burst.max(1),
                per_minute: limit.per_minute.max(1),
            },
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one attempt for `ip`, or says how long until the next one is allowed.
    pub fn take(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let burst = f64::from(self.limit.burst);
        let per_sec = f64::from(self.limit.per_minute) / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec < burst
            });
        }
        let b = buckets.entry(key(ip)).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let earned = now.saturating_duration_since(b.at).as_secs_f64() * per_sec;
        b.tokens = (b.tokens + earned).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / per_sec))
        }
    }
}

/// `resp` with `Retry-After`: the whole seconds until the address's next attempt (at least 1).
pub fn retry_after(mut resp: axum::response::Response, wait: Duration) -> axum::response::Response {
    resp.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(wait.as_secs().max(1)),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_interval_per_address() {
        let l = AddressLimiter::new(RateLimit {
            burst: 3,
            per_minute: 6,
        });
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        for _ in 0..3 {
            assert!(l.take(a, t0).is_ok());
        }
        let wait = l.take(a, t0).expect_err("limited");
        assert!((9..=10).contains(&wait.as_secs()), "{wait:?}");
        assert!(l.take(b, t0).is_ok(), "another address has its own bucket");
        assert!(l.take(a, t0 + Duration::from_secs(10)).is_ok());
        assert!(l.take(a, t0 + Duration::from_secs(10)).is_err());
    }

    #[test]
    fn ipv6_addresses_share_their_64() {
        let l = AddressLimiter::new(RateLimit {
            burst: 1,
            per_minute: 1,
        });
        let t0 = Instant::now();
        assert!(l.take("2001:db8:1:2::1".parse().expect("ip"), t0).is_ok());
        assert!(l
            .take("2001:db8:1:2::ffff".parse().expect("ip"), t0)
            .is_err());
        assert!(l.take("2001:db8:1:3::1".parse().expect("ip"), t0).is_ok());
        // An IPv4-mapped address is the IPv4 address.
        assert!(l.take("198.51.100.7".parse().expect("ip"), t0).is_ok());
        assert!(l
            .take("::ffff:198.51.100.7".parse().expect("ip"), t0)
            .is_err());
    }
}
