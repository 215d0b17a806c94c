//! The holder registry's types: each is parsed once at the edge and then trusted.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use super::names::{is_person_name_char, only, PERSON_NAME_TAKES};
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

/// The space written between the family and the given name in a kanji name (U+3000), as in
/// real HPKI certificates: 「神楽坂　四十」.
pub const IDEOGRAPHIC_SPACE: char = '\u{3000}';

/// The name as written in the family register (kanji): the family name and, apart from it,
/// the given name (absent for a name that is one word). Certificates write it family name
/// first with an ideographic space between the parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KanjiName {
    family: String,
    given: Option<String>,
}

/// How a kanji name given as one field was taken apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KanjiNameSplit {
    /// At its first space (ASCII or ideographic): family name before it, given name after.
    AtFirstSpace,
    /// It has no space: one word, kept as the family name and written without a space.
    OneWord,
}

fn is_name_space(c: char) -> bool {
    c == ' ' || c == IDEOGRAPHIC_SPACE
}

impl KanjiName {
    /// The longest name written (family, space, given): X.520's bound on a common name.
    pub const MAX_CHARS: usize = 64;

    /// The two parts as registered. The family name may not contain a space (where would
    /// it end?); the given name is optional.
    pub fn from_parts(family: &str, given: Option<&str>) -> Result<Self, InvalidInput> {
        let family = check_text("family_name_kanji", family, Self::MAX_CHARS)?;
        only(
            "family_name_kanji",
            &family,
            is_person_name_char,
            PERSON_NAME_TAKES,
        )?;
        if family.chars().any(is_name_space) {
            return Err(InvalidInput::new(
                "family_name_kanji",
                format!("{family:?} contains a space; give the family name alone here and the given name in given_name_kanji"),
            ));
        }
        let given = match given.map(str::trim) {
            None | Some("") => None,
            Some(g) => {
                let g = check_text("given_name_kanji", g, Self::MAX_CHARS)?;
                only(
                    "given_name_kanji",
                    &g,
                    is_person_name_char,
                    PERSON_NAME_TAKES,
                )?;
                Some(g)
            }
        };
        let name = Self { family, given };
        let n = name.written().chars().count();
        if n > Self::MAX_CHARS {
            return Err(InvalidInput::new(
                "name_kanji",
                format!(
                    "has {n} characters with the space; at most {} are allowed",
                    Self::MAX_CHARS
                ),
            ));
        }
        Ok(name)
    }

    /// A name given as one field, e.g. `薬剤 太郎` or `薬剤　太郎`: split at its first space
    /// (ASCII or ideographic). Says how it was taken apart, so the caller can tell the person
    /// who gave it.
    pub fn parse(s: &str) -> Result<(Self, KanjiNameSplit), InvalidInput> {
        let s = check_text("name_kanji", s, Self::MAX_CHARS)?;
        only("name_kanji", &s, is_person_name_char, PERSON_NAME_TAKES)?;
        Ok(match s.split_once(is_name_space) {
            Some((family, given)) => (
                Self {
                    family: family.trim_end_matches(is_name_space).to_owned(),
                    given: Some(given.trim_matches(is_name_space).to_owned()),
                },
                KanjiNameSplit::AtFirstSpace,
            ),
            None => (
                Self {
                    family: s,
                    given: None,
                },
                KanjiNameSplit::OneWord,
            ),
        })
    }

    pub fn family(&self) -> &str {
        &self.family
    }

    pub fn given(&self) -> Option<&str> {
        self.given.as_deref()
    }

    /// As certificates and the sheet write it: family name, U+3000, given name.
    pub fn written(&self) -> String {
        match &self.given {
            Some(g) => format!("{}{IDEOGRAPHIC_SPACE}{g}", self.family),
            None => self.family.clone(),
        }
    }
}

impl fmt::Display for KanjiName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written())
    }
}

/// In JSON, the name as written and its two parts (a holder's fields, flattened into it).
impl Serialize for KanjiName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("KanjiName", 3)?;
        st.serialize_field("name_kanji", &self.written())?;
        st.serialize_field("family_name_kanji", &self.family)?;
        st.serialize_field("given_name_kanji", &self.given)?;
        st.end()
    }
}

/// An organisation's name as a certificate carries it (optional): in kanji in the
/// subjectAltName, romanized in the subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct OrganizationName(String);

