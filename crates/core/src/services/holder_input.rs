//! A holder as it arrives from outside (a form, JSON, a CSV row) and its parsing into a
//! [`NewHolder`]: every field checked, every problem reported. Used by the holder service and
//! by the CSV import alike.

use chrono::NaiveDate;
use serde::Deserialize;

use crate::domain::{
    DateOfBirth, InvalidInput, KanaName, KanjiName, NewHolder, OrgCode, Photo, Qualification,
    RegistryNumber, RomanName, Username,
};

/// A holder as it arrives from outside (a form, JSON, a CSV row): unchecked text.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolderInput {
    pub registry_number: String,
    #[serde(default)]
    pub org: Option<String>,
    pub name_kanji: String,
    pub name_kana: String,
    #[serde(default)]
    pub name_roman: Option<String>,
    pub date_of_birth: String,
    pub qualification: String,
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
        let org = match self.org.as_deref().map(str::trim) {
            None | Some("") => Some(default_org.clone()),
            Some(o) => keep(&mut errors, OrgCode::parse(o)),
        };
        let name_kanji = keep(&mut errors, KanjiName::parse(&self.name_kanji));
        let name_kana = keep(&mut errors, KanaName::parse(&self.name_kana));
        let name_roman = match self.name_roman.as_deref().map(str::trim) {
            None | Some("") => Some(None),
            Some(r) => keep(&mut errors, RomanName::parse(r).map(Some)),
        };
        let date_of_birth = keep(&mut errors, DateOfBirth::parse(&self.date_of_birth, today));
        let qualification = keep(&mut errors, Qualification::parse(&self.qualification));
        match (
            number,
            org,
            name_kanji,
            name_kana,
            name_roman,
            date_of_birth,
            qualification,
        ) {
            (Some(n), Some(o), Some(k), Some(kana), Some(r), Some(d), Some(q))
                if errors.is_empty() =>
            {
                Ok(NewHolder {
                    username: Username::new(n, o),
                    name_kanji: k,
                    name_kana: kana,
                    name_roman: r,
                    date_of_birth: d,
                    qualification: q,
                    photo,
                })
            }
            _ => Err(errors),
        }
    }
}

fn keep<T>(errors: &mut Vec<InvalidInput>, r: Result<T, InvalidInput>) -> Option<T> {
    r.map_err(|e| errors.push(e)).ok()
}
