//! What the services need from storage. Each method that changes state takes the audit
//! event(s) describing the change and appends them in the same transaction.
//!
//! One file per part of the service: this one the registry, the audit log, certificates,
//! sheets and device credentials; [`signing`] the relying systems, sign-ins and remote
//! signing; [`operators`] the operators, their console and dual control; [`keys`] every key
//! reference, for a key-encryption key's rotation. All are re-exported
//! here, so a trait's path does not say which file holds it.

mod keys;
mod operators;
mod signing;

pub use keys::*;
pub use operators::*;
pub use signing::*;

use async_trait::async_trait;
use futures_util::stream::BoxStream;

use crate::audit::{AuditEvent, ChainHead, StoredEvent};
use crate::domain::{
    CaRole, CertificateKind, Holder, NewCertificate, NewHolder, Photo, Revocation, Serial,
    StoredCertificate, Username,
};

/// Storage failures, in terms the services can act on.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule refused the change; the text (ours, never the database's) says which.
    #[error("{0}")]
    Conflict(String),
    /// The holder has as many active device credentials as allowed; nothing was written.
    #[error("the holder already has {active} registered device(s), the most allowed")]
    DeviceLimit { active: u32 },
    /// The database cannot be reached or refused the connection.
    #[error("{0}")]
    Unavailable(String),
    /// The database's schema is older than this release needs (migrations are a step of
    /// their own: nothing migrates implicitly).
    #[error("the database's schema is at version {have}; this release needs {want}")]
    SchemaBehind { have: i64, want: i64 },
    /// Anything else: a bug, a corrupt row, a failed migration.
    #[error("{0}")]
    Other(String),
}

