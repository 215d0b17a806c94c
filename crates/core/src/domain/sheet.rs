//! The initial registration sheet (初期登録用 QR): its one-time token, its printed password, and
//! its state. Only hashes are stored: SHA-256 of the token (256-bit-strong secret, looked up by
//! hash) and Argon2id of the password (short and printed, so it must be slow to guess).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::InvalidInput;
use crate::secret;

/// The registration URL's secret: 128 bits from the OS, 32 lowercase hex digits.
#[derive(Clone, PartialEq, Eq)]
pub struct SheetToken(String);

impl SheetToken {
    pub const LEN: usize = 32;

    pub fn generate() -> Result<Self, crate::Error> {
        let mut raw = [0u8; 16];
        secret::os_random(&mut raw)?;
        Ok(Self(hex::encode(raw)))
    }

    /// A token from a URL: anything but exactly 32 lowercase hex digits is refused unread.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        if s.len() == Self::LEN
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidInput::new("token", "is not a registration token"))
        }
    }

    /// What the database keeps.
    pub fn hash(&self) -> String {
        secret::token_hash(&self.0)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SheetToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SheetToken(***)")
    }
}

/// How a sheet's password is printed, and so how typed input is compared with it. The stored
/// hash says which (see [`PasswordFormat::of_stored`]): sheets printed before the format
/// changed keep working as they were printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordFormat {
    /// 13 characters of one case: capital letters and digits, none that looks like another
    /// (no 0/O, 1/I, 2/Z, 5/S, 8/B), 26 symbols: 61 bits. Typed in either case.
    Capitals13,
    /// The first sheets' 12 characters of both cases (49 symbols: 67 bits). In the sheet's
    /// font c k m p u v w x y look the same in both cases; those are taken in either case.
    Mixed12,
}

/// The stored hash of a [`PasswordFormat::Capitals13`] sheet starts with this; a bare PHC
/// string is a [`PasswordFormat::Mixed12`] sheet's.
const CAPITALS13_TAG: &str = "capitals13";

/// The letters of the first sheets whose two cases look alike in print.
const LOOK_ALIKE_CASES: &[u8] = b"ckmpuvwxyCKMPUVWXY";
/// How many look-alike letters of a first-format password are tried in every case
/// combination (2^8 = 256 Argon2 checks, about 0.8 s of one hashing thread, for the 1 in 100
/// first-format passwords with that many; most have 4 or 5, 16 to 32 checks); beyond that,
/// only the typed form and all of them lower case and upper case.
const LOOK_ALIKE_COMBINATIONS_UP_TO: u32 = 8;

impl PasswordFormat {
    /// What new sheets print.
    pub const CURRENT: Self = Self::Capitals13;

    pub fn alphabet(self) -> &'static [u8] {
        match self {
            Self::Capitals13 => b"ACDEFGHJKLMNPQRTUVWXY34679",
            Self::Mixed12 => b"ACDEFGHJKLMNPQRTUVWXYabcdefghijkmnpqrstuvwxy34679",
        }
    }

    pub fn length(self) -> usize {
        match self {
            Self::Capitals13 => 13,
            Self::Mixed12 => 12,
        }
    }

    /// The format a stored hash was made for, and its PHC string.
    pub fn of_stored(stored: &str) -> (Self, &str) {
        match stored.strip_prefix(CAPITALS13_TAG) {
            Some(phc) => (Self::Capitals13, phc),
            None => (Self::Mixed12, stored),
        }
    }
}

/// The longest password input that is even looked at; longer input is refused before hashing.
pub const PASSWORD_MAX_INPUT: usize = 64;

/// Why typed input cannot be the sheet's password, seen before anything is compared: such input
/// never counts as a wrong attempt (the holder could not have seen that the form would take it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordInputError {
    /// Nothing was typed.
    Empty,
    /// Far longer than any password (refused before any work).
    TooLong,
    /// A character the sheet's passwords never use (e.g. `0` or `O`, or a kana).
    NotOnTheSheet(char),
    /// Not the printed password's length (`typed` characters, `printed` on the sheet).
    WrongLength { typed: usize, printed: usize },
}

