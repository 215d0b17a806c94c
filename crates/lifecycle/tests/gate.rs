//! The gate's rules, one test each, on a fixed clock and a real (SQLite) store: a reason is
//! required; dual control holds a revocation and not a suspension; nobody decides their own
//! request; only an approver decides; a request is decided once and not after it expires; a
//! console revocation or approval follows a fresh assertion; the host obeys dual control once
//! operators exist, and breaking glass is carried out at once and audited. (An auditor never
//! gets an `Acting`: the unit test in `src/acting.rs`.)

use std::sync::Arc;

use chrono::Duration;
use hpki_ca::CaService;
use hpki_core::audit::Actor;
use hpki_core::clock::{Clock, FixedClock};
use hpki_core::domain::Username;
use hpki_core::keystore::KeyAlgorithm;
use hpki_core::services::{OperatorService, SheetService, SheetSettings};
use hpki_core::store::{Operator, OperatorRole, Store};
use hpki_core::{Error, OperatorRefusal};
use hpki_lifecycle::{Acting, Case, CaseResult, LifecycleService, Outcome, Parts, Request, Rules};
use hpki_store_sql::SqlStore;

struct World {
    lifecycle: LifecycleService,
    store: SqlStore,
    ca: CaService,
    clock: Arc<FixedClock>,
    holder: Username,
    operators: OperatorService,
    _dir: tempfile::TempDir,
}

/// Minutes a console operator's passkey assertion stays fresh here.
const FRESH: i64 = 5;

/// A CA, the holder 999999-jpa with a second certificate, and no operator yet.
async fn world() -> World {
    let (store, dir) = hpki_test_support::sqlite_store().await;
    let clock = Arc::new(FixedClock::new(
        chrono::DateTime::parse_from_rfc3339("2026-12-07T09:00:00Z")
            .expect("time")
            .into(),
    ));
    let shared: Arc<dyn Store> = Arc::new(store.clone());
    let keystore = Arc::new(hpki_keystore_soft::SoftKeystore::new(&[7u8; 32]).expect("keystore"));
    let ca = CaService::new(
        shared.clone(),
        Arc::new(store.clone()),
        keystore,
        clock.clone(),
        hpki_ca::testing::settings(KeyAlgorithm::EcdsaP256),
    );
    ca.init_hierarchy(&Actor::system())
        .await
        .expect("hierarchy");
    hpki_ca::testing::add_holder(shared.clone(), clock.clone(), "999999").await;
    let holder = Username::parse("999999-jpa").expect("username");
    ca.issue_second(&Actor::system(), &holder)
        .await
        .expect("second certificate");
    let public_url = hpki_core::PublicUrl::parse("https://hpki.example.jp").expect("url");
    let devices = hpki_passkey::DeviceService::new(
        Arc::new(store.clone()),
        clock.clone(),
        &hpki_passkey::PasskeySettings {
            public_url: public_url.clone(),
            max_devices: 1,
        },
    )
    .expect("devices");
    let sheets = SheetService::new(
        shared.clone(),
        Arc::new(store.clone()),
        clock.clone(),
        SheetSettings {
            validity: Duration::days(30),
            attempts: hpki_core::domain::sheet::AttemptLimit::MANUAL,
            public_url,
        },
    );
    let lifecycle = LifecycleService::new(
        Parts {
            store: shared.clone(),
            approvals: Arc::new(store.clone()),
            clock: clock.clone(),
            rules: Rules {
                dual_control: Default::default(),
                fresh_assertion: Duration::minutes(FRESH),
            },
        },
        ca.clone(),
        devices,
        sheets,
    );
    World {
        lifecycle,
        operators: OperatorService::new(shared, clock.clone()),
        store,
        ca,
        clock,
        holder,
        _dir: dir,
    }
}

impl World {
    async fn operator(&self, name: &str, role: OperatorRole) -> Operator {
        self.operators
            .add(&Actor::system(), name, role, None)
            .await
            .expect("operator")
            .0
    }

    /// `name` with the role, acting with their API token.
    async fn with_token(&self, name: &str, role: OperatorRole) -> Acting {
        Acting::with_token(&self.operator(name, role).await).expect("may act")
    }

    fn request(&self, case: Case) -> Request {
        Request::Holder {
            holder: self.holder.clone(),
            case,
        }
    }

