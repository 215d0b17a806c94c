//! A revocation reaches every relying party: OCSP never serves a "good" read before a
//! revocation once it is noticed, instances notice by the revocation generation (never by a
//! clock), and a CRL whose issuing failed stays due until it is published. Each test runs on
//! SQLite and on PostgreSQL (real stores, the software keystore, openssl as the judge of CRLs).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use der::Decode;
use hpki_ca::CaService;
use hpki_core::audit::Actor;
use hpki_core::clock::{Clock, FixedClock, SystemClock};
use hpki_core::domain::{CaRole, RevocationReason, Serial, Username};
use hpki_core::keystore::{
    DigestSigning, GeneratedKey, KeyAlgorithm, KeyRef, Keystore, KeystoreError, Sha256Digest,
};
use hpki_core::services::HolderService;
use hpki_core::store::{CertificateStore, Store};
use hpki_keystore_soft::SoftKeystore;
use hpki_store_sql::SqlStore;
use tokio::sync::Notify;

mod common;
use common::{ocsp_request, serial_bytes, settings, signing_ca};
use hpki_ca::testing::holder_input;

/// The software keystore, with two ways to misbehave on cue: every signature fails while
/// `failing` is set, and the next signature after `pause_next` waits (after telling
/// `paused`) until `resume` — a deterministic gap between reading a status and caching it.
struct TestKeystore {
    inner: SoftKeystore,
    failing: AtomicBool,
    pause_next: AtomicBool,
    paused: Notify,
    resume: Notify,
}

