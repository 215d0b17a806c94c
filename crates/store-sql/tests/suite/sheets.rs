//! Scenarios of the sheets' storage: the lock after exactly N wrong passwords, the sheet
//! service over the store, and a print run that fails leaving no usable sheet.

use super::*;
use hpki_core::audit::Action;

/// Sheets: reissue supersedes; N concurrent wrong passwords lock after exactly `max`.
pub(crate) async fn sheets_lock_after_exactly_n(store: &SqlStore) {
    let holder = store
        .insert_holder(&holder(424_242, "用紙 太郎"), &event("424242-jpa"))
        .await
        .expect("holder");
    let sheet = |hash: &str| NewSheet {
        holder_id: holder.id,
        token_hash: hash.to_owned(),
        password_hash: "$argon2id$test".into(),
        issued_at: at(),
        expires_at: at() + chrono::Duration::days(90),
    };
    let ev = |action: Action| {
        AuditEvent::new(
            at(),
            &Actor::system(),
            action,
            "424242-jpa",
            serde_json::json!({}),
        )
    };
    let superseded = |_holder: i64, id: i64| {
        AuditEvent::new(
            at(),
            &Actor::system(),
            hpki_core::audit::Action::SHEET_SUPERSEDED,
            id.to_string(),
            serde_json::json!({}),
        )
    };
    let issue_one = |hash: String| {
        let batch = vec![(sheet(&hash), ev(Action::SHEET_ISSUED))];
        async move {
            store
                .issue_sheets(&batch, &superseded)
                .await
                .map(|mut v| v.remove(0))
        }
    };
    assert_eq!(
        store
            .holders_without_sheet(at(), holder.id - 1, 10)
            .await
            .expect("pending")
            .iter()
            .map(|h| h.id)
            .collect::<Vec<_>>(),
        vec![holder.id],
        "a holder without a sheet is pending"
    );
    let first = issue_one("a".repeat(64)).await.expect("issue");
    assert!(
        store
            .holders_without_sheet(at(), holder.id - 1, 10)
            .await
            .expect("pending")
            .is_empty(),
        "a holder with an active sheet is not pending"
    );
    assert_eq!(
        store
            .holders_without_sheet(at() + chrono::Duration::days(91), holder.id - 1, 10)
            .await
            .expect("pending")
            .len(),
        1,
        "an expired sheet leaves the holder pending again"
    );
    let second = issue_one("b".repeat(64)).await.expect("reissue");
    let all = store.sheets_of_holder(holder.id).await.expect("sheets");
    assert_eq!(
        all.iter()
            .map(|s| (s.id, s.stored_state))
            .collect::<Vec<_>>(),
        vec![
            (first.id, SheetState::Superseded),
            (second.id, SheetState::Active)
        ]
    );
    let before_dup = store.audit_head().await.expect("head").seq;
    let dup = issue_one("b".repeat(64)).await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(_))),
        "token hashes are unique"
    );
    assert_eq!(
        store.audit_head().await.expect("head").seq,
        before_dup,
        "a refused issue writes nothing"
    );
    assert_eq!(
        store.sheets_of_holder(holder.id).await.expect("sheets")[1].stored_state,
        SheetState::Active,
        "nor supersedes anything"
    );

    let before = store.audit_head().await.expect("head").seq;
    // A count decided from a stale read writes nothing.
    let stale = hpki_core::domain::sheet::WrongPassword {
        failed_attempts: 4,
        state: SheetState::Active,
    };
    assert!(!store
        .record_wrong_password(second.id, 3, stale, &[event("stale")])
        .await
        .expect("record"));
    assert_eq!(store.audit_head().await.expect("head").seq, before);
    // Twenty wrong passwords at once, each applying the domain's rule and, when another
    // counted first, reading the sheet again (as the registration service does).
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        let id = second.id;
        tasks.push(tokio::spawn(async move {
            let e = |a: Action| {
                AuditEvent::new(
                    at(),
                    &Actor::system(),
                    a,
                    id.to_string(),
                    serde_json::json!({}),
                )
            };
            loop {
                let sheet = store
                    .sheet_by_token_hash(&"b".repeat(64))
                    .await?
                    .filter(|s| s.stored_state == SheetState::Active);
                let Some(sheet) = sheet else {
                    return Ok::<_, StoreError>(None);
                };
                let next = sheet.after_wrong_password(AttemptLimit::MANUAL);
                let mut events = vec![e(Action::SHEET_PASSWORD_FAILED)];
                if next.state == SheetState::Locked {
                    events.push(e(Action::SHEET_LOCKED));
                }
                if store
                    .record_wrong_password(id, sheet.failed_attempts, next, &events)
                    .await?
                {
                    return Ok(Some(next));
                }
            }
        }));
    }
    let mut counted = Vec::new();
    for t in tasks {
        if let Some(s) = t.await.expect("task").expect("record") {
            counted.push((s.failed_attempts, s.state));
        }
    }
    counted.sort_by_key(|c| c.0);
    assert_eq!(
        counted.iter().map(|c| c.0).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5],
        "exactly five attempts counted"
    );
    assert_eq!(counted[4].1, SheetState::Locked);
    assert!(counted[..4].iter().all(|c| c.1 == SheetState::Active));
    // Five failure events and one lock event, nothing for the refused fifteen.
    assert_eq!(store.audit_head().await.expect("head").seq, before + 6);
    let found = store
        .sheet_by_token_hash(&"b".repeat(64))
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(
        (found.failed_attempts, found.stored_state),
        (5, SheetState::Locked)
    );
    assert!(
        !store
            .end_sheet(found.id, SheetState::Revoked, &ev(Action::SHEET_REVOKED))
            .await
            .expect("end"),
        "a locked sheet is not active"
    );
    let third = issue_one("c".repeat(64)).await.expect("issue");
    assert!(store
        .end_sheet(third.id, SheetState::Revoked, &ev(Action::SHEET_REVOKED))
        .await
        .expect("end"));
    assert!(store
        .sheets_expiring(at() + chrono::Duration::days(365))
        .await
        .expect("expiring")
        .is_empty());
}

