//! Scenarios of the operators' storage: dual-control requests, console sessions.

use super::*;

/// Requests under dual control: decided once, before they expire; an approved one is claimed
/// once (a CA import), before it expires; each step with its event.
pub(crate) async fn approval_requests_are_decided_and_claimed_once(store: &SqlStore) {
    use hpki_core::domain::request::{ImportFingerprint, Request};
    use hpki_core::store::{ApprovalRequest, ApprovalState, ApprovalStore};
    let hour = chrono::Duration::hours(1);
    let import = Request::CaImport {
        fingerprint: ImportFingerprint {
            digest: "ab".repeat(32),
            certificates: Vec::new(),
        },
    };
    let ask = |request: &Request| ApprovalRequest {
        id: 0,
        request: request.clone(),
        reason: "why".to_owned(),
        requested_by: "alice".to_owned(),
        requested_at: at(),
        expires_at: at() + hour,
        state: ApprovalState::Pending,
        decided_by: None,
        decided_at: None,
        result: None,
    };
    let first = store
        .insert_request(&ask(&import), &event("ca"))
        .await
        .expect("insert");
    let second = store
        .insert_request(&ask(&import), &event("ca"))
        .await
        .expect("insert");
    assert_ne!(first, second);
    let stored = store.request(first).await.expect("read").expect("stored");
    assert_eq!(
        stored.request, import,
        "the request reads back as it was asked"
    );
    let pending = store.pending_requests(at()).await.expect("pending");
    assert_eq!(
        pending.iter().map(|r| r.id).collect::<Vec<_>>(),
        [first, second]
    );
    assert!(
        store
            .pending_requests(at() + hour)
            .await
            .expect("pending")
            .is_empty(),
        "expired"
    );
    // Not claimed before it is approved.
    assert!(!store
        .claim_request(first, "importing", at(), &event("ca"))
        .await
        .expect("claim"));
    let decided = event("ca");
    let decide = |id, to, when| store.decide_request(id, to, "bob", when, &decided);
    assert!(decide(first, ApprovalState::Approved, at())
        .await
        .expect("decide"));
    assert!(
        !decide(first, ApprovalState::Rejected, at())
            .await
            .expect("decide"),
        "decided once"
    );
    assert!(
        !decide(second, ApprovalState::Approved, at() + hour)
            .await
            .expect("decide"),
        "expired"
    );
    let stored = store.request(first).await.expect("read").expect("request");
    assert_eq!(
        (stored.state, stored.decided_by.as_deref()),
        (ApprovalState::Approved, Some("bob"))
    );
    // Claimed once, and not after it expired.
    assert!(!store
        .claim_request(first, "importing", at() + hour, &event("ca"))
        .await
        .expect("claim"));
    assert!(store
        .claim_request(first, "importing", at(), &event("ca"))
        .await
        .expect("claim"));
    assert!(!store
        .claim_request(first, "importing", at(), &event("ca"))
        .await
        .expect("claim"));
    store
        .record_result(first, "carried out", &event("ca"))
        .await
        .expect("result");
    let stored = store.request(first).await.expect("read").expect("request");
    assert_eq!(stored.result.as_deref(), Some("carried out"));
    assert!(store.request(first + 100).await.expect("read").is_none());
    // Two inserts, one decision, one claim, one result: each with its event.
    assert_chain_intact(store, 5).await;
}

/// A console session ends after its idle time without a request, at its absolute end however
/// busy, when signed out, and when its operator is disabled; requests keep it alive.
pub(crate) async fn console_sessions_time_out(store: &SqlStore) {
    use hpki_core::clock::Clock;
    use hpki_core::services::OperatorService;
    use hpki_core::store::{ConsoleSession, ConsoleStore, OperatorChange, OperatorRole};
    use hpki_operator_accounts::{ConsoleService, ConsoleSettings};
    let clock = Arc::new(hpki_core::clock::FixedClock::new(at()));
    let passkeys = hpki_passkey::DeviceService::for_operators(
        Arc::new(hpki_store_sql::OperatorCredentials(store.clone())),
        clock.clone(),
        &hpki_passkey::PasskeySettings {
            public_url: hpki_core::PublicUrl::parse("https://hpki.example.jp").expect("url"),
            max_devices: 5,
        },
    )
    .expect("passkeys");
    let console = ConsoleService::new(
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        passkeys,
        clock.clone(),
        ConsoleSettings::default(),
    );
    let operators = OperatorService::new(Arc::new(store.clone()), clock.clone());
    let actor = Actor::system();
    let (op, _) = operators
        .add(&actor, "desk", OperatorRole::Operator, None)
        .await
        .expect("operator");
    let open = |n: char| {
        let token = format!("hsc_{}", n.to_string().repeat(64));
        let session = ConsoleSession {
            token_hash: hpki_core::secret::token_hash(&token),
            operator_id: op.id,
            credential_id: 1,
            created_at: clock.now(),
            seen_at: clock.now(),
            expires_at: clock.now() + chrono::Duration::hours(8),
            reauth_at: clock.now(),
            ended_at: None,
        };
        (token, session)
    };
    let signed_out = |r: Result<hpki_operator_accounts::SignedInOperator, hpki_core::Error>| {
        matches!(r, Err(hpki_core::Error::Unauthenticated))
    };
    // Idle: 14 minutes apart it lives on (each request is noted); 16 minutes idle ends it.
    let (idle, s) = open('1');
    store
        .insert_console_session(&s, &event("desk"))
        .await
        .expect("insert");
    for _ in 0..3 {
        clock.advance(chrono::Duration::minutes(14));
        assert!(
            console.session(&idle).await.is_ok(),
            "active within the idle time"
        );
    }
    clock.advance(chrono::Duration::minutes(16));
    assert!(signed_out(console.session(&idle).await), "idle too long");
    // Absolute: requests every ten minutes, and still it ends after eight hours.
    let (busy, s) = open('2');
    store
        .insert_console_session(&s, &event("desk"))
        .await
        .expect("insert");
    for _ in 0..47 {
        clock.advance(chrono::Duration::minutes(10));
        assert!(console.session(&busy).await.is_ok());
    }
    clock.advance(chrono::Duration::minutes(10));
    assert!(
        signed_out(console.session(&busy).await),
        "past its absolute end"
    );
    // Signed out, a disabled operator, a made-up token.
    let (out, s) = open('3');
    store
        .insert_console_session(&s, &event("desk"))
        .await
        .expect("insert");
    let who = console.session(&out).await.expect("open");
    console.sign_out(&actor, &who).await.expect("sign out");
    assert!(signed_out(console.session(&out).await), "signed out");
    let (off, s) = open('4');
    store
        .insert_console_session(&s, &event("desk"))
        .await
        .expect("insert");
    operators
        .change(&actor, "desk", OperatorChange::Disable)
        .await
        .expect("disable");
    assert!(
        signed_out(console.session(&off).await),
        "the operator is disabled"
    );
    assert!(signed_out(console.session("hsc_nope").await));
}
