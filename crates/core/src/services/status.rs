//! Whether the service can do its work: for `/readyz` and start-up checks.

use std::sync::Arc;

use crate::store::Store;
use crate::Error;

#[derive(Clone)]
pub struct StatusService {
    store: Arc<dyn Store>,
}

impl StatusService {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Ready when the database answers.
    pub async fn ready(&self) -> Result<(), Error> {
        Ok(self.store.ping().await?)
    }
}
