//! The cases themselves, private to the crate: the gate (`gate.rs`) decides whether and when
//! one runs; these only compose the services that own each part. Each step is audited where
//! it happens; a case interrupted half-way is finished by running it again (what is revoked
//! or deleted already is left as it is).

use hpki_core::audit::{Action, Actor, AuditEvent};
use hpki_core::domain::device::DeviceState;
use hpki_core::domain::request::{Case, Request};
use hpki_core::domain::{CertificateKind, Holder, HolderStatus, RevocationReason, Username};
use hpki_core::services::{find_holder, SheetSink};
use hpki_core::Error;

use crate::{CardLost, CaseResult, LifecycleService, PhoneLost, Renewal};

const CARD_KINDS: [CertificateKind; 2] = [
    CertificateKind::CardSigning,
    CertificateKind::CardAuthentication,
];

impl LifecycleService {
    /// Carries out a request now, in `actor`'s name, with `reason` in its events. With
    /// `print`, a new sheet is printed there. (A CA import is not carried out here: its files
    /// are not in the request, see `ca_import`.)
    pub(crate) async fn execute(
        &self,
        actor: &Actor,
        request: &Request,
        reason: &str,
        print: Option<&mut dyn SheetSink>,
    ) -> Result<CaseResult, Error> {
        let (username, case) = match request {
            Request::Holder { holder, case } => (holder, *case),
            Request::Revoke {
                serial,
                reason: code,
            } => {
                let note = format!("revoked by serial: {reason}");
                let revoked = self
                    .ca
                    .revoke_noted(actor, serial, *code, Some(&note))
                    .await?;
                return Ok(CaseResult::Certificate(revoked));
            }
            Request::CaImport { .. } => {
                return Err(Error::Internal(
                    "a CA import runs with its files (ca_import), not from a request".into(),
                ))
            }
        };
        Ok(match case {
            Case::Suspend => CaseResult::Holder(
                self.set_status(actor, username, HolderStatus::Suspended, reason)
                    .await?,
            ),
            Case::Resume => CaseResult::Holder(
                self.set_status(actor, username, HolderStatus::Active, reason)
                    .await?,
            ),
            Case::LostCard { also_second } => {
                CaseResult::CardLost(self.card_lost(actor, username, also_second, reason).await?)
            }
            Case::LostPhoneDevice { device } => {
                CaseResult::PhoneLost(self.delete_device(actor, username, device, reason).await?)
            }
            Case::LostPhoneSecond => {
                CaseResult::PhoneLost(self.revoke_second(actor, username, reason).await?)
            }
            Case::ReissueSheet => {
                CaseResult::Sheet(self.sheets.issue_to(actor, username, print).await?)
            }
            Case::RenewSecond => {
                CaseResult::Renewal(self.renew_second(actor, username, print).await?)
            }
            Case::IssueSecond => {
                CaseResult::Certificate(self.ca.issue_second(actor, username).await?)
            }
        })
    }

    /// After a revoked second certificate: a new one (a new key) and a new sheet, together.
    /// With `print`, the sheet is printed there. Run again after an interruption, it issues
    /// the certificate only if the holder has no valid one, and a sheet in any case.
    async fn renew_second(
        &self,
        actor: &Actor,
        username: &Username,
        print: Option<&mut dyn SheetSink>,
    ) -> Result<Renewal, Error> {
        let holder = find_holder(self.store.as_ref(), username).await?;
        if let Some(sink) = &print {
            // A holder whose sheet cannot be printed gets no certificate either.
            self.sheets.check_printable(username, &**sink).await?;
        }
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
        let sheet = self.sheets.issue_to(actor, username, print).await?;
        Ok(Renewal { certificate, sheet })
    }

    /// HPKI card lost (2.2.1): revokes the card's certificates (key compromise), and with
    /// `also_second` the second certificate too.
    async fn card_lost(
        &self,
        actor: &Actor,
        username: &Username,
        also_second: bool,
        reason: &str,
    ) -> Result<CardLost, Error> {
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

    /// Phone lost (2.2.2): deletes its device credential.
    async fn delete_device(
        &self,
        actor: &Actor,
        username: &Username,
        device: i64,
        reason: &str,
    ) -> Result<PhoneLost, Error> {
        let holder = find_holder(self.store.as_ref(), username).await?;
        let note = format!("phone lost: {reason}");
        let deleted = self.devices.delete(actor, &holder, device, &note).await?;
        debug_assert_eq!(deleted.state, DeviceState::Deleted);
        Ok(PhoneLost {
            holder: holder.username,
            deleted_device: Some(device),
            revoked: Vec::new(),
        })
    }

    /// Phone lost (2.2.2): revokes the second certificate.
    async fn revoke_second(
        &self,
        actor: &Actor,
        username: &Username,
        reason: &str,
    ) -> Result<PhoneLost, Error> {
        let holder = find_holder(self.store.as_ref(), username).await?;
        let note = format!("phone lost: {reason}");
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

    /// Suspends (`Suspended`) or resumes (`Active`) a holder: while suspended nothing works
    /// for them (the sheet pages, the registration site, sign-in, signing; each checks the
    /// holder on every use).
    async fn set_status(
        &self,
        actor: &Actor,
        username: &Username,
        to: HolderStatus,
        reason: &str,
    ) -> Result<Holder, Error> {
        let holder = find_holder(self.store.as_ref(), username).await?;
        let from = match to {
            HolderStatus::Suspended => HolderStatus::Active,
            HolderStatus::Active => HolderStatus::Suspended,
        };
        if holder.status != from {
            return Err(Error::Conflict(format!(
                "holder {username} is {} already",
                to.as_str()
            )));
        }
        let action = match to {
            HolderStatus::Suspended => Action::HOLDER_SUSPENDED,
            HolderStatus::Active => Action::HOLDER_REACTIVATED,
        };
        let event = AuditEvent::new(
            self.clock.now(),
            actor,
            action,
            username.to_string(),
            serde_json::json!({ "reason": reason }),
        );
        if !self
            .store
            .set_holder_status(username, from, to, &event)
            .await?
        {
            return Err(Error::Conflict(format!(
                "holder {username} changed meanwhile; look again"
            )));
        }
        find_holder(self.store.as_ref(), username).await
    }
}
