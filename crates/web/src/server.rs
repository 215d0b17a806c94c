//! The accept loop: every connection is bounded, so that slow or silent clients cannot hold the
//! server. A request's head must arrive within a time limit (also when a connection sits idle
//! between requests), and its body at a minimum pace and within a time limit; open connections
//! are capped as a whole and per client address; at the cap new clients wait in the kernel's
//! accept queue instead of taking the file descriptors the server's own work needs (database
//! connections, CRL refresh, audit checkpoints). The last slots are kept for addresses that
//! hold almost none: a flood of slow connections from a few addresses fills the others, never
//! those.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// Bounds on connections (their values and defaults are the configuration's `[server]` keys).
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Open connections at most; more wait in the accept queue.
    pub max_connections: usize,
    /// Open connections from one client address (the TCP peer) at most; more are closed at
    /// once. 0: no per-address cap (behind a load balancer every client has its address).
    pub max_per_address: usize,
    /// A request's head must arrive within this, and an idle connection is closed after it.
    pub header_read_timeout: Duration,
    /// Slots that only an address holding fewer than [`RESERVE_PER_ADDRESS`] connections may
    /// take (when `max_per_address` is 0, every client comes through one balancer and this
    /// does not apply).
    pub reserved: usize,
    /// How fast a request body must arrive.
    pub body: BodyPace,
}

/// An address with fewer open connections than this may take a reserved slot.
pub const RESERVE_PER_ADDRESS: usize = 2;

/// How fast a request body must arrive: after `grace` from the end of the head, at least
/// `min_bytes_per_sec` on average, and whole within `timeout`.
#[derive(Clone, Copy, Debug)]
pub struct BodyPace {
    pub grace: Duration,
    pub min_bytes_per_sec: u64,
    pub timeout: Duration,
}

impl BodyPace {
    /// By when (from the head's end) the body must have gone past `received` bytes.
    fn due(&self, received: u64) -> Duration {
        let earned = Duration::from_secs_f64(received as f64 / self.min_bytes_per_sec as f64);
        (self.grace + earned).min(self.timeout)
    }
}

/// A request body that must keep its [`BodyPace`]; a body that falls behind ends in an error
/// (the handler's read of it fails) and marks the request, which is then answered 408.
struct Paced {
    inner: Incoming,
    pace: BodyPace,
    start: tokio::time::Instant,
    received: u64,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    too_slow: Arc<AtomicBool>,
}

/// The error a body that fell behind ends with.
#[derive(Debug)]
struct TooSlow;

impl std::fmt::Display for TooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body arrived too slowly")
    }
}

impl std::error::Error for TooSlow {}

impl hyper::body::Body for Paced {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                }
                return Poll::Ready(Some(Ok(frame)));
            }
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        // Nothing yet: the next bytes are due by the pace of what came so far.
        let due = this.start + this.pace.due(this.received);
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        timer.as_mut().reset(due);
        if timer.as_mut().poll(cx).is_ready() {
            this.too_slow.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(Box::new(TooSlow))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One client address's share of the connections, given back when the connection ends.
struct AddressSlot {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    address: IpAddr,
}

impl AddressSlot {
    /// A share for `address` unless it holds `max` already (0: no cap); with how many it
    /// held before.
    fn take(
        counts: &Arc<Mutex<HashMap<IpAddr, usize>>>,
        address: IpAddr,
        max: usize,
    ) -> Option<(Self, usize)> {
        let mut map = counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(address).or_insert(0);
        if max > 0 && *n >= max {
            return None;
        }
        let held = *n;
        *n += 1;
        Some((
            Self {
                counts: counts.clone(),
                address,
            },
            held,
        ))
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut map = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.address);
            }
        }
    }
}

/// How long, and how much, a closing connection still reads from a client that is sending
/// (a body refused before it was read, such as a photo over the limit): the client then sees
/// the answer and an orderly close instead of a reset in the middle of its upload.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: u64 = 64 * 1024 * 1024;

/// Closes our side at once (the client reads the end of the answer), then reads and drops what
/// the client still sends, for at most [`LINGER`] and [`LINGER_BYTES`].
async fn linger(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = stream.shutdown().await;
    let mut rest = stream.take(LINGER_BYTES);
    let _ = tokio::time::timeout(LINGER, tokio::io::copy(&mut rest, &mut tokio::io::sink())).await;
}

