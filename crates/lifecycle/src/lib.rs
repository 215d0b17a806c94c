//! The manual's section 2 as operations, for the CLI, the operator API and the console: an
//! HPKI card lost (2.2.1), a phone lost (2.2.2), a holder suspended or resumed. Each step is
//! audited where it happens (`certificate.revoked` with the case and the operator's reason,
//! `device.deleted`, `holder.suspended`); the effects are immediate: a revocation is in OCSP
//! and a new CRL at once, and every signing session checks the holder, the second certificate
//! and the device credential on each use. A case interrupted half-way is finished by running
//! it again (what is revoked or deleted already is left as it is).
#![forbid(unsafe_code)]

use hpki_ca::{CaService, IssuedCertificate};
use hpki_core::audit::Action;
use hpki_core::audit::Actor;
use hpki_core::domain::device::DeviceState;
use hpki_core::domain::{CertificateKind, HolderStatus, RevocationReason, Username};
use hpki_core::services::{find_holder, HolderService, IssuedSheet, SheetService, SheetSink};
use hpki_core::store::Store;
use hpki_core::{Error, OperatorRefusal};
use hpki_passkey::DeviceService;
use serde::Serialize;
use std::sync::Arc;

pub mod ca_import;

/// The operations; they only compose the services that own each part.
#[derive(Clone)]
pub struct LifecycleService {
    store: Arc<dyn Store>,
    holders: HolderService,
    ca: CaService,
    devices: DeviceService,
    sheets: SheetService,
    approvals: Arc<dyn hpki_core::store::ApprovalStore>,
    control: DualControl,
    clock: Arc<dyn hpki_core::clock::Clock>,
}

/// What the service works with besides the services it composes.
pub struct Parts {
    pub store: Arc<dyn Store>,
    pub approvals: Arc<dyn hpki_core::store::ApprovalStore>,
    pub clock: Arc<dyn hpki_core::clock::Clock>,
    pub control: DualControl,
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
        parts: Parts,
        holders: HolderService,
        ca: CaService,
        devices: DeviceService,
        sheets: SheetService,
    ) -> Self {
        Self {
            store: parts.store,
            holders,
            ca,
            devices,
            sheets,
            approvals: parts.approvals,
            control: parts.control,
            clock: parts.clock,
        }
    }

    /// Which cases wait for a second operator.
    pub fn dual_control(&self) -> DualControl {
        self.control
    }

    /// A request under dual control.
    pub async fn requested(
        &self,
        id: i64,
    ) -> Result<Option<hpki_core::store::ApprovalRequest>, Error> {
        Ok(self.approvals.request(id).await?)
    }

    /// The requests waiting for an approver.
    pub async fn pending_requests(&self) -> Result<Vec<hpki_core::store::ApprovalRequest>, Error> {
        Ok(self.approvals.pending_requests(self.clock.now()).await?)
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

    /// The holder reports one of their phones lost (their own page): its device credential
    /// stops at once (so does every signing session opened with it), and the usable sheet is
    /// withdrawn, as the page promises: a new phone needs a new sheet. Gives the stopped
    /// device and the withdrawn sheet (none if there was no usable one).
    pub async fn phone_reported_lost(
        &self,
        actor: &Actor,
        holder: &hpki_core::domain::Holder,
        device_id: i64,
    ) -> Result<(hpki_core::domain::device::DeviceCredential, Option<i64>), Error> {
        let device = self.devices.report_lost(actor, holder, device_id).await?;
        let sheet = self
            .sheets
            .withdraw_after_lost_phone(actor, &holder.username, device_id)
            .await?;
        Ok((device, sheet.map(|s| s.sheet_id)))
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

/// A case of the manual's section 2 as one value: what a request under dual control holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "case")]
pub enum Case {
    Suspend,
    Resume,
    LostCard { also_second: bool },
    LostPhoneDevice { device: i64 },
    LostPhoneSecond,
    RenewSecond,
}

impl Case {
    pub fn name(self) -> &'static str {
        match self {
            Self::Suspend => "suspend",
            Self::Resume => "resume",
            Self::LostCard { also_second: false } => "lost-card",
            Self::LostCard { also_second: true } => "lost-card-all",
            Self::LostPhoneDevice { .. } => "lost-phone-device",
            Self::LostPhoneSecond => "lost-phone-second",
            Self::RenewSecond => "renew",
        }
    }

    /// Whether it revokes a certificate (dual control `revoke`; a fresh assertion first).
    pub fn revokes(self) -> bool {
        matches!(self, Self::LostCard { .. } | Self::LostPhoneSecond)
    }

    /// Whether it issues a second certificate (dual control `issue-second`).
    pub fn issues_second(self) -> bool {
        self == Self::RenewSecond
    }
}

/// Which actions wait for a second operator (`[console] dual_control`), and how long a
/// request may wait. Deleting a lost phone's credential and suspending are never delayed.
#[derive(Clone, Copy, Debug)]
pub struct DualControl {
    pub revoke: bool,
    pub issue_second: bool,
    /// `ca import` once operators exist (see `ca_import`).
    pub ca_import: bool,
    pub expires: chrono::Duration,
}

impl Default for DualControl {
    fn default() -> Self {
        Self {
            revoke: true,
            issue_second: true,
            ca_import: true,
            expires: chrono::Duration::hours(24),
        }
    }
}

impl DualControl {
    pub fn applies(&self, case: Case) -> bool {
        (self.revoke && case.revokes()) || (self.issue_second && case.issues_second())
    }
}

/// What carrying out a case gave.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum CaseResult {
    Holder(hpki_core::domain::Holder),
    CardLost(CardLost),
    PhoneLost(PhoneLost),
    Renewal(Renewal),
    /// An approved `ca import`: its requester runs it now (`ca import --request`).
    Authorized {
        request: i64,
        next: String,
    },
}

