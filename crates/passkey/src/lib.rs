//! Device credentials: registering a passkey on the holder's phone and signing in with it
//! (manual 1.2 (5)-(8)), verified by `webauthn_rp`. Ceremonies are stored (any instance can
//! finish one; each challenge once, for five minutes) and every change is audited.
#![forbid(unsafe_code)]

pub mod agent;
mod registration;
mod sign_in;
#[cfg(feature = "soft-authenticator")]
pub mod soft;

pub use registration::LabelFacts;

/// Entry points for the fuzz targets in `fuzz/` (the `fuzzing` feature): the WebAuthn JSON the
/// registration endpoints take, read as `finish_registration` and `finish_sign_in` read it.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub fn webauthn_json(body: &[u8]) {
        if let Ok(r) = webauthn_rp::Registration::from_json_relaxed(body) {
            let _ = r.challenge_relaxed();
        }
        if let Ok(a) = webauthn_rp::NonDiscoverableAuthentication64::from_json_relaxed(body) {
            let _ = a.challenge_relaxed();
        }
    }

    /// A holder's name as the registration's WebAuthn display name (never a panic, whatever
    /// the family register holds).
    pub fn display_name(name: &str) {
        let _ = crate::registration::display_name(name, "999999-jpa");
    }
}
pub use sign_in::{SignedIn, VerifiedAssertion};

use hpki_core::audit::Action;
use std::sync::Arc;

use chrono::Duration;
use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::clock::Clock;
use hpki_core::domain::device::{
    Ceremony, CeremonyKind, CeremonyRefusal, DeviceCredential, DeviceState,
};
use hpki_core::domain::Holder;
use hpki_core::store::DeviceStore;
use hpki_core::Error;
use webauthn_rp::bin::Decode;
use webauthn_rp::request::register::UserHandle64;
use webauthn_rp::request::{AsciiDomain, PublicKeyCredentialDescriptor, RpId};
use webauthn_rp::response::register::CompressedPubKey;
use webauthn_rp::response::{AuthTransports, CredentialId, SentChallenge};

/// How long a challenge can be answered.
pub const CEREMONY_MINUTES: i64 = 5;

/// Whose passkeys a [`DeviceService`] keeps: holders' (the phone registered through the
/// sheet) or operators' (the console's sign-in).
pub trait CredentialOwner: Sync {
    /// The id their credentials are stored under.
    fn owner_id(&self) -> i64;
    /// The WebAuthn user name (what a passkey manager lists), and the audit target.
    fn account_name(&self) -> String;
    /// The WebAuthn display name.
    fn display_name(&self) -> String;
}

impl CredentialOwner for Holder {
    fn owner_id(&self) -> i64 {
        self.id
    }
    fn account_name(&self) -> String {
        self.username.to_string()
    }
    fn display_name(&self) -> String {
        self.name_kanji.written()
    }
}

impl CredentialOwner for hpki_core::store::Operator {
    fn owner_id(&self) -> i64 {
        self.id.0
    }
    fn account_name(&self) -> String {
        self.name.clone()
    }
    fn display_name(&self) -> String {
        self.name.clone()
    }
}

/// The audit actions of a kind of owner's credentials.
#[derive(Debug)]
pub(crate) struct Events {
    pub registered: Action,
    pub signed_in: Action,
    pub suspect: Action,
    pub deleted: Action,
    pub reported_lost: Action,
    pub labelled: Action,
}

const HOLDER_EVENTS: Events = Events {
    registered: Action::DEVICE_REGISTERED,
    signed_in: Action::DEVICE_SIGNED_IN,
    suspect: Action::DEVICE_SUSPECT,
    deleted: Action::DEVICE_DELETED,
    reported_lost: Action::DEVICE_REPORTED_LOST,
    labelled: Action::DEVICE_LABELLED,
};

const OPERATOR_EVENTS: Events = Events {
    registered: Action::OPERATOR_PASSKEY_REGISTERED,
    signed_in: Action::OPERATOR_PASSKEY_USED,
    suspect: Action::OPERATOR_PASSKEY_SUSPECT,
    deleted: Action::OPERATOR_PASSKEY_DELETED,
    reported_lost: Action::OPERATOR_PASSKEY_REPORTED_LOST,
    labelled: Action::OPERATOR_PASSKEY_LABELLED,
};

/// The relying party, from the configuration.
#[derive(Clone, Debug)]
pub struct PasskeySettings {
    /// The public URL; its host is the RP ID, its origin the only accepted origin.
    pub public_url: hpki_core::PublicUrl,
    /// Active device credentials a holder may have (default 1).
    pub max_devices: u32,
}

#[derive(Clone)]
pub struct DeviceService {
    devices: Arc<dyn DeviceStore>,
    clock: Arc<dyn Clock>,
    rp_id: Arc<RpId>,
    origin: Arc<str>,
    max_devices: u32,
    events: &'static Events,
}