/// Refuses, before the sheet is even looked up, input far too long to be any password.
pub fn refuse_oversized_input(typed: &str) -> Result<(), PasswordInputError> {
    // NFKC can expand a character up to 18 times: bounded before normalizing.
    if typed.len() > PASSWORD_MAX_INPUT * 4 {
        Err(PasswordInputError::TooLong)
    } else {
        Ok(())
    }
}

/// The typed password as a sheet of `format` prints it: NFKC first (a Japanese keyboard easily
/// types full-width `３ＤＸＰ…`, which NFKC makes ASCII), white space anywhere dropped (the sheet
/// prints the password letter-spaced), capitals for a sheet printed in capitals, then checked
/// against the sheet's alphabet and length.
pub fn normalize_password_input(
    typed: &str,
    format: PasswordFormat,
) -> Result<String, PasswordInputError> {
    use unicode_normalization::UnicodeNormalization;
    refuse_oversized_input(typed)?;
    let mut normal: String = typed.nfkc().filter(|c| !c.is_whitespace()).collect();
    if format == PasswordFormat::Capitals13 {
        normal.make_ascii_uppercase();
    }
    let length = normal.chars().count();
    if length == 0 {
        return Err(PasswordInputError::Empty);
    }
    if length > PASSWORD_MAX_INPUT {
        return Err(PasswordInputError::TooLong);
    }
    if let Some(c) = normal
        .chars()
        .find(|c| !c.is_ascii() || !format.alphabet().contains(&(*c as u8)))
    {
        return Err(PasswordInputError::NotOnTheSheet(c));
    }
    if length != format.length() {
        return Err(PasswordInputError::WrongLength {
            typed: length,
            printed: format.length(),
        });
    }
    Ok(normal)
}

/// A new printed password of the current format, uniform over its alphabet (rejection
/// sampling, no modulo bias).
pub fn generate_password() -> Result<String, crate::Error> {
    let format = PasswordFormat::CURRENT;
    let alphabet = format.alphabet();
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(format.length());
    let mut buf = [0u8; 32];
    while out.len() < format.length() {
        secret::os_random(&mut buf)?;
        for b in buf {
            if usize::from(b) < limit && out.len() < format.length() {
                out.push(char::from(alphabet[usize::from(b) % alphabet.len()]));
            }
        }
    }
    Ok(out)
}

/// Argon2id memory (KiB) and passes for sheet passwords. The password is not chosen by a person
/// but drawn from the OS (13 of 26 symbols: 61 bits) and dies with the sheet (90 days), so the
/// work factor only has to make an offline search of that space hopeless, not stretch a
/// guessable secret: at a million guesses a second (far more than 4 MiB Argon2id allows on one
/// GPU) half the space takes 2^60 / 10^6 s, over 36,000 years. 4 MiB and 2 passes cost
/// about 3 ms here, which keeps a 10,000-sheet print run well under a minute on 2 cores.
/// Stored hashes carry their parameters, so changing these later keeps old sheets working.
pub const ARGON2_MEMORY_KIB: u32 = 4 * 1024;
pub const ARGON2_PASSES: u32 = 2;

fn argon2id() -> Result<argon2::Argon2<'static>, crate::Error> {
    let params = argon2::Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, 1, None)
        .map_err(|e| crate::Error::Internal(format!("Argon2 parameters: {e}")))?;
    Ok(argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params,
    ))
}

/// What is stored of a new sheet's password: Argon2id in PHC string form, tagged with the
/// current format. CPU work: call it off the async runtime.
pub fn hash_password(password: &str) -> Result<String, crate::Error> {
    Ok(format!("{CAPITALS13_TAG}{}", phc_of(password)?))
}

/// Argon2id in PHC string form.
pub fn phc_of(password: &str) -> Result<String, crate::Error> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    secret::os_random(&mut salt)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| crate::Error::Internal(e.to_string()))?;
    argon2id()?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| crate::Error::Internal(format!("hashing a password: {e}")))
}

