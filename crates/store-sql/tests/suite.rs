//! The storage suite, run against SQLite and against PostgreSQL. The PostgreSQL half needs
//! `HPKI_TEST_DATABASE_URL` (scripts/test starts a private server and sets it); without it
//! the test fails, it never skips.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::StreamExt;
use hpki_core::audit::{Actor, AuditEvent, ChainHead};
use hpki_core::clock::SystemClock;
use hpki_core::domain::sheet::{AttemptLimit, SheetState, SheetToken};
use hpki_core::domain::{
    CaRole, CertificateKind, NewCertificate, Revocation, RevocationReason, Serial,
};
use hpki_core::domain::{
    DateOfBirth, KanaName, KanjiName, NewHolder, OrganizationName, Photo, Qualification, RomanName,
    Username,
};
use hpki_core::services::AuditService;
use hpki_core::store::{
    CertificateStore, ImportOutcome, NewSheet, SheetStore, Store, StoreError, StoredCrl,
};
use hpki_store_sql::{ConnectOptions, DatabaseUrl, SqlStore};
use sqlx::Connection;

use hpki_test_support::{fresh_postgres_database, open_store, postgres_store, sqlite_store};

async fn open(url: &str) -> SqlStore {
    open_store(url, 8).await
}

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("time")
}

fn holder(number: u32, name: &str) -> NewHolder {
    let today = NaiveDate::from_ymd_opt(2026, 11, 27).expect("date");
    NewHolder {
        username: Username::parse(&format!("{number}-jpa")).expect("username"),
        name_kanji: KanjiName::parse(name).expect("kanji").0,
        name_kana: KanaName::parse("ヤクザイ タロウ").expect("kana"),
        name_roman: Some(RomanName::parse("Taro Yakuzai").expect("roman")),
        organization_kanji: None,
        organization_roman: None,
        date_of_birth: DateOfBirth::parse("1980-04-01", today).expect("dob"),
        qualification: Qualification::Pharmacist,
        photo: None,
    }
}

fn event(target: &str) -> AuditEvent {
    AuditEvent::new(
        at(),
        &Actor::system(),
        "holder.created",
        target,
        serde_json::json!({ "test": true }),
    )
}

async fn head(store: &SqlStore) -> ChainHead {
    store.audit_head().await.expect("head")
}

async fn assert_chain_intact(store: &SqlStore, events: i64) {
    let audit = AuditService::new(Arc::new(store.clone()), Arc::new(SystemClock));
    let report = audit.verify(&[]).await.expect("verify");
    assert_eq!(report.finding, None);
    assert_eq!(report.last_seq, events);
    let streamed: Vec<_> = store.audit_events(0).collect().await;
    assert_eq!(streamed.len() as i64, events);
}

async fn holders_round_trip(store: &SqlStore) {
    let h = NewHolder {
        name_kanji: KanjiName::from_parts("神楽坂", Some("四十")).expect("parts"),
        organization_kanji: Some(OrganizationName::parse_kanji("例の薬局").expect("kanji")),
        organization_roman: Some(OrganizationName::parse_roman("Example Pharmacy").expect("o")),
        ..holder(999_999, "薬剤 太郎")
    };
    let stored = store
        .insert_holder(&h, &event("999999-jpa"))
        .await
        .expect("insert");
    assert!(h.same_data_as(&stored), "{stored:?}");
    let read = store
        .holder(&h.username)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(read, stored);
    assert_eq!(head(store).await.seq, 1);

    // A duplicate is a conflict, and leaves neither a row nor an event behind.
    let dup = store
        .insert_holder(&holder(999_999, "別人 花子"), &event("999999-jpa"))
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    assert_eq!(head(store).await.seq, 1);
    assert_eq!(store.count_holders().await.expect("count"), 1);
    assert_chain_intact(store, 1).await;
}