    /// The kinds of the holder's certificates that are still valid.
    async fn valid(&self) -> Vec<&'static str> {
        let holder = hpki_core::services::find_holder(&self.store, &self.holder)
            .await
            .expect("holder");
        let mut kinds: Vec<_> = self
            .ca
            .holder_certificates(&holder)
            .await
            .expect("certificates")
            .into_iter()
            .filter(|c| c.status.as_str() == "valid")
            .map(|c| c.kind)
            .collect();
        kinds.sort_unstable();
        kinds
    }

    /// The holder's events of one action.
    async fn events(&self, action: &str) -> Vec<hpki_core::audit::StoredEvent> {
        self.store
            .audit_events_of(&self.holder.to_string(), action, None, 100)
            .await
            .expect("events")
    }

    /// A revocation of the second certificate, asked for by `by`: its request.
    async fn asked(&self, by: &Acting) -> i64 {
        match self
            .lifecycle
            .submit(by, self.request(Case::LostPhoneSecond), "lost", None)
            .await
            .expect("asked")
        {
            Outcome::Pending { request } => request.id,
            Outcome::Done { .. } => panic!("carried out without an approver"),
        }
    }
}

fn refused<T: std::fmt::Debug>(e: Result<T, Error>) -> OperatorRefusal {
    match e {
        Err(Error::OperatorRefused(why)) => why,
        other => panic!("not refused to the operator: {other:?}"),
    }
}

#[tokio::test]
async fn a_reason_is_required() {
    let w = world().await;
    let alice = w.with_token("alice", OperatorRole::Operator).await;
    for case in [Case::Suspend, Case::LostPhoneSecond] {
        let e = w
            .lifecycle
            .submit(&alice, w.request(case), " \u{3000}", None)
            .await;
        assert!(
            matches!(&e, Err(Error::Invalid(f)) if f[0].field == "reason"),
            "{e:?}"
        );
    }
    assert!(w
        .lifecycle
        .pending_requests()
        .await
        .expect("list")
        .is_empty());
    assert!(w.events("holder.suspended").await.is_empty());
    let id = w.asked(&alice).await;
    let bob = w.with_token("bob", OperatorRole::Approver).await;
    assert!(matches!(
        w.lifecycle.reject(&bob, id, "").await,
        Err(Error::Invalid(_))
    ));
    assert_eq!(w.lifecycle.pending_requests().await.expect("list").len(), 1);
}

#[tokio::test]
async fn dual_control_holds_a_revocation_and_not_a_suspension() {
    let w = world().await;
    let alice = w.with_token("alice", OperatorRole::Operator).await;
    let lost = w.request(Case::LostCard { also_second: true });
    let outcome = w
        .lifecycle
        .submit(&alice, lost, "lost", None)
        .await
        .expect("submitted");
    let Outcome::Pending { request } = outcome else {
        panic!("a revocation carried out without an approver")
    };
    assert_eq!(request.requested_by, "alice");
    assert_eq!(request.expires_at, w.clock.now() + Duration::hours(24));
    assert_eq!(w.valid().await, ["second"], "nothing revoked yet");
    assert_eq!(w.events("approval.requested").await.len(), 1);
    let outcome = w
        .lifecycle
        .submit(&alice, w.request(Case::Suspend), "checking", None)
        .await
        .expect("submitted");
    assert!(matches!(
        outcome,
        Outcome::Done { result: CaseResult::Holder(h) }
            if h.status == hpki_core::domain::HolderStatus::Suspended
    ));
}

#[tokio::test]
async fn nobody_decides_their_own_request() {
    let w = world().await;
    let boss = w.with_token("boss", OperatorRole::Approver).await;
    let id = w.asked(&boss).await;
    assert_eq!(
        refused(w.lifecycle.approve(&boss, id, None).await),
        OperatorRefusal::OwnRequest
    );
    assert_eq!(
        refused(w.lifecycle.reject(&boss, id, "no").await),
        OperatorRefusal::OwnRequest
    );
    assert_eq!(w.valid().await, ["second"]);
}

#[tokio::test]
async fn only_an_approver_decides() {
    let w = world().await;
    let alice = w.with_token("alice", OperatorRole::Operator).await;
    let carol = w.with_token("carol", OperatorRole::Operator).await;
    let id = w.asked(&alice).await;
    assert!(matches!(
        refused(w.lifecycle.approve(&carol, id, None).await),
        OperatorRefusal::NotAnApprover { .. }
    ));
    assert!(matches!(
        refused(w.lifecycle.reject(&carol, id, "no").await),
        OperatorRefusal::NotAnApprover { .. }
    ));
    assert_eq!(w.valid().await, ["second"]);
}

