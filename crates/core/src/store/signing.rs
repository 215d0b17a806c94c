//! Storage of relying systems, their sign-ins and signing sessions, and remote signing.

use async_trait::async_trait;

use super::StoreError;
use crate::audit::AuditEvent;

/// A login to record on its authorization: who signed in, with what, and the code handed out.
#[derive(Clone, Copy, Debug)]
pub struct Login<'a> {
    /// The authorization the login answers.
    pub authorization: i64,
    /// The holder who signed in.
    pub holder: i64,
    /// Their device credential (a passkey login), none for an HPKI card.
    pub device: Option<i64>,
    pub method: crate::domain::oidc::AuthMethod,
    pub at: chrono::DateTime<chrono::Utc>,
    pub code_hash: &'a str,
    pub code_expires_at: chrono::DateTime<chrono::Utc>,
}

/// Storage of the device authorization grant (RFC 8628): the relying system's request, the
/// phone that entered its user code, the holder's refusal, the polls. The phone's login holds
/// the device code as its code from the moment the phone enters the user code: the code's
/// uniqueness binds one phone per request, and the approval is that login recorded (its code
/// then redeemable by the poll). A request and the phone that entered its code are kept like
/// an authorization request waiting for its login: they change nothing yet, anyone may cause
/// them (a public client needs no secret), and they expire; the login that approves one is
/// audited with its details, and so is a refusal.
#[async_trait]
pub trait DeviceGrantStore: Send + Sync + 'static {
    /// A device authorization; `false` when its user code is taken (the caller draws another).
    async fn insert_device_grant(
        &self,
        grant: &crate::domain::device_grant::NewDeviceGrant,
    ) -> Result<bool, StoreError>;

    async fn device_grant_by_user_code(
        &self,
        user_code_hash: &str,
    ) -> Result<Option<crate::domain::device_grant::DeviceGrant>, StoreError>;

    async fn device_grant_by_code(
        &self,
        device_code_hash: &str,
    ) -> Result<Option<crate::domain::device_grant::DeviceGrant>, StoreError>;

    /// The phone enters a user code at `at`: the login it opens (`login_hash`, its browser's
    /// token) for the grant with that code if the grant waits and no phone came before. The
    /// login is the grant's: its client, scope and consent, the device code as its code (not
    /// redeemable until the login is recorded), made when the relying system asked, ending when
    /// the grant does. `None` if there is no such grant, or it is refused, over, or entered.
    async fn enter_device_grant(
        &self,
        user_code_hash: &str,
        login_hash: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<crate::domain::oidc::Authorization>, StoreError>;

    /// The holder refused on the phone: the grant is refused and its login ended, with the
    /// event; `false` if the login was answered already, or the grant refused or over.
    async fn deny_device_grant(
        &self,
        grant: i64,
        at: chrono::DateTime<chrono::Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// A poll at `at` of a grant not approved yet: on time (recorded), or too soon (then its
    /// interval grows by 5 seconds, RFC 8628 §3.5).
    async fn poll_device_grant(
        &self,
        grant: i64,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<crate::domain::device_grant::Poll, StoreError>;
}

/// Storage of relying systems (OpenID Connect clients), the token-signing keys, and the
/// authorizations with the signing sessions they open.
#[async_trait]
pub trait OidcStore: DeviceGrantStore + Send + Sync + 'static {
    /// Registers a relying system; `Conflict` if its client ID exists.
    async fn insert_client(
        &self,
        client: &crate::domain::oidc::NewRelyingParty,
        event: &AuditEvent,
    ) -> Result<crate::domain::oidc::RelyingParty, StoreError>;

    async fn client(
        &self,
        client_id: &crate::domain::oidc::ClientId,
    ) -> Result<Option<crate::domain::oidc::RelyingParty>, StoreError>;

    /// Every relying system, in registration order.
    async fn clients(&self) -> Result<Vec<crate::domain::oidc::RelyingParty>, StoreError>;

    /// Disables a relying system and ends its signing sessions; `false` if it was disabled
    /// already or does not exist.
    async fn disable_client(
        &self,
        client_id: &crate::domain::oidc::ClientId,
        at: chrono::DateTime<chrono::Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Records the `jti` of a client assertion (private_key_jwt) until it expires; `false` if
    /// it was recorded before: a replay. Expired ones are dropped on the way.
    async fn record_client_assertion(
        &self,
        client_id: &crate::domain::oidc::ClientId,
        jti_hash: &str,
        expires_at: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError>;

    /// Records a DPoP proof (`jti_hash`: the hash of its key's thumbprint and its `jti`) until
    /// `expires_at`, when it is too old to be accepted anyway; `false` if it was recorded
    /// before: a replay. Expired ones are dropped now and then.
    async fn record_dpop_proof(
        &self,
        jti_hash: &str,
        expires_at: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError>;

    /// A pushed authorization request (RFC 9126) of `client_id`, its parameters as JSON, by
    /// the hash of its `request_uri`, until `expires_at`. Expired ones are swept now and then.
    async fn insert_par_request(
        &self,
        uri_hash: &str,
        client_id: &crate::domain::oidc::ClientId,
        params: &str,
        expires_at: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError>;

    /// The parameters of `client_id`'s pushed request while it lasts; `None` if unknown,
    /// another client's, or expired.
    async fn par_request(
        &self,
        uri_hash: &str,
        client_id: &crate::domain::oidc::ClientId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<String>, StoreError>;

    /// Records a DPoP nonce an instance hands out (by hash) for the time window `window`;
    /// windows long past are dropped on the way.
    async fn insert_dpop_nonce(&self, nonce_hash: &str, window: i64) -> Result<(), StoreError>;

    /// The window of a DPoP nonce some instance handed out, by its hash; `None` if unknown.
    async fn dpop_nonce_window(&self, nonce_hash: &str) -> Result<Option<i64>, StoreError>;

    /// The token-signing keys, newest first.
    async fn token_signing_keys(
        &self,
    ) -> Result<Vec<crate::domain::oidc::TokenSigningKey>, StoreError>;

    /// Adds a key and marks every older one superseded at its creation time. With
    /// `only_if_none`, nothing is written when a key that signs already exists (`false`): two
    /// instances starting at once make one key, not two.
    async fn insert_token_signing_key(
        &self,
        key: &crate::domain::oidc::TokenSigningKey,
        only_if_none: bool,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Stores a checked authorization request; returns its id. No audit event, as for a
    /// WebAuthn challenge: a request waiting for a login changes nothing yet, is single-use and
    /// expires; the login that answers it is audited with the request's details (and so is
    /// every refusal).
    async fn insert_authorization(
        &self,
        request: &crate::domain::oidc::NewAuthorization,
    ) -> Result<i64, StoreError>;

    async fn authorization_by_login(
        &self,
        login_hash: &str,
    ) -> Result<Option<crate::domain::oidc::Authorization>, StoreError>;

    async fn authorization(
        &self,
        id: i64,
    ) -> Result<Option<crate::domain::oidc::Authorization>, StoreError>;

    async fn authorization_by_code(
        &self,
        code_hash: &str,
    ) -> Result<Option<crate::domain::oidc::Authorization>, StoreError>;

    /// Appends the event of a refused login or token request (nothing else changes: the
    /// refusal itself is what is recorded).
    async fn record_refusal(&self, event: &AuditEvent) -> Result<(), StoreError>;

    /// Records who signed in and the code handed out, if the authorization is still waiting
    /// for a login (`false` otherwise: another tab or instance finished it, or it ended).
    async fn record_login(&self, login: &Login<'_>, event: &AuditEvent)
        -> Result<bool, StoreError>;

    /// Redeems a code once, atomically: the first redemption opens the signing session
    /// (until `session_expires_at`) with `redeemed`; a second one ends it with `replayed`.
    async fn redeem_code(
        &self,
        code_hash: &str,
        at: chrono::DateTime<chrono::Utc>,
        session_expires_at: chrono::DateTime<chrono::Utc>,
        redeemed: &AuditEvent,
        replayed: &AuditEvent,
    ) -> Result<crate::domain::oidc::Redemption, StoreError>;

    /// The holder's authorizations that opened a signing session (redeemed codes), newest
    /// first, at most `limit`.
    async fn sessions_of_holder(
        &self,
        holder_id: i64,
        limit: u32,
    ) -> Result<Vec<crate::domain::oidc::Authorization>, StoreError>;

    /// Ends every authorization of the holder that has not ended (an operator signing the
    /// holder out everywhere); returns how many. No event is written when there were none.
    async fn end_sessions_of_holder(
        &self,
        holder_id: i64,
        at: chrono::DateTime<chrono::Utc>,
        reason: &str,
        event: &AuditEvent,
    ) -> Result<u64, StoreError>;

    /// Gives an authorization a card login (replacing any earlier one of it); `Conflict` if a
    /// live card login holds the same code (the caller draws another). Not audited, like a
    /// WebAuthn challenge: a code changes nothing until a card answers it (that is audited).
    async fn insert_card_login(
        &self,
        login: &crate::domain::oidc::CardLogin,
        code_hash: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError>;

    async fn card_login_by_code(
        &self,
        code_hash: &str,
    ) -> Result<Option<crate::domain::oidc::CardLogin>, StoreError>;

    async fn card_login(
        &self,
        authorization_id: i64,
    ) -> Result<Option<crate::domain::oidc::CardLogin>, StoreError>;

    /// Records a card's answer (`Verified` or `Refused`) with its event, if the code still
    /// waits and has not expired at `at`; `false` otherwise (answered before, or expired).
    async fn answer_card_login(
        &self,
        authorization_id: i64,
        code_hash: &str,
        outcome: &crate::domain::oidc::CardOutcome,
        at: chrono::DateTime<chrono::Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Ends an authorization (its signing session); `false` if it had ended already.
    async fn end_authorization(
        &self,
        id: i64,
        at: chrono::DateTime<chrono::Utc>,
        reason: &str,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;
}

/// Signature activation data (CSC `credentials/authorize`).
#[async_trait]
pub trait CscStore: Send + Sync + 'static {
    /// Stores a SAD (by its hash) with the event that audits it; returns its id. Expired ones
    /// are dropped on the way now and then.
    async fn insert_sad(
        &self,
        sad: &crate::domain::csc::NewSad,
        event: &AuditEvent,
    ) -> Result<i64, StoreError>;

    /// Appends the event of a refused remote-signing request.
    async fn record_refusal(&self, event: &AuditEvent) -> Result<(), StoreError>;

    async fn sad_by_hash(
        &self,
        sad_hash: &str,
    ) -> Result<Option<crate::domain::csc::Sad>, StoreError>;

    /// Spends `used` signatures of a SAD as read (`was`), leaving `hashes_left` of its bound
    /// hashes, with the event that audits the signatures: only if it is unchanged since it was
    /// read, unexpired at `at`, and everything `guard` names may still sign at `at`, all
    /// checked in the transaction that spends it (`false` otherwise).
    async fn spend_sad(
        &self,
        was: &crate::domain::csc::Sad,
        used: i64,
        hashes_left: Option<&[crate::keystore::Sha256Digest]>,
        guard: &SpendGuard,
        at: chrono::DateTime<chrono::Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Gives an unexpired SAD a new value and expiry (`credentials/extendTransaction`); `false`
    /// if it was spent, replaced or expired meanwhile.
    async fn extend_sad(
        &self,
        id: i64,
        old_hash: &str,
        new_hash: &str,
        expires_at: chrono::DateTime<chrono::Utc>,
        at: chrono::DateTime<chrono::Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;
}

/// What must still hold when signatures are paid for, checked in the same transaction as the
/// SAD is spent: the holder active, the signing session running, the second certificate that
/// signed unrevoked and unexpired, the device credential that signed in active (or, for a
/// session an HPKI card opened, that card's certificate unrevoked), the relying system
/// enabled. A signature leaves only after that transaction, so whatever was checked
/// earlier (or remembered from an earlier call) cannot let a signature out after any of these
/// changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpendGuard {
    pub holder_id: i64,
    pub session_id: i64,
    /// The serial of the certificate whose key signed.
    pub certificate: String,
    pub device_id: Option<i64>,
    pub client_id: String,
}
