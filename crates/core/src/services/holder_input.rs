//! A holder as it arrives from outside (a form, JSON, a CSV row) and its parsing into a
//! [`NewHolder`]: every field checked, every problem reported. Used by the holder service and
//! by the CSV import alike.

use chrono::NaiveDate;
use serde::Deserialize;

use crate::domain::{
    DateOfBirth, InvalidInput, KanaName, KanjiName, KanjiNameSplit, NewHolder, OrgCode,
    OrganizationName, Photo, Qualification, RegistryNumber, RomanName, Username,
};

/// A holder as it arrives from outside (a form, JSON, a CSV row): unchecked text.
///
/// The kanji name comes either in two parts (`family_name_kanji`, and `given_name_kanji` if
/// the name has one) or as one field (`name_kanji`), which is split at its first space, ASCII
/// or ideographic; [`HolderInput::name_note`] says how, for the person who gave it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolderInput {
    pub registry_number: String,
    #[serde(default)]
    pub org: Option<String>,
    #[serde(default)]
    pub name_kanji: Option<String>,
    #[serde(default)]
    pub family_name_kanji: Option<String>,
    #[serde(default)]
    pub given_name_kanji: Option<String>,
    pub name_kana: String,
    #[serde(default)]
    pub name_roman: Option<String>,
    #[serde(default)]
    pub organization_kanji: Option<String>,
    #[serde(default)]
    pub organization_roman: Option<String>,
    pub date_of_birth: String,
    pub qualification: String,
}

/// An optional field: absent or blank is `None`.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl HolderInput {
    /// Parses every field and reports every problem, not just the first.
    pub fn parse(
        &self,
        default_org: &OrgCode,
        today: NaiveDate,
        photo: Option<Photo>,
    ) -> Result<NewHolder, Vec<InvalidInput>> {
        let mut errors = Vec::new();
        let number = keep(&mut errors, RegistryNumber::parse(&self.registry_number));
        let org = match given(&self.org) {
            None => Some(default_org.clone()),
            Some(o) => keep(&mut errors, OrgCode::parse(o)),
        };
        let name_kanji = keep(&mut errors, self.kanji_name().map(|(name, _)| name));
        let name_kana = keep(&mut errors, KanaName::parse(&self.name_kana));
        let name_roman = optional(&mut errors, &self.name_roman, RomanName::parse);
        let organization_kanji = optional(
            &mut errors,
            &self.organization_kanji,
            OrganizationName::parse_kanji,
        );
        let organization_roman = optional(
            &mut errors,
            &self.organization_roman,
            OrganizationName::parse_roman,
        );
        let date_of_birth = keep(&mut errors, DateOfBirth::parse(&self.date_of_birth, today));
        let qualification = keep(&mut errors, Qualification::parse(&self.qualification));
        match (
            number,
            org,
            name_kanji,
            name_kana,
            name_roman,
            organization_kanji,
            organization_roman,
            date_of_birth,
            qualification,
        ) {
            (
                Some(n),
                Some(o),
                Some(k),
                Some(kana),
                Some(r),
                Some(ok),
                Some(or),
                Some(d),
                Some(q),
            ) if errors.is_empty() => Ok(NewHolder {
                username: Username::new(n, o),
                name_kanji: k,
                name_kana: kana,
                name_roman: r,
                organization_kanji: ok,
                organization_roman: or,
                date_of_birth: d,
                qualification: q,
                photo,
            }),
            _ => Err(errors),
        }
    }

    /// The kanji name, from its two parts or from the one field; `None` for how it was split
    /// when it came in parts.
    fn kanji_name(&self) -> Result<(KanjiName, Option<KanjiNameSplit>), InvalidInput> {
        match (given(&self.name_kanji), given(&self.family_name_kanji)) {
            (Some(_), Some(_)) => Err(InvalidInput::new(
                "name_kanji",
                "give either name_kanji or family_name_kanji and given_name_kanji, not both",
            )),
            (None, Some(family)) => {
                KanjiName::from_parts(family, given(&self.given_name_kanji)).map(|n| (n, None))
            }
            (Some(_), None) if given(&self.given_name_kanji).is_some() => Err(InvalidInput::new(
                "family_name_kanji",
                "is empty while given_name_kanji is set; give the family name in family_name_kanji (and leave name_kanji out)",
            )),
            (Some(one), None) => KanjiName::parse(one).map(|(n, how)| (n, Some(how))),
            (None, None) => Err(InvalidInput::new(
                "name_kanji",
                "is empty; give the kanji name as family_name_kanji and given_name_kanji, or as name_kanji with a space between family and given name",
            )),
        }
    }

    /// When the kanji name came as one (valid) field, how it was taken apart.
    pub fn name_split(&self) -> Option<KanjiNameSplit> {
        self.kanji_name().ok()?.1
    }

    /// When the kanji name came as one field, how it was taken apart, in a sentence (so the
    /// operator can check it); `None` when it came in two parts or is not valid.
    pub fn name_note(&self) -> Option<String> {
        let (name, how) = self.kanji_name().ok()?;
        let note = match how? {
            KanjiNameSplit::AtFirstSpace => format!(
                "name_kanji {:?} was split at its first space: family name {:?}, given name {:?} (give family_name_kanji and given_name_kanji to set them apart yourself)",
                given(&self.name_kanji).unwrap_or_default(),
                name.family(),
                name.given().unwrap_or_default()
            ),
            KanjiNameSplit::OneWord => format!(
                "name_kanji {:?} has no space, so it is kept whole as the family name, with no given name",
                name.family()
            ),
        };
        Some(note)
    }
}