#[tokio::test]
async fn a_request_is_decided_once_and_not_after_it_expires() {
    let w = world().await;
    let alice = w.with_token("alice", OperatorRole::Operator).await;
    let bob = w.with_token("bob", OperatorRole::Approver).await;
    let first = w.asked(&alice).await;
    w.clock.advance(Duration::hours(24));
    let e = w.lifecycle.approve(&bob, first, None).await;
    assert!(
        matches!(&e, Err(Error::Conflict(m)) if m.contains("expired")),
        "{e:?}"
    );
    assert_eq!(w.valid().await, ["second"]);
    let second = w.asked(&alice).await;
    w.lifecycle
        .reject(&bob, second, "not so")
        .await
        .expect("rejected");
    let e = w.lifecycle.approve(&bob, second, None).await;
    assert!(
        matches!(&e, Err(Error::Conflict(m)) if m.contains("rejected already")),
        "{e:?}"
    );
    assert_eq!(w.valid().await, ["second"]);
}

#[tokio::test]
async fn a_console_revocation_or_approval_follows_a_fresh_assertion() {
    let w = world().await;
    let alice = w.operator("alice", OperatorRole::Operator).await;
    let bob = w.operator("bob", OperatorRole::Approver).await;
    let long_ago = w.clock.now() - Duration::minutes(FRESH) - Duration::seconds(1);
    let stale = Acting::in_console(&alice, long_ago).expect("op");
    let e = w
        .lifecycle
        .submit(&stale, w.request(Case::LostPhoneSecond), "lost", None)
        .await;
    assert_eq!(refused(e), OperatorRefusal::StaleAssertion);
    // What revokes nothing needs no fresh assertion.
    for case in [Case::Suspend, Case::Resume] {
        w.lifecycle
            .submit(&stale, w.request(case), "checking", None)
            .await
            .expect("carried out");
    }
    let fresh = Acting::in_console(&alice, w.clock.now() - Duration::minutes(FRESH)).expect("op");
    let id = w.asked(&fresh).await;
    let stale = Acting::in_console(&bob, long_ago).expect("op");
    assert_eq!(
        refused(w.lifecycle.approve(&stale, id, None).await),
        OperatorRefusal::StaleAssertion
    );
    assert_eq!(w.valid().await, ["second"]);
    let fresh = Acting::in_console(&bob, w.clock.now()).expect("op");
    let done = w
        .lifecycle
        .approve(&fresh, id, None)
        .await
        .expect("approved");
    assert!(matches!(done, CaseResult::PhoneLost(p) if p.revoked.len() == 1));
    assert!(w.valid().await.is_empty());
    assert_eq!(w.events("approval.carried_out").await.len(), 1);
}

#[tokio::test]
async fn the_host_obeys_dual_control_once_operators_exist() {
    let w = world().await;
    let host = Acting::on_host("tester", None).expect("host");
    // At installation nobody could approve: the host acts alone.
    let lost = w.request(Case::LostCard { also_second: false });
    let done = w
        .lifecycle
        .submit(&host, lost, "lost", None)
        .await
        .expect("carried out");
    assert!(matches!(done, Outcome::Done { .. }));
    w.operator("bob", OperatorRole::Approver).await;
    let id = w.asked(&host).await;
    let asked = w
        .lifecycle
        .requested(id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(asked.requested_by, "cli:tester");
    assert_eq!(w.valid().await, ["second"], "nothing revoked from the host");
}

#[tokio::test]
async fn breaking_glass_carries_out_at_once_and_is_audited() {
    let w = world().await;
    w.operator("bob", OperatorRole::Approver).await;
    let host = Acting::on_host("tester", Some("the approvers are unreachable")).expect("host");
    let done = w
        .lifecycle
        .submit(
            &host,
            w.request(Case::LostPhoneSecond),
            "phone stolen",
            None,
        )
        .await
        .expect("carried out");
    assert!(matches!(
        done,
        Outcome::Done {
            result: CaseResult::PhoneLost(_)
        }
    ));
    assert!(w.valid().await.is_empty());
    let glass = w.events("approval.broken_glass").await;
    assert_eq!(glass.len(), 1);
    assert_eq!(glass[0].actor, "cli:tester");
    assert!(
        glass[0].details.contains("the approvers are unreachable"),
        "{}",
        glass[0].details
    );
    assert!(w
        .lifecycle
        .pending_requests()
        .await
        .expect("list")
        .is_empty());
}