/// The sheet service over this store: issue, supersede, the password check and its lock.
pub(crate) async fn sheet_service(store: &SqlStore) {
    use hpki_core::services::{
        PasswordCheck, RegistrationLookup, SheetLookup, SheetService, SheetSettings,
    };
    let h = store
        .insert_holder(&holder(525_252, "用紙 花子"), &event("525252-jpa"))
        .await
        .expect("holder");
    let clock = Arc::new(hpki_core::clock::FixedClock::new(at()));
    let shared = Arc::new(store.clone());
    let sheets = SheetService::new(
        shared.clone(),
        shared,
        clock.clone(),
        SheetSettings {
            validity: chrono::Duration::days(90),
            attempts: AttemptLimit::MANUAL,
            public_url: hpki_core::PublicUrl::parse("https://hpki.example.jp").expect("url"),
        },
    );
    let registrations = sheets.registrations();
    let actor = Actor::system();
    let first = sheets
        .issue(&actor, &username("525252-jpa"))
        .await
        .expect("issue");
    assert!(
        first.url.starts_with("https://hpki.example.jp/r/"),
        "{}",
        first.url
    );
    let token = |url: &str| {
        SheetToken::parse(url.rsplit('/').next().expect("token")).expect("a sheet token")
    };
    let second = sheets
        .issue(&actor, &username("525252-jpa"))
        .await
        .expect("reissue");
    assert!(
        !format!("{second:?}").contains(&second.password),
        "Debug shows no password"
    );
    assert_eq!(
        registrations
            .check_password(&actor, &token(&first.url), &first.password)
            .await
            .expect("check"),
        PasswordCheck::Unusable(SheetState::Superseded)
    );
    let t2 = token(&second.url);
    assert_eq!(
        registrations.lookup(&t2).await.expect("lookup"),
        SheetLookup::Active { remaining: 5 }
    );
    assert_eq!(
        registrations
            .lookup(&token(&first.url))
            .await
            .expect("lookup"),
        SheetLookup::Unusable(SheetState::Superseded)
    );
    assert_eq!(
        registrations
            .lookup(&SheetToken::parse(&"0".repeat(32)).expect("well-formed"))
            .await
            .expect("lookup"),
        SheetLookup::Unknown
    );
    // A mistake first: the right password afterwards clears the count (the page stops saying
    // "a wrong password was entered before").
    assert_eq!(
        registrations
            .check_password(&actor, &t2, "WRANGPATH3477")
            .await
            .expect("check"),
        PasswordCheck::Wrong { remaining: 4 }
    );
    let PasswordCheck::Accepted {
        session,
        expires_at,
    } = registrations
        .check_password(&actor, &t2, &second.password)
        .await
        .expect("check")
    else {
        panic!("the right password is accepted")
    };
    assert_eq!(expires_at, at() + chrono::Duration::minutes(30));
    assert_eq!(
        registrations.lookup(&t2).await.expect("lookup"),
        SheetLookup::Active { remaining: 5 },
        "the right password cleared the count"
    );
    match registrations
        .registration(&session)
        .await
        .expect("registration")
    {
        RegistrationLookup::Open(r) => {
            assert_eq!((r.holder.id, r.sheet_id), (h.id, second.sheet_id));
        }
        other => panic!("an open registration, not {other:?}"),
    }
    // Only the session's hash is stored.
    assert!(store
        .registration(&session)
        .await
        .expect("registration")
        .is_none());
    assert!(matches!(
        registrations
            .registration("rs_unknown")
            .await
            .expect("registration"),
        RegistrationLookup::None
    ));
    // Not attempts: a malformed token (never parsed), an unknown one, a 10 KB password.
    let head = store.audit_head().await.expect("head");
    assert!(SheetToken::parse("../../etc").is_err());
    assert_eq!(
        registrations
            .check_password(&actor, &token(&"a".repeat(32)), "WRANGPATH3477")
            .await
            .expect("check"),
        PasswordCheck::Unknown
    );
    assert_eq!(
        registrations
            .check_password(&actor, &t2, &"x".repeat(10_240))
            .await
            .expect("check"),
        PasswordCheck::NotCounted(hpki_core::domain::sheet::PasswordInputError::TooLong)
    );
    assert_eq!(store.audit_head().await.expect("head"), head);
    for remaining in (1..5).rev() {
        assert_eq!(
            registrations
                .check_password(&actor, &t2, "WRANGPATH3477")
                .await
                .expect("check"),
            PasswordCheck::Wrong { remaining }
        );
    }
    assert_eq!(
        registrations
            .check_password(&actor, &t2, "WRANGPATH3477")
            .await
            .expect("check"),
        PasswordCheck::Unusable(SheetState::Locked)
    );
    assert_eq!(
        registrations
            .check_password(&actor, &t2, &second.password)
            .await
            .expect("check"),
        PasswordCheck::Unusable(SheetState::Locked),
        "even the right password cannot open a locked sheet"
    );
    assert!(
        matches!(
            registrations
                .registration(&session)
                .await
                .expect("registration"),
            RegistrationLookup::SheetEnded(SheetState::Locked)
        ),
        "a session ends with its sheet"
    );
    assert_eq!(
        registrations.lookup(&t2).await.expect("lookup"),
        SheetLookup::Unusable(SheetState::Locked)
    );
    let third = sheets
        .issue(&actor, &username("525252-jpa"))
        .await
        .expect("issue");
    assert_eq!(
        sheets
            .expiring_within(chrono::Duration::days(100))
            .await
            .expect("expiring")
            .len(),
        1
    );
    clock.advance(chrono::Duration::days(91));
    assert_eq!(
        registrations
            .check_password(&actor, &token(&third.url), &third.password)
            .await
            .expect("check"),
        PasswordCheck::Unusable(SheetState::Expired)
    );
    // The locked sheet was superseded by the third (its page then says a newer sheet was
    // issued; that it locked is in the audit log).
    let views = sheets.show(&username("525252-jpa")).await.expect("show");
    let states: Vec<SheetState> = views.iter().map(|v| v.state).collect();
    assert_eq!(
        states,
        vec![
            SheetState::Superseded,
            SheetState::Superseded,
            SheetState::Expired
        ]
    );
    assert!(
        sheets
            .revoke(&actor, &username("525252-jpa"))
            .await
            .is_err(),
        "nothing usable to revoke"
    );
}