/// Serves `app` until `shutdown` resolves, then lets open connections finish their requests
/// (up to `grace`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let max = limits.max_connections.clamp(1, u32::MAX as usize);
    let slots = Arc::new(Semaphore::new(max));
    let per_address = Arc::new(Mutex::new(HashMap::new()));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        // A free slot before the next accept: at the cap, clients wait in the accept queue.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.map_err(std::io::Error::other)?,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a reset before accept: try again shortly.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some((address_slot, held)) =
            AddressSlot::take(&per_address, peer.ip(), limits.max_per_address)
        else {
            tracing::warn!(client = %peer.ip(), "too many connections from one address: closed");
            drop(stream);
            continue;
        };
        // This connection took one of the reserved slots: only for an address that holds
        // almost none (a flood from a few addresses fills the other slots, never these).
        if limits.max_per_address > 0
            && slots.available_permits() < limits.reserved
            && held >= RESERVE_PER_ADDRESS
        {
            tracing::debug!(client = %peer.ip(), "the remaining slots are reserved: closed");
            drop((stream, address_slot));
            continue;
        }
        let app = app.clone();
        let mut stop = stop_rx.clone();
        let pace = limits.body;
        tokio::spawn(async move {
            let _held = (slot, address_slot);
            let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let too_slow = Arc::new(AtomicBool::new(false));
                let mut request = request.map(|inner| {
                    axum::body::Body::new(Paced {
                        inner,
                        pace,
                        start: tokio::time::Instant::now(),
                        received: 0,
                        timer: None,
                        too_slow: too_slow.clone(),
                    })
                });
                request.extensions_mut().insert(ConnectInfo(peer));
                let app = app.clone();
                Box::pin(async move {
                    let response = app.oneshot(request).await;
                    if too_slow.load(Ordering::Relaxed) {
                        tracing::info!(client = %peer.ip(), "a request body arrived too slowly: 408");
                        return Ok(crate::error::body_too_slow());
                    }
                    response
                })
            });
            let mut connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(TokioIo::new(stream), service);
            let mut stopping = false;
            let ended = loop {
                tokio::select! {
                    ended = std::future::poll_fn(|cx| connection.poll_without_shutdown(cx)) => break ended,
                    () = async { let _ = stop.wait_for(|stopping| *stopping).await; }, if !stopping => {
                        // Finish the request in flight, take no new one.
                        stopping = true;
                        std::pin::Pin::new(&mut connection).graceful_shutdown();
                    }
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended");
            }
            linger(connection.into_parts().io.into_inner()).await;
        });
    }
    // No new connection from here on: a client is refused at once rather than queued in the
    // backlog and reset when the process ends.
    drop(listener);
    tracing::info!("shutting down: the listener is closed, in-flight requests finish");
    let _ = stop_tx.send(true);
    // Every connection gives its slot back when it ends.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            ?grace,
            "in-flight requests did not finish in time; stopping anyway"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_share_and_gives_it_back() {
        let counts = Arc::new(Mutex::new(HashMap::new()));
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        let (first, held) = AddressSlot::take(&counts, a, 2).expect("one");
        assert_eq!(held, 0);
        let (second, held) = AddressSlot::take(&counts, a, 2).expect("two");
        assert_eq!(held, 1);
        assert!(
            AddressSlot::take(&counts, a, 2).is_none(),
            "the third is refused"
        );
        assert!(
            AddressSlot::take(&counts, b, 2).is_some(),
            "another address is not"
        );
        drop(first);
        let (third, _) = AddressSlot::take(&counts, a, 2).expect("a share came back");
        drop((second, third));
        assert!(
            counts.lock().expect("lock").is_empty(),
            "nothing left behind"
        );
        assert!(AddressSlot::take(&counts, a, 0).is_some(), "0: no cap");
    }

    #[test]
    fn a_body_is_due_by_the_pace_of_what_came_and_never_after_the_timeout() {
        let pace = BodyPace {
            grace: Duration::from_secs(10),
            min_bytes_per_sec: 4096,
            timeout: Duration::from_secs(60),
        };
        assert_eq!(pace.due(0), Duration::from_secs(10));
        assert_eq!(pace.due(4096 * 5), Duration::from_secs(15));
        // A byte every 4 s earns nothing worth the name.
        assert!(pace.due(10) < Duration::from_secs(11));
        assert_eq!(pace.due(1 << 30), Duration::from_secs(60));
    }
}
