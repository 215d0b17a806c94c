//! A fixed set of worker threads for CPU-bound or blocking work (signatures, token calls).
//! Unlike `spawn_blocking`, the same few threads do every job: no thread hand-over per job and
//! no more runnable threads than cores, which matters when a job takes only ~0.2 ms.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send + 'static>;

pub struct WorkerPool {
    jobs: Sender<Job>,
}

/// The pool's threads are gone (only when the process is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the worker pool has stopped")]
pub struct PoolStopped;

impl WorkerPool {
    /// `threads` workers (at least one), named `{name}-{i}`.
    pub fn new(name: &str, threads: usize) -> Self {
        let (jobs, rx) = channel::<Job>();
        let rx: Arc<Mutex<Receiver<Job>>> = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || loop {
                    // The lock is held only while taking a job, not while doing it.
                    let job = match rx.lock().unwrap_or_else(|p| p.into_inner()).recv() {
                        Ok(job) => job,
                        Err(_) => return,
                    };
                    job();
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a worker thread");
            }
        }
        Self { jobs }
    }

    /// One worker per core.
    pub fn per_core(name: &str) -> Self {
        Self::new(
            name,
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        )
    }

    /// Hands `f` to a worker now; the returned future gives its result.
    pub fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> impl std::future::Future<Output = Result<T, PoolStopped>> + Send + 'static {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sent = self
            .jobs
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .map_err(|_| PoolStopped);
        async move {
            sent?;
            rx.await.map_err(|_| PoolStopped)
        }
    }

    /// Runs `f` on a worker and waits for its result without blocking the async runtime.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolStopped> {
        self.submit(f).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_and_return() {
        let pool = WorkerPool::new("test", 2);
        let mut handles = Vec::new();
        for i in 0..20u64 {
            handles.push(pool.run(move || i * i));
        }
        let mut sum = 0;
        for h in handles {
            sum += h.await.expect("ran");
        }
        assert_eq!(sum, (0..20u64).map(|i| i * i).sum::<u64>());
    }
}
