//! The PKCS#11 keystore against a real token: SoftHSM2, which scripts/test installs and
//! initialises (HPKI_TEST_PKCS11_* name it). Without it the test fails; it never skips.

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1, RSA_PKCS1_2048_8192_SHA256};
use der::asn1::BitString;
use der::Decode;
use hpki_core::keystore::{KeyAlgorithm, Keystore, KeystoreError};
use hpki_keystore_pkcs11::{Pkcs11Config, Pkcs11Keystore};
use spki::SubjectPublicKeyInfoOwned;

fn config() -> Pkcs11Config {
    hpki_test_support::pkcs11_config(4)
}

fn key_bits(spki: &[u8]) -> Vec<u8> {
    let spki = SubjectPublicKeyInfoOwned::from_der(spki).expect("SPKI");
    let bits: BitString = spki.subject_public_key;
    bits.raw_bytes().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_made_and_used_inside_the_token() {
    let ks = Pkcs11Keystore::open(&config()).expect("open the token");
    assert_eq!(ks.backend(), "pkcs11");
    for (alg, verify) in [
        (
            KeyAlgorithm::Rsa2048,
            &RSA_PKCS1_2048_8192_SHA256 as &dyn aws_lc_rs::signature::VerificationAlgorithm,
        ),
        (KeyAlgorithm::EcdsaP256, &ECDSA_P256_SHA256_ASN1),
    ] {
        let key = ks.generate(alg, "test").await.expect("generate");
        assert!(
            ks.is_protected(&key.key_ref).await.expect("attributes"),
            "{alg:?} key is extractable"
        );
        // Concurrent signatures over the session pool, each checked against the public key.
        let mut tasks = Vec::new();
        for i in 0..16u8 {
            let (ks, key_ref) = (ks.clone(), key.key_ref.clone());
            tasks.push(tokio::spawn(async move {
                (i, ks.sign(&key_ref, alg, &[i; 100]).await)
            }));
        }
        let public = key_bits(&key.spki_der);
        for t in tasks {
            let (i, sig) = t.await.expect("task");
            let sig = sig.expect("sign");
            UnparsedPublicKey::new(verify, &public)
                .verify(&[i; 100], &sig)
                .expect("signature verifies");
        }
        // A key reference from elsewhere is refused with a reason.
        let e = ks
            .sign(
                &hpki_core::keystore::KeyRef::from_bytes(b"hpki-soft-v1\0xx".to_vec()),
                alg,
                b"x",
            )
            .await
            .expect_err("refused");
        assert!(matches!(e, KeystoreError::BadKey(_)), "{e}");
    }
}

#[test]
fn a_wrong_pin_or_token_is_a_clear_error() {
    let mut c = config();
    c.token_label = "no-such-token".into();
    let e = Pkcs11Keystore::open(&c).err().expect("refused");
    assert!(
        e.to_string()
            .contains("no token labelled \"no-such-token\""),
        "{e}"
    );
    let debug = format!("{:?}", config());
    assert!(!debug.contains(&config().pin), "the PIN leaked: {debug}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digests_computed_elsewhere_sign_in_the_token() {
    use aws_lc_rs::signature::RSA_PSS_2048_8192_SHA256;
    use hpki_core::keystore::DigestSigning;
    let ks = Pkcs11Keystore::open(&config()).expect("open the token");
    let message = b"a prescription";
    let digest: [u8; 32] = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message)
        .as_ref()
        .try_into()
        .expect("32 bytes");
    for (alg, scheme, verify) in [
        (
            KeyAlgorithm::Rsa2048,
            DigestSigning::RsaPkcs1,
            &RSA_PKCS1_2048_8192_SHA256 as &dyn aws_lc_rs::signature::VerificationAlgorithm,
        ),
        (
            KeyAlgorithm::Rsa2048,
            DigestSigning::RSA_PSS_SHA256,
            &RSA_PSS_2048_8192_SHA256,
        ),
        (
            KeyAlgorithm::EcdsaP256,
            DigestSigning::Ecdsa,
            &ECDSA_P256_SHA256_ASN1,
        ),
    ] {
        let key = ks.generate(alg, "digests").await.expect("generate");
        let sigs = ks
            .sign_digests(&key.key_ref, alg, scheme, &[digest, [1u8; 32]])
            .await
            .expect("sign");
        assert_eq!(sigs.len(), 2, "one signature per digest");
        let public = key_bits(&key.spki_der);
        let public = UnparsedPublicKey::new(verify, &public);
        public
            .verify(message, &sigs[0])
            .unwrap_or_else(|_| panic!("{scheme:?} signature verifies"));
        assert!(public.verify(message, &sigs[1]).is_err());
        if alg == KeyAlgorithm::Rsa2048 {
            // RSA-PSS with the salt the relying system asks for (CK_RSA_PKCS_PSS_PARAMS.sLen),
            // checked by openssl with that length.
            for salt in [0, 222] {
                let sig = ks
                    .sign_digests(&key.key_ref, alg, DigestSigning::RsaPss { salt }, &[digest])
                    .await
                    .expect("sign");
                assert!(hpki_test_support::openssl_verifies_pss(
                    &key.spki_der,
                    &digest,
                    &sig[0],
                    salt
                ));
            }
            let e = ks
                .sign_digests(
                    &key.key_ref,
                    alg,
                    DigestSigning::RsaPss { salt: 223 },
                    &[digest],
                )
                .await
                .expect_err("too long a salt");
            assert!(e.to_string().contains("at most 222"), "{e}");
        }
        let wrong = if alg == KeyAlgorithm::Rsa2048 {
            DigestSigning::Ecdsa
        } else {
            DigestSigning::RSA_PSS_SHA256
        };
        let e = ks
            .sign_digests(&key.key_ref, alg, wrong, &[digest])
            .await
            .expect_err("a scheme that does not fit the key");
        assert!(matches!(e, KeystoreError::BadKey(_)), "{e}");
    }
}

/// A destroyed key is gone from the token (`C_DestroyObject`): the keystore no longer finds
/// it, cannot sign with it, and destroying it again is no error. The token's other keys stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destroyed_key_is_gone_from_the_token() {
    let ks = Pkcs11Keystore::open(&config()).expect("open the token");
    let kept = ks
        .generate(KeyAlgorithm::EcdsaP256, "kept")
        .await
        .expect("generate");
    let key = ks
        .generate(KeyAlgorithm::EcdsaP256, "spent")
        .await
        .expect("generate");
    assert!(ks
        .has_key(&key.key_ref, KeyAlgorithm::EcdsaP256)
        .await
        .expect("ask"));
    ks.sign(&key.key_ref, KeyAlgorithm::EcdsaP256, b"x")
        .await
        .expect("sign while it is there");
    ks.destroy(&key.key_ref).await.expect("destroy");
    assert!(!ks
        .has_key(&key.key_ref, KeyAlgorithm::EcdsaP256)
        .await
        .expect("ask"));
    let e = ks
        .sign(&key.key_ref, KeyAlgorithm::EcdsaP256, b"x")
        .await
        .expect_err("no key, no signature");
    assert!(matches!(e, KeystoreError::BadKey(_)), "{e}");
    ks.destroy(&key.key_ref).await.expect("destroying it again");
    // A fresh session on the token does not find it either.
    let other = Pkcs11Keystore::open(&config()).expect("open the token again");
    assert!(!other
        .has_key(&key.key_ref, KeyAlgorithm::EcdsaP256)
        .await
        .expect("ask"));
    assert!(other
        .has_key(&kept.key_ref, KeyAlgorithm::EcdsaP256)
        .await
        .expect("ask"));
}
