//! Signing in with a registered passkey ("Sign In", manual 1.2 (8)): the request options,
//! then the assertion verified against the stored credential, its signature counter checked.

use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::domain::device::{CeremonyKind, CeremonyRefusal, DeviceCredential, DeviceState};
use hpki_core::domain::Holder;
use hpki_core::Error;
use webauthn_rp::bin::{Decode, Encode};
use webauthn_rp::request::auth::{
    AllowedCredentials, AuthenticationVerificationOptions, SignatureCounterEnforcement,
};
use webauthn_rp::request::register::UserHandle64;
use webauthn_rp::request::{Credentials, TimedCeremony, UserVerificationRequirement};
use webauthn_rp::response::auth::error::AuthCeremonyErr;
use webauthn_rp::response::register::{DynamicState, StaticState};
use webauthn_rp::response::CredentialId;
use webauthn_rp::{
    AuthenticatedCredential, DiscoverableAuthentication64, DiscoverableAuthenticationServerState,
    DiscoverableCredentialRequestOptions, NonDiscoverableAuthentication64,
    NonDiscoverableAuthenticationServerState, NonDiscoverableCredentialRequestOptions,
};

use crate::{internal, no_user_verification, refused, CredentialOwner, DeviceService, StoredKey};

/// What happened to a sign-in.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub device: DeviceCredential,
}

/// An assertion that verified, not yet recorded: the credential as it was checked, its new
/// counter state, and the event that records the use.
#[derive(Clone, Debug)]
pub struct VerifiedAssertion {
    pub device: DeviceCredential,
    new_state: Vec<u8>,
    at: chrono::DateTime<chrono::Utc>,
    event: AuditEvent,
}

impl DeviceService {
    /// Starts a sign-in with one of the holder's credentials (user verification required).
    pub async fn begin_sign_in(
        &self,
        holder: &dyn CredentialOwner,
        session_hash: &str,
    ) -> Result<serde_json::Value, Error> {
        let active: Vec<DeviceCredential> = self
            .devices
            .devices_of_holder(holder.owner_id())
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
            Some(holder),
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
        holder: &dyn CredentialOwner,
        session_hash: &str,
        response: &[u8],
    ) -> Result<SignedIn, Error> {
        let auth = NonDiscoverableAuthentication64::from_json_relaxed(response)
            .map_err(not_an_assertion)?;
        let challenge = auth.challenge_relaxed().map_err(malformed_client_data)?;
        let ceremony = self
            .take(
                CeremonyKind::Authentication,
                Some(holder),
                session_hash,
                challenge,
            )
            .await?;
        let server = NonDiscoverableAuthenticationServerState::decode(ceremony.state.as_slice())
            .map_err(|e| internal("the stored sign-in", e))?;
        let device = self.registered_device(auth.raw_id().as_ref()).await?;
        if device.owner_id != holder.owner_id() {
            return Err(refused(
                CeremonyRefusal::OtherHolder,
                "this passkey is registered for another holder",
            ));
        }
        let verified = self
            .check_assertion(actor, holder, device, |cred, options| {
                server.verify(&self.rp_id, &auth, cred, options)
            })
            .await?;
        self.record_use(verified).await
    }

    async fn registered_device(&self, credential_id: &[u8]) -> Result<DeviceCredential, Error> {
        self.devices
            .device_by_credential_id(credential_id)
            .await?
            .ok_or_else(|| {
                refused(
                    CeremonyRefusal::UnknownCredential,
                    "this passkey is not registered",
                )
            })
    }

    /// Starts a login to a relying system with a discoverable passkey (the one registered
    /// through the sheet): no username, no list of credentials, user verification required.
    /// `session_hash` ties it to the browser's login.
    pub async fn begin_login(&self, session_hash: &str) -> Result<serde_json::Value, Error> {
        let (server, client) = DiscoverableCredentialRequestOptions::passkey(&self.rp_id)
            .start_ceremony()
            .map_err(|e| internal("starting the login", e))?;
        let json = serde_json::to_value(&client).map_err(|e| internal("the request options", e))?;
        let state = server
            .encode()
            .map_err(|e| internal("saving the login", e))?;
        self.save(
            CeremonyKind::Login,
            None,
            session_hash,
            server.sent_challenge(),
            state,
        )
        .await?;
        Ok(json)
    }

