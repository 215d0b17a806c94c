//! Scenarios of the OpenID Connect and remote-signing storage: authorizations swept, SADs
//! spent once (and only while everything a signature needs holds), card logins answered once,
//! DPoP proofs recorded once.

use super::*;

/// A relying system and holder 999999 for the OIDC and CSC scenarios.
pub(crate) async fn relying_system_and_holder(
    store: &SqlStore,
) -> (hpki_core::domain::oidc::ClientId, hpki_core::domain::Holder) {
    use hpki_core::domain::oidc::{ClientId, LoginMethods, NewRelyingParty, RedirectUri};
    use hpki_core::store::OidcStore;
    let client = ClientId::generate().expect("id");
    store
        .insert_client(
            &NewRelyingParty {
                client_id: client.clone(),
                name: "rp".into(),
                redirect_uris: vec![RedirectUri::parse("https://rp.example.jp/cb").expect("uri")],
                methods: LoginMethods::Any,
                signing: hpki_core::domain::csc::SigningModes::parse("scal1").expect("modes"),
                secret_hash: None,
                jwks: None,
                dpop_bound: false,
                par_required: false,
                created_at: at(),
            },
            &event("client"),
        )
        .await
        .expect("client");
    let holder = store
        .insert_holder(&holder(999_999, "薬剤 太郎"), &event("999999-jpa"))
        .await
        .expect("holder");
    (client, holder)
}

pub(crate) fn authorization_request(
    client: &hpki_core::domain::oidc::ClientId,
    hash: &str,
    created: DateTime<Utc>,
) -> hpki_core::domain::oidc::NewAuthorization {
    use hpki_core::domain::oidc::{Grant, NewAuthorization, RedirectUri};
    NewAuthorization {
        login_hash: hash.to_owned(),
        client_id: client.clone(),
        grant: Grant::Code {
            redirect_uri: RedirectUri::parse("https://rp.example.jp/cb").expect("uri"),
            state: None,
            code_challenge: "c".repeat(43),
        },
        scope: "openid service".into(),
        nonce: None,
        max_age: None,
        created_at: created,
        login_expires_at: created + chrono::Duration::minutes(10),
        consent: None,
    }
}

/// Authorization requests nobody answered are swept (they were never audited); answered ones
/// stay.
pub(crate) async fn unanswered_authorizations_are_swept(store: &SqlStore) {
    use hpki_core::domain::oidc::AuthMethod;
    use hpki_core::store::OidcStore;
    let (client, holder) = relying_system_and_holder(store).await;
    let request =
        |hash: &str, created: DateTime<Utc>| authorization_request(&client, hash, created);
    let old = at() - chrono::Duration::hours(1);
    let unanswered = store
        .insert_authorization(&request(&format!("{}01", "a".repeat(62)), old))
        .await
        .expect("insert");
    let answered = store
        .insert_authorization(&request(&format!("{}02", "b".repeat(62)), old))
        .await
        .expect("insert");
    assert!(store
        .record_login(
            &hpki_core::store::Login {
                authorization: answered,
                holder: holder.id,
                device: None,
                method: AuthMethod::Passkey,
                at: old + chrono::Duration::minutes(1),
                code_hash: "code-hash",
                code_expires_at: old + chrono::Duration::minutes(2),
            },
            &event("999999-jpa"),
        )
        .await
        .expect("login"));
    // Not every insert sweeps: this one's hash does not end in a multiple of 64.
    store
        .insert_authorization(&request(&format!("{}03", "c".repeat(62)), at()))
        .await
        .expect("insert");
    assert!(store
        .authorization(unanswered)
        .await
        .expect("read")
        .is_some());
    store
        .insert_authorization(&request(&format!("{}40", "d".repeat(62)), at()))
        .await
        .expect("insert");
    assert!(
        store
            .authorization(unanswered)
            .await
            .expect("read")
            .is_none(),
        "swept"
    );
    assert!(
        store.authorization(answered).await.expect("read").is_some(),
        "kept"
    );
}

