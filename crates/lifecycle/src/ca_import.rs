//! `ca import` under dual control (`[console] dual_control` "ca-import", on by default).
//!
//! The key material never goes into the database, so an approver cannot carry the import out
//! as they carry out a revocation. Instead the operator who will run it asks first with the
//! import's fingerprint (each CA's certificate, its SHA-256 and where its key comes from, see
//! `hpki_ca::ImportFingerprint`); an approver other than them approves exactly that; then the
//! requester runs the same import with `--request N`, once, before the request expires, and
//! only with files whose fingerprint is the approved one.
//!
//! Before any operator exists (at installation: `init --no-ca`, then `ca import`) nobody is
//! there to approve, and the import runs at once; the key ceremony's own two-person rule
//! covers it. Once an operator exists, an import without an approved request is refused.

use hpki_ca::{CaSummary, ImportFingerprint, ImportedCa};
use hpki_core::audit::Action;
use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::store::{ApprovalRequest, ApprovalState, Operator};
use hpki_core::Error;

use crate::{forbidden, typed_reason, CaseResult, LifecycleService};

/// The action of an import request.
pub const CA_IMPORT: &str = "ca-import";

/// What an approved import's result says while it waits for its requester.
const IMPORTING: &str = "importing";

/// The audit target of a request: its holder, or `ca` for an import.
pub(crate) fn target(r: &ApprovalRequest) -> String {
    if r.action == CA_IMPORT {
        "ca".to_owned()
    } else {
        r.holder.clone()
    }
}

/// The fingerprint an import request was made for.
pub fn requested_fingerprint(r: &ApprovalRequest) -> Option<ImportFingerprint> {
    (r.action == CA_IMPORT)
        .then(|| serde_json::from_str(&r.params).ok())
        .flatten()
}

/// Who runs `ca import`, and which step it is.
#[derive(Clone, Copy, Debug)]
pub enum ImportStep<'a> {
    /// Nobody named: allowed only before any operator exists, or without dual control for
    /// imports.
    Unnamed,
    /// An operator asks an approver to allow this import.
    Ask {
        operator: &'a Operator,
        reason: &'a str,
    },
    /// The operator who asked runs the import an approver allowed.
    Run {
        operator: &'a Operator,
        request: i64,
    },
}

/// What `ca import` did.
#[derive(Debug)]
pub enum CaImport {
    /// A request now waits for an approver; nothing is imported.
    Requested(ApprovalRequest),
    Imported(Vec<CaSummary>),
}

impl LifecycleService {
    /// `ca import` of these three CAs (root, signing, authentication): at once while no
    /// operator exists or without dual control for imports (in `unnamed`'s name when nobody
    /// is named), else only as the step of an operator's request.
    pub async fn import_ca(
        &self,
        unnamed: &Actor,
        step: ImportStep<'_>,
        cas: [ImportedCa; 3],
    ) -> Result<CaImport, Error> {
        let fingerprint = hpki_ca::import_fingerprint([&cas[0], &cas[1], &cas[2]])?;
        let controlled = self.control.ca_import && !self.store.operators().await?.is_empty();
        let claimed = match (controlled, step) {
            (false, _) => None,
            (true, ImportStep::Unnamed) => {
                return Err(forbidden(
                    "operators exist, so an import waits for an approver (dual control): \
                     ask with --as YOUR_OPERATOR_NAME --reason TEXT"
                        .into(),
                ))
            }
            (true, ImportStep::Ask { operator, reason }) => {
                if self.ca.has_hierarchy().await? {
                    return Err(hpki_ca::already_set_up());
                }
                let request = self
                    .request_ca_import(operator, &fingerprint, reason)
                    .await?;
                return Ok(CaImport::Requested(request));
            }
            (true, ImportStep::Run { operator, request }) => {
                self.claim_ca_import(operator, request, &fingerprint)
                    .await?;
                Some((operator, request))
            }
        };
        let actor = claimed.map_or_else(|| unnamed.clone(), |(op, _)| Actor::operator(&op.name));
        let [root, signing, authentication] = cas;
        let imported = self
            .ca
            .import_hierarchy(&actor, root, signing, authentication)
            .await;
        if let Some((operator, request)) = claimed {
            self.record_ca_import(operator, request, imported.as_ref().map(|_| ()))
                .await?;
        }
        Ok(CaImport::Imported(imported?))
    }

