//! The integration tests: the real `hpki-second` binary, real SQLite and PostgreSQL.

mod audit;
mod browser;
mod ca;
mod ca_import;
mod cli;
mod cluster;
mod console;
mod csc;
mod csc_consent;
mod csc_documents;
mod csc_refusals;
mod deployment;
mod holder_page;
mod http_caching;
mod keys;
mod lifecycle;
mod metrics;
mod oidc;
mod oidc_card;
mod race;
mod recovery;
mod search;
mod server;
mod sheets;
mod support;
mod traces;