/// A printer that refuses one holder's page on checking, or fails after `fail_after` pages.
struct TestPrinter {
    refuse: Option<String>,
    fail_after: usize,
    added: usize,
}

impl hpki_core::services::SheetCheck for TestPrinter {
    fn check(
        &self,
        holder: &hpki_core::domain::Holder,
        _photo: Option<&Photo>,
    ) -> Result<(), hpki_core::services::PageProblem> {
        match &self.refuse {
            Some(u) if *u == holder.username.to_string() => {
                Err(hpki_core::services::PageProblem::MissingGlyph('𠮷'))
            }
            _ => Ok(()),
        }
    }
}

impl hpki_core::services::SheetSink for TestPrinter {
    fn add(
        &mut self,
        _holder: &hpki_core::domain::Holder,
        _photo: &Photo,
        _sheet: &hpki_core::services::IssuedSheet,
    ) -> Result<(), hpki_core::services::PageProblem> {
        if self.added == self.fail_after {
            return Err(hpki_core::services::PageProblem::Output(
                "the disk is full".into(),
            ));
        }
        self.added += 1;
        Ok(())
    }
}

/// A print run issues for every pending holder or leaves nothing usable behind: refused pages
/// stop it before anything is issued, a failure while printing withdraws what it issued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_print_run_that_fails_leaves_no_usable_sheet() {
    use hpki_core::services::{SheetService, SheetSettings};
    let (store, dir) = sqlite_store().await;
    let mut ids = Vec::new();
    for i in 0..70u32 {
        let mut h = holder(600_000 + i, "印刷 太郎");
        h.photo = Some(Photo::from_stored(vec![0xFF, 0xD8, 0xFF, 0xD9], 64, 64));
        ids.push(
            store
                .insert_holder(&h, &event(&format!("{}-jpa", 600_000 + i)))
                .await
                .expect("holder")
                .id,
        );
    }
    let shared = Arc::new(store.clone());
    let sheets = SheetService::new(
        shared.clone(),
        shared,
        Arc::new(hpki_core::clock::FixedClock::new(at())),
        SheetSettings {
            validity: chrono::Duration::days(90),
            attempts: AttemptLimit::MANUAL,
            public_url: hpki_core::PublicUrl::parse("https://hpki.example.jp").expect("url"),
        },
    );
    let actor = Actor::system();
    let states = |store: SqlStore, ids: Vec<i64>| async move {
        let mut out = Vec::new();
        for id in ids {
            out.extend(
                store
                    .sheets_of_holder(id)
                    .await
                    .expect("sheets")
                    .iter()
                    .map(|s| s.stored_state),
            );
        }
        out
    };

    // One page refused on checking: nothing issued, nothing audited.
    let head = store.audit_head().await.expect("head");
    let mut printer = TestPrinter {
        refuse: Some("600050-jpa".into()),
        fail_after: usize::MAX,
        added: 0,
    };
    let err = sheets
        .print_pending(&actor, &mut printer)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("no sheet was issued"), "{err}");
    assert!(
        err.to_string()
            .contains("600050-jpa: the sheet font has no glyph for '𠮷'"),
        "{err}"
    );
    assert_eq!(printer.added, 0);
    assert!(states(store.clone(), ids.clone()).await.is_empty());
    assert_eq!(store.audit_head().await.expect("head"), head);

    // Printing fails on page 67 (the second chunk): all 70 issued sheets are withdrawn.
    let mut printer = TestPrinter {
        refuse: None,
        fail_after: 66,
        added: 0,
    };
    let err = sheets
        .print_pending(&actor, &mut printer)
        .await
        .expect_err("failed");
    assert!(err.to_string().contains("the disk is full"), "{err}");
    assert!(
        err.to_string()
            .contains("the 70 sheets it had issued were withdrawn"),
        "{err}"
    );
    let after_failure = states(store.clone(), ids.clone()).await;
    assert_eq!(after_failure.len(), 70);
    assert!(
        after_failure.iter().all(|s| *s == SheetState::Revoked),
        "{after_failure:?}"
    );

    // Then a run that works issues for all 70 again.
    let mut printer = TestPrinter {
        refuse: None,
        fail_after: usize::MAX,
        added: 0,
    };
    let run = sheets
        .print_pending(&actor, &mut printer)
        .await
        .expect("printed");
    assert_eq!((run.printed, printer.added), (70, 70));
    let all = states(store.clone(), ids.clone()).await;
    assert_eq!(all.iter().filter(|s| **s == SheetState::Active).count(), 70);
    let run = sheets
        .print_pending(&actor, &mut printer)
        .await
        .expect("nothing left");
    assert_eq!(run.printed, 0);
    store.close().await;
    drop(dir);
}