/// Whether `typed` (as [`normalize_password_input`] made it for this sheet's format) is the
/// password stored as `stored` (constant time inside argon2). On a first-format sheet the
/// letters whose cases look alike in print are taken in either case (see
/// [`LOOK_ALIKE_COMBINATIONS_UP_TO`]).
pub fn verify_password(typed: &str, stored: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    if typed.len() > PASSWORD_MAX_INPUT {
        return false;
    }
    let (format, phc) = PasswordFormat::of_stored(stored);
    // The parameters are read from the stored hash.
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let matches = |candidate: &[u8]| {
        argon2::Argon2::default()
            .verify_password(candidate, &hash)
            .is_ok()
    };
    match format {
        PasswordFormat::Capitals13 => matches(typed.as_bytes()),
        PasswordFormat::Mixed12 => look_alike_variants(typed).iter().any(|v| matches(v)),
    }
}

/// `typed` and its forms with the look-alike letters in other cases: every combination when
/// there are few of them, else all lower case and all upper case. The typed form first.
fn look_alike_variants(typed: &str) -> Vec<Vec<u8>> {
    let bytes = typed.as_bytes();
    let at: Vec<usize> = (0..bytes.len())
        .filter(|&i| LOOK_ALIKE_CASES.contains(&bytes[i]))
        .collect();
    let mut variants = vec![bytes.to_vec()];
    let with = |choose: &dyn Fn(usize) -> bool| {
        let mut v = bytes.to_vec();
        for (k, &i) in at.iter().enumerate() {
            v[i] = if choose(k) {
                v[i].to_ascii_uppercase()
            } else {
                v[i].to_ascii_lowercase()
            };
        }
        v
    };
    if at.len() as u32 <= LOOK_ALIKE_COMBINATIONS_UP_TO {
        for mask in 0..(1u32 << at.len()) {
            variants.push(with(&|k| mask & (1 << k) != 0));
        }
    } else {
        variants.push(with(&|_| false));
        variants.push(with(&|_| true));
    }
    let first = variants[0].clone();
    variants.dedup();
    variants.retain(|v| *v != first);
    variants.insert(0, first);
    variants
}

/// A sheet's state. `Expired` is derived from the time; the others are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SheetState {
    Active,
    /// Too many wrong passwords.
    Locked,
    Expired,
    /// A newer sheet was issued for the holder.
    Superseded,
    /// An operator withdrew it.
    Revoked,
}