/// A case carried out, or waiting for approval.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    Done {
        result: CaseResult,
    },
    Pending {
        request: hpki_core::store::ApprovalRequest,
    },
}

fn forbidden(why: String) -> Error {
    Error::Forbidden(why)
}

impl LifecycleService {
    /// Carries out a case for an operator: at once, or, under dual control, as a request for
    /// another operator with the approver role.
    /// With `print`, a renewal's new sheet is printed there.
    pub async fn carry_out(
        &self,
        operator: &hpki_core::store::Operator,
        username: &Username,
        case: Case,
        reason: &str,
        print: Option<&mut dyn SheetSink>,
    ) -> Result<Outcome, Error> {
        let reason = typed_reason(reason)?;
        let now = self.clock.now();
        let control = self.control;
        if !operator.role.may_change() {
            return Err(Error::OperatorRefused(OperatorRefusal::ReadOnlyRole {
                operator: operator.name.clone(),
            }));
        }
        let actor = Actor::operator(&operator.name);
        if !control.applies(case) {
            let result = self.execute(&actor, username, case, reason, print).await?;
            return Ok(Outcome::Done { result });
        }
        // The holder must exist before anyone is asked.
        let holder = find_holder(self.store.as_ref(), username).await?;
        let mut request = hpki_core::store::ApprovalRequest {
            id: 0,
            action: case.name().to_owned(),
            holder: holder.username.to_string(),
            params: serde_json::to_string(&case)
                .map_err(|e| Error::Internal(format!("a case as JSON: {e}")))?,
            reason: reason.to_owned(),
            requested_by: operator.name.clone(),
            requested_at: now,
            expires_at: now + control.expires,
            state: hpki_core::store::ApprovalState::Pending,
            decided_by: None,
            decided_at: None,
            result: None,
        };
        let event = hpki_core::audit::AuditEvent::new(
            now,
            &actor,
            Action::APPROVAL_REQUESTED,
            request.holder.clone(),
            serde_json::json!({ "action": request.action, "case": case, "reason": reason, "expires_at": request.expires_at.to_rfc3339() }),
        );
        request.id = self.approvals.insert_request(&request, &event).await?;
        Ok(Outcome::Pending { request })
    }

