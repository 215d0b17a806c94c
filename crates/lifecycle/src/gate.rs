//! The gate: every rule about who may change a holder, when, and with whom, in one place.

use chrono::{DateTime, Utc};
use hpki_core::audit::{Action, AuditEvent};
use hpki_core::domain::request::Request;
use hpki_core::services::{find_holder, SheetSink};
use hpki_core::store::{ApprovalRequest, ApprovalState};
use hpki_core::{Error, OperatorRefusal};

use crate::acting::{Acting, Via};
use crate::{CaseResult, LifecycleService, Outcome};

/// Rule: a reason is given (it goes into the audit log), and kept trimmed.
pub(crate) fn typed_reason(reason: &str) -> Result<&str, Error> {
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

/// What dual control makes of a request now.
enum Control {
    /// Carried out at once.
    Free,
    /// Held for an approver.
    Held,
    /// Held, but set aside on the host with this reason.
    BrokenGlass(String),
}

impl LifecycleService {
    /// The one way an operator changes a holder: the request is carried out at once, or,
    /// under dual control, recorded for an approver. With `print`, a new sheet is printed
    /// there. A CA import is always recorded for an approver here (its key files are not in
    /// the request: `ca_import` runs it once approved).
    pub async fn submit(
        &self,
        acting: &Acting,
        request: Request,
        reason: &str,
        print: Option<&mut dyn SheetSink>,
    ) -> Result<Outcome, Error> {
        let reason = typed_reason(reason)?;
        let now = self.clock.now();
        self.fresh_enough(acting, &request, now)?;
        match &request {
            Request::CaImport { .. } => {
                let request = self.ask(acting, request, reason, now).await?;
                return Ok(Outcome::Pending { request });
            }
            // What it changes must exist before anything is done or anyone is asked.
            Request::Holder { holder, .. } => {
                find_holder(self.store.as_ref(), holder).await?;
            }
            Request::Revoke { serial, .. } => {
                self.ca.show_certificate(serial).await?;
            }
        }
        let reason = match self.control(acting, &request).await? {
            Control::Free => reason.to_owned(),
            Control::Held => {
                let request = self.ask(acting, request, reason, now).await?;
                return Ok(Outcome::Pending { request });
            }
            Control::BrokenGlass(why) => {
                let event = AuditEvent::new(
                    now,
                    acting.actor(),
                    Action::APPROVAL_BROKEN_GLASS,
                    request.target(),
                    serde_json::json!({ "action": request.action(), "reason": reason, "break_glass": why }),
                );
                self.store.record_event(&event).await?;
                format!("{reason} (dual control set aside: {why})")
            }
        };
        let result = self
            .execute(acting.actor(), &request, &reason, print)
            .await?;
        Ok(Outcome::Done { result })
    }

    /// Rule: in the console, a revocation or a CA import (done or approved) follows a passkey
    /// assertion at most `fresh_assertion` old.
    fn fresh_enough(
        &self,
        acting: &Acting,
        request: &Request,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        match acting.via() {
            Via::Console { last_assertion }
                if request.needs_fresh_assertion()
                    && now - *last_assertion > self.rules.fresh_assertion =>
            {
                Err(Error::OperatorRefused(OperatorRefusal::StaleAssertion))
            }
            _ => Ok(()),
        }
    }

    /// Rule: dual control holds what `[console] dual_control` names, once operators exist
    /// (before, nobody could approve: the host acts alone at installation); on the host,
    /// `--break-glass` sets it aside.
    async fn control(&self, acting: &Acting, request: &Request) -> Result<Control, Error> {
        if !self.rules.dual_control.applies(request) || self.store.operators().await?.is_empty() {
            return Ok(Control::Free);
        }
        Ok(match acting.via() {
            Via::Host {
                break_glass: Some(why),
            } => Control::BrokenGlass(why.clone()),
            _ => Control::Held,
        })
    }

    /// Records a request for an approver.
    pub(crate) async fn ask(
        &self,
        acting: &Acting,
        request: Request,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<ApprovalRequest, Error> {
        let expires_at = now + self.rules.dual_control.expires;
        let mut details = serde_json::json!({
            "action": request.action(),
            "reason": reason,
            "expires_at": expires_at.to_rfc3339(),
        });
        match &request {
            Request::Holder { case, .. } => details["case"] = serde_json::json!(case),
            Request::Revoke { reason, .. } => details["revocation_reason"] = reason.as_str().into(),
            Request::CaImport { fingerprint } => {
                details["fingerprint"] = serde_json::json!(fingerprint)
            }
        }
        let event = AuditEvent::new(
            now,
            acting.actor(),
            Action::APPROVAL_REQUESTED,
            request.target(),
            details,
        );
        let mut asked = ApprovalRequest {
            id: 0,
            request,
            reason: reason.to_owned(),
            requested_by: acting.name().to_owned(),
            requested_at: now,
            expires_at,
            state: ApprovalState::Pending,
            decided_by: None,
            decided_at: None,
            result: None,
        };
        asked.id = self.approvals.insert_request(&asked, &event).await?;
        Ok(asked)
    }

    /// An approver other than the requester approves a pending request: it is carried out at
    /// once, in their name, with the requester and reason in the events (a CA import is
    /// authorized for its requester to run). With `print`, a new sheet is printed there.
    pub async fn approve(
        &self,
        acting: &Acting,
        id: i64,
        print: Option<&mut dyn SheetSink>,
    ) -> Result<CaseResult, Error> {
        let now = self.clock.now();
        let asked = self.decidable(acting, id, now).await?;
        self.fresh_enough(acting, &asked.request, now)?;
        let approved = AuditEvent::new(
            now,
            acting.actor(),
            Action::APPROVAL_APPROVED,
            asked.request.target(),
            serde_json::json!({ "request": id, "action": asked.request.action(), "requested_by": asked.requested_by }),
        );
        if let Request::CaImport { .. } = &asked.request {
            // The key material is not in the request: its requester runs the import.
            self.decide(acting, id, ApprovalState::Approved, &approved)
                .await?;
            return Ok(CaseResult::Authorized {
                request: id,
                requested_by: asked.requested_by,
                expires_at: asked.expires_at,
            });
        }
        if let (Request::Holder { holder, case }, Some(sink)) = (&asked.request, &print) {
            if case.gives_sheet() {
                // Refused while still undecided if the new sheet could not be printed.
                self.sheets.check_printable(holder, &**sink).await?;
            }
        }
        self.decide(acting, id, ApprovalState::Approved, &approved)
            .await?;
        let reason = format!(
            "{} (requested by {}, approved by {})",
            asked.reason,
            asked.requested_by,
            acting.name()
        );
        let outcome = self
            .execute(acting.actor(), &asked.request, &reason, print)
            .await;
        let (result, done) = match &outcome {
            Ok(_) => ("carried out".to_owned(), Action::APPROVAL_CARRIED_OUT),
            Err(e) => (format!("failed: {e}"), Action::APPROVAL_FAILED),
        };
        let event = AuditEvent::new(
            now,
            acting.actor(),
            done,
            asked.request.target(),
            serde_json::json!({ "request": id, "result": result }),
        );
        self.approvals.record_result(id, &result, &event).await?;
        outcome
    }

    /// An approver other than the requester rejects a pending request (nothing is done).
    pub async fn reject(&self, acting: &Acting, id: i64, reason: &str) -> Result<(), Error> {
        let reason = typed_reason(reason)?;
        let now = self.clock.now();
        let asked = self.decidable(acting, id, now).await?;
        let event = AuditEvent::new(
            now,
            acting.actor(),
            Action::APPROVAL_REJECTED,
            asked.request.target(),
            serde_json::json!({ "request": id, "action": asked.request.action(), "reason": reason }),
        );
        self.decide(acting, id, ApprovalState::Rejected, &event)
            .await
    }

    /// Rules: only an approver decides, never their own request, a request is decided once,
    /// and not after it expires.
    async fn decidable(
        &self,
        acting: &Acting,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<ApprovalRequest, Error> {
        if !acting.is_approver() {
            return Err(Error::OperatorRefused(OperatorRefusal::NotAnApprover {
                operator: acting.name().to_owned(),
            }));
        }
        let asked = self
            .approvals
            .request(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("request {id}")))?;
        if asked.requested_by == acting.name() {
            return Err(Error::OperatorRefused(OperatorRefusal::OwnRequest));
        }
        if asked.state != ApprovalState::Pending {
            return Err(Error::Conflict(format!(
                "request {id} is {} already",
                asked.state.as_str()
            )));
        }
        if asked.expires_at <= now {
            return Err(Error::Conflict(format!(
                "request {id} expired at {}; ask again",
                asked.expires_at.to_rfc3339()
            )));
        }
        Ok(asked)
    }

    /// Decides a pending request, unless another decision came first.
    async fn decide(
        &self,
        acting: &Acting,
        id: i64,
        to: ApprovalState,
        event: &AuditEvent,
    ) -> Result<(), Error> {
        if self
            .approvals
            .decide_request(id, to, acting.name(), event.at, event)
            .await?
        {
            Ok(())
        } else {
            Err(Error::Conflict(format!(
                "request {id} was decided meanwhile, or has expired"
            )))
        }
    }
}
