//! Whether the service can do its work: for `/readyz` and start-up checks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::keystore::Keystore;
use crate::store::Store;

#[derive(Clone)]
pub struct StatusService {
    store: Arc<dyn Store>,
    keystore: Arc<dyn Keystore>,
    /// Set when the process was asked to stop: a load balancer should send nothing new.
    draining: Arc<AtomicBool>,
}

impl StatusService {
    pub fn new(store: Arc<dyn Store>, keystore: Arc<dyn Keystore>) -> Self {
        Self {
            store,
            keystore,
            draining: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Ready when the process is not stopping, the database answers and the keystore can sign
    /// (each asked on every call, so a keystore that recovers is ready again at once).
    pub async fn readiness(&self) -> Readiness {
        if self.draining.load(Ordering::Relaxed) {
            return Readiness::Draining;
        }
        if let Err(why) = self.database().await {
            return Readiness::DatabaseDown(why);
        }
        match self.keystore().await {
            Ok(()) => Readiness::Ready,
            Err(why) => Readiness::KeystoreDown(why),
        }
    }

    /// Whether the database answers now (why not, if not).
    pub async fn database(&self) -> Result<(), String> {
        self.store.ping().await.map_err(|e| e.to_string())
    }

    /// Whether the keystore can sign now (why not, if not).
    pub async fn keystore(&self) -> Result<(), String> {
        self.keystore.check().await.map_err(|e| e.to_string())
    }

    /// From now on `readiness` says `Draining`, while requests are still served (SIGTERM's first step).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }
}

/// Whether an instance should get requests, and if not, what is missing (the detail is for
/// the log, not for the answer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Asked to stop: requests in flight finish, new ones should go elsewhere.
    Draining,
    DatabaseDown(String),
    KeystoreDown(String),
}

impl Readiness {
    /// What `/readyz` says: `ready`, `draining`, `database` or `keystore`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Draining => "draining",
            Self::DatabaseDown(_) => "database",
            Self::KeystoreDown(_) => "keystore",
        }
    }
}