    /// Another operator with the approver role approves a pending request: it is carried out
    /// at once, in their name, with the requester and reason in the events. With `print`, a
    /// renewal's new sheet is printed there.
    pub async fn approve(
        &self,
        approver: &hpki_core::store::Operator,
        id: i64,
        print: Option<&mut dyn SheetSink>,
    ) -> Result<CaseResult, Error> {
        let now = self.clock.now();
        let approvals = self.approvals.as_ref();
        let request = self.decidable(approver, id, now).await?;
        let actor = Actor::operator(&approver.name);
        let event = hpki_core::audit::AuditEvent::new(
            now,
            &actor,
            Action::APPROVAL_APPROVED,
            ca_import::target(&request),
            serde_json::json!({ "request": id, "action": request.action, "requested_by": request.requested_by }),
        );
        if request.action == ca_import::CA_IMPORT {
            // The key material is not in the request: its requester runs the import.
            return self.authorize_ca_import(approver, &request, &event).await;
        }
        let case: Case = serde_json::from_str(&request.params)
            .map_err(|e| Error::Internal(format!("request {id}'s case: {e}")))?;
        let username = Username::parse(&request.holder)
            .map_err(|_| Error::Internal(format!("request {id} names no holder")))?;
        if let (Case::RenewSecond, Some(sink)) = (case, &print) {
            // Refused while still undecided if the new sheet could not be printed.
            self.sheets.check_printable(&username, &**sink).await?;
        }
        if !approvals
            .decide_request(
                id,
                hpki_core::store::ApprovalState::Approved,
                &approver.name,
                now,
                &event,
            )
            .await?
        {
            return Err(Error::Conflict(format!(
                "request {id} was decided meanwhile, or has expired"
            )));
        }
        let reason = format!(
            "{} (requested by {}, approved by {})",
            request.reason, request.requested_by, approver.name
        );
        let outcome = self.execute(&actor, &username, case, &reason, print).await;
        let (result, done) = match &outcome {
            Ok(_) => ("carried out".to_owned(), Action::APPROVAL_CARRIED_OUT),
            Err(e) => (format!("failed: {e}"), Action::APPROVAL_FAILED),
        };
        let event = hpki_core::audit::AuditEvent::new(
            now,
            &actor,
            done,
            request.holder.clone(),
            serde_json::json!({ "request": id, "result": result }),
        );
        approvals.record_result(id, &result, &event).await?;
        outcome
    }

    /// An approver rejects a pending request (nothing is done).
    pub async fn reject(
        &self,
        approver: &hpki_core::store::Operator,
        id: i64,
        reason: &str,
    ) -> Result<(), Error> {
        let reason = typed_reason(reason)?;
        let now = self.clock.now();
        let approvals = self.approvals.as_ref();
        let request = self.decidable(approver, id, now).await?;
        let event = hpki_core::audit::AuditEvent::new(
            now,
            &Actor::operator(&approver.name),
            Action::APPROVAL_REJECTED,
            ca_import::target(&request),
            serde_json::json!({ "request": id, "action": request.action, "reason": reason }),
        );
        if approvals
            .decide_request(
                id,
                hpki_core::store::ApprovalState::Rejected,
                &approver.name,
                now,
                &event,
            )
            .await?
        {
            Ok(())
        } else {
            Err(Error::Conflict(format!(
                "request {id} was decided meanwhile, or has expired"
            )))
        }
    }

    /// A pending request this approver may decide.
    async fn decidable(
        &self,
        approver: &hpki_core::store::Operator,
        id: i64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<hpki_core::store::ApprovalRequest, Error> {
        if approver.role != hpki_core::store::OperatorRole::Approver {
            return Err(Error::OperatorRefused(OperatorRefusal::NotAnApprover {
                operator: approver.name.clone(),
            }));
        }
        let request = self
            .approvals
            .request(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("request {id}")))?;
        if request.requested_by == approver.name {
            return Err(Error::OperatorRefused(OperatorRefusal::OwnRequest));
        }
        if request.state != hpki_core::store::ApprovalState::Pending {
            return Err(Error::Conflict(format!(
                "request {id} is {} already",
                request.state.as_str()
            )));
        }
        if request.expires_at <= now {
            return Err(Error::Conflict(format!(
                "request {id} expired at {}; ask again",
                request.expires_at.to_rfc3339()
            )));
        }
        Ok(request)
    }

    /// Carries out a case now.
    async fn execute(
        &self,
        actor: &Actor,
        username: &Username,
        case: Case,
        reason: &str,
        print: Option<&mut dyn SheetSink>,
    ) -> Result<CaseResult, Error> {
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
            Case::LostPhoneDevice { device } => CaseResult::PhoneLost(
                self.phone_lost(actor, username, PhoneLoss::DeleteDevice(device), reason)
                    .await?,
            ),
            Case::LostPhoneSecond => CaseResult::PhoneLost(
                self.phone_lost(actor, username, PhoneLoss::RevokeSecond, reason)
                    .await?,
            ),
            Case::RenewSecond => {
                CaseResult::Renewal(self.renew_second(actor, username, print).await?)
            }
        })
    }
}
