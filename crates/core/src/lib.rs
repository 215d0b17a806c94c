//! The domain of hpki-second: types parsed at the edge, the services that hold the rules, and
//! the storage trait the services need. Web and CLI call services; only the binary picks the
//! concrete store.
#![forbid(unsafe_code)]

pub mod audit;
pub mod clock;
pub mod domain;
mod error;
pub mod files;
pub mod keystore;
pub mod pool;
mod public_url;
pub mod secret;
pub mod services;
pub mod store;

pub use error::{Error, OperatorRefusal, RowError, Unset};
pub use public_url::PublicUrl;