    /// Asks an approver to allow this import, in `operator`'s name.
    async fn request_ca_import(
        &self,
        operator: &Operator,
        fingerprint: &ImportFingerprint,
        reason: &str,
    ) -> Result<ApprovalRequest, Error> {
        let reason = typed_reason(reason)?;
        if !operator.role.may_change() {
            return Err(forbidden(format!(
                "operator {} is an auditor: this role only reads",
                operator.name
            )));
        }
        let now = self.clock.now();
        let mut request = ApprovalRequest {
            id: 0,
            action: CA_IMPORT.to_owned(),
            holder: String::new(),
            params: serde_json::to_string(fingerprint)
                .map_err(|e| Error::Internal(format!("a fingerprint as JSON: {e}")))?,
            reason: reason.to_owned(),
            requested_by: operator.name.clone(),
            requested_at: now,
            expires_at: now + self.control.expires,
            state: ApprovalState::Pending,
            decided_by: None,
            decided_at: None,
            result: None,
        };
        let event = AuditEvent::new(
            now,
            &Actor::operator(&operator.name),
            Action::APPROVAL_REQUESTED,
            "ca",
            serde_json::json!({
                "action": CA_IMPORT,
                "fingerprint": fingerprint,
                "reason": reason,
                "expires_at": request.expires_at.to_rfc3339(),
            }),
        );
        request.id = self.approvals.insert_request(&request, &event).await?;
        Ok(request)
    }

    /// An approver approved an import request (`approve` checked who may): its requester
    /// may now run it.
    pub(crate) async fn authorize_ca_import(
        &self,
        approver: &Operator,
        request: &ApprovalRequest,
        event: &AuditEvent,
    ) -> Result<CaseResult, Error> {
        let id = request.id;
        if !self
            .approvals
            .decide_request(id, ApprovalState::Approved, &approver.name, event.at, event)
            .await?
        {
            return Err(Error::Conflict(format!(
                "request {id} was decided meanwhile, or has expired"
            )));
        }
        Ok(CaseResult::Authorized {
            request: id,
            next: format!(
                "{} runs the import with the same files and --request {id} --as {} before {}",
                request.requested_by,
                request.requested_by,
                request.expires_at.to_rfc3339()
            ),
        })
    }

    /// Takes an approved import request for the import about to run: it must be this
    /// operator's, approved, unused, unexpired, and for exactly these files.
    async fn claim_ca_import(
        &self,
        operator: &Operator,
        id: i64,
        fingerprint: &ImportFingerprint,
    ) -> Result<(), Error> {
        let now = self.clock.now();
        let request = self
            .approvals
            .request(id)
            .await?
            .filter(|r| r.action == CA_IMPORT)
            .ok_or_else(|| Error::NotFound(format!("import request {id}")))?;
        if request.requested_by != operator.name {
            return Err(forbidden(format!(
                "request {id} is {}'s: only its requester runs an approved import",
                request.requested_by
            )));
        }
        match request.state {
            ApprovalState::Approved => {}
            ApprovalState::Pending => {
                return Err(Error::Conflict(format!(
                    "request {id} is not approved yet: an approver runs `hpki-second approval approve {id} --as NAME`"
                )))
            }
            ApprovalState::Rejected => {
                return Err(Error::Conflict(format!("request {id} was rejected")))
            }
        }
        let approved = requested_fingerprint(&request)
            .ok_or_else(|| Error::Internal(format!("request {id}'s fingerprint")))?;
        if approved.digest != fingerprint.digest {
            return Err(Error::Conflict(format!(
                "these files are not the ones request {id} approved (fingerprint {} there, {} here)",
                approved.digest, fingerprint.digest
            )));
        }
        let event = AuditEvent::new(
            now,
            &Actor::operator(&operator.name),
            Action::APPROVAL_CLAIMED,
            "ca",
            serde_json::json!({ "request": id, "action": CA_IMPORT, "digest": fingerprint.digest }),
        );
        if self
            .approvals
            .claim_request(id, IMPORTING, now, &event)
            .await?
        {
            Ok(())
        } else {
            Err(Error::Conflict(format!(
                "request {id} was used already, or expired at {}; ask again",
                request.expires_at.to_rfc3339()
            )))
        }
    }

    /// Records how a claimed import went.
    async fn record_ca_import(
        &self,
        operator: &Operator,
        id: i64,
        outcome: Result<(), &Error>,
    ) -> Result<(), Error> {
        let (result, action) = match outcome {
            Ok(()) => ("carried out".to_owned(), Action::APPROVAL_CARRIED_OUT),
            Err(e) => (format!("failed: {e}"), Action::APPROVAL_FAILED),
        };
        let event = AuditEvent::new(
            self.clock.now(),
            &Actor::operator(&operator.name),
            action,
            "ca",
            serde_json::json!({ "request": id, "result": result }),
        );
        Ok(self.approvals.record_result(id, &result, &event).await?)
    }
}