async fn import_is_all_or_nothing_and_idempotent(store: &SqlStore) {
    let base = head(store).await.seq;
    let holders_before = store.count_holders().await.expect("count");
    let rows: Vec<(NewHolder, AuditEvent)> = (1..=1200u32)
        .map(|i| {
            let h = holder(100_000 + i, "薬剤 太郎");
            let e = event(&h.username.to_string());
            (h, e)
        })
        .collect();
    let r = store.import_holders(&rows).await.expect("import");
    assert_eq!(
        r,
        ImportOutcome::Imported {
            inserted: 1200,
            unchanged: 0
        }
    );
    assert_eq!(head(store).await.seq, base + 1200);

    // The same file again changes nothing.
    let r = store.import_holders(&rows).await.expect("re-import");
    assert_eq!(
        r,
        ImportOutcome::Imported {
            inserted: 0,
            unchanged: 1200
        }
    );
    assert_eq!(head(store).await.seq, base + 1200);

    // One contradicting row refuses everything, including the new rows before it.
    let mut mixed = vec![(holder(200_001, "新規 一郎"), event("200001-jpa"))];
    mixed.push((holder(100_005, "別人 花子"), event("100005-jpa")));
    let r = store.import_holders(&mixed).await.expect("import");
    match r {
        ImportOutcome::Conflicts(c) => {
            assert_eq!(c.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1])
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(store
        .holder(&Username::parse("200001-jpa").expect("u"))
        .await
        .expect("read")
        .is_none());
    assert_eq!(
        store.count_holders().await.expect("count"),
        holders_before + 1200
    );

    let page = store.list_holders(0, 500).await.expect("list");
    assert_eq!(page.len(), 500);
    let next = store.list_holders(page[499].id, 1000).await.expect("list");
    assert_eq!(next.len() as u64, holders_before + 700);
    assert!(next[0].id > page[499].id);
    assert_chain_intact(store, base + 1200).await;
}

async fn photos_round_trip(store: &SqlStore) {
    let mut h = holder(555_555, "写真 有子");
    h.photo = Some(Photo::from_stored(
        vec![0xFF, 0xD8, 0xFF, 1, 2, 3],
        300,
        400,
    ));
    store
        .insert_holder(&h, &event("555555-jpa"))
        .await
        .expect("insert");
    let photo = store
        .holder_photo(&h.username)
        .await
        .expect("read")
        .expect("photo");
    assert_eq!(photo.jpeg(), &[0xFF, 0xD8, 0xFF, 1, 2, 3]);
    assert_eq!((photo.width(), photo.height()), (300, 400));
    let stored = store
        .holder(&h.username)
        .await
        .expect("read")
        .expect("holder");
    assert_eq!(stored.photo_sha256, Some(photo.sha256_hex()));

    let replacement = Photo::from_stored(vec![0xFF, 0xD8, 0xFF, 9], 64, 64);
    assert!(store
        .set_holder_photo(&h.username, &replacement, &event("555555-jpa"))
        .await
        .expect("set"));
    assert_eq!(
        store
            .holder_photo(&h.username)
            .await
            .expect("read")
            .expect("photo")
            .jpeg(),
        &[0xFF, 0xD8, 0xFF, 9]
    );

    let before = head(store).await;
    let nobody = Username::parse("1-jpa").expect("u");
    assert!(!store
        .set_holder_photo(&nobody, &replacement, &event("1-jpa"))
        .await
        .expect("set"));
    assert_eq!(
        head(store).await,
        before,
        "a change that did not happen is not audited"
    );
}

async fn operators_round_trip(store: &SqlStore) {
    let ev = AuditEvent::new(
        at(),
        &Actor::system(),
        "operator.created",
        "alice",
        serde_json::json!({}),
    );
    let op = store
        .insert_operator(
            "alice",
            hpki_core::store::OperatorRole::Auditor,
            &"ab".repeat(32),
            None,
            &ev,
        )
        .await
        .expect("insert");
    assert_eq!(op.role, hpki_core::store::OperatorRole::Auditor);
    let found = store
        .operator_by_token_hash(&"ab".repeat(32))
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(found, op);
    assert!(store
        .operator_by_token_hash(&"cd".repeat(32))
        .await
        .expect("lookup")
        .is_none());
    let dup = store
        .insert_operator(
            "alice",
            hpki_core::store::OperatorRole::Operator,
            &"ef".repeat(32),
            None,
            &ev,
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
}

/// An operator's token can be revoked, rotated, expire, and the operator disabled: each one
/// stops the token at once, audited; the last use is noted (at most every five minutes).
async fn operator_tokens_are_revoked_rotated_and_expire(store: &SqlStore) {
    use hpki_core::services::OperatorService;
    use hpki_core::store::OperatorChange;
    let clock = Arc::new(hpki_core::clock::FixedClock::new(at()));
    let operators = OperatorService::new(Arc::new(store.clone()), clock.clone());
    let actor = Actor::system();
    let (_, token) = operators
        .add(
            &actor,
            "bob",
            hpki_core::store::OperatorRole::Operator,
            Some(chrono::Duration::days(30)),
        )
        .await
        .expect("add");
    let used = operators
        .authenticate(&token)
        .await
        .expect("a fresh token works");
    assert_eq!(used.name, "bob");
    let listed = operators.list().await.expect("list");
    assert_eq!(listed[0].last_used_at, Some(at()), "the use was noted");
    assert_eq!(
        listed[0].token_expires_at,
        Some(at() + chrono::Duration::days(30))
    );
    let refused = |r: Result<hpki_core::store::Operator, hpki_core::Error>| {
        matches!(r, Err(hpki_core::Error::Unauthenticated))
    };
    // Revoked: refused at once; a rotation gives a new token, the old stays refused.
    operators
        .change(&actor, "bob", OperatorChange::RevokeToken)
        .await
        .expect("revoke");
    assert!(refused(operators.authenticate(&token).await));
    let (_, rotated) = operators.rotate(&actor, "bob", None).await.expect("rotate");
    assert!(
        refused(operators.authenticate(&token).await),
        "the old token"
    );
    operators
        .authenticate(&rotated)
        .await
        .expect("the new token");
    // Disabled: no token works until enabled.
    operators
        .change(&actor, "bob", OperatorChange::Disable)
        .await
        .expect("disable");
    assert!(refused(operators.authenticate(&rotated).await));
    operators
        .change(&actor, "bob", OperatorChange::Enable)
        .await
        .expect("enable");
    operators
        .authenticate(&rotated)
        .await
        .expect("enabled again");
    // Expiry, on the service's clock.
    let (_, short) = operators
        .rotate(&actor, "bob", Some(chrono::Duration::hours(1)))
        .await
        .expect("rotate");
    operators
        .authenticate(&short)
        .await
        .expect("before it expires");
    clock.advance(chrono::Duration::hours(2));
    assert!(
        refused(operators.authenticate(&short).await),
        "after it expired"
    );
    assert!(matches!(
        operators
            .change(&actor, "nobody", OperatorChange::Disable)
            .await,
        Err(hpki_core::Error::NotFound(_))
    ));
    let events: Vec<_> = store.audit_events(0).collect().await;
    let actions: Vec<String> = events
        .into_iter()
        .map(|e| e.expect("event").action)
        .filter(|a| a.starts_with("operator."))
        .collect();
    assert_eq!(
        actions,
        [
            "operator.created",
            "operator.token_revoked",
            "operator.token_rotated",
            "operator.disabled",
            "operator.enabled",
            "operator.token_rotated"
        ]
    );
}

/// Many writers at once: every holder lands once, and the chain stays one unbroken line.
async fn concurrent_writers_keep_the_chain(store: &SqlStore) {
    let before = head(store).await.seq;
    let mut tasks = Vec::new();
    for i in 0..40u32 {
        let store = store.clone();
        // Half of them race for the same holder.
        let number = if i % 2 == 0 { 700_000 } else { 700_000 + i };
        tasks.push(tokio::spawn(async move {
            store
                .insert_holder(
                    &holder(number, "並行 太郎"),
                    &event(&format!("{number}-jpa")),
                )
                .await
        }));
    }
    let mut ok = 0;
    let mut conflicts = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(_) => ok += 1,
            Err(StoreError::Conflict(_)) => conflicts += 1,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!((ok, conflicts), (21, 19));
    assert_eq!(head(store).await.seq, before + 21);
}

fn certificate(serial: &str, kind: CertificateKind, issuer: CaRole) -> NewCertificate {
    NewCertificate {
        serial: Serial::parse(serial).expect("serial"),
        kind,
        issuer,
        holder_id: None,
        key: None,
        subject: "CN=test".into(),
        der: vec![0x30, 0x00],
        not_before: at(),
        not_after: at() + chrono::Duration::days(30),
    }
}

/// Certificates, revocation (idempotent), the revoked list that CRLs are made of, CRL numbers.
async fn certificates_and_revocations(store: &SqlStore) {
    let certs: Vec<NewCertificate> = (1..=45_000u32)
        .map(|i| {
            certificate(
                &format!("{:x}", 0x1000_0000u32 + i),
                CertificateKind::CardSigning,
                CaRole::Signing,
            )
        })
        .chain(std::iter::once(certificate(
            "abcdef",
            CertificateKind::CardAuthentication,
            CaRole::Authentication,
        )))
        .collect();
    let ev = AuditEvent::new(
        at(),
        &Actor::system(),
        "certificate.issued",
        "many",
        serde_json::json!({}),
    );
    store
        .insert_certificates(&certs, std::slice::from_ref(&ev))
        .await
        .expect("insert");
    let dup = store
        .insert_certificates(&certs[..1], std::slice::from_ref(&ev))
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");

    // Revoke every third signing certificate, and the authentication one.
    let reasons = [
        RevocationReason::KeyCompromise,
        RevocationReason::Superseded,
        RevocationReason::Unspecified,
    ];
    let mut expected = Vec::new();
    for (n, c) in certs.iter().enumerate().filter(|(n, _)| n % 3 == 0) {
        let r = Revocation {
            at: at() + chrono::Duration::seconds(n as i64),
            reason: reasons[n % 9 / 3],
        };
        let e = AuditEvent::new(
            at(),
            &Actor::system(),
            "certificate.revoked",
            c.serial.to_string(),
            serde_json::json!({}),
        );
        let done = store
            .revoke_certificate(&c.serial, r, &e)
            .await
            .expect("revoke")
            .expect("exists");
        assert_eq!(done.revocation, Some(r));
        if c.issuer == CaRole::Signing {
            expected.push((c.serial.clone(), r));
        }
        if n > 3000 && c.issuer == CaRole::Signing {
            break;
        }
    }
    let head = store.audit_head().await.expect("head");
    let again = Revocation {
        at: at(),
        reason: RevocationReason::CaCompromise,
    };
    let e = AuditEvent::new(
        at(),
        &Actor::system(),
        "certificate.revoked",
        "x",
        serde_json::json!({}),
    );
    let same = store
        .revoke_certificate(&expected[0].0, again, &e)
        .await
        .expect("revoke")
        .expect("exists");
    assert_eq!(
        same.revocation,
        Some(expected[0].1),
        "revoking again changes nothing"
    );
    assert_eq!(
        store.audit_head().await.expect("head"),
        head,
        "and writes no event"
    );
    assert!(store
        .revoke_certificate(&Serial::parse("dead").expect("s"), again, &e)
        .await
        .expect("revoke")
        .is_none());

    let mut listed = store.revoked_by(CaRole::Signing).await.expect("revoked");
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(listed, expected);
    assert!(store
        .revoked_by(CaRole::Authentication)
        .await
        .expect("revoked")
        .is_empty());

    let crl_event = AuditEvent::new(
        at(),
        &Actor::system(),
        "crl.issued",
        "sign",
        serde_json::json!({}),
    );
    assert_eq!(
        store
            .next_crl_number(CaRole::Signing, &crl_event)
            .await
            .expect("n"),
        1
    );
    assert_eq!(
        store
            .next_crl_number(CaRole::Signing, &crl_event)
            .await
            .expect("n"),
        2
    );
    assert_eq!(
        store
            .next_crl_number(CaRole::Root, &crl_event)
            .await
            .expect("n"),
        1
    );
    let crl = StoredCrl {
        number: 2,
        der: vec![1, 2, 3],
        this_update: at(),
        next_update: at(),
    };
    assert!(store.save_crl(CaRole::Signing, &crl).await.expect("save"));
    let stale = StoredCrl {
        number: 1,
        ..crl.clone()
    };
    assert!(
        !store.save_crl(CaRole::Signing, &stale).await.expect("save"),
        "an older CRL does not replace a newer"
    );
    assert_eq!(
        store
            .latest_crl(CaRole::Signing)
            .await
            .expect("latest")
            .map(|c| c.number),
        Some(2)
    );
    assert!(store.last_revocation().await.expect("last").is_some());
}

/// Sheets: reissue supersedes; N concurrent wrong passwords lock after exactly `max`.
async fn sheets_lock_after_exactly_n(store: &SqlStore) {
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
    let ev = |action: &'static str| {
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
            "sheet.superseded",
            id.to_string(),
            serde_json::json!({}),
        )
    };
    let issue_one = |hash: String| {
        let batch = vec![(sheet(&hash), ev("sheet.issued"))];
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
            let e = |a: &'static str| {
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
                let mut events = vec![e("sheet.password_failed")];
                if next.state == SheetState::Locked {
                    events.push(e("sheet.locked"));
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
            .end_sheet(found.id, SheetState::Revoked, &ev("sheet.revoked"))
            .await
            .expect("end"),
        "a locked sheet is not active"
    );
    let third = issue_one("c".repeat(64)).await.expect("issue");
    assert!(store
        .end_sheet(third.id, SheetState::Revoked, &ev("sheet.revoked"))
        .await
        .expect("end"));
    assert!(store
        .sheets_expiring(at() + chrono::Duration::days(365))
        .await
        .expect("expiring")
        .is_empty());
}

/// The sheet service over this store: issue, supersede, the password check and its lock.
async fn sheet_service(store: &SqlStore) {
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
            .check_password(&actor, &t2, "WrangPass347")
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
            .check_password(&actor, &token(&"a".repeat(32)), "WrangPass347")
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
                .check_password(&actor, &t2, "WrangPass347")
                .await
                .expect("check"),
            PasswordCheck::Wrong { remaining }
        );
    }
    assert_eq!(
        registrations
            .check_password(&actor, &t2, "WrangPass347")
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

/// Events cannot be changed or deleted through the database either (triggers); the chain is
/// untouched by the attempts.
async fn audit_events_are_append_only(store: &SqlStore) {
    for (number, name) in [(700_001, "監査 一郎"), (700_002, "監査 二郎")] {
        store
            .insert_holder(&holder(number, name), &event(&format!("{number}-jpa")))
            .await
            .expect("insert");
    }
    let h = head(store).await;
    assert_eq!(h.seq, 2);
    let mut attempts = vec![
        "UPDATE audit_events SET actor = 'operator:mallory' WHERE seq = 1".to_owned(),
        "DELETE FROM audit_events WHERE seq = 1".to_owned(),
        format!("DELETE FROM audit_events WHERE seq = {}", h.seq),
    ];
    if store.backend() == hpki_store_sql::Backend::Postgres {
        attempts.push("TRUNCATE audit_events".to_owned());
    }
    for sql in attempts {
        let refused = sqlx::query(&sql)
            .execute(store.pool())
            .await
            .expect_err(&sql)
            .to_string();
        assert!(refused.contains("append-only"), "{sql}: {refused}");
    }
    assert_eq!(head(store).await, h);
    assert_chain_intact(store, h.seq).await;
}

/// Runs a scenario on a fresh store of each backend, then checks what every scenario must
/// leave behind: an intact audit chain and a store that answers. One test per scenario and
/// backend, so that one failure hides no other.
async fn on_fresh<F, Fut>(store: SqlStore, scenario: F)
where
    F: FnOnce(SqlStore) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    scenario(store.clone()).await;
    let h = head(&store).await;
    assert_chain_intact(&store, h.seq).await;
    store.ping().await.expect("ping");
    store.close().await;
}