    /// Checks a login's answer: it names its credential, which names the holder. The same
    /// checks as a sign-in (state of the credential, counter, user verification); the use is
    /// not recorded yet: the caller records it ([`DeviceService::record_use`]) together with
    /// what the login leads to, and gives nothing out unless both were written.
    pub async fn finish_login(
        &self,
        actor: &Actor,
        session_hash: &str,
        response: &[u8],
        holders: &dyn hpki_core::store::Store,
    ) -> Result<(Holder, VerifiedAssertion), Error> {
        let auth =
            DiscoverableAuthentication64::from_json_relaxed(response).map_err(not_an_assertion)?;
        let challenge = auth.challenge_relaxed().map_err(malformed_client_data)?;
        let ceremony = self
            .take(CeremonyKind::Login, None, session_hash, challenge)
            .await?;
        let server = DiscoverableAuthenticationServerState::decode(ceremony.state.as_slice())
            .map_err(|e| internal("the stored login", e))?;
        let device = self.registered_device(auth.raw_id().as_ref()).await?;
        let holder = holders
            .holder_by_id(device.owner_id)
            .await?
            .ok_or_else(|| Error::Internal("a device credential without its holder".into()))?;
        let verified = self
            .check_assertion(actor, &holder, device, |cred, options| {
                server.verify(&self.rp_id, &auth, cred, options)
            })
            .await?;
        Ok((holder, verified))
    }

    /// The part of a sign-in and a login after the ceremony and the holder's credential were
    /// found: the credential must be active; `verify` checks the assertion against it; a
    /// counter that went backwards marks it suspect (recorded at once). What is left to record
    /// on success is returned ([`DeviceService::record_use`]).
    async fn check_assertion(
        &self,
        actor: &Actor,
        holder: &dyn CredentialOwner,
        device: DeviceCredential,
        verify: impl FnOnce(
            &mut AuthenticatedCredential<'_, '_, 64, StoredKey>,
            &AuthenticationVerificationOptions<'_, '_, &str, &str>,
        ) -> Result<bool, AuthCeremonyErr>,
    ) -> Result<VerifiedAssertion, Error> {
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
            DeviceState::ReportedLost => {
                return Err(refused(
                    CeremonyRefusal::DeviceSuspect,
                    "this passkey's phone was reported lost by the holder",
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
        let origins = [self.origin.as_ref()];
        let options = AuthenticationVerificationOptions::<&str, &str> {
            allowed_origins: &origins,
            sig_counter_enforcement: SignatureCounterEnforcement::Fail,
            ..AuthenticationVerificationOptions::default()
        };
        let now = self.clock.now();
        match verify(&mut cred, &options) {
            Ok(_) => {}
            Err(AuthCeremonyErr::SignatureCounter) => {
                let event = AuditEvent::new(
                    now,
                    actor,
                    self.events.suspect,
                    holder.account_name(),
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
        Ok(VerifiedAssertion {
            event: AuditEvent::new(
                now,
                actor,
                self.events.signed_in,
                holder.account_name(),
                serde_json::json!({ "device_id": device.id }),
            ),
            new_state: state.to_vec(),
            at: now,
            device,
        })
    }

    /// Records a verified assertion: the credential's new counter and its `device.signed_in`
    /// event, if the credential is still active and no other sign-in with it finished
    /// meanwhile (`DeviceChanged` otherwise: two answers with one counter must not both pass).
    pub async fn record_use(&self, verified: VerifiedAssertion) -> Result<SignedIn, Error> {
        let VerifiedAssertion {
            device,
            new_state,
            at,
            event,
        } = verified;
        if !self
            .devices
            .record_device_use(device.id, &device.dynamic_state, &new_state, at, &event)
            .await?
        {
            return Err(refused(
                CeremonyRefusal::DeviceChanged,
                "this passkey was stopped or used for another sign-in meanwhile; start again",
            ));
        }
        Ok(SignedIn {
            device: DeviceCredential {
                dynamic_state: new_state,
                last_used_at: Some(at),
                ..device
            },
        })
    }
}

fn not_an_assertion(e: impl std::fmt::Display) -> Error {
    refused(
        CeremonyRefusal::Malformed,
        format!("the response is not an assertion: {e}"),
    )
}

fn malformed_client_data(e: impl std::fmt::Display) -> Error {
    refused(
        CeremonyRefusal::Malformed,
        format!("the client data is malformed: {e}"),
    )
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