/// A SAD is spent at most as often as it authorizes, by however many requests at once; one
/// bound to hashes signs each once; an extended SAD's old value is gone. Each spend appends
/// its event, found again by holder and action.
pub(crate) async fn sads_are_spent_once(store: &SqlStore) {
    use hpki_core::domain::csc::{NewSad, SigningMode};
    use hpki_core::domain::oidc::{AuthMethod, Redemption};
    use hpki_core::store::{CscStore, OidcStore, SpendGuard, Store};
    let (client, holder) = relying_system_and_holder(store).await;
    let session = store
        .insert_authorization(&authorization_request(&client, &"e".repeat(64), at()))
        .await
        .expect("authorization");
    assert!(store
        .record_login(
            &hpki_core::store::Login {
                authorization: session,
                holder: holder.id,
                device: None,
                method: AuthMethod::Passkey,
                at: at(),
                code_hash: "code",
                code_expires_at: at() + chrono::Duration::minutes(1),
            },
            &event("999999-jpa"),
        )
        .await
        .expect("login"));
    // The session opened, and the second certificate it signs with.
    assert_eq!(
        store
            .redeem_code(
                "code",
                at(),
                at() + chrono::Duration::hours(18),
                &event("999999-jpa"),
                &event("999999-jpa")
            )
            .await
            .expect("redeem"),
        Redemption::Redeemed
    );
    let mut second = certificate("5eca", CertificateKind::Second, CaRole::Signing);
    second.holder_id = Some(holder.id);
    store
        .insert_certificates(&[second], &[event("5eca")])
        .await
        .expect("certificate");
    let guard = SpendGuard {
        holder_id: holder.id,
        session_id: session,
        certificate: "5eca".to_owned(),
        device_id: None,
        client_id: client.to_string(),
    };
    let sad = |hash: &str, remaining: i64, hashes: Option<Vec<[u8; 32]>>| NewSad {
        sad_hash: hash.to_owned(),
        session_id: session,
        holder_id: holder.id,
        client_id: client.clone(),
        mode: SigningMode::Session,
        hashes,
        remaining,
        created_at: at(),
        expires_at: at() + chrono::Duration::minutes(10),
    };
    let signed = |n: u32| {
        AuditEvent::new(
            at(),
            &Actor::system(),
            hpki_core::audit::Action::SIGNATURE_CREATED,
            "999999-jpa",
            serde_json::json!({ "n": n }),
        )
    };
    store
        .insert_sad(&sad("sad-1", 2, None), &event("999999-jpa"))
        .await
        .expect("insert");
    let was = store
        .sad_by_hash("sad-1")
        .await
        .expect("read")
        .expect("there");
    assert_eq!(was.sad.remaining, 2);
    let mut spends = Vec::new();
    for n in 0..8 {
        let (store, was, ev, guard) = (store.clone(), was.clone(), signed(n), guard.clone());
        spends.push(tokio::spawn(async move {
            store
                .spend_sad(&was, 1, None, &guard, at(), &ev)
                .await
                .expect("spend")
        }));
    }
    let mut won = 0;
    for s in spends {
        won += u32::from(s.await.expect("task"));
    }
    assert_eq!(won, 2, "a SAD for two signatures signs twice, not more");
    let events = store
        .audit_events_of("999999-jpa", "signature.created", None, 10)
        .await
        .expect("events");
    assert_eq!(events.len(), 2, "one event per spend that happened");
    assert!(events[0].seq > events[1].seq, "newest first");
    let older = store
        .audit_events_of("999999-jpa", "signature.created", Some(events[0].seq), 10)
        .await
        .expect("events");
    assert_eq!(older.len(), 1);

    // Bound to two hashes: spending one leaves the other; a stale read spends nothing.
    store
        .insert_sad(
            &sad("sad-2", 2, Some(vec![[1; 32], [2; 32]])),
            &event("999999-jpa"),
        )
        .await
        .expect("insert");
    let was = store
        .sad_by_hash("sad-2")
        .await
        .expect("read")
        .expect("there");
    assert!(store
        .spend_sad(&was, 1, Some(&[[2; 32]]), &guard, at(), &signed(10))
        .await
        .expect("spend"));
    assert!(!store
        .spend_sad(&was, 1, Some(&[[1; 32]]), &guard, at(), &signed(11))
        .await
        .expect("spend"));
    let now = store
        .sad_by_hash("sad-2")
        .await
        .expect("read")
        .expect("there");
    assert_eq!(
        (now.sad.remaining, now.sad.hashes.clone()),
        (1, Some(vec![[2; 32]]))
    );
    // Expired: nothing spent.
    let later = at() + chrono::Duration::minutes(11);
    assert!(!store
        .spend_sad(&now, 1, Some(&[]), &guard, later, &signed(12))
        .await
        .expect("spend"));

    // Nothing is spent unless everything the guard names may still sign: another
    // certificate, a device credential that is not the holder's, another holder, a session
    // that is not this one, a relying system that is not registered.
    store
        .insert_sad(&sad("sad-guarded", 5, None), &event("999999-jpa"))
        .await
        .expect("insert");
    let was = store
        .sad_by_hash("sad-guarded")
        .await
        .expect("read")
        .expect("there");
    for wrong in [
        SpendGuard {
            certificate: "0bad".into(),
            ..guard.clone()
        },
        SpendGuard {
            device_id: Some(4242),
            ..guard.clone()
        },
        SpendGuard {
            holder_id: holder.id + 1,
            ..guard.clone()
        },
        SpendGuard {
            session_id: session + 100,
            ..guard.clone()
        },
        SpendGuard {
            client_id: "hsc_000000000000000000000000".into(),
            ..guard.clone()
        },
    ] {
        assert!(
            !store
                .spend_sad(&was, 1, None, &wrong, at(), &signed(20))
                .await
                .expect("spend"),
            "{wrong:?}"
        );
    }
    // After the session's end (signing out), and after the certificate's, nothing either.
    let ended_at = at() + chrono::Duration::hours(19);
    assert!(!store
        .spend_sad(&was, 1, None, &guard, ended_at, &signed(21))
        .await
        .expect("spend"));
    assert!(store
        .spend_sad(&was, 1, None, &guard, at(), &signed(22))
        .await
        .expect("spend"));
    store
        .end_sessions_of_holder(holder.id, at(), "signed out", &event("999999-jpa"))
        .await
        .expect("end");
    let was = store
        .sad_by_hash("sad-guarded")
        .await
        .expect("read")
        .expect("there");
    assert!(!store
        .spend_sad(&was, 1, None, &guard, at(), &signed(23))
        .await
        .expect("spend"));

    // Extended: the old value is gone, the new one is there with its new expiry.
    store
        .insert_sad(&sad("sad-3", 1, None), &event("999999-jpa"))
        .await
        .expect("insert");
    let was = store
        .sad_by_hash("sad-3")
        .await
        .expect("read")
        .expect("there");
    let until = at() + chrono::Duration::minutes(20);
    assert!(store
        .extend_sad(was.id, "sad-3", "sad-4", until, at(), &event("999999-jpa"))
        .await
        .expect("extend"));
    assert!(!store
        .extend_sad(was.id, "sad-3", "sad-5", until, at(), &event("999999-jpa"))
        .await
        .expect("extend"));
    assert!(store.sad_by_hash("sad-3").await.expect("read").is_none());
    assert_eq!(
        store
            .sad_by_hash("sad-4")
            .await
            .expect("read")
            .expect("there")
            .sad
            .expires_at,
        until
    );
}