/// What an all-or-nothing import did.
#[derive(Debug, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Everything was written.
    Imported { inserted: u64, unchanged: u64 },
    /// Rows (by index into the input) that contradict stored holders; nothing was written.
    Conflicts(Vec<(usize, String)>),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Registers a holder; `Conflict` if the username is taken.
    async fn insert_holder(
        &self,
        holder: &NewHolder,
        event: &AuditEvent,
    ) -> Result<Holder, StoreError>;

    /// Registers many holders in one transaction. Rows equal to a stored holder are left alone
    /// (and get no event); rows that contradict one refuse the whole import.
    async fn import_holders(
        &self,
        rows: &[(NewHolder, AuditEvent)],
    ) -> Result<ImportOutcome, StoreError>;

    /// Replaces a holder's photo; `Ok(false)` if there is no such holder.
    async fn set_holder_photo(
        &self,
        username: &Username,
        photo: &Photo,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Moves a holder from `from` to `to` with the event that audits it; `false` if the holder
    /// does not exist or is not in `from`.
    async fn set_holder_status(
        &self,
        username: &Username,
        from: crate::domain::HolderStatus,
        to: crate::domain::HolderStatus,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    async fn holder(&self, username: &Username) -> Result<Option<Holder>, StoreError>;

    async fn holder_by_id(&self, id: i64) -> Result<Option<Holder>, StoreError>;

    async fn holder_photo(&self, username: &Username) -> Result<Option<Photo>, StoreError>;

    /// Holders in registration order, `limit` after the holder with id `after_id`.
    async fn list_holders(&self, after_id: i64, limit: u32) -> Result<Vec<Holder>, StoreError>;

    /// The holders with these ids (those that exist), in no particular order.
    async fn holders_by_ids(&self, ids: &[i64]) -> Result<Vec<Holder>, StoreError>;

    async fn count_holders(&self) -> Result<u64, StoreError>;

    /// The last event of the audit chain as recorded by the database.
    async fn audit_head(&self) -> Result<ChainHead, StoreError>;

    /// Appends an event about something that changed outside the database's own rows (the
    /// database restored from a backup, a key destroyed in an HSM).
    async fn record_event(&self, event: &AuditEvent) -> Result<(), StoreError>;

    /// Events with sequence number above `after_seq`, in order, streamed.
    fn audit_events(&self, after_seq: i64) -> BoxStream<'_, Result<StoredEvent, StoreError>>;

    /// The events of one action about one target (a holder's signatures), newest first, at
    /// most `limit`, older than `before_seq` when given (to page back).
    async fn audit_events_of(
        &self,
        target: &str,
        action: &str,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// The events about any of `targets` (a holder's username, their certificates' serials,
    /// their sheets), newest first, at most `limit`, older than `before_seq` when given.
    async fn audit_trail(
        &self,
        targets: &[String],
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// Adds an operator with the hash of their token (and its expiry); `Conflict` if the name
    /// is taken.
    async fn insert_operator(
        &self,
        name: &str,
        role: OperatorRole,
        token_hash: &str,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
        event: &AuditEvent,
    ) -> Result<Operator, StoreError>;

    /// Every operator, by name.
    async fn operators(&self) -> Result<Vec<Operator>, StoreError>;

    /// Gives the operator a new token (hash) with its expiry, replacing the old one, which
    /// stops working; `None` if there is no such operator.
    async fn replace_operator_token(
        &self,
        name: &str,
        token_hash: &str,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
        event: &AuditEvent,
    ) -> Result<Option<Operator>, StoreError>;

    /// Revokes the token, disables or enables the operator (at the event's time); `None` if
    /// there is no such operator.
    async fn change_operator(
        &self,
        name: &str,
        change: OperatorChange,
        event: &AuditEvent,
    ) -> Result<Option<Operator>, StoreError>;

    /// Notes that the operator's token was used at `at`, when the last note is older than
    /// `at - every` (bookkeeping for `operator list`, not audited: the request log has every
    /// call, and an audit event per API call would bury the events that matter).
    async fn note_operator_use(
        &self,
        id: OperatorId,
        at: chrono::DateTime<chrono::Utc>,
        every: chrono::Duration,
    ) -> Result<(), StoreError>;

    async fn operator_by_token_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<Operator>, StoreError>;
}

/// Storage of the certificate authority's certificates.
#[async_trait]
pub trait CertificateStore: Send + Sync + 'static {
    /// Stores certificates (and their events) in one transaction; `Conflict` if a serial is
    /// taken or a CA of the same role exists.
    async fn insert_certificates(
        &self,
        certs: &[NewCertificate],
        events: &[AuditEvent],
    ) -> Result<(), StoreError>;

    async fn ca_certificate(&self, role: CaRole) -> Result<Option<StoredCertificate>, StoreError>;

    /// The most recently issued certificate of a kind (e.g. the current OCSP responder).
    async fn newest_of_kind(
        &self,
        kind: CertificateKind,
    ) -> Result<Option<StoredCertificate>, StoreError>;

    /// The revocation generation: a counter that every revocation raises by one in its own
    /// transaction. Instances compare it (never a clock) to know whether anything was revoked
    /// since they last looked, and drop cached OCSP answers when it moved.
    async fn revocation_generation(&self) -> Result<i64, StoreError>;

    async fn certificate(&self, serial: &Serial) -> Result<Option<StoredCertificate>, StoreError>;

    async fn certificates_of_holder(
        &self,
        holder_id: i64,
    ) -> Result<Vec<StoredCertificate>, StoreError>;

    /// Marks a certificate revoked, raises the revocation generation and marks its issuer's CRL
    /// due, all in one transaction with the event. Revoking a revoked certificate changes
    /// nothing (and writes no event); `Ok(None)` if there is no such certificate.
    async fn revoke_certificate(
        &self,
        serial: &Serial,
        revocation: Revocation,
        event: &AuditEvent,
    ) -> Result<Option<StoredCertificate>, StoreError>;

    /// Records a serial a restored CA no longer knows (issued after the backup) that one of its
    /// published CRLs lists as revoked, so that every later CRL lists it too; raises the
    /// revocation generation and marks the CRL due, with its event. `Ok(false)` if recorded
    /// already (nothing written).
    async fn revoke_lost_certificate(
        &self,
        issuer: CaRole,
        serial: &Serial,
        revocation: Revocation,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// The revocation of a serial a restored CA no longer knows, as its published CRL listed
    /// it (see [`Self::revoke_lost_certificate`]).
    async fn lost_certificate(
        &self,
        issuer: CaRole,
        serial: &Serial,
    ) -> Result<Option<Revocation>, StoreError>;

    /// Revoked certificates issued by a CA, the lost ones included: (serial, revocation), in no
    /// particular order.
    async fn revoked_by(&self, issuer: CaRole) -> Result<Vec<(Serial, Revocation)>, StoreError>;

    /// Takes the next CRL number of a CA: one more than the last taken, and at least `at_least`
    /// (the CA passes the current time in seconds, so that a CA restored from an old backup
    /// never issues a number it published before). A number taken and never published leaves
    /// a gap, which RFC 5280 allows.
    async fn next_crl_number(&self, issuer: CaRole, at_least: i64) -> Result<i64, StoreError>;

    /// Publishes an issued CRL with its `crl.issued` event if it is still the newest
    /// (`Ok(false)`, and nothing written, otherwise). `due_seen` is the CA's due mark read before
    /// the CRL's entries were read: the mark is cleared only if no revocation changed it since.
    async fn save_crl(
        &self,
        issuer: CaRole,
        crl: &StoredCrl,
        due_seen: Option<i64>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    async fn latest_crl(&self, issuer: CaRole) -> Result<Option<StoredCrl>, StoreError>;

    /// Each CA's CRL bookkeeping, without the CRLs themselves (cheap enough to ask every second).
    async fn crl_states(&self) -> Result<Vec<CrlState>, StoreError>;

    /// Makes sure the next CRL number taken is above `published` (a number this CA published
    /// that its restored database does not know).
    async fn raise_crl_number(&self, issuer: CaRole, published: i64) -> Result<(), StoreError>;

    /// Forgets a certificate's key (after it was destroyed in the keystore), with its event:
    /// for the software keystore, erasing the sealed key is what destroys it. `Ok(false)` if
    /// the certificate has no key (nothing written).
    async fn erase_key(&self, serial: &Serial, event: &AuditEvent) -> Result<bool, StoreError>;

    /// Second certificates revoked or expired at `now` whose key is still kept, in issue order.
    async fn spent_second_keys(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<StoredCertificate>, StoreError>;

    /// Certificates whose key the keystore holds (CAs, OCSP responders, second certificates),
    /// in issue order.
    async fn certificates_with_keys(&self) -> Result<Vec<StoredCertificate>, StoreError>;
}

/// What the CA's upkeep needs to know of one CA's CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlState {
    pub issuer: CaRole,
    /// Set by a revocation (to the generation it made) until a CRL that lists it is published.
    pub due: Option<i64>,
    /// The published CRL: its number, thisUpdate and nextUpdate.
    pub published: Option<(
        i64,
        chrono::DateTime<chrono::Utc>,
        chrono::DateTime<chrono::Utc>,
    )>,
}

/// An issued CRL as kept for serving.
#[derive(Clone, Debug)]
pub struct StoredCrl {
    pub number: i64,
    pub der: Vec<u8>,
    pub this_update: chrono::DateTime<chrono::Utc>,
    pub next_update: chrono::DateTime<chrono::Utc>,
}

/// A sheet about to be stored.
#[derive(Clone, Debug)]
pub struct NewSheet {
    pub holder_id: i64,
    pub token_hash: String,
    pub password_hash: String,
    pub issued_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// A registration session: what the browser's cookie stands for after the sheet's password
/// was accepted (only the cookie's hash is stored).
#[derive(Clone, Debug)]
pub struct RegistrationSession {
    pub id_hash: String,
    pub sheet_id: i64,
    pub holder_id: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// The device credential this browser then signed in with ("Sign In"), and when: the
    /// holder's own page opens only after that.
    pub signed_in: Option<(i64, chrono::DateTime<chrono::Utc>)>,
}

/// Storage of the initial registration sheets.
#[async_trait]
pub trait SheetStore: Send + Sync + 'static {
    /// Stores new active sheets and supersedes their holders' other active or locked sheets, all in one
    /// transaction: each sheet comes with its `issued` event; `superseded(holder_id, old_id)`
    /// makes each old sheet's event. Returns the stored sheets in the same order.
    async fn issue_sheets(
        &self,
        batch: &[(NewSheet, AuditEvent)],
        superseded: &(dyn Fn(i64, i64) -> AuditEvent + Send + Sync),
    ) -> Result<Vec<crate::domain::sheet::Sheet>, StoreError>;

    /// Active holders without a usable sheet at `now` (none issued, or all ended or expired),
    /// by id after `after_id`: the holders a print run issues sheets for.
    async fn holders_without_sheet(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<Holder>, StoreError>;

    async fn sheet_by_token_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<crate::domain::sheet::Sheet>, StoreError>;

    async fn sheets_of_holder(
        &self,
        holder_id: i64,
    ) -> Result<Vec<crate::domain::sheet::Sheet>, StoreError>;

    /// Records one wrong password as the domain decided it (`next`, from
    /// [`Sheet::after_wrong_password`](crate::domain::sheet::Sheet::after_wrong_password)):
    /// only if the sheet is still active with `seen_attempts` failures, so that two wrong
    /// passwords at once, in any process, never count as one. `false` when the sheet changed
    /// meanwhile (then nothing was written: read it again and decide again). `events` are
    /// audited with the change.
    async fn record_wrong_password(
        &self,
        sheet_id: i64,
        seen_attempts: u32,
        next: crate::domain::sheet::WrongPassword,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError>;

    /// Moves an active sheet to `to` (revoked); `false` if it was not active.
    async fn end_sheet(
        &self,
        sheet_id: i64,
        to: crate::domain::sheet::SheetState,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Stores a registration session (and drops sessions that expired before its start), with
    /// its audit event, in one transaction, if the sheet is still active; the right password
    /// also clears the sheet's count of wrong ones. `false` when the sheet ended meanwhile
    /// (then nothing was written).
    async fn open_registration(
        &self,
        session: &RegistrationSession,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Records that the session's browser signed in with `device_id` (the holder's page opens
    /// from then on), with its event, if the session has not expired at `at`.
    async fn mark_signed_in(
        &self,
        id_hash: &str,
        device_id: i64,
        at: chrono::DateTime<chrono::Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// A registration session with its sheet and holder, in one read.
    #[allow(clippy::type_complexity)]
    async fn registration(
        &self,
        id_hash: &str,
    ) -> Result<
        Option<(
            RegistrationSession,
            crate::domain::sheet::Sheet,
            crate::domain::Holder,
        )>,
        StoreError,
    >;

    /// Active sheets that expire before `before`, soonest first.
    async fn sheets_expiring(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<crate::domain::sheet::Sheet>, StoreError>;
}

/// Storage of device credentials and of WebAuthn ceremonies in progress.
#[async_trait]
pub trait DeviceStore: Send + Sync + 'static {
    /// Stores a ceremony's state (no audit: a challenge is not a change of anything; it is
    /// single-use and expires). Expired ceremonies are dropped on the way.
    async fn save_ceremony(
        &self,
        ceremony: &crate::domain::device::Ceremony,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError>;

    /// Removes and returns the ceremony of `challenge`: whoever takes it first finishes it,
    /// on any instance; a replay finds nothing.
    async fn take_ceremony(
        &self,
        challenge: &str,
    ) -> Result<Option<crate::domain::device::Ceremony>, StoreError>;

    /// The holder's credentials that are not deleted, oldest first.
    async fn devices_of_holder(
        &self,
        holder_id: i64,
    ) -> Result<Vec<crate::domain::device::DeviceCredential>, StoreError>;

    /// Every owner's credentials in `state`, newest first, at most `limit` (the console's
    /// worklist of phones reported lost).
    async fn devices_in_state(
        &self,
        state: crate::domain::device::DeviceState,
        limit: u32,
    ) -> Result<Vec<crate::domain::device::DeviceCredential>, StoreError>;

    /// Whether the holder's device credential `id` is active (one small query: checked on
    /// every use of a signing session).
    async fn device_is_active(&self, holder_id: i64, id: i64) -> Result<bool, StoreError>;

    async fn device_by_credential_id(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<crate::domain::device::DeviceCredential>, StoreError>;

    /// Stores a new credential unless the holder already has `max_active` active ones
    /// (`Conflict`), or the credential ID is registered already (`Conflict`).
    async fn insert_device(
        &self,
        device: &crate::domain::device::NewDeviceCredential,
        max_active: u32,
        event: &AuditEvent,
    ) -> Result<crate::domain::device::DeviceCredential, StoreError>;

    /// Records a successful sign-in: the new counter state, the time, the event, if the
    /// credential is still active and its counter state is still `verified_against` (the state
    /// the sign-in was checked against). `false` otherwise: it was stopped, or another sign-in
    /// with it finished meanwhile (two answers with one counter must not both pass).
    async fn record_device_use(
        &self,
        id: i64,
        verified_against: &[u8],
        dynamic_state: &[u8],
        at: chrono::DateTime<chrono::Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Moves an active credential to `to` (suspect, deleted); `false` if it was not active
    /// (or, for deleted, already deleted).
    async fn set_device_state(
        &self,
        id: i64,
        to: crate::domain::device::DeviceState,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Renames the holder's credential; `false` if there is no such credential of theirs.
    async fn set_device_label(
        &self,
        id: i64,
        holder_id: i64,
        label: &str,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;
}