fn refused(refusal: CeremonyRefusal, detail: impl Into<String>) -> Error {
    metrics::counter!("hpki_passkey_refusals_total", "code" => refusal.code()).increment(1);
    Error::Ceremony {
        refusal,
        detail: detail.into(),
    }
}

fn internal(what: &str, e: impl std::fmt::Debug) -> Error {
    Error::Internal(format!("{what}: {e:?}"))
}

fn challenge_key(c: SentChallenge) -> String {
    format!("{:032x}", c.0)
}

type StoredKey = CompressedPubKey<[u8; 32], [u8; 32], [u8; 48], Vec<u8>>;

impl DeviceService {
    /// Checks the settings: WebAuthn needs a domain name (not an IP address) as the RP ID.
    pub fn new(
        devices: Arc<dyn DeviceStore>,
        clock: Arc<dyn Clock>,
        settings: &PasskeySettings,
    ) -> Result<Self, Error> {
        let host = settings
            .public_url
            .domain()
            .map_err(|e| Error::Internal(e.message))?;
        let domain = AsciiDomain::try_from(host.to_owned())
            .map_err(|e| Error::Internal(format!("{host} cannot be a WebAuthn RP ID: {e}")))?;
        Ok(Self {
            devices,
            clock,
            rp_id: Arc::new(RpId::Domain(domain)),
            origin: settings.public_url.origin().into(),
            max_devices: settings.max_devices.max(1),
            events: &HOLDER_EVENTS,
        })
    }

    /// The same for operators' passkeys (the console), kept in their own store
    /// (`max_devices`: security keys and passkeys an operator may have).
    pub fn for_operators(
        credentials: Arc<dyn DeviceStore>,
        clock: Arc<dyn Clock>,
        settings: &PasskeySettings,
    ) -> Result<Self, Error> {
        let mut service = Self::new(credentials, clock, settings)?;
        service.events = &OPERATOR_EVENTS;
        Ok(service)
    }

    pub fn rp_id(&self) -> &str {
        match self.rp_id.as_ref() {
            RpId::Domain(d) => d.as_ref(),
            _ => "",
        }
    }

    /// The holder's device credentials (not deleted), oldest first.
    pub async fn devices_of(
        &self,
        holder: &dyn CredentialOwner,
    ) -> Result<Vec<DeviceCredential>, Error> {
        Ok(self.devices.devices_of_holder(holder.owner_id()).await?)
    }

    /// Device credentials their holders reported lost and no operator has dealt with yet
    /// (deleted, or the certificate revoked and the device deleted), newest first.
    pub async fn reported_lost(&self, limit: u32) -> Result<Vec<DeviceCredential>, Error> {
        Ok(self
            .devices
            .devices_in_state(DeviceState::ReportedLost, limit)
            .await?)
    }

    /// Whether the holder's device credential `id` is active.
    pub async fn is_active(&self, holder: &dyn CredentialOwner, id: i64) -> Result<bool, Error> {
        Ok(self.devices.device_is_active(holder.owner_id(), id).await?)
    }

    /// Whether the holder has a credential that can sign in (the start screen shows "Sign In"
    /// instead of "Register").
    pub async fn has_active_device(&self, holder: &dyn CredentialOwner) -> Result<bool, Error> {
        Ok(self
            .devices_of(holder)
            .await?
            .iter()
            .any(|d| d.state == DeviceState::Active))
    }

    async fn save(
        &self,
        kind: CeremonyKind,
        holder: Option<&dyn CredentialOwner>,
        session_hash: &str,
        challenge: SentChallenge,
        state: Vec<u8>,
    ) -> Result<(), Error> {
        let now = self.clock.now();
        self.devices
            .save_ceremony(
                &Ceremony {
                    challenge: challenge_key(challenge),
                    kind,
                    holder_id: holder.map(|h| h.owner_id()),
                    session_hash: session_hash.to_owned(),
                    state,
                    expires_at: now + Duration::minutes(CEREMONY_MINUTES),
                },
                now,
            )
            .await?;
        Ok(())
    }

    /// Takes the stored ceremony of `challenge`: unknown, used, expired, of another kind or
    /// started by another registration session are all refused.
    async fn take(
        &self,
        kind: CeremonyKind,
        holder: Option<&dyn CredentialOwner>,
        session_hash: &str,
        challenge: SentChallenge,
    ) -> Result<Ceremony, Error> {
        let Some(c) = self
            .devices
            .take_ceremony(&challenge_key(challenge))
            .await?
        else {
            return Err(refused(
                CeremonyRefusal::ChallengeUnknown,
                "this challenge is unknown or was already used; start again",
            ));
        };
        if c.kind != kind
            || c.holder_id != holder.map(|h| h.owner_id())
            || !hpki_core::secret::ct_eq(c.session_hash.as_bytes(), session_hash.as_bytes())
        {
            return Err(refused(
                CeremonyRefusal::ChallengeUnknown,
                "this challenge belongs to another ceremony",
            ));
        }
        if c.expires_at <= self.clock.now() {
            return Err(refused(
                CeremonyRefusal::ChallengeExpired,
                format!("the challenge expired after {CEREMONY_MINUTES} minutes; start again"),
            ));
        }
        Ok(c)
    }

