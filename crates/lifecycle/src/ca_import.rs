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
use hpki_core::audit::{Action, Actor, AuditEvent};
use hpki_core::domain::request::Request;
use hpki_core::store::{ApprovalRequest, ApprovalState};
use hpki_core::{Error, OperatorRefusal};

use crate::gate::typed_reason;
use crate::{Acting, LifecycleService, Outcome};

/// What an approved import's result says while it waits for its requester.
const IMPORTING: &str = "importing";

/// Who runs `ca import`, and which step it is.
#[derive(Clone, Copy, Debug)]
pub enum ImportStep<'a> {
    /// Nobody named: allowed only before any operator exists, or without dual control for
    /// imports.
    Unnamed,
    /// An operator asks an approver to allow this import.
    Ask {
        operator: &'a Acting,
        reason: &'a str,
    },
    /// The operator who asked runs the import an approver allowed.
    Run { operator: &'a Acting, request: i64 },
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
        let controlled =
            self.rules.dual_control.ca_import && !self.store.operators().await?.is_empty();
        let claimed = match (controlled, step) {
            (false, _) => None,
            (true, ImportStep::Unnamed) => {
                return Err(Error::OperatorRefused(OperatorRefusal::ImportNeedsRequest))
            }
            (true, ImportStep::Ask { operator, reason }) => {
                typed_reason(reason)?;
                if self.ca.has_hierarchy().await? {
                    return Err(hpki_ca::already_set_up());
                }
                let request = Request::CaImport { fingerprint };
                return match self.submit(operator, request, reason, None).await? {
                    Outcome::Pending { request } => Ok(CaImport::Requested(request)),
                    Outcome::Done { .. } => Err(Error::Internal(
                        "a CA import was carried out without its files".into(),
                    )),
                };
            }
            (true, ImportStep::Run { operator, request }) => {
                self.claim_ca_import(operator, request, &fingerprint)
                    .await?;
                Some((operator, request))
            }
        };
        let actor = claimed.map_or_else(|| unnamed.clone(), |(op, _)| op.actor().clone());
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

    /// Takes an approved import request for the import about to run: it must be this
    /// operator's, approved, unused, unexpired, and for exactly these files.
    async fn claim_ca_import(
        &self,
        operator: &Acting,
        id: i64,
        fingerprint: &ImportFingerprint,
    ) -> Result<(), Error> {
        let now = self.clock.now();
        let asked = self
            .approvals
            .request(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("import request {id}")))?;
        let Request::CaImport {
            fingerprint: approved,
        } = &asked.request
        else {
            return Err(Error::NotFound(format!("import request {id}")));
        };
        if asked.requested_by != operator.name() {
            return Err(Error::OperatorRefused(OperatorRefusal::NotTheRequester {
                request: id,
                requested_by: asked.requested_by.clone(),
            }));
        }
        match asked.state {
            ApprovalState::Approved => {}
            ApprovalState::Pending => {
                return Err(Error::OperatorRefused(OperatorRefusal::NotApproved {
                    request: id,
                }))
            }
            ApprovalState::Rejected => {
                return Err(Error::OperatorRefused(OperatorRefusal::RequestRejected {
                    request: id,
                }))
            }
        }
        if approved.digest != fingerprint.digest {
            return Err(Error::OperatorRefused(OperatorRefusal::OtherFiles {
                request: id,
                approved: approved.digest.clone(),
                given: fingerprint.digest.clone(),
            }));
        }
        let event = AuditEvent::new(
            now,
            operator.actor(),
            Action::APPROVAL_CLAIMED,
            "ca",
            serde_json::json!({ "request": id, "action": asked.request.action(), "digest": fingerprint.digest }),
        );
        if self
            .approvals
            .claim_request(id, IMPORTING, now, &event)
            .await?
        {
            Ok(())
        } else {
            Err(Error::OperatorRefused(OperatorRefusal::UsedOrExpired {
                request: id,
                expires_at: asked.expires_at,
            }))
        }
    }

    /// Records how a claimed import went.
    async fn record_ca_import(
        &self,
        operator: &Acting,
        id: i64,
        outcome: Result<(), &Error>,
    ) -> Result<(), Error> {
        let (result, action) = match outcome {
            Ok(()) => ("carried out".to_owned(), Action::APPROVAL_CARRIED_OUT),
            Err(e) => (format!("failed: {e}"), Action::APPROVAL_FAILED),
        };
        let event = AuditEvent::new(
            self.clock.now(),
            operator.actor(),
            action,
            "ca",
            serde_json::json!({ "request": id, "result": result }),
        );
        Ok(self.approvals.record_result(id, &result, &event).await?)
    }
}
