//! A fixed set of worker threads for CPU-bound or blocking work (signatures, token calls).
//! Unlike `spawn_blocking`, the same few threads do every job: no thread hand-over per job and
//! no more runnable threads than cores, which matters when a job takes only ~0.2 ms.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send + 'static>;

pub struct WorkerPool {
    jobs: Sender<Job>,
}

/// Why a job gave no result.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The pool's threads are gone (only when the process is shutting down).
    #[error("the worker pool has stopped")]
    Stopped,
    /// The job panicked; its worker caught the panic and goes on with the next job.
    #[error("the job panicked: {0}")]
    Panicked(String),
}

/// The message a panic carried, if it was a string.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

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

    /// Hands `f` to a worker now; the returned future gives its result. A job that panics
    /// gives [`PoolError::Panicked`] and its worker stays: one bad input never shrinks the pool.
    pub fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> impl std::future::Future<Output = Result<T, PoolError>> + Send + 'static {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sent = self
            .jobs
            .send(Box::new(move || {
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                    .map_err(|p| panic_message(p.as_ref()));
                let _ = tx.send(outcome);
            }))
            .map_err(|_| PoolError::Stopped);
        async move {
            sent?;
            match rx.await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(why)) => {
                    tracing::error!(panic = %why, "a worker job panicked");
                    Err(PoolError::Panicked(why))
                }
                Err(_) => Err(PoolError::Stopped),
            }
        }
    }

    /// Runs `f` on a worker and waits for its result without blocking the async runtime.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
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

    #[tokio::test]
    async fn a_panicking_job_is_its_own_error_and_the_worker_stays() {
        let pool = WorkerPool::new("test", 1);
        for _ in 0..3 {
            let failed = pool.run(|| -> u32 { panic!("bad input") }).await;
            assert!(
                matches!(&failed, Err(PoolError::Panicked(m)) if m == "bad input"),
                "{failed:?}"
            );
            // The only worker caught it and takes the next job.
            assert_eq!(pool.run(|| 7).await.expect("the worker is still there"), 7);
        }
    }
}
