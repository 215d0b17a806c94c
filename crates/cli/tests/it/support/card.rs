//! An HPKI card played by a SoftHSM2 token: its key, the authentication certificate the CA
//! issued from its CSR, written onto it with softhsm2-util and OpenSC's pkcs11-tool.

use std::path::Path;
use std::process::{Command, Output};

use super::*;

pub(crate) const CARD_PIN: &str = "246810";

pub(crate) fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let o = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        o.status.success(),
        "{program} {args:?} failed: {}{}",
        stdout(&o),
        stderr(&o)
    );
    o
}

/// A card: a SoftHSM2 token of its own (its own configuration, so that it is the only token
/// the card client finds) holding a key made by openssl and the certificate issued for it.
pub(crate) struct CardToken {
    dir: TempDir,
    pub(crate) serial: String,
}

impl CardToken {
    /// The card of `holder`, with a certificate of `kind` (`auth` or `signing`).
    pub(crate) fn issue(data: &Path, holder: &str, kind: &str) -> Self {
        let dir = TempDir::new();
        let p = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
        let key = p("card-key.pem");
        let csr = p("card.csr");
        run(
            "openssl",
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                &key,
            ],
            &[],
        );
        run(
            "openssl",
            &[
                "req",
                "-new",
                "-key",
                &key,
                "-subj",
                "/CN=HPKI card",
                "-out",
                &csr,
            ],
            &[],
        );
        let issued = json(&ok(
            data,
            &[
                "cert",
                "issue-card",
                "--holder",
                holder,
                "--csr",
                &csr,
                "--kind",
                kind,
                "--json",
            ],
        ));
        let serial = issued["serial"].as_str().expect("serial").to_owned();
        let card = Self { dir, serial };
        let pem = ok(data, &["cert", "show", &card.serial, "--pem"]);
        let begin = pem.find("-----BEGIN CERTIFICATE-----").expect("PEM");
        std::fs::write(card.path("card.pem"), &pem[begin..]).expect("write");
        card.personalise(&key, &card.path("card.pem"));
        card
    }

    pub(crate) fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    pub(crate) fn conf(&self) -> String {
        self.path("softhsm2.conf")
    }

    /// A new token holding `key` and the certificate `cert_pem` (ID 01, label "auth").
    pub(crate) fn personalise(&self, key: &str, cert_pem: &str) {
        let tokens = self.path("tokens");
        let _ = std::fs::remove_dir_all(&tokens);
        std::fs::create_dir_all(&tokens).expect("mkdir");
        std::fs::write(
            self.conf(),
            format!(
                "directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
            ),
        )
        .expect("conf");
        let env = [("SOFTHSM2_CONF", self.conf())];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let softhsm = |args: &[&str]| run("softhsm2-util", args, &env);
        softhsm(&[
            "--init-token",
            "--free",
            "--label",
            "card",
            "--so-pin",
            "12345678",
            "--pin",
            CARD_PIN,
        ]);
        softhsm(&[
            "--import", key, "--token", "card", "--label", "auth", "--id", "01", "--pin", CARD_PIN,
        ]);
        let der = self.path("card.der");
        run(
            "openssl",
            &["x509", "-in", cert_pem, "-outform", "DER", "-out", &der],
            &[],
        );
        run(
            "pkcs11-tool",
            &[
                "--module",
                &module(),
                "--token-label",
                "card",
                "--login",
                "--pin",
                CARD_PIN,
                "--write-object",
                &der,
                "--type",
                "cert",
                "--id",
                "01",
                "--label",
                "auth",
            ],
            &env,
        );
    }

    /// `hpki-second card sign-in CODE` against the server, with this card.
    pub(crate) fn sign_in(&self, code: &str, url: &str) -> Output {
        Command::new(BIN)
            .args([
                "card",
                "sign-in",
                code,
                "--module",
                &module(),
                "--pin-env",
                "HPKI_CARD_PIN",
                "--url",
                url,
            ])
            .env("SOFTHSM2_CONF", self.conf())
            .env("HPKI_CARD_PIN", CARD_PIN)
            .env_remove("HPKI_SECOND_DATA_DIR")
            .output()
            .expect("run hpki-second card sign-in")
    }

    /// Signs `message` with the card's key outside the card (openssl), for answers the card
    /// client would never send.
    pub(crate) fn sign_elsewhere(&self, message: &str) -> Vec<u8> {
        let m = self.path("message");
        std::fs::write(&m, message).expect("write");
        run(
            "openssl",
            &[
                "dgst",
                "-sha256",
                "-sign",
                &self.path("card-key.pem"),
                "-out",
                &self.path("sig"),
                &m,
            ],
            &[],
        );
        std::fs::read(self.path("sig")).expect("sig")
    }

    pub(crate) fn der(&self) -> Vec<u8> {
        std::fs::read(self.path("card.der")).expect("der")
    }
}

pub(crate) fn module() -> String {
    std::env::var("HPKI_TEST_PKCS11_MODULE")
        .unwrap_or_else(|_| "/usr/lib/softhsm/libsofthsm2.so".into())
}