async fn on_sqlite<F, Fut>(scenario: F)
where
    F: FnOnce(SqlStore) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (store, dir) = sqlite_store().await;
    on_fresh(store, scenario).await;
    drop(dir);
}

async fn on_postgres<F, Fut>(scenario: F)
where
    F: FnOnce(SqlStore) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let store = postgres_store().await;
    assert_eq!(store.backend(), hpki_store_sql::Backend::Postgres);
    on_fresh(store, scenario).await;
}

/// Requests under dual control: decided once, before they expire; an approved one is claimed
/// once (a CA import), before it expires; each step with its event.
async fn approval_requests_are_decided_and_claimed_once(store: &SqlStore) {
    use hpki_core::store::{ApprovalRequest, ApprovalState, ApprovalStore};
    let hour = chrono::Duration::hours(1);
    let ask = |action: &str| ApprovalRequest {
        id: 0,
        action: action.to_owned(),
        holder: String::new(),
        params: "{}".to_owned(),
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
        .insert_request(&ask("ca-import"), &event("ca"))
        .await
        .expect("insert");
    let second = store
        .insert_request(&ask("ca-import"), &event("ca"))
        .await
        .expect("insert");
    assert_ne!(first, second);
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

/// `scenario!(name)`: the tests `name::sqlite` and `name::postgres`.
macro_rules! scenario {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::on_sqlite(|s| async move { super::$name(&s).await }).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::on_postgres(|s| async move { super::$name(&s).await }).await;
            }
        }
    )*};
}

