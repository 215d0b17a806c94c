//! What tests of this crate and of the crates above it build a CA with (feature `testing`):
//! settings with example names and the example OID arc (RFC 5612's 32473), and a holder.

use hpki_core::keystore::KeyAlgorithm;

use crate::CaSettings;

/// CA settings for tests: example names, the example OID arc, short validities.
pub fn settings(algorithm: KeyAlgorithm) -> CaSettings {
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
        end_entity_validity_years: 1,
        cps_uri: "https://hpki.example.jp/cps".into(),
        ocsp_in_certificates: false,
        crl_validity: chrono::Duration::hours(24),
        ocsp_validity: chrono::Duration::hours(1),
        ocsp_responder_validity_days: 90,
        public_url: hpki_core::PublicUrl::parse("https://hpki.example.jp").expect("url"),
    }
}

/// The test holder `{number}-jpa`, as the holder service takes it.
pub fn holder_input(number: &str) -> hpki_core::services::HolderInput {
    hpki_core::services::HolderInput {
        registry_number: number.into(),
        org: None,
        name_kanji: Some("薬剤 太郎".into()),
        name_kana: "ヤクザイ タロウ".into(),
        name_roman: Some("Taro Yakuzai".into()),
        date_of_birth: "1980-04-01".into(),
        qualification: "Pharmacist".into(),
        ..Default::default()
    }
}

/// Registers the test holder `{number}-jpa` (see [`holder_input`]) through the holder service.
pub async fn add_holder(
    store: std::sync::Arc<dyn hpki_core::store::Store>,
    clock: std::sync::Arc<dyn hpki_core::clock::Clock>,
    number: &str,
) -> hpki_core::domain::Holder {
    hpki_core::services::HolderService::new(
        store,
        clock,
        hpki_core::domain::OrgCode::jpa(),
        Default::default(),
    )
    .add(
        &hpki_core::audit::Actor::system(),
        &holder_input(number),
        None,
    )
    .await
    .expect("the test holder")
}