impl TestKeystore {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: SoftKeystore::new(&[9u8; 32]).expect("keystore"),
            failing: AtomicBool::new(false),
            pause_next: AtomicBool::new(false),
            paused: Notify::new(),
            resume: Notify::new(),
        })
    }

    async fn turn(&self) -> Result<(), KeystoreError> {
        if self.pause_next.swap(false, Ordering::SeqCst) {
            self.paused.notify_one();
            self.resume.notified().await;
        }
        if self.failing.load(Ordering::SeqCst) {
            return Err(KeystoreError::Unavailable(
                "the token was taken away".into(),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl Keystore for TestKeystore {
    fn backend(&self) -> &'static str {
        "software"
    }

    async fn generate(&self, a: KeyAlgorithm, label: &str) -> Result<GeneratedKey, KeystoreError> {
        self.turn().await?;
        self.inner.generate(a, label).await
    }

    async fn sign(
        &self,
        key: &KeyRef,
        a: KeyAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, KeystoreError> {
        self.turn().await?;
        self.inner.sign(key, a, message).await
    }

    async fn sign_digests(
        &self,
        key: &KeyRef,
        a: KeyAlgorithm,
        scheme: DigestSigning,
        digests: &[Sha256Digest],
    ) -> Result<Vec<Vec<u8>>, KeystoreError> {
        self.turn().await?;
        self.inner.sign_digests(key, a, scheme, digests).await
    }

    async fn has_key(&self, key: &KeyRef, a: KeyAlgorithm) -> Result<bool, KeystoreError> {
        self.turn().await?;
        self.inner.has_key(key, a).await
    }

    async fn destroy(&self, key: &KeyRef) -> Result<(), KeystoreError> {
        self.turn().await?;
        self.inner.destroy(key).await
    }
}

/// A clock some way behind the real one (another instance's badly set clock).
struct BehindClock(Duration);

impl Clock for BehindClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() - self.0
    }
}

/// One instance of the CA on a store.
fn instance(store: &SqlStore, keystore: Arc<dyn Keystore>, clock: Arc<dyn Clock>) -> CaService {
    let shared = Arc::new(store.clone());
    CaService::new(
        shared.clone(),
        shared,
        keystore,
        clock,
        settings(KeyAlgorithm::EcdsaP256),
    )
}

/// A CA hierarchy with OCSP responders, and holders 900001… each with a second certificate.
async fn hierarchy_with_holders(
    ca: &CaService,
    store: &SqlStore,
    clock: Arc<dyn Clock>,
    holders: u32,
) -> Vec<Serial> {
    ca.init_hierarchy(&Actor::system())
        .await
        .expect("hierarchy");
    ca.ensure_ocsp_responders(&Actor::system())
        .await
        .expect("responders");
    let service = HolderService::new(
        Arc::new(store.clone()),
        clock,
        hpki_core::domain::OrgCode::jpa(),
        Default::default(),
    );
    let mut serials = Vec::new();
    for i in 0..holders {
        let number = format!("{}", 900_001 + i);
        service
            .add(&Actor::system(), &holder_input(&number), None)
            .await
            .expect("holder");
        let username = Username::parse(&format!("{number}-jpa")).expect("username");
        let cert = ca
            .issue_second(&Actor::system(), &username)
            .await
            .expect("second certificate");
        serials.push(Serial::parse(&cert.serial).expect("serial"));
    }
    serials
}

#[derive(Debug, PartialEq)]
enum Status {
    Good,
    Revoked,
    Other,
}

/// What an instance answers about a serial of the signing CA, and whether it may be reused.
async fn ask(ca: &CaService, serial: &Serial) -> (Status, bool) {
    let request = ocsp_request(&signing_ca(ca).await, &serial_bytes(serial.as_str()));
    let answer = ca.ocsp_response(&request).await;
    let response = x509_ocsp::OcspResponse::from_der(&answer.der).expect("an OCSP response");
    let bytes = response.response_bytes.expect("a successful response");
    let basic =
        x509_ocsp::BasicOcspResponse::from_der(bytes.response.as_bytes()).expect("basic response");
    let status = match basic.tbs_response_data.responses[0].cert_status {
        x509_ocsp::CertStatus::Good(_) => Status::Good,
        x509_ocsp::CertStatus::Revoked(_) => Status::Revoked,
        x509_ocsp::CertStatus::Unknown(_) => Status::Other,
    };
    (status, answer.reuse.is_some())
}

async fn revoke(ca: &CaService, serial: &Serial) -> hpki_ca::IssuedCertificate {
    ca.revoke(&Actor::system(), serial, RevocationReason::KeyCompromise)
        .await
        .expect("revoke")
}

async fn postgres() -> (SqlStore, String) {
    let url = hpki_test_support::fresh_postgres_database("hpki_revocation").await;
    (hpki_test_support::open_store(&url, 8).await, url)
}

fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("time")
}

/// Item 1, the race: the status is read ("good"), the keystore is slow to sign, and the
/// certificate is revoked in that gap. The answer already read goes to its asker, but is not
/// cached: the next asker is told "revoked".
async fn an_answer_read_before_a_revocation_is_not_cached(store: SqlStore) {
    let keystore = TestKeystore::new();
    let clock = Arc::new(FixedClock::new(start()));
    let ca = instance(&store, keystore.clone(), clock.clone());
    let serials = hierarchy_with_holders(&ca, &store, clock, 1).await;
    ca.refresh_revocations().await.expect("generation");

    keystore.pause_next.store(true, Ordering::SeqCst);
    let asking = {
        let (ca, serial) = (ca.clone(), serials[0].clone());
        tokio::spawn(async move { ask(&ca, &serial).await })
    };
    keystore.paused.notified().await;
    let revoked = revoke(&ca, &serials[0]).await;
    assert!(!revoked.crl_pending);
    keystore.resume.notify_one();
    let (status, reusable) = asking.await.expect("the asker");
    assert_eq!(status, Status::Good, "read before the revocation");
    assert!(
        !reusable,
        "an answer read before a revocation is not to be kept"
    );
    assert_eq!(ask(&ca, &serials[0]).await, (Status::Revoked, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_read_before_a_revocation_is_not_cached_sqlite() {
    let (store, _dir) = hpki_test_support::sqlite_store().await;
    an_answer_read_before_a_revocation_is_not_cached(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_read_before_a_revocation_is_not_cached_postgres() {
    an_answer_read_before_a_revocation_is_not_cached(postgres().await.0).await;
}

/// Item 1, two instances: a revocation made on an instance whose clock is behind is answered
/// "revoked" by the other once it looks (serve looks every second), although it is no later
/// than the last revocation by any clock.
async fn a_revocation_on_a_slow_clock_reaches_the_other_instance(
    first: SqlStore,
    second: SqlStore,
) {
    let clock = Arc::new(FixedClock::new(start()));
    let fast = instance(&first, TestKeystore::new(), clock.clone());
    let serials = hierarchy_with_holders(&fast, &first, clock, 2).await;
    let behind = Arc::new(FixedClock::new(start() - Duration::minutes(10)));
    let slow = instance(&second, TestKeystore::new(), behind);

    revoke(&fast, &serials[0]).await;
    fast.refresh_revocations().await.expect("generation");
    assert_eq!(ask(&fast, &serials[1]).await, (Status::Good, true));
    assert_eq!(
        ask(&fast, &serials[1]).await.0,
        Status::Good,
        "from the cache"
    );

    revoke(&slow, &serials[1]).await;
    fast.refresh_revocations().await.expect("generation");
    assert_eq!(ask(&fast, &serials[1]).await.0, Status::Revoked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_a_slow_clock_reaches_the_other_instance_sqlite() {
    let (store, dir) = hpki_test_support::sqlite_store().await;
    let url = format!("sqlite://{}/test.db", dir.path().display());
    let other = hpki_test_support::open_store(&url, 4).await;
    a_revocation_on_a_slow_clock_reaches_the_other_instance(store, other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_a_slow_clock_reaches_the_other_instance_postgres() {
    let (store, url) = postgres().await;
    let other = hpki_test_support::open_store(&url, 4).await;
    a_revocation_on_a_slow_clock_reaches_the_other_instance(store, other).await;
}

/// Item 1 under load, on PostgreSQL (several instances share only PostgreSQL): askers keep
/// asking one instance about a serial while an instance with a clock five minutes behind
/// revokes it. The asked instance looks for revocations every second, as `serve` does. No
/// "good" may arrive later than 2 seconds after the revocation returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_load_no_good_answer_arrives_two_seconds_after_a_revocation() {
    let (store, url) = postgres().await;
    let asked = instance(&store, TestKeystore::new(), Arc::new(SystemClock));
    let serials = hierarchy_with_holders(&asked, &store, Arc::new(SystemClock), 2).await;
    // An earlier revocation, by the right clock: the slow instance's comes "before" it.
    revoke(&asked, &serials[1]).await;
    let other = hpki_test_support::open_store(&url, 4).await;
    let slow = instance(
        &other,
        TestKeystore::new(),
        Arc::new(BehindClock(Duration::minutes(5))),
    );
    let upkeep = {
        let ca = asked.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                ca.refresh_revocations().await.expect("generation");
            }
        })
    };
    let answers = Arc::new(Mutex::new(Vec::new()));
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut askers = Vec::new();
    for _ in 0..4 {
        let (ca, serial, answers) = (asked.clone(), serials[0].clone(), answers.clone());
        askers.push(tokio::spawn(async move {
            while std::time::Instant::now() < until {
                let (status, _) = ask(&ca, &serial).await;
                answers
                    .lock()
                    .expect("answers")
                    .push((std::time::Instant::now(), status));
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    revoke(&slow, &serials[0]).await;
    let returned = std::time::Instant::now();
    for a in askers {
        a.await.expect("asker");
    }
    upkeep.abort();
    let answers = answers.lock().expect("answers");
    let late_good = answers
        .iter()
        .filter(|(at, s)| *s == Status::Good && *at > returned + std::time::Duration::from_secs(2))
        .count();
    let good_before = answers
        .iter()
        .filter(|(at, s)| *s == Status::Good && *at < returned)
        .count();
    let revoked_after = answers
        .iter()
        .filter(|(_, s)| *s == Status::Revoked)
        .count();
    assert!(
        good_before > 10,
        "the askers were answered before: {good_before}"
    );
    assert!(revoked_after > 10, "and after: {revoked_after}");
    assert_eq!(
        late_good, 0,
        "a good answer came more than 2 s after the revocation"
    );
}

/// The serials a CRL lists, as openssl reads it (upper-case hex, no leading zeros).
fn listed_by_openssl(der: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("crl.der");
    std::fs::write(&path, der).expect("write");
    let out = std::process::Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-text", "-in"])
        .arg(&path)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Serial Number: "))
        .map(|s| s.trim_start_matches('0').to_uppercase())
        .collect()
}

fn shown(serial: &Serial) -> String {
    serial.as_str().trim_start_matches('0').to_uppercase()
}

/// Item 2: the keystore fails while the CRL is issued. The revocation is recorded and
/// audited and the CRL is due; upkeep, trying every second with a backoff, publishes it once
/// the keystore is back, without anyone running anything again. A revocation run again
/// publishes a CRL still due.
async fn a_crl_that_failed_is_published_once_the_key_signs(store: SqlStore) {
    let keystore = TestKeystore::new();
    let clock = Arc::new(FixedClock::new(start()));
    let ca = instance(&store, keystore.clone(), clock.clone());
    let serials = hierarchy_with_holders(&ca, &store, clock.clone(), 2).await;
    assert!(ca.crl_upkeep().await.expect("upkeep").is_empty());

    keystore.failing.store(true, Ordering::SeqCst);
    let revoked = revoke(&ca, &serials[0]).await;
    assert!(revoked.crl_pending, "the CRL could not be signed");
    assert_eq!(revoked.status.as_str(), "revoked", "{revoked:?}");
    let events = store
        .audit_events_of(serials[0].as_str(), "certificate.revoked", None, 10)
        .await
        .expect("events");
    assert_eq!(events.len(), 1, "audited");
    let due = |store: SqlStore| async move {
        store
            .crl_states()
            .await
            .expect("states")
            .into_iter()
            .find(|s| s.issuer == CaRole::Signing)
            .and_then(|s| s.due)
    };
    assert!(due(store.clone()).await.is_some());
    assert!(
        !listed_by_openssl(&ca.current_crl(CaRole::Signing).await.expect("crl").der)
            .contains(&shown(&serials[0]))
    );
    // Upkeep keeps trying while the key fails, and waits a little longer each time.
    assert_eq!(
        ca.crl_upkeep().await.expect("upkeep"),
        vec![CaRole::Signing]
    );
    keystore.failing.store(false, Ordering::SeqCst);
    assert_eq!(
        ca.crl_upkeep().await.expect("upkeep"),
        vec![CaRole::Signing],
        "not before the backoff has passed"
    );
    clock.advance(Duration::seconds(2));
    assert!(ca.crl_upkeep().await.expect("upkeep").is_empty());
    assert!(due(store.clone()).await.is_none());
    let crl = ca.current_crl(CaRole::Signing).await.expect("crl");
    assert!(listed_by_openssl(&crl.der).contains(&shown(&serials[0])));

    // The second: the CRL fails again, and the operator runs the revocation again.
    keystore.failing.store(true, Ordering::SeqCst);
    assert!(revoke(&ca, &serials[1]).await.crl_pending);
    keystore.failing.store(false, Ordering::SeqCst);
    let again = revoke(&ca, &serials[1]).await;
    assert!(!again.crl_pending);
    let newer = ca.current_crl(CaRole::Signing).await.expect("crl");
    assert!(newer.number > crl.number);
    let listed = listed_by_openssl(&newer.der);
    assert!(listed.contains(&shown(&serials[0])) && listed.contains(&shown(&serials[1])));
    assert!(due(store).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crl_that_failed_is_published_once_the_key_signs_sqlite() {
    let (store, _dir) = hpki_test_support::sqlite_store().await;
    a_crl_that_failed_is_published_once_the_key_signs(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crl_that_failed_is_published_once_the_key_signs_postgres() {
    a_crl_that_failed_is_published_once_the_key_signs(postgres().await.0).await;
}

/// A CA on a fresh SQLite store with its hierarchy, on a clock the test moves.
async fn fresh_ca() -> (CaService, Arc<FixedClock>, SqlStore, tempfile::TempDir) {
    let (store, dir) = hpki_test_support::sqlite_store().await;
    let clock = Arc::new(FixedClock::new(start()));
    let ca = instance(&store, TestKeystore::new(), clock.clone());
    ca.init_hierarchy(&Actor::system())
        .await
        .expect("hierarchy");
    (ca, clock, store, dir)
}

/// CRL numbers only go up, and are at least the time of issue in seconds: a CA restored from
/// an older copy of its database never issues a number it published before.
#[tokio::test]
async fn crl_numbers_only_go_up_even_from_an_older_copy() {
    let (ca, clock, _store, _dir) = fresh_ca().await;
    let first = ca
        .issue_crl(&Actor::system(), CaRole::Signing)
        .await
        .expect("crl");
    assert!(first.number >= start().timestamp(), "{}", first.number);
    let second = ca
        .issue_crl(&Actor::system(), CaRole::Signing)
        .await
        .expect("crl");
    assert_eq!(second.number, first.number + 1, "two in one second");
    clock.advance(Duration::hours(1));
    let later = ca
        .issue_crl(&Actor::system(), CaRole::Signing)
        .await
        .expect("crl");
    assert_eq!(later.number, start().timestamp() + 3600);
}

/// With the root key offline after its ceremony, upkeep never tries to sign the root's CRL
/// (it would fail every second): the ceremony's CRL is served, the issuing CAs' CRLs are
/// issued as always, and a restore's reconciliation leaves the root's CRL alone.
#[tokio::test]
async fn upkeep_leaves_a_ca_whose_key_is_offline_to_its_ceremonies() {
    let (ca, clock, _store, _dir) = fresh_ca().await;
    let ceremony = ca
        .issue_root_crl(&Actor::system(), Duration::days(365), None)
        .await
        .expect("root CRL");
    let (algorithm, key) = ca.root_key().await.expect("root key");
    ca.take_root_key_offline(&Actor::system())
        .await
        .expect("offline");
    // Past half the root CRL's validity, and later within 30 days of its end: not tried.
    for days in [200, 140] {
        clock.advance(Duration::days(days));
        assert!(ca.crl_upkeep().await.expect("upkeep").is_empty());
        let served = ca.current_crl(CaRole::Root).await.expect("root CRL");
        assert_eq!(served.number, ceremony.number, "the ceremony's CRL");
        let signing = ca.current_crl(CaRole::Signing).await.expect("crl");
        assert_eq!(
            signing.this_update,
            clock.now(),
            "the issuing CAs' CRLs are kept fresh"
        );
    }
    let reconciled = ca
        .reconcile_after_restore(&Actor::system(), &[])
        .await
        .expect("reconcile");
    assert!(reconciled
        .issued
        .iter()
        .all(|(role, _)| *role != CaRole::Root));
    // At the next ceremony the key comes back from its file.
    let next = ca
        .issue_root_crl(
            &Actor::system(),
            Duration::days(365),
            Some((algorithm, key)),
        )
        .await
        .expect("the next ceremony");
    assert!(next.number > ceremony.number);
}