/// An optional field, parsed when given: `Some(None)` when absent, `None` when refused.
fn optional<T>(
    errors: &mut Vec<InvalidInput>,
    v: &Option<String>,
    parse: impl FnOnce(&str) -> Result<T, InvalidInput>,
) -> Option<Option<T>> {
    match given(v) {
        None => Some(None),
        Some(s) => keep(errors, parse(s).map(Some)),
    }
}

fn keep<T>(errors: &mut Vec<InvalidInput>, r: Result<T, InvalidInput>) -> Option<T> {
    r.map_err(|e| errors.push(e)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> HolderInput {
        HolderInput {
            registry_number: "999999".into(),
            name_kana: "ヤクザイ タロウ".into(),
            date_of_birth: "1980-04-01".into(),
            qualification: "Pharmacist".into(),
            ..HolderInput::default()
        }
    }

    fn parse(i: &HolderInput) -> Result<NewHolder, Vec<InvalidInput>> {
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).expect("date");
        i.parse(&OrgCode::jpa(), today, None)
    }

    #[test]
    fn the_kanji_name_comes_in_parts_or_in_one_field_and_the_split_is_said() {
        let parts = HolderInput {
            family_name_kanji: Some("神楽坂".into()),
            given_name_kanji: Some("四十".into()),
            ..input()
        };
        let h = parse(&parts).expect("parts");
        assert_eq!(h.name_kanji.written(), "神楽坂\u{3000}四十");
        assert_eq!(parts.name_note(), None);

        let one = HolderInput {
            name_kanji: Some("神楽坂 四十".into()),
            ..input()
        };
        assert_eq!(parse(&one).expect("one field").name_kanji, h.name_kanji);
        let note = one.name_note().expect("said");
        assert!(
            note.contains("split at its first space") && note.contains("\"四十\""),
            "{note}"
        );

        let word = HolderInput {
            name_kanji: Some("一語".into()),
            ..input()
        };
        assert_eq!(parse(&word).expect("one word").name_kanji.given(), None);
        assert!(word.name_note().expect("said").contains("no space"));
    }

    #[test]
    fn a_kanji_name_given_twice_or_not_at_all_is_refused_with_the_field() {
        let both = HolderInput {
            name_kanji: Some("薬剤 太郎".into()),
            family_name_kanji: Some("薬剤".into()),
            ..input()
        };
        let errs = parse(&both).expect_err("both");
        assert_eq!(errs[0].field, "name_kanji");
        let given_only = HolderInput {
            name_kanji: Some("薬剤 太郎".into()),
            given_name_kanji: Some("太郎".into()),
            ..input()
        };
        assert_eq!(
            parse(&given_only).expect_err("given")[0].field,
            "family_name_kanji"
        );
        assert_eq!(parse(&input()).expect_err("none")[0].field, "name_kanji");
    }

    #[test]
    fn organisations_and_the_romanized_name_are_checked_at_registration() {
        let bad = HolderInput {
            name_kanji: Some("薬剤 太郎".into()),
            name_roman: Some("Yakuzai Tarō".into()),
            organization_roman: Some("薬局".into()),
            organization_kanji: Some("例の薬局".into()),
            ..input()
        };
        let fields: Vec<&str> = parse(&bad)
            .expect_err("bad")
            .iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, vec!["name_roman", "organization_roman"]);
    }
}
