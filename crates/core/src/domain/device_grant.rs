//! The device authorization grant (RFC 8628): a relying system on the pharmacy's PC asks for a
//! sign-in, shows a QR code of the verification address with a short user code; the holder
//! scans it with the registered phone, and the phone's own browser signs in with the phone's
//! passkey (no Bluetooth, no second device in the WebAuthn ceremony) and approves or refuses
//! there; meanwhile the PC polls the token endpoint with its device code.

use chrono::{DateTime, Utc};

use super::oidc::ClientId;

/// The user code: 8 letters of a 20-letter alphabet without vowels (no words spelled by
/// chance) and without letters read as digits (RFC 8628 §6.1): 20^8 ≈ 2^34.6 codes, shown as
/// `BCDF-GHJK`. Kept by hash, like every secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserCode(String);

impl UserCode {
    pub const ALPHABET: &'static [u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
    pub const LEN: usize = 8;

    /// A new code from the OS's randomness (each letter uniform: bytes of 240 and above are
    /// drawn again, 240 being 12 × 20).
    pub fn generate() -> Result<Self, crate::Error> {
        let mut code = String::with_capacity(Self::LEN);
        while code.len() < Self::LEN {
            let mut bytes = [0u8; 16];
            crate::secret::os_random(&mut bytes)?;
            for b in bytes.into_iter().filter(|b| *b < 240) {
                if code.len() < Self::LEN {
                    code.push(char::from(Self::ALPHABET[usize::from(b % 20)]));
                }
            }
        }
        Ok(Self(code))
    }

    /// A code as a holder typed it: full-width letters and lower case are read as the code's
    /// letters (NFKC, then upper case), separators (spaces, hyphens, the long-vowel mark that a
    /// Japanese keyboard gives for a hyphen) are dropped. `None` when it cannot be a code.
    pub fn typed(input: &str) -> Option<Self> {
        use unicode_normalization::UnicodeNormalization;
        let code: String = input
            .nfkc()
            .filter(|c| !c.is_whitespace() && !matches!(c, '-' | 'ー' | '−' | '‐' | '–' | '—'))
            .flat_map(char::to_uppercase)
            .collect();
        (code.len() == Self::LEN && code.bytes().all(|b| Self::ALPHABET.contains(&b)))
            .then_some(Self(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// As shown to the holder: `BCDF-GHJK`.
    pub fn display(&self) -> String {
        format!("{}-{}", &self.0[..4], &self.0[4..])
    }

    /// The stored form.
    pub fn hash(&self) -> String {
        crate::secret::token_hash(&self.0)
    }
}

/// A device authorization request, checked: what the relying system asked for and until when.
#[derive(Clone, Debug)]
pub struct NewDeviceGrant {
    /// SHA-256 of the device code the relying system polls with.
    pub device_code_hash: String,
    /// SHA-256 of the user code.
    pub user_code_hash: String,
    pub client_id: ClientId,
    pub scope: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The least time between two polls, in seconds (it grows by 5 at each `slow_down`).
    pub interval_secs: i64,
    /// For `scope=credential` (SCAL2): the signatures the holder is asked to approve.
    pub consent: Option<super::csc::CredentialConsent>,
}

/// A device authorization as stored.
#[derive(Clone, Debug)]
pub struct DeviceGrant {
    pub id: i64,
    pub request: NewDeviceGrant,
    /// The login the phone that entered the user code opened (one phone per code).
    pub authorization_id: Option<i64>,
    pub denied_at: Option<DateTime<Utc>>,
    pub last_poll_at: Option<DateTime<Utc>>,
}

/// Where a device authorization stands, before its approval (an approved one is a login with
/// the device code as its code: the token endpoint redeems it as it redeems a code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceGrantStage {
    /// No phone has entered the user code yet.
    Waiting,
    /// A phone entered it; the holder has not approved or refused yet.
    Entered,
    /// The holder refused.
    Denied,
    /// Past its end.
    Expired,
}

impl DeviceGrant {
    pub fn stage(&self, now: DateTime<Utc>) -> DeviceGrantStage {
        if self.denied_at.is_some() {
            DeviceGrantStage::Denied
        } else if now >= self.request.expires_at {
            DeviceGrantStage::Expired
        } else if self.authorization_id.is_some() {
            DeviceGrantStage::Entered
        } else {
            DeviceGrantStage::Waiting
        }
    }
}

/// What a poll of a pending authorization found (RFC 8628 §3.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Poll {
    /// On time: `authorization_pending`.
    Pending,
    /// Sooner than the interval since the last: `slow_down` (the interval has grown by 5 s).
    TooSoon,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_of_the_alphabet_and_differ() {
        let a = UserCode::generate().expect("rng");
        let b = UserCode::generate().expect("rng");
        assert_ne!(a, b);
        for c in [&a, &b] {
            assert_eq!(c.as_str().len(), UserCode::LEN);
            assert!(c.as_str().bytes().all(|x| UserCode::ALPHABET.contains(&x)));
            assert_eq!(UserCode::typed(&c.display()), Some(c.clone()));
        }
    }

    #[test]
    fn codes_are_read_as_typed_on_any_keyboard() {
        let code = UserCode::typed("BCDF-GHJK").expect("the shown form");
        for typed in [
            "bcdfghjk",
            "bcdf ghjk",
            "ＢＣＤＦ－ＧＨＪＫ",
            "ｂｃｄｆーｇｈｊｋ",
            " BCDF−GHJK\n",
        ] {
            assert_eq!(UserCode::typed(typed).as_ref(), Some(&code), "{typed:?}");
        }
        for bad in [
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "ABCD-EFGH",
            "BCDF-GHJ1",
            "",
            "ＢＣＤＦ",
        ] {
            assert_eq!(UserCode::typed(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn letters_are_drawn_evenly() {
        // 20 letters, 8 000 draws: each near 400 (every letter is drawn; none dominates).
        let mut counts = [0u32; 20];
        for _ in 0..1000 {
            for b in UserCode::generate().expect("rng").as_str().bytes() {
                let i = UserCode::ALPHABET
                    .iter()
                    .position(|x| *x == b)
                    .expect("letter");
                counts[i] += 1;
            }
        }
        assert!(counts.iter().all(|c| (300..500).contains(c)), "{counts:?}");
    }
}
