//! systemd's notification protocol (sd_notify), for `Type=notify` units: `READY=1` once the
//! service listens, `WATCHDOG=1` at half the watchdog interval while its runtime runs, and
//! `STOPPING=1` when it is asked to stop. Without `NOTIFY_SOCKET` (not under systemd) nothing is
//! sent. Written here rather than taken from a crate: it is one datagram per state.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Where systemd listens for this service's states.
pub struct Notifier {
    socket: UnixDatagram,
    target: String,
}

impl Notifier {
    /// The notifier of `NOTIFY_SOCKET`, if systemd set one.
    pub fn from_env() -> Option<Self> {
        let target = std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|s| !s.is_empty())?;
        let socket = UnixDatagram::unbound()
            .map_err(|e| tracing::warn!(error = %e, "cannot talk to systemd"))
            .ok()?;
        Some(Self { socket, target })
    }

    /// Sends one state (`READY=1`, …); a failure is logged, never fatal.
    pub fn send(&self, state: &str) {
        let sent = match self.target.strip_prefix('@') {
            // An abstract socket (Linux): no file.
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                    .and_then(|addr| self.socket.send_to_addr(state.as_bytes(), &addr))
            }
            None => self.socket.send_to(state.as_bytes(), &self.target),
        };
        if let Err(e) = sent {
            tracing::warn!(error = %e, state, "cannot tell systemd");
        }
    }
}

/// How often to ping the watchdog: half of `WATCHDOG_USEC`, when it is meant for this process.
pub fn watchdog_every() -> Option<Duration> {
    let for_us = std::env::var("WATCHDOG_PID")
        .ok()
        .is_none_or(|pid| pid.trim() == std::process::id().to_string());
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (for_us && usec > 0).then(|| Duration::from_micros(usec / 2))
}
