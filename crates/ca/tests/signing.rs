//! The second certificate's key signs only while its certificate is valid, on a clock the test
//! controls (SQLite store, software keystore: the real parts).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hpki_ca::{CaService, CaSettings};
use hpki_core::audit::Actor;
use hpki_core::clock::FixedClock;
use hpki_core::domain::{RevocationReason, Serial, Username};
use hpki_core::keystore::KeyAlgorithm;
use hpki_core::services::{HolderInput, HolderService};
use hpki_core::Error;
use hpki_keystore_soft::SoftKeystore;

fn settings(algorithm: KeyAlgorithm) -> CaSettings {
    CaSettings {
        algorithm,
        root_name: "C=JP, O=test, CN=Test Root".into(),
        signing_ca_name: "C=JP, O=test, CN=Test Signing CA".into(),
        authentication_ca_name: "C=JP, O=test, CN=Test Auth CA".into(),
        signing_policy: "1.3.6.1.4.1.32473.1.1".parse().expect("oid"),
        authentication_policy: "1.3.6.1.4.1.32473.1.2".parse().expect("oid"),
        qualification_scheme: "1.2.392.100495.1.6.1.1".parse().expect("oid"),
        root_validity_years: 30,
        ca_validity_years: 20,
        end_entity_validity_days: 30,
        crl_validity: chrono::Duration::hours(24),
        ocsp_validity: chrono::Duration::hours(1),
        ocsp_responder_validity_days: 90,
        public_url: hpki_core::PublicUrl::parse("https://hpki.example.jp").expect("url"),
    }
}

async fn setup(algorithm: KeyAlgorithm) -> (CaService, Arc<FixedClock>, tempfile::TempDir) {
    let (store, dir) = hpki_test_support::sqlite_store().await;
    let start: DateTime<Utc> = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
    let clock = Arc::new(FixedClock::new(start));
    let shared = Arc::new(store);
    let holders = HolderService::new(
        shared.clone(),
        clock.clone(),
        hpki_core::domain::OrgCode::jpa(),
        Default::default(),
    );
    let input = HolderInput {
        registry_number: "999999".into(),
        org: None,
        name_kanji: "薬剤 太郎".into(),
        name_kana: "ヤクザイ タロウ".into(),
        name_roman: Some("Yakuzai Taro".into()),
        date_of_birth: "1980-04-01".into(),
        qualification: "Pharmacist".into(),
    };
    holders
        .add(&Actor::system(), &input, None)
        .await
        .expect("holder");
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
        e.to_string().contains("only a revoked second certificate"),
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
    ca.issue_second(&Actor::system(), &holder())
        .await
        .expect("issue");
    ca.sign_with_second_certificate(&holder(), b"x")
        .await
        .expect("sign while valid");
    clock.advance(chrono::Duration::days(31));
    let e = ca
        .sign_with_second_certificate(&holder(), b"x")
        .await
        .expect_err("refused");
    assert!(
        e.to_string().contains("only an expired second certificate"),
        "{e}"
    );
    // Expired, so a new one may be issued.
    ca.issue_second(&Actor::system(), &holder())
        .await
        .expect("reissue after expiry");
    drop(dir);
}
