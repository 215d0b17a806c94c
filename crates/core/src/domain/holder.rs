//! The holder registry's types: each is parsed once at the edge and then trusted.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use super::{InvalidInput, Photo, Qualification};

/// A national registry number (薬剤師名簿登録番号, 医籍登録番号, …): ASCII digits, no leading zero.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RegistryNumber(String);

impl RegistryNumber {
    pub const MAX_DIGITS: usize = 10;

    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let s = s.trim();
        let field = "registry_number";
        if s.is_empty() {
            return Err(InvalidInput::new(
                field,
                "is empty; give the registry number, e.g. 999999",
            ));
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidInput::new(
                field,
                format!("{s:?} must contain only the digits 0-9"),
            ));
        }
        if s.len() > Self::MAX_DIGITS {
            return Err(InvalidInput::new(
                field,
                format!(
                    "{s:?} has {} digits; at most {} are allowed",
                    s.len(),
                    Self::MAX_DIGITS
                ),
            ));
        }
        if s.starts_with('0') {
            return Err(InvalidInput::new(
                field,
                format!("{s:?} must not start with 0"),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RegistryNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The code of the certificate authority's organization that appears in usernames (`jpa`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct OrgCode(String);

impl OrgCode {
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let s = s.trim();
        let ok = (2..=16).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidInput::new(
                "org",
                format!("{s:?} must be 2 to 16 lowercase letters a-z, e.g. jpa"),
            ))
        }
    }

    pub fn jpa() -> Self {
        Self("jpa".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The holder's login name, `<registry number>-<org>`, e.g. `999999-jpa`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Username {
    number: RegistryNumber,
    org: OrgCode,
}

impl Username {
    pub fn new(number: RegistryNumber, org: OrgCode) -> Self {
        Self { number, org }
    }

    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let s = s.trim();
        let Some((number, org)) = s.rsplit_once('-') else {
            return Err(InvalidInput::new(
                "username",
                format!("{s:?} must look like <registry number>-<org>, e.g. 999999-jpa"),
            ));
        };
        Ok(Self::new(
            RegistryNumber::parse(number)?,
            OrgCode::parse(org)?,
        ))
    }

    pub fn registry_number(&self) -> &RegistryNumber {
        &self.number
    }

    pub fn org(&self) -> &OrgCode {
        &self.org
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.number, self.org)
    }
}

