//! A software platform authenticator for tests and benchmarks (feature `soft-authenticator`):
//! one P-256 key, "none" attestation, and switches to get any field wrong on purpose. It
//! speaks the JSON a browser's `PublicKeyCredential.toJSON()` gives. It signs with AWS-LC (a
//! phone signs on its own hardware; the benchmark's load generator should cost the shared
//! machine little), and the service verifies with `webauthn_rp`'s own P-256 code.

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

// --- a minimal CBOR writer, enough for an attestation object and a COSE key ---
fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n < 256 {
        out.extend([m | 24, n as u8]);
    } else if n < 65536 {
        out.push(m | 25);
        out.extend((n as u16).to_be_bytes());
    } else {
        out.push(m | 26);
        out.extend((n as u32).to_be_bytes());
    }
}
fn int(out: &mut Vec<u8>, v: i64) {
    if v >= 0 {
        head(out, 0, v as u64);
    } else {
        head(out, 1, (-1 - v) as u64);
    }
}
fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    head(out, 2, b.len() as u64);
    out.extend(b);
}
fn text(out: &mut Vec<u8>, s: &str) {
    head(out, 3, s.len() as u64);
    out.extend(s.as_bytes());
}

pub const UP: u8 = 0x01;
pub const UV: u8 = 0x04;
pub const AT: u8 = 0x40;

/// A software platform authenticator with one P-256 key.
pub struct Authenticator {
    key: EcdsaKeyPair,
    /// The origin the "browser" is on, e.g. https://hpki.example.jp.
    pub origin: String,
    /// The RP ID, e.g. hpki.example.jp.
    pub rp_id: String,
    pub credential_id: Vec<u8>,
    /// The signature counter it reports next.
    pub counter: u32,
    /// The user handle the relying party gave at registration (a discoverable credential
    /// keeps it and returns it when signing in without a username).
    pub user_handle: Option<Vec<u8>>,
}

pub fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    let _ = hpki_core::secret::os_random(&mut b);
    b
}

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
    format!(
        r#"{{"type":"{kind}","challenge":"{challenge}","origin":"{origin}","crossOrigin":false}}"#
    )
    .into_bytes()
}

/// What to get wrong on purpose.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// The origin in the client data (default: the right one).
    pub origin: Option<&'static str>,
    /// The RP ID whose hash is in the authenticator data (default: the right one).
    pub rp_id: Option<&'static str>,
    /// Leave out the user-verified flag.
    pub no_uv: bool,
    /// Flip a bit of the signature.
    pub bad_signature: bool,
    /// Change the client data after signing.
    pub tamper_client_data: bool,
}

impl Authenticator {
    pub fn new(origin: &str, rp_id: &str) -> Self {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
            .expect("AWS-LC makes a P-256 key");
        Self {
            key,
            origin: origin.to_owned(),
            rp_id: rp_id.to_owned(),
            credential_id: random::<32>().to_vec(),
            counter: 0,
            user_handle: None,
        }
    }

    fn auth_data(&self, rp_id: &str, flags: u8, attested: bool) -> Vec<u8> {
        let mut d = digest(&SHA256, rp_id.as_bytes()).as_ref().to_vec();
        d.push(flags | if attested { AT } else { 0 });
        d.extend(self.counter.to_be_bytes());
        if attested {
            d.extend([0u8; 16]); // AAGUID: none given
            d.extend((self.credential_id.len() as u16).to_be_bytes());
            d.extend(&self.credential_id);
            // Uncompressed: 0x04, x, y.
            let point = self.key.public_key().as_ref();
            let (x, y) = point.get(1..).unwrap_or_default().split_at(32);
            let mut cose = Vec::new();
            head(&mut cose, 5, 5);
            int(&mut cose, 1);
            int(&mut cose, 2); // kty EC2
            int(&mut cose, 3);
            int(&mut cose, -7); // ES256
            int(&mut cose, -1);
            int(&mut cose, 1); // P-256
            int(&mut cose, -2);
            bytes(&mut cose, x);
            int(&mut cose, -3);
            bytes(&mut cose, y);
            d.extend(cose);
        }
        d
    }

    /// `navigator.credentials.create()`: the RegistrationResponseJSON.
    pub fn create(&mut self, options: &serde_json::Value, f: Faults) -> Vec<u8> {
        let challenge = options["challenge"].as_str().unwrap_or_default();
        self.user_handle = options["user"]["id"]
            .as_str()
            .and_then(|id| URL_SAFE_NO_PAD.decode(id).ok());
        let cdj = client_data(
            "webauthn.create",
            challenge,
            f.origin.unwrap_or(&self.origin),
        );
        let flags = UP | if f.no_uv { 0 } else { UV };
        let auth_data = self.auth_data(f.rp_id.unwrap_or(&self.rp_id), flags, true);
        let mut att = Vec::new();
        head(&mut att, 5, 3);
        text(&mut att, "fmt");
        text(&mut att, "none");
        text(&mut att, "attStmt");
        head(&mut att, 5, 0);
        text(&mut att, "authData");
        bytes(&mut att, &auth_data);
        serde_json::to_vec(&serde_json::json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64(&cdj),
                "attestationObject": b64(&att),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        }))
        .unwrap_or_default()
    }

    /// `navigator.credentials.get()` with a list of allowed credentials: the
    /// AuthenticationResponseJSON, without the user handle.
    pub fn get(&mut self, options: &serde_json::Value, f: Faults) -> Vec<u8> {
        self.assertion(options, f, None)
    }

    /// `navigator.credentials.get()` without a username (a discoverable credential): the
    /// answer carries the user handle kept at registration.
    pub fn get_discoverable(&mut self, options: &serde_json::Value, f: Faults) -> Vec<u8> {
        let user = self.user_handle.clone();
        self.assertion(options, f, user.as_deref())
    }

    fn assertion(
        &mut self,
        options: &serde_json::Value,
        f: Faults,
        user_handle: Option<&[u8]>,
    ) -> Vec<u8> {
        let challenge = options["challenge"].as_str().unwrap_or_default();
        let mut cdj = client_data("webauthn.get", challenge, f.origin.unwrap_or(&self.origin));
        let flags = UP | if f.no_uv { 0 } else { UV };
        let auth_data = self.auth_data(f.rp_id.unwrap_or(&self.rp_id), flags, false);
        let mut signed = auth_data.clone();
        signed.extend(digest(&SHA256, &cdj).as_ref());
        let mut der = self
            .key
            .sign(&SystemRandom::new(), &signed)
            .expect("AWS-LC signs")
            .as_ref()
            .to_vec();
        if f.bad_signature {
            let last = der.len() - 1;
            der[last] ^= 0x01;
        }
        if f.tamper_client_data {
            // Signed, then changed: the origin stays right, an extra key is added.
            cdj.truncate(cdj.len() - 1);
            cdj.extend(br#","tampered":true}"#);
        }
        serde_json::to_vec(&serde_json::json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64(&cdj),
                "authenticatorData": b64(&auth_data),
                "signature": b64(&der),
                "userHandle": user_handle.map(b64),
            },
            "clientExtensionResults": {},
        }))
        .unwrap_or_default()
    }
}