/// A card login: one per authorization (a new code replaces the old), a code taken by a live
/// login cannot be given to another, the answer is recorded once however many arrive at once
/// (with its event), an expired code takes no answer, and an unanswered authorization swept
/// takes its card login with it.
pub(crate) async fn card_logins_are_answered_once(store: &SqlStore) {
    use hpki_core::domain::oidc::{CardLogin, CardOutcome, LoginRefusal};
    use hpki_core::store::{OidcStore, StoreError};
    let (client, holder) = relying_system_and_holder(store).await;
    let a = store
        .insert_authorization(&authorization_request(&client, &"f".repeat(64), at()))
        .await
        .expect("authorization");
    let b = store
        .insert_authorization(&authorization_request(&client, &"9".repeat(64), at()))
        .await
        .expect("authorization");
    let login = |id: i64, challenge: &str| CardLogin {
        authorization_id: id,
        challenge: challenge.to_owned(),
        expires_at: at() + chrono::Duration::minutes(5),
        outcome: CardOutcome::Waiting,
    };
    store
        .insert_card_login(&login(a, "ch-1"), "code-1", at())
        .await
        .expect("insert");
    // Another login may not show the same code while this one's lives.
    assert!(matches!(
        store
            .insert_card_login(&login(b, "ch-x"), "code-1", at())
            .await,
        Err(StoreError::Conflict(_))
    ));
    // A new code for the same login replaces the old one.
    store
        .insert_card_login(&login(a, "ch-2"), "code-2", at())
        .await
        .expect("replace");
    assert!(store
        .card_login_by_code("code-1")
        .await
        .expect("read")
        .is_none());
    let by_code = store
        .card_login_by_code("code-2")
        .await
        .expect("read")
        .expect("there");
    assert_eq!(by_code, login(a, "ch-2"));
    assert_eq!(
        store.card_login(a).await.expect("read"),
        Some(login(a, "ch-2"))
    );

    // Eight answers at once (the card client retried, or a guesser raced it): one is recorded.
    let verified = CardOutcome::Verified {
        holder_id: holder.id,
        certificate_serial: "1a2b".into(),
        at: at(),
    };
    let mut answers = Vec::new();
    for n in 0..8 {
        let (store, outcome) = (store.clone(), verified.clone());
        answers.push(tokio::spawn(async move {
            let ev = AuditEvent::new(
                at(),
                &Actor::system(),
                hpki_core::audit::Action::OIDC_CARD_VERIFIED,
                "999999-jpa",
                serde_json::json!({ "n": n }),
            );
            store
                .answer_card_login(a, "code-2", &outcome, at(), &ev)
                .await
                .expect("answer")
        }));
    }
    let mut recorded = 0;
    for t in answers {
        if t.await.expect("join") {
            recorded += 1;
        }
    }
    assert_eq!(recorded, 1);
    assert_eq!(
        store
            .card_login(a)
            .await
            .expect("read")
            .expect("there")
            .outcome,
        verified
    );
    let events: Vec<_> = store.audit_events(0).collect().await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e.as_ref().is_ok_and(|e| e.action == "oidc.card_verified"))
            .count(),
        1
    );

    // A refusal is recorded the same way and reads back; an expired code takes no answer.
    store
        .insert_card_login(&login(b, "ch-3"), "code-3", at())
        .await
        .expect("insert");
    let refused = CardOutcome::Refused {
        refusal: LoginRefusal::CardRevoked,
        detail: "revoked".into(),
    };
    let late = at() + chrono::Duration::minutes(6);
    assert!(!store
        .answer_card_login(b, "code-3", &refused, late, &event("999999-jpa"))
        .await
        .expect("late"));
    assert!(store
        .answer_card_login(b, "code-3", &refused, at(), &event("999999-jpa"))
        .await
        .expect("answer"));
    assert_eq!(
        store
            .card_login(b)
            .await
            .expect("read")
            .expect("there")
            .outcome,
        refused
    );

    // An unanswered authorization swept (an insert whose hash ends in a multiple of 64)
    // takes its card login with it.
    let old = at() - chrono::Duration::hours(2);
    let stale = store
        .insert_authorization(&authorization_request(
            &client,
            &format!("{}05", "7".repeat(62)),
            old,
        ))
        .await
        .expect("authorization");
    store
        .insert_card_login(&login(stale, "ch-4"), "code-4", old)
        .await
        .expect("insert");
    store
        .insert_authorization(&authorization_request(
            &client,
            &format!("{}80", "6".repeat(62)),
            at(),
        ))
        .await
        .expect("sweep");
    // (By hash: on SQLite the sweeping insert may take the swept row's id.)
    let stale_hash = format!("{}05", "7".repeat(62));
    assert!(store
        .authorization_by_login(&stale_hash)
        .await
        .expect("read")
        .is_none());
    assert!(store
        .card_login_by_code("code-4")
        .await
        .expect("read")
        .is_none());
}

/// A DPoP proof is recorded once (on every instance: the database decides): the second time
/// is a replay.
pub(crate) async fn dpop_proofs_are_recorded_once(store: &SqlStore) {
    use hpki_core::store::OidcStore;
    let now = at();
    let until = now + chrono::Duration::minutes(6);
    let first = "ab".repeat(32);
    assert!(store
        .record_dpop_proof(&first, until, now)
        .await
        .expect("record"));
    assert!(
        !store
            .record_dpop_proof(&first, until, now)
            .await
            .expect("record"),
        "a replay"
    );
    assert!(store
        .record_dpop_proof(&"cd".repeat(32), until, now)
        .await
        .expect("record"));
}
