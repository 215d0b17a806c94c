//! Domain types, each parsed once at the edge.

mod certificate;
pub mod csc;
pub mod device;
pub mod device_grant;
mod holder;
mod names;
pub mod oidc;
mod photo;
mod qualification;
mod redirect_uri;
pub mod request;
pub mod sheet;

pub use certificate::{
    CaRole, CertificateKind, CertificateStatus, NewCertificate, Revocation, RevocationReason,
    Serial, StoredCertificate,
};
pub use holder::{
    DateOfBirth, Holder, HolderStatus, KanaName, KanjiName, KanjiNameSplit, NewHolder, OrgCode,
    OrganizationName, RegistryNumber, RomanName, Username, IDEOGRAPHIC_SPACE,
};
pub use photo::{Photo, PhotoError, PhotoLimits};
pub use qualification::Qualification;

/// A value from outside that is not acceptable, with the field it came in and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidInput {
    pub field: &'static str,
    pub message: String,
}

impl InvalidInput {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}
