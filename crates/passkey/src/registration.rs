//! Registering a passkey (manual 1.2 (6)): the creation options, then the authenticator's
//! answer verified and stored as the holder's device credential with its automatic label.

use chrono::{DateTime, Utc};
use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::domain::device::{
    CeremonyKind, CeremonyRefusal, DeviceCredential, DeviceState, NewDeviceCredential,
};
use hpki_core::Error;
use webauthn_rp::bin::{Decode, Encode};
use webauthn_rp::request::register::{
    CredProtect, Nickname, PublicKeyCredentialUserEntity, RegistrationVerificationOptions, Username,
};
use webauthn_rp::request::TimedCeremony;
use webauthn_rp::response::register::error::RegCeremonyErr;
use webauthn_rp::{PublicKeyCredentialCreationOptions, Registration, RegistrationServerState};

use crate::agent::{self, DeviceFacts};
use crate::{internal, no_user_verification, refused, CredentialOwner, DeviceService};

/// What the automatic label of a new device credential is made of. The web words it in the
/// page's language ("iPhone・Safari（2026-12-01 登録）", "iPhone, Safari (registered …)").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelFacts {
    /// The authenticator's product name, when its AAGUID is one we know.
    pub authenticator: Option<&'static str>,
    /// The device and browser, from the User-Agent.
    pub device: DeviceFacts,
    /// The day of the registration in Japan.
    pub registered_on: chrono::NaiveDate,
}

impl LabelFacts {
    pub fn new(aaguid_hex: &str, user_agent: &str, at: DateTime<Utc>) -> Self {
        Self {
            authenticator: agent::authenticator_name(aaguid_hex),
            device: agent::describe(user_agent),
            registered_on: at.with_timezone(&hpki_core::clock::japan()).date_naive(),
        }
    }
}

/// Unicode's space separators (general category Zs).
fn is_space_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{00A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

/// Runs of space separators as one ASCII space, none at either end.
fn spaces_mapped(name: &str) -> String {
    name.split(is_space_separator)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The holder's name as a WebAuthn display name. Names from the family register may carry what
/// RFC 8266 refuses (ideographic variation selectors such as 葛󠄀, zero-width characters,
/// private-use characters for characters outside Unicode): those characters are left out, and
/// the username stands in when nothing is left. A holder's name never stops a registration.
///
/// Spaces are mapped here, before the nickname rules see the name (RFC 8266's additional
/// mapping rule: every space separator becomes one ASCII space, none at either end):
/// precis-profiles 0.1.13 does that mapping by slicing the string at a character count taken
/// as a byte offset, which panics on 「薬剤　太郎」 and on every kanji name written with U+3000.
/// The name is put in NFKC first, as the nickname rules would: NFKC can itself make a space
/// (U+037A GREEK YPOGEGRAMMENI becomes a space and a combining iota), which the rules would
/// then trim with the same bug (found by the typed_input fuzz target).
pub(crate) fn display_name<'a>(name: &str, username: &'a str) -> Result<Nickname<'a>, Error> {
    use unicode_normalization::UnicodeNormalization;
    let name = spaces_mapped(&name.nfkc().collect::<String>());
    if let Ok(n) = Nickname::try_from(name.clone()) {
        return Ok(n);
    }
    let kept: String = name
        .chars()
        .filter(|c| {
            let mut one = [0u8; 4];
            Nickname::try_from(&*c.encode_utf8(&mut one)).is_ok() || *c == ' '
        })
        .collect();
    let kept = spaces_mapped(&kept);
    match Nickname::try_from(kept) {
        Ok(n) => Ok(n),
        Err(_) => Nickname::try_from(username)
            .map_err(|e| internal("the username as a WebAuthn display name", e)),
    }
}

impl DeviceService {
    /// Starts registering a passkey for the holder: the options for
    /// `navigator.credentials.create()` (user verification and a discoverable credential
    /// required, attestation none, the holder's credentials excluded).
    pub async fn begin_registration(
        &self,
        holder: &dyn CredentialOwner,
        session_hash: &str,
    ) -> Result<serde_json::Value, Error> {
        let devices = self.devices.devices_of_holder(holder.owner_id()).await?;
        let active = devices
            .iter()
            .filter(|d| d.state == DeviceState::Active)
            .count();
        if active >= self.max_devices as usize {
            return Err(refused(
                CeremonyRefusal::TooManyDevices,
                format!(
                    "{} already has {active} registered device(s), the most allowed",
                    holder.account_name()
                ),
            ));
        }
        let user_handle = Self::user_handle(&devices);
        let username = holder.account_name();
        let name = Username::try_from(username.as_str())
            .map_err(|e| internal("the username as a WebAuthn name", e))?;
        let written = holder.display_name();
        let display = display_name(&written, &username)?;
        let mut options = PublicKeyCredentialCreationOptions::passkey(
            &self.rp_id,
            PublicKeyCredentialUserEntity {
                name,
                id: &user_handle,
                display_name: Some(display),
            },
            // Only credentials that still stand: a phone whose passkey was deleted or reported
            // lost registers again (with a new sheet) instead of being told it is registered.
            Self::descriptors(
                &devices
                    .iter()
                    .filter(|d| matches!(d.state, DeviceState::Active | DeviceState::Suspect))
                    .cloned()
                    .collect::<Vec<_>>(),
            ),
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
            Some(holder),
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
        holder: &dyn CredentialOwner,
        session_hash: &str,
        response: &[u8],
        user_agent: &str,
        label: impl FnOnce(&LabelFacts) -> String + Send,
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
            .take(
                CeremonyKind::Registration,
                Some(holder),
                session_hash,
                challenge,
            )
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
        let label = label(&LabelFacts::new(&aaguid, user_agent, now));
        let new = NewDeviceCredential {
            owner_id: holder.owner_id(),
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
            self.events.registered,
            holder.account_name(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed_input fuzz target's finding (2026-12-07): a character that NFKC turns into a
    /// space after another non-ASCII character made precis-profiles slice inside a character
    /// and panic. Kept as it was found, and the character alone after a kanji.
    #[test]
    fn characters_that_become_spaces_never_stop_a_display_name() {
        let found = "/\u{37a}H\0\0\0\0\u{3ab}\0\u{8}\0\0 \0\u{37a}H\0\0\0\0\0:`";
        for name in [found, "薬剤\u{37a}太郎", "\u{37a}", "葛\u{37a}\u{3000}城"] {
            let shown = display_name(name, "999999-jpa").expect("a display name");
            let text: &str = shown.as_ref();
            assert!(!text.is_empty(), "{name:?}");
        }
    }
}
