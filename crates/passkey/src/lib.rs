//! Device credentials: registering a passkey on the holder's phone and signing in with it
//! (manual 1.2 (5)-(8)), verified by `webauthn_rp`. Ceremonies are stored (any instance can
//! finish one; each challenge once, for five minutes) and every change is audited.
#![forbid(unsafe_code)]

pub mod agent;
#[cfg(feature = "soft-authenticator")]
pub mod soft;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::clock::Clock;
use hpki_core::domain::device::{
    Ceremony, CeremonyKind, CeremonyRefusal, DeviceCredential, DeviceState, NewDeviceCredential,
};
use hpki_core::domain::Holder;
use hpki_core::store::DeviceStore;
use hpki_core::Error;
use webauthn_rp::bin::{Decode, Encode};
use webauthn_rp::request::auth::{
    AllowedCredentials, AuthenticationVerificationOptions, SignatureCounterEnforcement,
};
use webauthn_rp::request::register::{
    CredProtect, Nickname, PublicKeyCredentialUserEntity, RegistrationVerificationOptions,
    UserHandle64, Username,
};
use webauthn_rp::request::{
    AsciiDomain, Credentials, PublicKeyCredentialDescriptor, RpId, TimedCeremony,
    UserVerificationRequirement,
};
use webauthn_rp::response::auth::error::AuthCeremonyErr;
use webauthn_rp::response::register::error::RegCeremonyErr;
use webauthn_rp::response::register::{CompressedPubKey, DynamicState, StaticState};
use webauthn_rp::response::{AuthTransports, CredentialId, SentChallenge};
use webauthn_rp::{
    AuthenticatedCredential, NonDiscoverableAuthentication64,
    NonDiscoverableAuthenticationServerState, NonDiscoverableCredentialRequestOptions,
    PublicKeyCredentialCreationOptions, Registration, RegistrationServerState,
};

/// How long a challenge can be answered.
pub const CEREMONY_MINUTES: i64 = 5;

/// The relying party, from the configuration.
#[derive(Clone, Debug)]
pub struct PasskeySettings {
    /// The public URL; its host is the RP ID, its origin the only accepted origin.
    pub public_url: url::Url,
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
}

fn refused(refusal: CeremonyRefusal, detail: impl Into<String>) -> Error {
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

/// What happened to a sign-in.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub device: DeviceCredential,
}

