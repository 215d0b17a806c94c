//! The holder import file: UTF-8 CSV with a header row.
//!
//! Columns (any order): `registry_number`, the kanji name, `name_kana`, `date_of_birth`
//! (YYYY-MM-DD), `qualification` (hcRole code, e.g. `Pharmacist`) are required; `org`
//! (default from the config), `name_roman`, `organization_kanji`, `organization_roman` and
//! `photo` (a JPEG/PNG path relative to the CSV file) are optional. The kanji name is either
//! `family_name_kanji` (with `given_name_kanji`) or `name_kanji`, split at its first space
//! (the report counts the rows where that happened). Every bad row is reported with its line
//! number.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;

use super::holder_input::HolderInput;
use crate::domain::{KanjiNameSplit, NewHolder, OrgCode, Photo, PhotoLimits};
use crate::{Error, RowError};

const REQUIRED: &[&str] = &[
    "registry_number",
    "name_kana",
    "date_of_birth",
    "qualification",
];
const OPTIONAL: &[&str] = &[
    "name_kanji",
    "family_name_kanji",
    "given_name_kanji",
    "org",
    "name_roman",
    "organization_kanji",
    "organization_roman",
    "photo",
];
/// More rows than this is a mistake (or an attack), not a registry.
pub const MAX_ROWS: usize = 2_000_000;
/// Stop listing problems after this many; the file needs fixing anyway.
const MAX_REPORTED: usize = 200;

fn reject(line: u64, message: impl Into<String>) -> Error {
    Error::ImportRejected(vec![RowError {
        line,
        message: message.into(),
    }])
}

/// Checks the encoding first, so that a Shift_JIS file gets a useful message and a line number.
fn as_utf8(bytes: &[u8]) -> Result<&str, Error> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.strip_prefix('\u{feff}').unwrap_or(s)),
        Err(e) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u64
                + 1;
            Err(reject(
                line,
                "the file is not valid UTF-8 (Excel's \"CSV\" is Shift_JIS: save as \"CSV UTF-8\" and import again)",
            ))
        }
    }
}

/// One holder of the file.
#[derive(Clone, Debug)]
pub struct ImportRow {
    pub line: u64,
    pub holder: NewHolder,
    /// How the kanji name was taken apart, when it came as one `name_kanji` field.
    pub name_split: Option<KanjiNameSplit>,
}

/// Parses and checks the whole file; returns each holder with its line number.
pub fn parse_holder_csv(
    bytes: &[u8],
    default_org: &OrgCode,
    today: NaiveDate,
    photo_dir: Option<&Path>,
    photo_limits: PhotoLimits,
) -> Result<Vec<ImportRow>, Error> {
    let text = as_utf8(bytes)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| reject(1, format!("the header row cannot be read: {e}")))?
        .clone();
    let mut columns: HashMap<&str, usize> = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        let name = h.trim();
        if !REQUIRED.contains(&name) && !OPTIONAL.contains(&name) {
            return Err(reject(
                1,
                format!(
                    "unknown column {name:?}; the columns are {} (required) and {} (optional)",
                    REQUIRED.join(", "),
                    OPTIONAL.join(", ")
                ),
            ));
        }
        if columns
            .insert(
                REQUIRED
                    .iter()
                    .chain(OPTIONAL)
                    .find(|c| **c == name)
                    .copied()
                    .unwrap_or(""),
                i,
            )
            .is_some()
        {
            return Err(reject(1, format!("column {name:?} appears twice")));
        }
    }
    let mut missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|c| !columns.contains_key(c))
        .collect();
    if !columns.contains_key("name_kanji") && !columns.contains_key("family_name_kanji") {
        missing.push("name_kanji (or family_name_kanji and given_name_kanji)");
    }
    if !missing.is_empty() {
        return Err(reject(
            1,
            format!(
                "the header row lacks the required column(s) {}",
                missing.join(", ")
            ),
        ));
    }

    let mut errors: Vec<RowError> = Vec::new();
    let mut holders = Vec::new();
    let mut first_line_of: HashMap<String, u64> = HashMap::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(RowError {
                    line,
                    message: format!("cannot be read as CSV: {e}"),
                });
                if errors.len() >= MAX_REPORTED {
                    break;
                }
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if holders.len() + errors.len() >= MAX_ROWS {
            errors.push(RowError {
                line,
                message: format!("the file has more than {MAX_ROWS} rows; split it"),
            });
            break;
        }
        let field = |name: &str| {
            columns
                .get(name)
                .and_then(|i| record.get(*i))
                .unwrap_or("")
                .to_owned()
        };
        let optional = |name: &str| Some(field(name)).filter(|v| !v.trim().is_empty());
        let input = HolderInput {
            registry_number: field("registry_number"),
            org: optional("org"),
            name_kanji: optional("name_kanji"),
            family_name_kanji: optional("family_name_kanji"),
            given_name_kanji: optional("given_name_kanji"),
            name_kana: field("name_kana"),
            name_roman: optional("name_roman"),
            organization_kanji: optional("organization_kanji"),
            organization_roman: optional("organization_roman"),
            date_of_birth: field("date_of_birth"),
            qualification: field("qualification"),
        };
        let photo = match optional("photo") {
            None => Ok(None),
            Some(p) => load_photo(photo_dir, p.trim(), photo_limits).map(Some),
        };
        let mut problems: Vec<String> = Vec::new();
        let parsed = input.parse(default_org, today, None);
        if let Err(errs) = &parsed {
            problems.extend(errs.iter().map(ToString::to_string));
        }
        if let Err(e) = &photo {
            problems.push(e.clone());
        }
        match (parsed, photo) {
            (Ok(mut h), Ok(photo)) if problems.is_empty() => {
                let key = h.username.to_string();
                if let Some(first) = first_line_of.get(&key) {
                    errors.push(RowError {
                        line,
                        message: format!("holder {key} already appears on line {first}"),
                    });
                } else {
                    first_line_of.insert(key, line);
                    h.photo = photo;
                    holders.push(ImportRow {
                        line,
                        holder: h,
                        name_split: input.name_split(),
                    });
                }
            }
            _ => errors.push(RowError {
                line,
                message: problems.join("; "),
            }),
        }
        if errors.len() >= MAX_REPORTED {
            break;
        }
    }
    if !errors.is_empty() {
        return Err(Error::ImportRejected(errors));
    }
    if holders.is_empty() {
        return Err(reject(2, "the file has a header row but no holders"));
    }
    Ok(holders)
}

