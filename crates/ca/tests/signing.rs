//! The second certificate's key signs only while its certificate is valid, on a clock the test
//! controls (SQLite store, software keystore: the real parts).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hpki_ca::CaService;
use hpki_core::audit::Actor;
use hpki_core::clock::FixedClock;
use hpki_core::domain::{RevocationReason, Serial, Username};
use hpki_core::keystore::KeyAlgorithm;
use hpki_core::Error;
use hpki_keystore_soft::SoftKeystore;

mod common;
use common::{ocsp_request, serial_bytes, settings, signing_ca};

async fn setup(algorithm: KeyAlgorithm) -> (CaService, Arc<FixedClock>, tempfile::TempDir) {
    let (store, dir) = hpki_test_support::sqlite_store().await;
    let start: DateTime<Utc> = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
    let clock = Arc::new(FixedClock::new(start));
    let shared = Arc::new(store);
    hpki_ca::testing::add_holder(shared.clone(), clock.clone(), "999999").await;
    let keystore = Arc::new(SoftKeystore::new(&[9u8; 32]).expect("keystore"));
    let ca = CaService::new(
        shared.clone(),
        shared,
        keystore,
        clock.clone(),
        settings(algorithm),
    );
    ca.init_hierarchy(&Actor::system())
        .await
        .expect("hierarchy");
    (ca, clock, dir)
}

/// The test holder, as the edge (CLI, web) would have parsed it.
fn holder() -> Username {
    Username::parse("999999-jpa").expect("username")
}

#[tokio::test]
async fn a_revoked_second_certificate_never_signs_again() {
    let (ca, _clock, dir) = setup(KeyAlgorithm::Rsa2048).await;
    assert!(
        matches!(ca.sign_with_second_certificate(&holder(), b"x").await, Err(Error::Conflict(m)) if m.contains("has no second certificate"))
    );
    let cert = ca
        .issue_second(&Actor::system(), &holder())
        .await
        .expect("issue");
    let (sig, der) = ca
        .sign_with_second_certificate(&holder(), b"prescription")
        .await
        .expect("sign");
    assert_eq!(sig.len(), 256);
    assert!(!der.is_empty());
    ca.revoke(
        &Actor::system(),
        &Serial::parse(&cert.serial).expect("serial"),
        RevocationReason::KeyCompromise,
    )
    .await
    .expect("revoke");
    let e = ca
        .sign_with_second_certificate(&holder(), b"prescription")
        .await
        .expect_err("refused");
    assert!(
        e.to_string()
            .contains("only a revoked second certificate, whose key was destroyed"),
        "{e}"
    );
    // A new certificate brings a new key that signs.
    ca.issue_second(&Actor::system(), &holder())
        .await
        .expect("reissue");
    ca.sign_with_second_certificate(&holder(), b"prescription")
        .await
        .expect("sign again");
    drop(dir);
}

#[tokio::test]
async fn an_expired_second_certificate_never_signs_again() {
    let (ca, clock, dir) = setup(KeyAlgorithm::EcdsaP256).await;
    let issued = ca
        .issue_second(&Actor::system(), &holder())
        .await
        .expect("issue");
    // Issued at 17:00 JST on 15 January 2027 for one year: from 00:00:00 JST that day to
    // 23:59:59 JST on 15 January 2028, as real HPKI certificates.
    let utc = |s: &str| s.parse::<DateTime<Utc>>().expect("time");
    assert_eq!(issued.not_before, utc("2027-01-14T15:00:00Z"));
    assert_eq!(issued.not_after, utc("2028-01-15T14:59:59Z"));
    ca.sign_with_second_certificate(&holder(), b"x")
        .await
        .expect("sign while valid");
    // 08:00 JST on the last day: still valid.
    clock.advance(chrono::Duration::days(365) - chrono::Duration::hours(9));
    ca.sign_with_second_certificate(&holder(), b"x")
        .await
        .expect("sign on the last day");
    // 00:00 JST the day after.
    clock.advance(chrono::Duration::hours(16));
    let e = ca
        .sign_with_second_certificate(&holder(), b"x")
        .await
        .expect_err("refused");
    assert!(
        e.to_string().contains("only an expired second certificate"),
        "{e}"
    );
    // Upkeep's sweep destroys the expired key, and the refusal then says so.
    let destroyed = ca
        .destroy_spent_keys(&Actor::system())
        .await
        .expect("sweep");
    assert_eq!(destroyed, vec![issued.serial.clone()]);
    assert!(ca
        .destroy_spent_keys(&Actor::system())
        .await
        .expect("sweep")
        .is_empty());
    let e = ca
        .sign_with_second_certificate(&holder(), b"x")
        .await
        .expect_err("refused");
    assert!(
        e.to_string()
            .contains("only an expired second certificate, whose key was destroyed"),
        "{e}"
    );
    // Expired, so a new one may be issued.
    ca.issue_second(&Actor::system(), &holder())
        .await
        .expect("reissue after expiry");
    drop(dir);
}

/// Anyone can ask about serials we never issued: those answers ("unknown") are never kept, so
/// such requests cannot fill the memory; answers for real certificates are kept and reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ocsp_cache_keeps_real_answers_only() {
    use der::Decode;
    let (ca, _clock, _dir) = setup(KeyAlgorithm::EcdsaP256).await;
    let second = ca
        .issue_second(&Actor::system(), &holder())
        .await
        .expect("issue");
    ca.ensure_ocsp_responders(&Actor::system())
        .await
        .expect("responders");
    let signing = signing_ca(&ca).await;
    for i in 0..200u32 {
        let mut serial = [0x42u8; 16];
        serial[..4].copy_from_slice(&i.to_be_bytes());
        let answer = ca.ocsp_response(&ocsp_request(&signing, &serial)).await;
        x509_ocsp::OcspResponse::from_der(&answer.der).expect("an OCSP response");
    }
    assert_eq!(
        ca.ocsp_cache_size(),
        (0, 0),
        "no answer for an unknown serial is kept"
    );
    // The canonical form drops a leading zero nibble (0x0f… is "f…"): whole bytes again.
    let real = serial_bytes(&second.serial);
    let first = ca.ocsp_response(&ocsp_request(&signing, &real)).await;
    let (entries, bytes) = ca.ocsp_cache_size();
    assert_eq!(entries, 1);
    assert!(bytes >= first.der.len(), "{bytes}");
    let again = ca.ocsp_response(&ocsp_request(&signing, &real)).await;
    assert_eq!(first.der, again.der, "the same signed answer is reused");
}