impl DeviceService {
    /// Checks the settings: WebAuthn needs a domain name (not an IP address) as the RP ID.
    pub fn new(
        devices: Arc<dyn DeviceStore>,
        clock: Arc<dyn Clock>,
        settings: &PasskeySettings,
    ) -> Result<Self, Error> {
        let host = settings
            .public_url
            .host_str()
            .ok_or_else(|| Error::Internal("the public URL has no host".into()))?;
        if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
            return Err(Error::Internal(format!(
                "the public URL's host {host} is an IP address; passkeys (WebAuthn) need a domain name, e.g. https://hpki.example.jp or http://localhost:8080"
            )));
        }
        let domain = AsciiDomain::try_from(host.to_owned())
            .map_err(|e| Error::Internal(format!("{host} cannot be a WebAuthn RP ID: {e}")))?;
        Ok(Self {
            devices,
            clock,
            rp_id: Arc::new(RpId::Domain(domain)),
            origin: settings.public_url.origin().ascii_serialization().into(),
            max_devices: settings.max_devices.max(1),
        })
    }

    pub fn rp_id(&self) -> &str {
        match self.rp_id.as_ref() {
            RpId::Domain(d) => d.as_ref(),
            _ => "",
        }
    }

    /// The holder's device credentials (not deleted), oldest first.
    pub async fn devices_of(&self, holder: &Holder) -> Result<Vec<DeviceCredential>, Error> {
        Ok(self.devices.devices_of_holder(holder.id).await?)
    }

    /// Whether the holder has a credential that can sign in (the start screen shows "Sign In"
    /// instead of "Register").
    pub async fn has_active_device(&self, holder: &Holder) -> Result<bool, Error> {
        Ok(self
            .devices_of(holder)
            .await?
            .iter()
            .any(|d| d.state == DeviceState::Active))
    }

    async fn save(
        &self,
        kind: CeremonyKind,
        holder: &Holder,
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
                    holder_id: holder.id,
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
        holder: &Holder,
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
            || c.holder_id != holder.id
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

    /// Starts registering a passkey for the holder: the options for
    /// `navigator.credentials.create()` (user verification and a discoverable credential
    /// required, attestation none, the holder's credentials excluded).
    pub async fn begin_registration(
        &self,
        holder: &Holder,
        session_hash: &str,
    ) -> Result<serde_json::Value, Error> {
        let devices = self.devices.devices_of_holder(holder.id).await?;
        let active = devices
            .iter()
            .filter(|d| d.state == DeviceState::Active)
            .count();
        if active >= self.max_devices as usize {
            return Err(refused(
                CeremonyRefusal::TooManyDevices,
                format!(
                    "{} already has {active} registered device(s), the most allowed",
                    holder.username
                ),
            ));
        }
        let user_handle = Self::user_handle(&devices);
        let username = holder.username.to_string();
        let name = Username::try_from(username.as_str())
            .map_err(|e| internal("the username as a WebAuthn name", e))?;
        let display = Nickname::try_from(holder.name_kanji.as_str())
            .map_err(|e| internal("the name as a WebAuthn display name", e))?;
        let mut options = PublicKeyCredentialCreationOptions::passkey(
            &self.rp_id,
            PublicKeyCredentialUserEntity {
                name,
                id: &user_handle,
                display_name: Some(display),
            },
            Self::descriptors(&devices),
        );
        // No credProtect: most platform authenticators (iCloud Keychain, Google Password
        // Manager, Chromium's) lack it, and asking to enforce it makes the browser refuse the
        // registration outright. User verification is required by every ceremony anyway.
        options.extensions.cred_protect = CredProtect::None;
        let (server, client) = options
            .start_ceremony()
            .map_err(|e| internal("starting the registration", e))?;
        let json =
            serde_json::to_value(&client).map_err(|e| internal("the creation options", e))?;
        let state = server
            .encode()
            .map_err(|e| internal("saving the registration", e))?;
        self.save(
            CeremonyKind::Registration,
            holder,
            session_hash,
            server.sent_challenge(),
            state,
        )
        .await?;
        Ok(json)
    }

    /// Finishes a registration: verifies the authenticator's response and stores the device
    /// credential with its automatic label.
    pub async fn finish_registration(
        &self,
        actor: &Actor,
        holder: &Holder,
        session_hash: &str,
        response: &[u8],
        user_agent: &str,
    ) -> Result<DeviceCredential, Error> {
        let registration = Registration::from_json_relaxed(response).map_err(|e| {
            refused(
                CeremonyRefusal::Malformed,
                format!("the response is not a registration: {e}"),
            )
        })?;
        let challenge = registration.challenge_relaxed().map_err(|e| {
            refused(
                CeremonyRefusal::Malformed,
                format!("the client data is malformed: {e}"),
            )
        })?;
        let ceremony = self
            .take(CeremonyKind::Registration, holder, session_hash, challenge)
            .await?;
        let server = RegistrationServerState::<64>::decode(ceremony.state.as_slice())
            .map_err(|e| internal("the stored registration", e))?;
        let origins = [self.origin.as_ref()];
        let options = RegistrationVerificationOptions::<&str, &str> {
            allowed_origins: &origins,
            ..RegistrationVerificationOptions::default()
        };
        let cred = server
            .verify(&self.rp_id, &registration, &options)
            .map_err(registration_refused)?;
        let dynamic = cred.dynamic_state();
        if !dynamic.user_verified {
            return Err(no_user_verification());
        }
        let aaguid = hex::encode(cred.metadata().aaguid.data());
        let now = self.clock.now();
        let label = automatic_label(&aaguid, user_agent, now);
        let new = NewDeviceCredential {
            holder_id: holder.id,
            credential_id: cred.id().as_ref().to_vec(),
            user_handle: cred.user_id().as_ref().to_vec(),
            static_state: cred
                .static_state()
                .encode()
                .map_err(|e| internal("encoding the public key", e))?,
            dynamic_state: dynamic
                .encode()
                .map_err(|e| internal("encoding the counter", e))?
                .to_vec(),
            transports: cred
                .transports()
                .encode()
                .map_err(|e| internal("encoding the transports", e))?,
            aaguid: aaguid.clone(),
            label: label.clone(),
            created_at: now,
        };
        let event = AuditEvent::new(
            now,
            actor,
            "device.registered",
            holder.username.to_string(),
            serde_json::json!({ "aaguid": aaguid, "label": label }),
        );
        self.devices
            .insert_device(&new, self.max_devices, &event)
            .await
            .map_err(|e| match e {
                e @ hpki_core::store::StoreError::DeviceLimit { .. } => {
                    refused(CeremonyRefusal::TooManyDevices, e.to_string())
                }
                hpki_core::store::StoreError::Conflict(_) => refused(
                    CeremonyRefusal::CredentialExists,
                    "this passkey is registered already",
                ),
                other => other.into(),
            })
    }

    /// Deletes one of the holder's device credentials (a lost phone, manual 2.2.2): it can no
    /// longer sign in, and a new device can be registered in its place.
    pub async fn delete(
        &self,
        actor: &Actor,
        holder: &Holder,
        device_id: i64,
        reason: &str,
    ) -> Result<DeviceCredential, Error> {
        let Some(device) = self
            .devices
            .devices_of_holder(holder.id)
            .await?
            .into_iter()
            .find(|d| d.id == device_id)
        else {
            return Err(Error::NotFound(format!(
                "device credential {device_id} of {}",
                holder.username
            )));
        };
        let event = AuditEvent::new(
            self.clock.now(),
            actor,
            "device.deleted",
            holder.username.to_string(),
            serde_json::json!({ "device_id": device_id, "label": device.label, "reason": reason }),
        );
        if !self
            .devices
            .set_device_state(device_id, DeviceState::Deleted, &event)
            .await?
        {
            return Err(Error::Conflict(format!(
                "device credential {device_id} changed meanwhile; look again"
            )));
        }
        Ok(DeviceCredential {
            state: DeviceState::Deleted,
            ..device
        })
    }

    /// Sets the label of the holder's credential (the label screen, manual 1.2 (7)).
    pub async fn set_label(
        &self,
        actor: &Actor,
        holder: &Holder,
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
            "device.labelled",
            holder.username.to_string(),
            serde_json::json!({ "device_id": device_id, "label": label }),
        );
        if self
            .devices
            .set_device_label(device_id, holder.id, label, &event)
            .await?
        {
            Ok(())
        } else {
            Err(Error::NotFound(format!("device credential {device_id}")))
        }
    }

    /// Starts a sign-in with one of the holder's credentials (user verification required).
    pub async fn begin_sign_in(
        &self,
        holder: &Holder,
        session_hash: &str,
    ) -> Result<serde_json::Value, Error> {
        let active: Vec<DeviceCredential> = self
            .devices
            .devices_of_holder(holder.id)
            .await?
            .into_iter()
            .filter(|d| d.state == DeviceState::Active)
            .collect();
        let mut allowed = AllowedCredentials::with_capacity(active.len());
        for d in Self::descriptors(&active) {
            allowed.push(d.into());
        }
        let mut options =
            NonDiscoverableCredentialRequestOptions::second_factor(&self.rp_id, allowed).map_err(
                |_| {
                    refused(
                        CeremonyRefusal::NoDevice,
                        "no registered device can sign in",
                    )
                },
            )?;
        options.options().user_verification = UserVerificationRequirement::Required;
        let (server, client) = options
            .start_ceremony()
            .map_err(|e| internal("starting the sign-in", e))?;
        let json = serde_json::to_value(&client).map_err(|e| internal("the request options", e))?;
        let state = server
            .encode()
            .map_err(|e| internal("saving the sign-in", e))?;
        self.save(
            CeremonyKind::Authentication,
            holder,
            session_hash,
            server.sent_challenge(),
            state,
        )
        .await?;
        Ok(json)
    }

    /// Finishes a sign-in. A signature counter that went backwards marks the credential
    /// suspect (audited) and refuses; a counter that stays 0 (synced passkeys) is fine.
    pub async fn finish_sign_in(
        &self,
        actor: &Actor,
        holder: &Holder,
        session_hash: &str,
        response: &[u8],
    ) -> Result<SignedIn, Error> {
        let auth = NonDiscoverableAuthentication64::from_json_relaxed(response).map_err(|e| {
            refused(
                CeremonyRefusal::Malformed,
                format!("the response is not an assertion: {e}"),
            )
        })?;
        let challenge = auth.challenge_relaxed().map_err(|e| {
            refused(
                CeremonyRefusal::Malformed,
                format!("the client data is malformed: {e}"),
            )
        })?;
        let ceremony = self
            .take(
                CeremonyKind::Authentication,
                holder,
                session_hash,
                challenge,
            )
            .await?;
        let Some(device) = self
            .devices
            .device_by_credential_id(auth.raw_id().as_ref())
            .await?
        else {
            return Err(refused(
                CeremonyRefusal::UnknownCredential,
                "this passkey is not registered",
            ));
        };
        if device.holder_id != holder.id {
            return Err(refused(
                CeremonyRefusal::OtherHolder,
                "this passkey is registered for another holder",
            ));
        }
        match device.state {
            DeviceState::Active => {}
            DeviceState::Suspect => {
                return Err(refused(
                    CeremonyRefusal::DeviceSuspect,
                    "this passkey was stopped after its signature counter went backwards",
                ))
            }
            DeviceState::Deleted => {
                return Err(refused(
                    CeremonyRefusal::UnknownCredential,
                    "this passkey was deleted",
                ))
            }
        }
        let user = <[u8; 64]>::try_from(device.user_handle.as_slice())
            .ok()
            .and_then(|raw| UserHandle64::decode(raw).ok())
            .ok_or_else(|| Error::Internal("a stored user handle is damaged".into()))?;
        let static_state = StaticState::<StoredKey>::decode(device.static_state.as_slice())
            .map_err(|e| internal("a stored public key", e))?;
        let dynamic = <[u8; 7]>::try_from(device.dynamic_state.as_slice())
            .ok()
            .and_then(|raw| DynamicState::decode(raw).ok())
            .ok_or_else(|| Error::Internal("a stored counter is damaged".into()))?;
        let id = CredentialId::<&[u8]>::decode(device.credential_id.as_slice())
            .map_err(|e| internal("a stored credential ID", e))?;
        let mut cred = AuthenticatedCredential::new(id, &user, static_state, dynamic)
            .map_err(|e| internal("a stored credential", e))?;
        let server = NonDiscoverableAuthenticationServerState::decode(ceremony.state.as_slice())
            .map_err(|e| internal("the stored sign-in", e))?;
        let origins = [self.origin.as_ref()];
        let options = AuthenticationVerificationOptions::<&str, &str> {
            allowed_origins: &origins,
            sig_counter_enforcement: SignatureCounterEnforcement::Fail,
            ..AuthenticationVerificationOptions::default()
        };
        let now = self.clock.now();
        match server.verify(&self.rp_id, &auth, &mut cred, &options) {
            Ok(_) => {}
            Err(AuthCeremonyErr::SignatureCounter) => {
                let event = AuditEvent::new(
                    now,
                    actor,
                    "device.suspect",
                    holder.username.to_string(),
                    serde_json::json!({
                        "device_id": device.id,
                        "reason": "the signature counter went backwards (a cloned authenticator?)",
                    }),
                );
                self.devices
                    .set_device_state(device.id, DeviceState::Suspect, &event)
                    .await?;
                return Err(refused(
                    CeremonyRefusal::CounterRegression,
                    "the passkey's signature counter went backwards; it was stopped",
                ));
            }
            Err(e) => return Err(authentication_refused(e)),
        }
        let state = cred
            .dynamic_state()
            .encode()
            .map_err(|e| internal("encoding the counter", e))?;
        let event = AuditEvent::new(
            now,
            actor,
            "device.signed_in",
            holder.username.to_string(),
            serde_json::json!({ "device_id": device.id }),
        );
        if !self
            .devices
            .record_device_use(device.id, &device.dynamic_state, &state, now, &event)
            .await?
        {
            return Err(refused(
                CeremonyRefusal::DeviceChanged,
                "this passkey was stopped or used for another sign-in meanwhile; start again",
            ));
        }
        let device = DeviceCredential {
            dynamic_state: state.to_vec(),
            last_used_at: Some(now),
            ..device
        };
        Ok(SignedIn { device })
    }
}