impl Serialize for Username {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn check_text(field: &'static str, s: &str, max_chars: usize) -> Result<String, InvalidInput> {
    let s = s.trim();
    if s.is_empty() {
        return Err(InvalidInput::new(field, "is empty"));
    }
    let n = s.chars().count();
    if n > max_chars {
        return Err(InvalidInput::new(
            field,
            format!("has {n} characters; at most {max_chars} are allowed"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(InvalidInput::new(field, "contains a control character"));
    }
    Ok(s.to_owned())
}

/// The name as written in the family register (kanji), e.g. `薬剤 太郎`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct KanjiName(String);

impl KanjiName {
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        check_text("name_kanji", s, 64).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The reading of the name in kana (フリガナ), e.g. `ヤクザイ タロウ`. Hiragana is accepted too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct KanaName(String);

impl KanaName {
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let s = check_text("name_kana", s, 64)?;
        let is_kana = |c: char| {
            matches!(c, '\u{3041}'..='\u{3096}' | '\u{309D}'..='\u{309F}' | '\u{30A1}'..='\u{30FF}')
                || c == ' '
                || c == '\u{3000}'
        };
        if let Some(bad) = s.chars().find(|c| !is_kana(*c)) {
            return Err(InvalidInput::new(
                "name_kana",
                format!("{s:?} contains {bad:?}; write the reading in katakana or hiragana"),
            ));
        }
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name in Latin letters as it will appear in certificates, e.g. `YAKUZAI TARO`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RomanName(String);

impl RomanName {
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let s = check_text("name_roman", s, 64)?;
        if let Some(bad) = s
            .chars()
            .find(|c| !(c.is_ascii_alphabetic() || matches!(c, ' ' | '-' | '\'' | '.')))
        {
            return Err(InvalidInput::new(
                "name_roman",
                format!("{s:?} contains {bad:?}; use the letters A-Z, spaces, '-', '.' and '''"),
            ));
        }
        Ok(Self(s.to_ascii_uppercase()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A date of birth: a real calendar date, not in the future, not before 1900.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DateOfBirth(NaiveDate);

impl DateOfBirth {
    /// `today` is passed in so that the rule can be tested at any date.
    pub fn parse(s: &str, today: NaiveDate) -> Result<Self, InvalidInput> {
        let s = s.trim();
        let field = "date_of_birth";
        let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
            InvalidInput::new(
                field,
                format!("{s:?} is not a date written YYYY-MM-DD, e.g. 1980-04-01"),
            )
        })?;
        if date > today {
            return Err(InvalidInput::new(field, format!("{s} is in the future")));
        }
        if date.year() < 1900 {
            return Err(InvalidInput::new(field, format!("{s} is before 1900")));
        }
        Ok(Self(date))
    }

    /// For values read back from storage, which were checked when written.
    pub fn from_stored(s: &str) -> Option<Self> {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(Self)
    }

    pub fn date(&self) -> NaiveDate {
        self.0
    }
}

impl fmt::Display for DateOfBirth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

/// Where a holder stands in the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HolderStatus {
    Active,
    Suspended,
}

impl HolderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    pub fn from_stored(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            _ => None,
        }
    }
}

/// A holder about to be registered: every field already valid.
#[derive(Clone, Debug, PartialEq)]
pub struct NewHolder {
    pub username: Username,
    pub name_kanji: KanjiName,
    pub name_kana: KanaName,
    pub name_roman: Option<RomanName>,
    pub date_of_birth: DateOfBirth,
    pub qualification: Qualification,
    pub photo: Option<Photo>,
}

impl NewHolder {
    /// The fields that decide whether a re-import is "the same holder".
    pub fn same_data_as(&self, h: &Holder) -> bool {
        self.username == h.username
            && self.name_kanji == h.name_kanji
            && self.name_kana == h.name_kana
            && self.name_roman == h.name_roman
            && self.date_of_birth == h.date_of_birth
            && self.qualification == h.qualification
            && self.photo.as_ref().map(|p| p.sha256_hex()) == h.photo_sha256
    }
}

/// A registered holder as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Holder {
    pub id: i64,
    pub username: Username,
    pub name_kanji: KanjiName,
    pub name_kana: KanaName,
    pub name_roman: Option<RomanName>,
    pub date_of_birth: DateOfBirth,
    pub qualification: Qualification,
    pub status: HolderStatus,
    /// SHA-256 of the stored (re-encoded) photo, if there is one.
    pub photo_sha256: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_round_trips() {
        let u = Username::parse("999999-jpa").expect("valid");
        assert_eq!(u.to_string(), "999999-jpa");
        assert_eq!(u.registry_number().as_str(), "999999");
        assert_eq!(u.org().as_str(), "jpa");
    }

    #[test]
    fn bad_usernames_are_refused_with_the_field() {
        for bad in [
            "",
            "999999",
            "abc-jpa",
            "999999-JPA",
            "0123-jpa",
            "999999-j",
            "１２３-jpa",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?} accepted");
        }
        let e = RegistryNumber::parse("12a4").expect_err("must fail");
        assert_eq!(e.field, "registry_number");
    }

    #[test]
    fn kana_names_accept_katakana_hiragana_and_spaces() {
        assert!(KanaName::parse("ヤクザイ タロウ").is_ok());
        assert!(KanaName::parse("やくざい\u{3000}たろう").is_ok());
        assert!(KanaName::parse("ヤクザイ 太郎").is_err());
        assert!(KanaName::parse("   ").is_err());
    }

    #[test]
    fn date_of_birth_rules() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 27).expect("date");
        assert!(DateOfBirth::parse("1980-04-01", today).is_ok());
        assert!(DateOfBirth::parse("1980-02-30", today).is_err());
        assert!(DateOfBirth::parse("2026-11-28", today).is_err());
        assert!(DateOfBirth::parse("1899-12-31", today).is_err());
        assert!(DateOfBirth::parse("01/04/1980", today).is_err());
    }

    #[test]
    fn roman_names_are_upper_cased() {
        assert_eq!(
            RomanName::parse("Yakuzai Taro").expect("ok").as_str(),
            "YAKUZAI TARO"
        );
        assert!(RomanName::parse("Yakuzai Tarō").is_err());
    }
}