    fn descriptors(devices: &[DeviceCredential]) -> Vec<PublicKeyCredentialDescriptor<Vec<u8>>> {
        devices
            .iter()
            .filter_map(|d| {
                Some(PublicKeyCredentialDescriptor {
                    id: CredentialId::decode(d.credential_id.clone()).ok()?,
                    transports: AuthTransports::decode(d.transports).ok()?,
                })
            })
            .collect()
    }

    fn user_handle(devices: &[DeviceCredential]) -> UserHandle64 {
        devices
            .iter()
            .find_map(|d| <[u8; 64]>::try_from(d.user_handle.as_slice()).ok())
            .and_then(|raw| UserHandle64::decode(raw).ok())
            .unwrap_or_default()
    }

    /// Deletes one of the holder's device credentials (a lost phone, manual 2.2.2): it can no
    /// longer sign in, and a new device can be registered in its place.
    pub async fn delete(
        &self,
        actor: &Actor,
        holder: &dyn CredentialOwner,
        device_id: i64,
        reason: &str,
    ) -> Result<DeviceCredential, Error> {
        let extra = serde_json::json!({ "reason": reason });
        self.stop(actor, holder, device_id, DeviceState::Deleted, extra)
            .await
    }

    /// The holder reports the phone of one of their active device credentials lost (their
    /// own page): it stops signing in at once, and every signing session opened with it ends
    /// (checked on each use).
    pub async fn report_lost(
        &self,
        actor: &Actor,
        holder: &dyn CredentialOwner,
        device_id: i64,
    ) -> Result<DeviceCredential, Error> {
        let extra = serde_json::json!({});
        self.stop(actor, holder, device_id, DeviceState::ReportedLost, extra)
            .await
    }

    /// Moves one of the owner's credentials to `to` (deleted: from any state but deleted;
    /// reported lost: from active), with its event.
    async fn stop(
        &self,
        actor: &Actor,
        holder: &dyn CredentialOwner,
        device_id: i64,
        to: DeviceState,
        mut details: serde_json::Value,
    ) -> Result<DeviceCredential, Error> {
        let from_active = to != DeviceState::Deleted;
        let Some(device) = self
            .devices
            .devices_of_holder(holder.owner_id())
            .await?
            .into_iter()
            .find(|d| d.id == device_id && (!from_active || d.state == DeviceState::Active))
        else {
            let which = if from_active { "active " } else { "" };
            return Err(Error::NotFound(format!(
                "{which}device credential {device_id} of {}",
                holder.account_name()
            )));
        };
        details["device_id"] = serde_json::json!(device_id);
        details["label"] = serde_json::json!(device.label);
        let action = if to == DeviceState::Deleted {
            self.events.deleted
        } else {
            self.events.reported_lost
        };
        let event = AuditEvent::new(
            self.clock.now(),
            actor,
            action,
            holder.account_name(),
            details,
        );
        if !self.devices.set_device_state(device_id, to, &event).await? {
            return Err(Error::Conflict(format!(
                "device credential {device_id} changed meanwhile; look again"
            )));
        }
        Ok(DeviceCredential {
            state: to,
            ..device
        })
    }

    /// Sets the label of the holder's credential (the label screen, manual 1.2 (7)).
    pub async fn set_label(
        &self,
        actor: &Actor,
        holder: &dyn CredentialOwner,
        device_id: i64,
        label: &str,
    ) -> Result<(), Error> {
        let label = label.trim();
        if label.is_empty() || label.chars().count() > 64 || label.chars().any(char::is_control) {
            return Err(Error::Invalid(vec![hpki_core::domain::InvalidInput::new(
                "label",
                "must be 1 to 64 characters without control characters",
            )]));
        }
        let event = AuditEvent::new(
            self.clock.now(),
            actor,
            self.events.labelled,
            holder.account_name(),
            serde_json::json!({ "device_id": device_id, "label": label }),
        );
        if self
            .devices
            .set_device_label(device_id, holder.owner_id(), label, &event)
            .await?
        {
            Ok(())
        } else {
            Err(Error::NotFound(format!("device credential {device_id}")))
        }
    }
}

fn no_user_verification() -> Error {
    refused(
        CeremonyRefusal::NoUserVerification,
        "the authenticator did not verify the user (biometrics or a screen lock are required)",
    )
}