/// Authorization requests nobody answered are swept (they were never audited); answered ones
/// stay.
/// A relying system and holder 999999 for the OIDC and CSC scenarios.
async fn relying_system_and_holder(
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

fn authorization_request(
    client: &hpki_core::domain::oidc::ClientId,
    hash: &str,
    created: DateTime<Utc>,
) -> hpki_core::domain::oidc::NewAuthorization {
    use hpki_core::domain::oidc::{NewAuthorization, RedirectUri};
    NewAuthorization {
        login_hash: hash.to_owned(),
        client_id: client.clone(),
        redirect_uri: RedirectUri::parse("https://rp.example.jp/cb").expect("uri"),
        scope: "openid service".into(),
        state: None,
        nonce: None,
        code_challenge: "c".repeat(43),
        max_age: None,
        created_at: created,
        login_expires_at: created + chrono::Duration::minutes(10),
        consent: None,
    }
}

async fn unanswered_authorizations_are_swept(store: &SqlStore) {
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
            answered,
            holder.id,
            None,
            AuthMethod::Passkey,
            old + chrono::Duration::minutes(1),
            "code-hash",
            old + chrono::Duration::minutes(2),
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
async fn sads_are_spent_once(store: &SqlStore) {
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
            session,
            holder.id,
            None,
            AuthMethod::Passkey,
            at(),
            "code",
            at() + chrono::Duration::minutes(1),
            &event("999999-jpa")
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
            "signature.created",
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
async fn card_logins_are_answered_once(store: &SqlStore) {
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
                "oidc.card_verified",
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

/// A console session ends after its idle time without a request, at its absolute end however
/// busy, when signed out, and when its operator is disabled; requests keep it alive.
async fn console_sessions_time_out(store: &SqlStore) {
    use hpki_console::{ConsoleService, ConsoleSettings};
    use hpki_core::clock::Clock;
    use hpki_core::services::OperatorService;
    use hpki_core::store::{ConsoleSession, ConsoleStore, OperatorChange, OperatorRole};
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
    let signed_out = |r: Result<hpki_console::SignedInOperator, hpki_core::Error>| {
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

scenario!(
    approval_requests_are_decided_and_claimed_once,
    console_sessions_time_out,
    card_logins_are_answered_once,
    sads_are_spent_once,
    unanswered_authorizations_are_swept,
    holders_round_trip,
    import_is_all_or_nothing_and_idempotent,
    photos_round_trip,
    operators_round_trip,
    operator_tokens_are_revoked_rotated_and_expire,
    concurrent_writers_keep_the_chain,
    certificates_and_revocations,
    sheets_lock_after_exactly_n,
    sheet_service,
    audit_events_are_append_only,
);

/// Pooled connections that the server dropped while they sat idle (a restart, a proxy's
/// timeout) are found by a ping before use and replaced: the next query works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_dropped_while_idle_are_replaced() {
    let url = fresh_postgres_database("hpki_test").await;
    let store = open(&url).await;
    assert_eq!(store.count_holders().await.expect("count"), 0);
    let mut killer = sqlx::AnyConnection::connect(&url)
        .await
        .expect("a second connection");
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut killer)
    .await
    .expect("terminate the pool's connections");
    assert!(
        !killed.is_empty() && killed.iter().all(|k| *k),
        "{killed:?}"
    );
    // Idle long enough to be pinged before use.
    tokio::time::sleep(Duration::from_secs(6)).await;
    for _ in 0..3 {
        assert_eq!(
            store.count_holders().await.expect("count after the drop"),
            0
        );
    }
    killer.close().await.expect("close");
    store.close().await;
}

#[tokio::test]
async fn unreachable_database_is_reported_as_unavailable() {
    let r = SqlStore::connect(&ConnectOptions {
        url: DatabaseUrl::parse("postgres://nobody:pw@127.0.0.1:1/none").expect("url"),
        max_connections: 1,
        connect_timeout: Duration::from_secs(2),
    })
    .await;
    match r {
        Err(StoreError::Unavailable(msg)) => {
            assert!(msg.contains("127.0.0.1:1"), "{msg}");
            assert!(!msg.contains(":pw@"), "the password leaked: {msg}");
        }
        Err(e) => panic!("expected Unavailable, got {e}"),
        Ok(_) => panic!("connected to nothing"),
    }
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

fn username(s: &str) -> hpki_core::domain::Username {
    hpki_core::domain::Username::parse(s).expect("username")
}

/// Migration 8 takes the one-string kanji names of existing holders apart at their first
/// space, ASCII or ideographic; a one-word name stays whole as the family name.
async fn kanji_names_are_split_by_the_migration(url: &str) {
    let parsed = DatabaseUrl::parse(url).expect("url");
    let old = SqlStore::schema_at_version(&parsed, 7)
        .await
        .expect("schema 7");
    for (i, name) in ["薬剤 太郎", "神楽坂\u{3000}四十", "一語", "山田  花子 次"]
        .iter()
        .enumerate()
    {
        sqlx::query(
            "INSERT INTO holders (org, registry_number, username, name_kanji, name_kana, \
             name_roman, date_of_birth, qualification, status, photo_sha256, created_micros) \
             VALUES ('jpa', $1, $2, $3, 'ヤクザイ タロウ', 'YAKUZAI TARO', '1980-04-01', \
             'Pharmacist', 'active', NULL, 1)",
        )
        .bind(format!("{}", 100_001 + i))
        .bind(format!("{}-jpa", 100_001 + i))
        .bind(*name)
        .execute(&old)
        .await
        .expect("an old holder");
    }
    old.close().await;
    let store = open(url).await;
    let names: Vec<(String, Option<String>, String)> = store
        .list_holders(0, 10)
        .await
        .expect("list")
        .iter()
        .map(|h| {
            (
                h.name_kanji.family().to_owned(),
                h.name_kanji.given().map(str::to_owned),
                h.name_kanji.written(),
            )
        })
        .collect();
    let expected = [
        ("薬剤", Some("太郎"), "薬剤\u{3000}太郎"),
        ("神楽坂", Some("四十"), "神楽坂\u{3000}四十"),
        ("一語", None, "一語"),
        ("山田", Some("花子 次"), "山田\u{3000}花子 次"),
    ];
    let expected: Vec<(String, Option<String>, String)> = expected
        .iter()
        .map(|(f, g, w)| ((*f).to_owned(), g.map(str::to_owned), (*w).to_owned()))
        .collect();
    assert_eq!(names, expected);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kanji_names_are_split_by_the_migration_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}/old.db?mode=rwc", dir.path().display());
    kanji_names_are_split_by_the_migration(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kanji_names_are_split_by_the_migration_on_postgres() {
    kanji_names_are_split_by_the_migration(&fresh_postgres_database("hpki_test").await).await;
}
