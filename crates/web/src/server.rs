//! The accept loop: every connection is bounded, so that slow or silent clients cannot hold the
//! server. A request's head must arrive within a time limit (also when a connection sits idle
//! between requests); open connections are capped as a whole and per client address; at the
//! cap new clients wait in the kernel's accept queue instead of taking the file descriptors the
//! server's own work needs (database connections, CRL refresh, audit checkpoints).

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
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
}

/// One client address's share of the connections, given back when the connection ends.
struct AddressSlot {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    address: IpAddr,
}

impl AddressSlot {
    fn take(
        counts: &Arc<Mutex<HashMap<IpAddr, usize>>>,
        address: IpAddr,
        max: usize,
    ) -> Option<Self> {
        let mut map = counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(address).or_insert(0);
        if max > 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(Self {
            counts: counts.clone(),
            address,
        })
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
        let Some(address_slot) = AddressSlot::take(&per_address, peer.ip(), limits.max_per_address)
        else {
            tracing::warn!(client = %peer.ip(), "too many connections from one address: closed");
            drop(stream);
            continue;
        };
        let app = app.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _held = (slot, address_slot);
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    Box::pin(app.clone().oneshot(request))
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
    tracing::info!("shutting down: finishing in-flight requests");
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
        let first = AddressSlot::take(&counts, a, 2).expect("one");
        let second = AddressSlot::take(&counts, a, 2).expect("two");
        assert!(
            AddressSlot::take(&counts, a, 2).is_none(),
            "the third is refused"
        );
        assert!(
            AddressSlot::take(&counts, b, 2).is_some(),
            "another address is not"
        );
        drop(first);
        let third = AddressSlot::take(&counts, a, 2).expect("a share came back");
        drop((second, third));
        assert!(
            counts.lock().expect("lock").is_empty(),
            "nothing left behind"
        );
        assert!(AddressSlot::take(&counts, a, 0).is_some(), "0: no cap");
    }
}
