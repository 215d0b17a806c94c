//! An HSM outage against a real token (SoftHSM2, as in softhsm.rs). A test binary of its own:
//! it makes a token before the PKCS#11 library starts in this process (a library that started
//! earlier does not see tokens made later), and softhsm2-util must not run while other tests
//! write to the shared token.

use hpki_core::keystore::{KeyAlgorithm, Keystore, KeystoreError};
use hpki_keystore_pkcs11::{Pkcs11Config, Pkcs11Keystore};

fn config() -> Pkcs11Config {
    hpki_test_support::pkcs11_config(4)
}

/// A token that goes away under a running keystore (an HSM unplugged, its token deleted) makes
/// signing fail as *unavailable* (the service answers 503 and asks to try again), not as a
/// failed key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_goes_away_is_unavailable_not_a_bad_key() {
    let base = config();
    let label = format!("vanish-{}", std::process::id());
    let init = std::process::Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", &label])
        .args(["--so-pin", "12345678", "--pin", &base.pin])
        .output()
        .expect("softhsm2-util runs (scripts/test installs softhsm2)");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let ks = Pkcs11Keystore::open(&Pkcs11Config {
        token_label: label.clone(),
        sessions: 1,
        ..base
    })
    .expect("open the new token");
    let key = ks
        .generate(KeyAlgorithm::EcdsaP256, "vanishing")
        .await
        .expect("generate");
    ks.sign(&key.key_ref, KeyAlgorithm::EcdsaP256, b"before")
        .await
        .expect("signs while the token is there");
    let deleted = std::process::Command::new("softhsm2-util")
        .args(["--delete-token", "--token", &label])
        .output()
        .expect("softhsm2-util runs");
    assert!(
        deleted.status.success(),
        "{}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    let gone = ks
        .sign(&key.key_ref, KeyAlgorithm::EcdsaP256, b"after")
        .await
        .expect_err("the token is gone");
    assert!(
        matches!(gone, KeystoreError::Unavailable(_)),
        "expected Unavailable, got {gone:?}"
    );
}