fn no_user_verification() -> Error {
    refused(
        CeremonyRefusal::NoUserVerification,
        "the authenticator did not verify the user (biometrics or a screen lock are required)",
    )
}

fn registration_refused(e: RegCeremonyErr) -> Error {
    match e {
        RegCeremonyErr::UserNotVerified => no_user_verification(),
        RegCeremonyErr::Timeout => refused(
            CeremonyRefusal::ChallengeExpired,
            "the registration took too long",
        ),
        RegCeremonyErr::OriginMismatch => refused(
            CeremonyRefusal::WrongOrigin,
            "the response came from another site",
        ),
        RegCeremonyErr::RpIdHashMismatch => refused(
            CeremonyRefusal::WrongRp,
            "the passkey was made for another site",
        ),
        RegCeremonyErr::ChallengeMismatch => refused(
            CeremonyRefusal::ChallengeUnknown,
            "the challenge does not match",
        ),
        other => refused(
            CeremonyRefusal::VerificationFailed,
            format!("the registration was refused: {other}"),
        ),
    }
}

fn authentication_refused(e: AuthCeremonyErr) -> Error {
    match e {
        AuthCeremonyErr::UserNotVerified => no_user_verification(),
        AuthCeremonyErr::Timeout => refused(
            CeremonyRefusal::ChallengeExpired,
            "the sign-in took too long",
        ),
        AuthCeremonyErr::OriginMismatch => refused(
            CeremonyRefusal::WrongOrigin,
            "the response came from another site",
        ),
        AuthCeremonyErr::RpIdHashMismatch => refused(
            CeremonyRefusal::WrongRp,
            "the passkey was made for another site",
        ),
        AuthCeremonyErr::AssertionSignature => refused(
            CeremonyRefusal::BadSignature,
            "the signature does not verify",
        ),
        AuthCeremonyErr::ChallengeMismatch => refused(
            CeremonyRefusal::ChallengeUnknown,
            "the challenge does not match",
        ),
        other => refused(
            CeremonyRefusal::VerificationFailed,
            format!("the sign-in was refused: {other}"),
        ),
    }
}

/// The label set automatically: the authenticator's name from its AAGUID if we know it, else
/// the device and browser from the User-Agent, with the date (Japan time).
pub fn automatic_label(aaguid_hex: &str, user_agent: &str, at: DateTime<Utc>) -> String {
    let what = agent::authenticator_name(aaguid_hex)
        .map(str::to_owned)
        .unwrap_or_else(|| agent::describe(user_agent));
    let day = at
        .with_timezone(&hpki_core::clock::japan())
        .format("%Y-%m-%d");
    format!("{what}（{day} 登録）")
}
