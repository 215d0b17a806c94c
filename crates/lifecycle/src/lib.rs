//! What operators do to holders, behind one gate: the manual's section 2 (an HPKI card lost,
//! 2.2.1; a phone lost, 2.2.2), a holder suspended or resumed, a sheet reissued, a second
//! certificate renewed, and `ca import`.
//!
//! The console, the operator API and the CLI reach these only through
//! [`LifecycleService::submit`], [`approve`](LifecycleService::approve) and
//! [`reject`](LifecycleService::reject), with an [`Acting`] operator (a value only the role
//! check makes) and a typed [`Request`]. The rules live in `gate.rs`, once: a reason is
//! required; dual control holds what `[console] dual_control` names for another approver; a
//! console operator confirms it is them before a revocation; nobody decides their own
//! request, and a request is decided once, before it expires. The cases themselves
//! (`cases.rs`) are private to this crate.
//!
//! Each step is audited where it happens (`certificate.revoked` with the case and the
//! reason, `device.deleted`, `holder.suspended`); the effects are immediate: a revocation is
//! in OCSP and a new CRL at once, and every signing session checks the holder, the second
//! certificate and the device credential on each use.
#![forbid(unsafe_code)]

use hpki_ca::{CaService, IssuedCertificate};
use hpki_core::audit::Actor;
use hpki_core::domain::Username;
use hpki_core::services::{IssuedSheet, SheetService};
use hpki_core::store::{ApprovalRequest, ApprovalStore, Store};
use hpki_core::Error;
use hpki_passkey::DeviceService;
use serde::Serialize;
use std::sync::Arc;

mod acting;
pub mod ca_import;
mod cases;
mod gate;

pub use acting::Acting;
pub use hpki_core::domain::request::{Case, Request};

/// The operations; they only compose the services that own each part.
#[derive(Clone)]
pub struct LifecycleService {
    store: Arc<dyn Store>,
    ca: CaService,
    devices: DeviceService,
    sheets: SheetService,
    approvals: Arc<dyn ApprovalStore>,
    rules: Rules,
    clock: Arc<dyn hpki_core::clock::Clock>,
}

/// What the service works with besides the services it composes.
pub struct Parts {
    pub store: Arc<dyn Store>,
    pub approvals: Arc<dyn ApprovalStore>,
    pub clock: Arc<dyn hpki_core::clock::Clock>,
    pub rules: Rules,
}

/// The settings the gate applies.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rules {
    pub dual_control: DualControl,
    /// How old a console operator's last passkey assertion may be for a revocation or a CA
    /// import, done or approved (`[console] reauth_minutes`).
    pub fresh_assertion: chrono::Duration,
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

/// Which actions wait for a second operator (`[console] dual_control`), and how long a
/// request may wait. Deleting a lost phone's credential, suspending and reissuing a sheet are
/// never delayed.
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
    /// Whether this request waits for an approver.
    pub fn applies(&self, request: &Request) -> bool {
        match request {
            Request::Holder { case, .. } => {
                (self.revoke && case.revokes()) || (self.issue_second && case.issues_second())
            }
            Request::Revoke { .. } => self.revoke,
            Request::CaImport { .. } => self.ca_import,
        }
    }
}

/// What carrying out a request gave.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum CaseResult {
    Holder(hpki_core::domain::Holder),
    CardLost(CardLost),
    PhoneLost(PhoneLost),
    Renewal(Renewal),
    Sheet(IssuedSheet),
    /// A certificate issued or revoked.
    Certificate(IssuedCertificate),
    /// An approved `ca import`: its requester runs it now, with the same files, before the
    /// request expires.
    Authorized {
        request: i64,
        requested_by: String,
        expires_at: chrono::DateTime<chrono::Utc>,
    },
}

/// A request carried out, or waiting for approval.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    Done { result: CaseResult },
    Pending { request: ApprovalRequest },
}

impl LifecycleService {
    pub fn new(parts: Parts, ca: CaService, devices: DeviceService, sheets: SheetService) -> Self {
        Self {
            store: parts.store,
            ca,
            devices,
            sheets,
            approvals: parts.approvals,
            rules: parts.rules,
            clock: parts.clock,
        }
    }

    /// A request under dual control.
    pub async fn requested(&self, id: i64) -> Result<Option<ApprovalRequest>, Error> {
        Ok(self.approvals.request(id).await?)
    }

    /// The requests waiting for an approver.
    pub async fn pending_requests(&self) -> Result<Vec<ApprovalRequest>, Error> {
        Ok(self.approvals.pending_requests(self.clock.now()).await?)
    }

    /// The holder reports one of their phones lost (their own page; not an operator's
    /// action): its device credential stops at once (so does every signing session opened
    /// with it), and the usable sheet is withdrawn, as the page promises: a new phone needs a
    /// new sheet. Gives the stopped device and the withdrawn sheet (none if there was no
    /// usable one).
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
}