impl SheetState {
    /// The stored form (`Expired` is never stored).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Locked => "locked",
            Self::Expired => "expired",
            Self::Superseded => "superseded",
            Self::Revoked => "revoked",
        }
    }

    pub fn from_stored(s: &str) -> Option<Self> {
        [Self::Active, Self::Locked, Self::Superseded, Self::Revoked]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// What is stored of a sheet.
#[derive(Clone, Debug)]
pub struct Sheet {
    pub id: i64,
    pub holder_id: i64,
    /// The stored state: never `Expired` (that one depends on the time).
    pub stored_state: SheetState,
    pub failed_attempts: u32,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub password_hash: String,
}

/// The manual's rule of the printed password: after this many wrong passwords the sheet locks
/// (the live service: five) and the holder needs a new sheet. The rule is decided here; the
/// store only makes each count atomic (a compare-and-set on the count it was decided from).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptLimit(u32);

impl AttemptLimit {
    /// Five wrong passwords, as the live service.
    pub const MANUAL: Self = Self(5);
    /// The most a configuration may allow.
    pub const MOST: u32 = 100;

    pub fn new(attempts: u32) -> Result<Self, InvalidInput> {
        if (1..=Self::MOST).contains(&attempts) {
            Ok(Self(attempts))
        } else {
            Err(InvalidInput::new(
                "max_attempts",
                format!("must be between 1 and {}", Self::MOST),
            ))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }

    /// Attempts left after `failed` wrong passwords.
    pub fn remaining(self, failed: u32) -> u32 {
        self.0.saturating_sub(failed)
    }
}

impl Default for AttemptLimit {
    fn default() -> Self {
        Self::MANUAL
    }
}

/// What one more wrong password makes of an active sheet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrongPassword {
    pub failed_attempts: u32,
    /// `Locked` when this attempt reached the limit, else still `Active`.
    pub state: SheetState,
}

impl Sheet {
    /// The state at `now`: a locked, superseded or revoked sheet stays so after its expiry too,
    /// so that the holder is told what really happened.
    pub fn state_at(&self, now: DateTime<Utc>) -> SheetState {
        match self.stored_state {
            SheetState::Active if now >= self.expires_at => SheetState::Expired,
            s => s,
        }
    }

    /// The sheet after one more wrong password: counted, and locked once the count reaches
    /// the limit.
    pub fn after_wrong_password(&self, limit: AttemptLimit) -> WrongPassword {
        let failed_attempts = self.failed_attempts.saturating_add(1);
        WrongPassword {
            failed_attempts,
            state: if failed_attempts >= limit.get() {
                SheetState::Locked
            } else {
                SheetState::Active
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex_and_only_hex_parses() {
        let a = SheetToken::generate().expect("rng");
        let b = SheetToken::generate().expect("rng");
        assert_ne!(a, b);
        assert_eq!(SheetToken::parse(a.expose()).expect("parses"), a);
        for bad in [
            "",
            "abc",
            &"g".repeat(32),
            &"A".repeat(32),
            &"a".repeat(33),
            &"a".repeat(10_000),
        ] {
            assert!(SheetToken::parse(bad).is_err(), "{bad:?}");
        }
        assert_ne!(a.hash(), a.expose());
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn passwords_avoid_look_alikes_and_verify() {
        let current = PasswordFormat::CURRENT;
        for c in b"0Oo1lI5S2Z8Babcdefghijklmnopqrstuvwxyz" {
            assert!(!current.alphabet().contains(c), "{}", char::from(*c));
        }
        // At least 60 bits.
        assert!(current.length() as f64 * (current.alphabet().len() as f64).log2() >= 60.0);
        let p = generate_password().expect("rng");
        assert_eq!(p.len(), 13);
        assert!(p.bytes().all(|b| current.alphabet().contains(&b)));
        let stored = hash_password(&p).expect("hash");
        assert!(
            stored.starts_with("capitals13$argon2id$v=19$m=4096,t=2,p=1$"),
            "{stored}"
        );
        assert_eq!(
            PasswordFormat::of_stored(&stored).0,
            PasswordFormat::Capitals13
        );
        assert!(verify_password(&p, &stored));
        assert!(!verify_password("wrong", &stored));
        assert!(!verify_password(&"x".repeat(10_000), &stored));
        assert!(!verify_password(&p, "not a phc string"));
        assert!(!verify_password(&p, "capitals13not a phc string"));
    }

    #[test]
    fn first_sheets_verify_and_their_look_alike_letters_are_taken_in_either_case() {
        // A sheet of the first format: a bare PHC string of a mixed-case password.
        let printed = "3dXpqCFa7kTm";
        let stored = phc_of(printed).expect("hash");
        assert_eq!(
            PasswordFormat::of_stored(&stored).0,
            PasswordFormat::Mixed12
        );
        assert!(verify_password(printed, &stored));
        // x p k m look the same in both cases: any case of them is the password.
        for typed in ["3dxPqCFa7KTM", "3dxpqCFa7kTm", "3dXPqCFa7KTM"] {
            assert!(verify_password(typed, &stored), "{typed}");
        }
        // d f a t do not: another case of them is another password.
        for typed in [
            "3DXpqCFa7kTm",
            "3dXpqCfa7kTm",
            "3dXpqCFA7kTm",
            "3dXpqCFa7ktm",
        ] {
            assert!(!verify_password(typed, &stored), "{typed}");
        }
        // Eight look-alike letters: still every combination.
        let printed = "3dPuVwxaYCk4";
        let stored = phc_of(printed).expect("hash");
        assert!(verify_password("3dpuvwxayck4", &stored));
        assert!(verify_password("3dPUVWXaYCK4", &stored));
        // More than eight: typed in one case, it matches a password printed in one case.
        let printed = "ckmpuvwxyckm";
        let stored = phc_of(printed).expect("hash");
        assert!(verify_password(&printed.to_ascii_uppercase(), &stored));
        assert!(!verify_password("CKMPUVWXYCKA", &stored));
        // Hashes made with other parameters (the crate's defaults, used before) still verify.
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
        let old = argon2::Argon2::default()
            .hash_password(b"3dXpqCFa7kTm", &salt)
            .expect("hash")
            .to_string();
        assert!(old.contains("m=19456"), "{old}");
        assert!(verify_password("3dXpqCFa7kTm", &old));
        assert!(!verify_password("wrong", &old));
    }

    #[test]
    fn typed_passwords_are_normalised_and_impossible_ones_refused() {
        use PasswordFormat::{Capitals13, Mixed12};
        use PasswordInputError as E;
        let printed = "3DXPQCFA7KTMH";
        for typed in [
            printed,
            "3dxpqcfa7ktmh",
            // Full-width, as a Japanese keyboard types it; with spaces (the sheet is
            // letter-spaced, and an ideographic space is what the IME gives).
            "３ｄＸｐｑＣＦａ７ｋＴｍＨ",
            " 3dXp qCFa\u{3000}7kTmh \n",
        ] {
            assert_eq!(
                normalize_password_input(typed, Capitals13),
                Ok(printed.to_owned()),
                "{typed}"
            );
        }
        assert_eq!(normalize_password_input("  ", Capitals13), Err(E::Empty));
        assert_eq!(
            normalize_password_input("3DXPQCFA7KTM0", Capitals13),
            Err(E::NotOnTheSheet('0'))
        );
        assert_eq!(
            normalize_password_input("3DXPQCFA7KTMあ", Capitals13),
            Err(E::NotOnTheSheet('あ'))
        );
        assert_eq!(
            normalize_password_input("3DXPQCFA7KTM", Capitals13),
            Err(E::WrongLength {
                typed: 12,
                printed: 13
            })
        );
        // The first sheets: both cases, 12 characters, compared as typed.
        let first = "3dXpqCFa7kTm";
        assert_eq!(
            normalize_password_input(first, Mixed12),
            Ok(first.to_owned())
        );
        assert_eq!(
            normalize_password_input("３ｄＸｐｑＣＦａ７ｋＴｍ", Mixed12),
            Ok(first.to_owned())
        );
        assert_eq!(
            normalize_password_input("3dXpqCFa7kT", Mixed12),
            Err(E::WrongLength {
                typed: 11,
                printed: 12
            })
        );
        for format in [Capitals13, Mixed12] {
            assert_eq!(
                normalize_password_input(&"a".repeat(65), format),
                Err(E::TooLong)
            );
            assert_eq!(
                normalize_password_input(&"ａ".repeat(10_000), format),
                Err(E::TooLong)
            );
        }
    }

    #[test]
    fn expiry_is_derived_and_final_states_stay() {
        let t = |s: i64| DateTime::from_timestamp(s, 0).expect("time");
        let mut sheet = Sheet {
            id: 1,
            holder_id: 1,
            stored_state: SheetState::Active,
            failed_attempts: 0,
            issued_at: t(0),
            expires_at: t(100),
            password_hash: String::new(),
        };
        assert_eq!(sheet.state_at(t(99)), SheetState::Active);
        assert_eq!(sheet.state_at(t(100)), SheetState::Expired);
        sheet.stored_state = SheetState::Locked;
        assert_eq!(sheet.state_at(t(200)), SheetState::Locked);
    }

    #[test]
    fn the_fifth_wrong_password_locks() {
        let mut sheet = Sheet {
            id: 1,
            holder_id: 1,
            stored_state: SheetState::Active,
            failed_attempts: 0,
            issued_at: DateTime::from_timestamp(0, 0).expect("time"),
            expires_at: DateTime::from_timestamp(100, 0).expect("time"),
            password_hash: String::new(),
        };
        let limit = AttemptLimit::MANUAL;
        for n in 1..=4 {
            let next = sheet.after_wrong_password(limit);
            assert_eq!((next.failed_attempts, next.state), (n, SheetState::Active));
            assert_eq!(limit.remaining(n), 5 - n);
            sheet.failed_attempts = n;
        }
        let fifth = sheet.after_wrong_password(limit);
        assert_eq!(
            (fifth.failed_attempts, fifth.state),
            (5, SheetState::Locked)
        );
        assert_eq!(limit.remaining(5), 0);
        assert!(AttemptLimit::new(0).is_err());
        assert!(AttemptLimit::new(101).is_err());
        assert_eq!(AttemptLimit::new(1).map(AttemptLimit::get), Ok(1));
    }
}