impl OrganizationName {
    /// The kanji form, up to X.520's 64: what a person's name holds, and digits and the
    /// punctuation of organisations' names (（株）, ＆, 、, /).
    pub fn parse_kanji(s: &str) -> Result<Self, InvalidInput> {
        let s = check_text("organization_kanji", s, 64)?;
        only(
            "organization_kanji",
            &s,
            |c| {
                is_person_name_char(c)
                    || c.is_ascii_digit()
                    || ('０'..='９').contains(&c)
                    || "()（）&＆,，、。/／・".contains(c)
            },
            "an organisation's name may hold kanji, kana, Latin letters, digits, spaces and - ' . ( ) & , 、 。 / ・",
        )?;
        Ok(Self(s))
    }

    /// The romanized form, up to 64: ASCII letters, digits, spaces and - ' . ( ) & , /.
    pub fn parse_roman(s: &str) -> Result<Self, InvalidInput> {
        let s = check_text("organization_roman", s, 64)?;
        only(
            "organization_roman",
            &s,
            |c| c.is_ascii_alphanumeric() || " -'.()&,/".contains(c),
            "use the letters A-Z, digits, spaces and - ' . ( ) & , /",
        )?;
        Ok(Self(s))
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

/// The name in Latin letters as it will appear in certificates' subject, given name first and
/// as registered (real HPKI certificates keep its case), e.g. `Taro Yakuzai`.
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
        if !s.chars().any(|c| c.is_ascii_alphabetic()) {
            return Err(InvalidInput::new(
                "name_roman",
                format!("{s:?} has no letter; write the name in the letters A-Z"),
            ));
        }
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A date of birth: a real calendar date, not in the future, not before 1900.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DateOfBirth(NaiveDate);

/// Why `s` is not a date: written otherwise than YYYY-MM-DD, or a day the calendar lacks.
fn not_a_date(s: &str) -> String {
    let parts: Vec<&str> = s.split('-').collect();
    let numbers: Option<Vec<u32>> = match parts.as_slice() {
        [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => {
            parts.iter().map(|p| p.parse().ok()).collect()
        }
        _ => None,
    };
    match numbers.as_deref() {
        Some(&[_, m, _]) if !(1..=12).contains(&m) => {
            format!("{s} is not a date: there is no month {m}")
        }
        Some(&[y, m, d]) => {
            let days = (28..=31)
                .rev()
                .find(|&d| NaiveDate::from_ymd_opt(y as i32, m, d).is_some())
                .unwrap_or(28);
            format!("{s} is not a date: {y}-{m:02} has {days} days, not {d}")
        }
        _ => format!("{s:?} is not a date written YYYY-MM-DD, e.g. 1980-04-01"),
    }
}

impl DateOfBirth {
    /// `today` is passed in so that the rule can be tested at any date.
    pub fn parse(s: &str, today: NaiveDate) -> Result<Self, InvalidInput> {
        let s = s.trim();
        let field = "date_of_birth";
        let date = NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| InvalidInput::new(field, not_a_date(s)))?;
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
    pub organization_kanji: Option<OrganizationName>,
    pub organization_roman: Option<OrganizationName>,
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
            && self.organization_kanji == h.organization_kanji
            && self.organization_roman == h.organization_roman
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
    #[serde(flatten)]
    pub name_kanji: KanjiName,
    pub name_kana: KanaName,
    pub name_roman: Option<RomanName>,
    pub organization_kanji: Option<OrganizationName>,
    pub organization_roman: Option<OrganizationName>,
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
        let why = |s: &str| DateOfBirth::parse(s, today).expect_err(s).message;
        assert_eq!(
            why("1985-02-30"),
            "1985-02-30 is not a date: 1985-02 has 28 days, not 30"
        );
        assert_eq!(
            why("1984-02-30"),
            "1984-02-30 is not a date: 1984-02 has 29 days, not 30"
        );
        assert_eq!(
            why("1980-04-31"),
            "1980-04-31 is not a date: 1980-04 has 30 days, not 31"
        );
        assert_eq!(
            why("1980-13-01"),
            "1980-13-01 is not a date: there is no month 13"
        );
        assert!(why("01/04/1980").contains("is not a date written YYYY-MM-DD"));
    }

    #[test]
    fn roman_names_are_kept_as_registered() {
        assert_eq!(
            RomanName::parse(" Taro Yakuzai ").expect("ok").as_str(),
            "Taro Yakuzai"
        );
        let e = RomanName::parse("Yakuzai Tarō").expect_err("not ASCII");
        assert_eq!(e.field, "name_roman");
        assert!(RomanName::parse("--").is_err());
    }

    #[test]
    fn kanji_names_are_taken_apart_at_the_first_space_of_either_width() {
        for (input, family, given) in [
            ("薬剤 太郎", "薬剤", Some("太郎")),
            ("神楽坂\u{3000}四十", "神楽坂", Some("四十")),
            ("山田  花子", "山田", Some("花子")),
            ("Smith John Paul", "Smith", Some("John Paul")),
        ] {
            let (name, how) = KanjiName::parse(input).expect("valid");
            assert_eq!(how, KanjiNameSplit::AtFirstSpace, "{input}");
            assert_eq!((name.family(), name.given()), (family, given), "{input}");
        }
        let (one, how) = KanjiName::parse("一語").expect("valid");
        assert_eq!(how, KanjiNameSplit::OneWord);
        assert_eq!(one.written(), "一語");
        let (name, _) = KanjiName::parse("神楽坂 四十").expect("valid");
        assert_eq!(name.written(), "神楽坂\u{3000}四十");
        assert_eq!(
            KanjiName::from_parts("神楽坂", Some("四十")).expect("parts"),
            name
        );
        assert_eq!(
            KanjiName::from_parts("一語", Some("  "))
                .expect("parts")
                .given(),
            None
        );
        let e = KanjiName::from_parts("薬剤 太郎", None).expect_err("space in family");
        assert_eq!(e.field, "family_name_kanji");
        let e = KanjiName::from_parts(&"長".repeat(40), Some(&"名".repeat(24))).expect_err("long");
        assert_eq!(e.field, "name_kanji");
        assert!(KanjiName::from_parts(&"長".repeat(40), Some(&"名".repeat(23))).is_ok());
    }

    #[test]
    fn romanized_organisations_are_printable_ascii() {
        assert!(OrganizationName::parse_roman("Example Pharmacy Co., Ltd.").is_ok());
        let e = OrganizationName::parse_roman("Ｅｘａｍｐｌｅ").expect_err("full-width");
        assert_eq!(e.field, "organization_roman");
        assert!(OrganizationName::parse_kanji("株式会社 例").is_ok());
    }

    #[test]
    fn names_hold_the_characters_names_have_and_markup_is_refused() {
        for name in [
            "薬剤 太郎",
            "佐々木\u{3000}〆子",
            "髙﨑 ゆゝ",
            "ジョン・スミス",
            "𠮷田 はるか",
            "Müller Zoë",
            "O'Brien Mary-Jane",
            "ＳＭＩＴＨ Ｊｏｈｎ",
            "葛\u{E0100}城 一",
            "辻\u{FE00} 花子",
            "\u{E000}\u{E001} 花子",
        ] {
            assert!(KanjiName::parse(name).is_ok(), "{name}");
        }
        for (name, bad) in [
            ("<script>alert(1)</script>", '<'),
            ("薬剤\"太郎", '"'),
            ("=HYPERLINK(1)", '='),
            ("薬剤 太郎@", '@'),
            ("薬剤 太郎1", '1'),
            ("ﾔｸｻﾞｲ", 'ﾔ'),
            ("薬剤\u{200B} 太郎", '\u{200B}'),
            ("山田\u{00A0}花子", '\u{00A0}'),
        ] {
            let e = KanjiName::parse(name).expect_err(name);
            assert_eq!(e.field, "name_kanji");
            assert!(
                e.message.contains(&format!("{bad:?}")),
                "{name}: {}",
                e.message
            );
            assert!(e.message.contains("a name may hold kanji"), "{}", e.message);
        }
        let e = KanjiName::from_parts("薬剤", Some("<b>太郎</b>")).expect_err("markup");
        assert_eq!(e.field, "given_name_kanji");
        let e = KanjiName::from_parts("<i>", Some("太郎")).expect_err("markup");
        assert_eq!(e.field, "family_name_kanji");
        assert!(OrganizationName::parse_kanji("（株）例示薬局 第２店・駅前/東口").is_ok());
        let e = OrganizationName::parse_kanji("例示<script>").expect_err("markup");
        assert_eq!(e.field, "organization_kanji");
        assert!(OrganizationName::parse_roman("Example & Sons (Tokyo), Inc.").is_ok());
        for bad in ["<script>", "a=b", "x@y", "\"q\""] {
            assert!(OrganizationName::parse_roman(bad).is_err(), "{bad}");
        }
    }
}
