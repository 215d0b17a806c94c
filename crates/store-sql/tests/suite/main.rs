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
        hpki_core::audit::Action::HOLDER_CREATED,
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
    assert_eq!(store.audit_head().await.expect("head").seq, 1);

    // A duplicate is a conflict, and leaves neither a row nor an event behind.
    let dup = store
        .insert_holder(&holder(999_999, "別人 花子"), &event("999999-jpa"))
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    assert_eq!(store.audit_head().await.expect("head").seq, 1);
    assert_eq!(store.count_holders().await.expect("count"), 1);
    assert_chain_intact(store, 1).await;
}

async fn import_is_all_or_nothing_and_idempotent(store: &SqlStore) {
    let base = store.audit_head().await.expect("head").seq;
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
    assert_eq!(store.audit_head().await.expect("head").seq, base + 1200);

    // The same file again changes nothing.
    let r = store.import_holders(&rows).await.expect("re-import");
    assert_eq!(
        r,
        ImportOutcome::Imported {
            inserted: 0,
            unchanged: 1200
        }
    );
    assert_eq!(store.audit_head().await.expect("head").seq, base + 1200);

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
        hpki_core::audit::Action::OPERATOR_CREATED,
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
    let before = store.audit_head().await.expect("head").seq;
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
    assert_eq!(store.audit_head().await.expect("head").seq, before + 21);
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
        hpki_core::audit::Action::CERTIFICATE_ISSUED,
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
            hpki_core::audit::Action::CERTIFICATE_REVOKED,
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
        hpki_core::audit::Action::CERTIFICATE_REVOKED,
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
        hpki_core::audit::Action::CRL_ISSUED,
        "sign",
        serde_json::json!({}),
    );
    // Numbers go up by one, and jump to the floor given (the time in seconds) when it is higher.
    let number = |role, floor| {
        let store = store.clone();
        async move { store.next_crl_number(role, floor).await.expect("n") }
    };
    assert_eq!(number(CaRole::Signing, 0).await, 1);
    assert_eq!(number(CaRole::Signing, 0).await, 2);
    assert_eq!(number(CaRole::Signing, 1_800_000_000).await, 1_800_000_000);
    assert_eq!(number(CaRole::Signing, 5).await, 1_800_000_001);
    assert_eq!(number(CaRole::Root, 0).await, 1);

    // The revocations above marked the signing CA's CRL due at the generation they reached.
    let generation = store.revocation_generation().await.expect("generation");
    assert!(generation >= 1);
    let state = |store: SqlStore| async move {
        store
            .crl_states()
            .await
            .expect("states")
            .into_iter()
            .find(|s| s.issuer == CaRole::Signing)
            .expect("the signing CA's row")
    };
    assert_eq!(state(store.clone()).await.due, Some(generation));
    let crl = StoredCrl {
        number: 1_800_000_001,
        der: vec![1, 2, 3],
        this_update: at(),
        next_update: at(),
    };
    // Published with a due mark read before a later revocation: the CRL is kept, the mark stays.
    let before = store.audit_head().await.expect("head").seq;
    assert!(store
        .save_crl(CaRole::Signing, &crl, Some(generation - 1), &crl_event)
        .await
        .expect("save"));
    assert_eq!(
        store.audit_head().await.expect("head").seq,
        before + 1,
        "audited"
    );
    let s = state(store.clone()).await;
    assert_eq!(s.due, Some(generation), "still due");
    assert_eq!(s.published, Some((1_800_000_001, at(), at())));
    let stale = StoredCrl {
        number: 2,
        ..crl.clone()
    };
    assert!(
        !store
            .save_crl(CaRole::Signing, &stale, Some(generation), &crl_event)
            .await
            .expect("save"),
        "an older CRL does not replace a newer"
    );
    assert_eq!(
        store.audit_head().await.expect("head").seq,
        before + 1,
        "and writes no event"
    );
    assert_eq!(state(store.clone()).await.due, Some(generation));
    assert!(store
        .save_crl(CaRole::Signing, &crl, Some(generation), &crl_event)
        .await
        .expect("save"));
    assert_eq!(
        state(store.clone()).await.due,
        None,
        "published: no longer due"
    );
    assert_eq!(
        store
            .latest_crl(CaRole::Signing)
            .await
            .expect("latest")
            .map(|c| c.number),
        Some(1_800_000_001)
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

mod device_grants;
mod operators;
mod sheets;
mod signing;
mod tls;
use device_grants::*;
use operators::*;
use sheets::*;
use signing::*;

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

scenario!(
    approval_requests_are_decided_and_claimed_once,
    console_sessions_time_out,
    card_logins_are_answered_once,
    sads_are_spent_once,
    unanswered_authorizations_are_swept,
    device_grants_bind_once_refuse_once_and_slow_polls_down,
    dpop_proofs_are_recorded_once,
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
        schema: hpki_store_sql::Schema::Migrate,
        limits: hpki_store_sql::SessionLimits::default(),
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

/// Nothing migrates implicitly: a database one version behind is refused (`SchemaBehind`,
/// naming both versions) when the schema is required, brought up to date when migrating,
/// and then accepted.
async fn an_older_schema_is_refused_until_migrated(url: &str) {
    use hpki_store_sql::Schema;
    let parsed = DatabaseUrl::parse(url).expect("url");
    let options = |schema| ConnectOptions {
        url: parsed.clone(),
        max_connections: 2,
        connect_timeout: Duration::from_secs(10),
        schema,
        limits: hpki_store_sql::SessionLimits::default(),
    };
    // The newest version, from a store that migrated a scratch database.
    let newest = {
        let scratch = tempfile::tempdir().expect("dir");
        let store = hpki_test_support::open_store(
            &format!("sqlite://{}/n.db?mode=rwc", scratch.path().display()),
            1,
        )
        .await;
        let v = store.schema_version().await.expect("version");
        store.close().await;
        v
    };
    let old = SqlStore::schema_at_version(&parsed, newest - 1)
        .await
        .expect("the schema a release ago");
    old.close().await;
    match SqlStore::connect(&options(Schema::Require)).await {
        Err(StoreError::SchemaBehind { have, want }) => {
            assert_eq!((have, want), (newest - 1, newest));
        }
        Err(e) => panic!("expected SchemaBehind, got {e}"),
        Ok(_) => panic!("an older schema was taken as it is"),
    }
    let migrated = SqlStore::connect(&options(Schema::Migrate))
        .await
        .expect("migrate");
    assert_eq!(migrated.schema_version().await.expect("version"), newest);
    migrated.close().await;
    let required = SqlStore::connect(&options(Schema::Require))
        .await
        .expect("up to date");
    required.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_schema_is_refused_until_migrated_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}/old.db?mode=rwc", dir.path().display());
    an_older_schema_is_refused_until_migrated(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_schema_is_refused_until_migrated_on_postgres() {
    an_older_schema_is_refused_until_migrated(&fresh_postgres_database("hpki_test").await).await;
}

/// PostgreSQL's session limits and "not now" answers: a write behind another session holding
/// the audit chain's head answers `Unavailable` after `lock_timeout` instead of waiting for
/// ever, and writes again once the lock is gone; a read-only database (a standby, a demoted
/// primary) is `Unavailable` (503), not an internal error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lock_or_a_read_only_database_answers_unavailable_on_postgres() {
    use hpki_store_sql::{Schema, SessionLimits};
    let url = fresh_postgres_database("hpki_test").await;
    let options = |schema| ConnectOptions {
        url: DatabaseUrl::parse(&url).expect("url"),
        max_connections: 2,
        connect_timeout: Duration::from_secs(10),
        schema,
        limits: SessionLimits {
            lock: Duration::from_secs(1),
            ..SessionLimits::default()
        },
    };
    let store = SqlStore::connect(&options(Schema::Migrate))
        .await
        .expect("connect");
    store.record_event(&event("before")).await.expect("a write");
    let mut other = sqlx::AnyConnection::connect(&url).await.expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut other)
        .await
        .expect("begin");
    sqlx::query("SELECT seq FROM audit_head FOR UPDATE")
        .fetch_all(&mut other)
        .await
        .expect("hold the head");
    let started = std::time::Instant::now();
    match store.record_event(&event("blocked")).await {
        Err(StoreError::Unavailable(why)) => assert!(why.contains("lock"), "{why}"),
        other => panic!("expected Unavailable after the lock timeout, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "waited too long"
    );
    sqlx::query("ROLLBACK")
        .execute(&mut other)
        .await
        .expect("rollback");
    store
        .record_event(&event("after"))
        .await
        .expect("writes again");
    store.close().await;

    let database = url.rsplit('/').next().expect("database name").to_owned();
    sqlx::query(&format!(
        "ALTER DATABASE \"{database}\" SET default_transaction_read_only = on"
    ))
    .execute(&mut other)
    .await
    .expect("read-only");
    let read_only = SqlStore::connect(&options(Schema::Require))
        .await
        .expect("connect to a read-only database");
    match read_only.record_event(&event("refused")).await {
        Err(StoreError::Unavailable(why)) => assert!(why.contains("read-only"), "{why}"),
        other => panic!("expected Unavailable on a read-only database, got {other:?}"),
    }
    read_only.close().await;
    other.close().await.expect("close");
}
