//! The manual's section 2 as operations, for the CLI, the operator API and the console: an
//! HPKI card lost (2.2.1), a phone lost (2.2.2), a holder suspended or resumed. Each step is
//! audited where it happens (`certificate.revoked` with the case and the operator's reason,
//! `device.deleted`, `holder.suspended`); the effects are immediate: a revocation is in OCSP
//! and a new CRL at once, and every signing session checks the holder, the second certificate
//! and the device credential on each use. A case interrupted half-way is finished by running
//! it again (what is revoked or deleted already is left as it is).
#![forbid(unsafe_code)]

use hpki_ca::{CaService, IssuedCertificate};
use hpki_core::audit::Actor;
use hpki_core::domain::device::DeviceState;
use hpki_core::domain::{CertificateKind, HolderStatus, RevocationReason, Username};
use hpki_core::services::{find_holder, HolderService, IssuedSheet, SheetService, SheetSink};
use hpki_core::store::Store;
use hpki_core::Error;
use hpki_passkey::DeviceService;
use serde::Serialize;
use std::sync::Arc;

/// The operations; they only compose the services that own each part.
#[derive(Clone)]
pub struct LifecycleService {
    store: Arc<dyn Store>,
    holders: HolderService,
    ca: CaService,
    devices: DeviceService,
    sheets: SheetService,
}

/// What renewing after a revoked second certificate did.
#[derive(Debug, Serialize)]
pub struct Renewal {
    /// The new second certificate (none when a valid one existed: an earlier run issued it).
    pub certificate: Option<IssuedCertificate>,
    /// The new sheet (it supersedes the holder's usable one), to register a phone with.
    pub sheet: IssuedSheet,
}

/// What a lost card changed.
#[derive(Clone, Debug, Serialize)]
pub struct CardLost {
    pub holder: Username,
    /// The card certificates revoked now (and the second certificates, with `--also-second`).
    pub revoked: Vec<IssuedCertificate>,
    /// Whether the second certificate was part of it: without, passkey sign-in and signing
    /// keep working.
    pub also_second: bool,
}

/// What a lost phone changed.
#[derive(Clone, Debug, Serialize)]
pub struct PhoneLost {
    pub holder: Username,
    /// The device credential deleted, if one was named.
    pub deleted_device: Option<i64>,
    /// The second certificates revoked now.
    pub revoked: Vec<IssuedCertificate>,
}

/// What happens with a lost phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhoneLoss {
    /// Delete this device credential: the holder registers a new phone from a new sheet.
    DeleteDevice(i64),
    /// Revoke the second certificate (every signing session of it ends).
    RevokeSecond,
}

const CARD_KINDS: [CertificateKind; 2] = [
    CertificateKind::CardSigning,
    CertificateKind::CardAuthentication,
];

fn typed_reason(reason: &str) -> Result<&str, Error> {
    let r = reason.trim();
    if r.is_empty() {
        return Err(hpki_core::domain::InvalidInput::new(
            "reason",
            "say why (it goes into the audit log)",
        )
        .into());
    }
    Ok(r)
}

impl LifecycleService {
    pub fn new(
        store: Arc<dyn Store>,
        holders: HolderService,
        ca: CaService,
        devices: DeviceService,
        sheets: SheetService,
    ) -> Self {
        Self {
            store,
            holders,
            ca,
            devices,
            sheets,
        }
    }

    /// After a revoked second certificate: a new one (a new key) and a new sheet, together.
    /// With `print`, the sheet is printed there. Run again after an interruption, it issues
    /// the certificate only if the holder has no valid one, and a sheet in any case.
    pub async fn renew_second(
        &self,
        actor: &Actor,
        username: &Username,
        print: Option<&mut dyn SheetSink>,
    ) -> Result<Renewal, Error> {
        let holder = find_holder(self.store.as_ref(), username).await?;
        let certificate = match self.ca.issue_second(actor, username).await {
            Ok(c) => Some(c),
            Err(Error::Conflict(why)) => {
                if self.ca.second_certificate(&holder).await.is_err() {
                    return Err(Error::Conflict(why));
                }
                None
            }
            Err(e) => return Err(e),
        };
        let sheet = match print {
            Some(sink) => self.sheets.issue_printed(actor, username, sink).await?,
            None => self.sheets.issue(actor, username).await?,
        };
        Ok(Renewal { certificate, sheet })
    }

    /// HPKI card lost (2.2.1): revokes the card's certificates (key compromise), and with
    /// `also_second` the second certificate too.
    pub async fn card_lost(
        &self,
        actor: &Actor,
        username: &Username,
        also_second: bool,
        reason: &str,
    ) -> Result<CardLost, Error> {
        let reason = typed_reason(reason)?;
        let holder = find_holder(self.store.as_ref(), username).await?;
        let mut kinds = CARD_KINDS.to_vec();
        if also_second {
            kinds.push(CertificateKind::Second);
        }
        let note = format!("HPKI card lost: {reason}");
        let revoked = self
            .ca
            .revoke_holder_certificates(
                actor,
                &holder,
                &kinds,
                RevocationReason::KeyCompromise,
                &note,
            )
            .await?;
        Ok(CardLost {
            holder: holder.username,
            revoked,
            also_second,
        })
    }

    /// Phone lost (2.2.2): deletes its device credential, or revokes the second certificate.
    pub async fn phone_lost(
        &self,
        actor: &Actor,
        username: &Username,
        what: PhoneLoss,
        reason: &str,
    ) -> Result<PhoneLost, Error> {
        let reason = typed_reason(reason)?;
        let holder = find_holder(self.store.as_ref(), username).await?;
        let note = format!("phone lost: {reason}");
        match what {
            PhoneLoss::DeleteDevice(id) => {
                let device = self.devices.delete(actor, &holder, id, &note).await?;
                debug_assert_eq!(device.state, DeviceState::Deleted);
                Ok(PhoneLost {
                    holder: holder.username,
                    deleted_device: Some(id),
                    revoked: Vec::new(),
                })
            }
            PhoneLoss::RevokeSecond => {
                let revoked = self
                    .ca
                    .revoke_holder_certificates(
                        actor,
                        &holder,
                        &[CertificateKind::Second],
                        RevocationReason::KeyCompromise,
                        &note,
                    )
                    .await?;
                if revoked.is_empty() {
                    return Err(Error::Conflict(format!(
                        "{} has no second certificate left to revoke",
                        holder.username
                    )));
                }
                Ok(PhoneLost {
                    holder: holder.username,
                    deleted_device: None,
                    revoked,
                })
            }
        }
    }

    /// Suspends (`HolderStatus::Suspended`) or resumes (`Active`) a holder: while suspended
    /// nothing works for them (the sheet pages, the registration site, sign-in, signing).
    pub async fn set_status(
        &self,
        actor: &Actor,
        username: &Username,
        to: HolderStatus,
        reason: &str,
    ) -> Result<hpki_core::domain::Holder, Error> {
        let reason = typed_reason(reason)?;
        self.holders.set_status(actor, username, to, reason).await
    }
}