fn load_photo(photo_dir: Option<&Path>, rel: &str, limits: PhotoLimits) -> Result<Photo, String> {
    let Some(dir) = photo_dir else {
        return Err("photo: photos can only be imported from a file on disk".to_owned());
    };
    // The README's promise: photos are files beside the CSV (or below it), never elsewhere.
    let relative = Path::new(rel.trim());
    let inside = relative
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !inside || relative.as_os_str().is_empty() {
        return Err(format!(
            "photo {rel:?}: give a path inside the CSV file's directory (no absolute path, no ..)"
        ));
    }
    let path = dir.join(relative);
    let bytes = crate::files::read_at_most(&path, limits.max_bytes as u64)
        .map_err(|e| format!("photo {e}"))?;
    Photo::from_upload(&bytes, limits).map_err(|e| format!("photo {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 27).expect("date")
    }

    fn parse(csv: &str) -> Result<Vec<ImportRow>, Error> {
        parse_holder_csv(
            csv.as_bytes(),
            &OrgCode::jpa(),
            today(),
            None,
            PhotoLimits::default(),
        )
    }

    fn rejected(r: Result<Vec<ImportRow>, Error>) -> Vec<RowError> {
        match r {
            Err(Error::ImportRejected(rows)) => rows,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    const HEADER: &str = "registry_number,name_kanji,name_kana,date_of_birth,qualification\n";

    #[test]
    fn good_file_parses_with_line_numbers() {
        let csv = format!("\u{feff}{HEADER}999999,薬剤 太郎,ヤクザイ タロウ,1980-04-01,Pharmacist\n123456,医師 花子,イシ ハナコ,1975-01-31,Medical Doctor\n");
        let rows = parse(&csv).expect("valid");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[1].holder.username.to_string(), "123456-jpa");
        assert_eq!(rows[1].name_split, Some(KanjiNameSplit::AtFirstSpace));
    }

    #[test]
    fn every_bad_row_is_reported() {
        let csv = format!(
            "{HEADER}999999,薬剤 太郎,ヤクザイ タロウ,1980-04-01,Pharmacist\nabc,x,ヤ,1980-13-01,Pharmacist\n999999,薬剤 次郎,ヤクザイ ジロウ,1981-04-01,Pharmacist\n5,名前,ナマエ,1990-01-01,Wizard\n"
        );
        let errs = rejected(parse(&csv));
        let lines: Vec<u64> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5]);
        assert!(
            errs[0].message.contains("registry_number")
                && errs[0].message.contains("date_of_birth")
        );
        assert!(errs[1].message.contains("already appears on line 2"));
        assert!(errs[2].message.contains("qualification"));
    }

    #[test]
    fn shift_jis_is_refused_with_the_line() {
        let mut bytes = HEADER.as_bytes().to_vec();
        bytes.extend_from_slice(b"999999,\x96\xf2\x8d\xdc,x,1980-04-01,Pharmacist\n");
        let errs = rejected(parse_holder_csv(
            &bytes,
            &OrgCode::jpa(),
            today(),
            None,
            PhotoLimits::default(),
        ));
        assert_eq!(errs[0].line, 2);
        assert!(errs[0].message.contains("UTF-8"));
    }

    #[test]
    fn the_kanji_name_may_come_in_two_columns() {
        let csv = "registry_number,family_name_kanji,given_name_kanji,name_kana,date_of_birth,qualification,organization_kanji,organization_roman\n\
                   999999,神楽坂,四十,カグラザカ シジュウ,1980-04-01,Pharmacist,例の薬局,Example Pharmacy\n\
                   123456,一語,,イチゴ,1975-01-31,Medical Doctor,,\n";
        let rows = parse(csv).expect("valid");
        assert_eq!(rows[0].holder.name_kanji.written(), "神楽坂\u{3000}四十");
        assert_eq!(rows[0].name_split, None);
        assert_eq!(
            rows[0]
                .holder
                .organization_roman
                .as_ref()
                .map(|o| o.as_str()),
            Some("Example Pharmacy")
        );
        assert_eq!(rows[1].holder.name_kanji.written(), "一語");
        assert_eq!(rows[1].holder.organization_kanji, None);
        let errs = rejected(parse(
            "registry_number,name_kana,date_of_birth,qualification\n",
        ));
        assert!(
            errs[0].message.contains("family_name_kanji"),
            "{}",
            errs[0].message
        );
    }

    #[test]
    fn header_problems_are_named() {
        let errs = rejected(parse("registry_number,name_kanji\n1,x\n"));
        assert!(errs[0].message.contains("name_kana"), "{}", errs[0].message);
        let errs = rejected(parse(
            "registry_number,name_kanji,name_kana,date_of_birth,qualification,shoe_size\n",
        ));
        assert!(errs[0].message.contains("shoe_size"));
        let errs = rejected(parse(HEADER));
        assert!(errs[0].message.contains("no holders"));
        let errs = rejected(parse(&format!("{HEADER}1,a,ア,1980-01-01\n")));
        assert_eq!(errs[0].line, 2);
    }
}
