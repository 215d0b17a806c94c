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
/// failed key; its sessions dying is healed at once, and a token that comes back is used again
/// without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_goes_away_is_unavailable_not_a_bad_key() {
    let base = config();
    let label = format!("vanish-{}", std::process::id());
    let before = token_dirs();
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
    let module = base.module.clone();
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
    ks.check().await.expect("ready while the token is there");
    // The login ended under the pool (an HSM restarted, a network HSM reconnected): the dead
    // sessions are replaced, ready again within two checks, and it signs, with no restart.
    log_out_from_outside(&module, &label);
    let mut failed_checks = 0;
    while let Err(e) = ks.check().await {
        assert!(matches!(e, KeystoreError::Unavailable(_)), "{e:?}");
        failed_checks += 1;
        assert!(failed_checks < 2, "ready again within two checks");
    }
    ks.sign(
        &key.key_ref,
        KeyAlgorithm::EcdsaP256,
        b"after the sessions died",
    )
    .await
    .expect("signs on new sessions");
    // The token's files taken away (an HSM unplugged): not ready at the next check, signing
    // unavailable, and so it stays while the token is away.
    let dir = token_dirs()
        .into_iter()
        .find(|d| !before.contains(d))
        .expect("the new token's directory");
    // Out of the token directory (the library takes any directory in it for a token).
    let away = dir
        .parent()
        .and_then(std::path::Path::parent)
        .expect("the token directory's parent")
        .join(format!("{label}.away"));
    std::fs::rename(&dir, &away).expect("take the token away");
    for _ in 0..3 {
        let down = ks.check().await.expect_err("not ready without the token");
        assert!(matches!(down, KeystoreError::Unavailable(_)), "{down:?}");
        let down = ks
            .sign(&key.key_ref, KeyAlgorithm::EcdsaP256, b"away")
            .await
            .expect_err("no signature without the token");
        assert!(matches!(down, KeystoreError::Unavailable(_)), "{down:?}");
        std::thread::sleep(std::time::Duration::from_millis(400));
    }
    // The token back (an HSM plugged in again): ready again without a restart (SoftHSM2 sees
    // it once the library is initialised again, which the pool does at most once a second),
    // and the same key signs.
    std::fs::rename(&away, &dir).expect("put the token's files back");
    let back = std::time::Instant::now();
    while let Err(e) = ks.check().await {
        assert!(matches!(e, KeystoreError::Unavailable(_)), "{e:?}");
        assert!(
            back.elapsed() < std::time::Duration::from_secs(5),
            "not ready 5 s after the token came back: {e:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    ks.sign(&key.key_ref, KeyAlgorithm::EcdsaP256, b"back")
        .await
        .expect("signs with the token back");
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

/// The token directories of the SoftHSM2 configuration the tests use.
fn token_dirs() -> Vec<std::path::PathBuf> {
    let conf = std::env::var("SOFTHSM2_CONF").expect("SOFTHSM2_CONF (scripts/test sets it)");
    let text = std::fs::read_to_string(conf).expect("softhsm2.conf");
    let root = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("directories.tokendir"))
        .and_then(|l| l.trim().strip_prefix('='))
        .map(|d| std::path::PathBuf::from(d.trim()))
        .expect("directories.tokendir");
    std::fs::read_dir(root)
        .expect("the token directory")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect()
}

/// Ends the login of every session of the token labelled `label` (a login is the process's,
/// shared by its sessions) from a session outside the keystore, through the module this
/// process has loaded already (its C_Initialize was the keystore's).
fn log_out_from_outside(module: &std::path::Path, label: &str) {
    let context = cryptoki::context::Pkcs11::new(module).expect("load the module");
    // Initialised already by the keystore in this process: that answer is expected.
    let _ = context.initialize(cryptoki::context::CInitializeArgs::new(
        cryptoki::context::CInitializeFlags::OS_LOCKING_OK,
    ));
    let slot = context
        .get_slots_with_token()
        .expect("slots")
        .into_iter()
        .find(|s| {
            context
                .get_token_info(*s)
                .is_ok_and(|t| t.label().trim() == label)
        })
        .expect("the token's slot");
    let session = context.open_ro_session(slot).expect("a session of our own");
    session.logout().expect("log out");
}
