//! Holder search for operators: by registry number, username, or name in kanji, kana or
//! romaji, partial, and the same whether typed in full-width or half-width, hiragana or
//! katakana, upper or lower case, with or without spaces.
//!
//! What is searched never changes once a holder is registered (names, registry number and
//! username are set at registration), so each instance keeps the search forms of every holder
//! in memory (about 100 bytes each: 10 MB for 100,000 holders), in registration order, and
//! before each search reads only the holders registered since its last look (one indexed
//! query that finds none most of the time). A holder registered on another instance is found
//! by the very next search everywhere. The matches are then read from the database, so their
//! status is always current.

use std::sync::{Arc, RwLock};

use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

use crate::domain::{Holder, InvalidInput};
use crate::store::Store;
use crate::Error;

/// The form both sides of a search are compared in: NFKC (full-width letters and digits
/// become ASCII, half-width katakana full-width), katakana as hiragana, ASCII lower case,
/// without white space (U+3000 included) and the middle dots names are sometimes written with.
pub fn search_form(s: &str) -> String {
    s.nfkc()
        .filter(|c| !c.is_whitespace() && !matches!(c, '・' | '･'))
        .map(|c| match c {
            // Katakana ァ..ヶ to hiragana ぁ..ゖ.
            '\u{30A1}'..='\u{30F6}' => char::from_u32(c as u32 - 0x60).unwrap_or(c),
            _ => c.to_ascii_lowercase(),
        })
        .collect()
}

/// One holder's searchable text: each field in its search form, apart.
fn holder_key(h: &Holder) -> String {
    let mut fields = vec![
        h.username.registry_number().as_str().to_owned(),
        h.username.to_string(),
        format!(
            "{}{}",
            h.name_kanji.family(),
            h.name_kanji.given().unwrap_or_default()
        ),
        h.name_kana.as_str().to_owned(),
    ];
    if let Some(r) = &h.name_roman {
        fields.push(r.as_str().to_owned());
    }
    // A separator no search form contains, so that a match never spans two fields.
    fields
        .iter()
        .map(|f| search_form(f))
        .collect::<Vec<_>>()
        .join("\u{1}")
}

/// The holders' search forms, in registration order, and how far they have been read.
#[derive(Default)]
struct Index {
    last_id: i64,
    keys: Vec<(i64, String)>,
}

/// The in-memory index (shared by the clones of the holder service).
#[derive(Clone, Default)]
pub(super) struct SearchIndex {
    index: Arc<RwLock<Index>>,
    /// One reader of new holders at a time.
    loading: Arc<tokio::sync::Mutex<()>>,
}

/// A page of matches.
#[derive(Clone, Debug, Serialize)]
pub struct SearchResult {
    pub holders: Vec<Holder>,
    /// How many holders match in all (the page holds the first `limit`).
    pub total: usize,
}

/// How many holders are read at a time while catching up.
const PAGE: u32 = 2000;

/// The most matches one search returns (an export of a search takes them all).
pub const MAX_LIMIT: u32 = 100_000;

impl SearchIndex {
    /// Reads the holders registered since the last look.
    pub(super) async fn catch_up(&self, store: &dyn Store) -> Result<(), Error> {
        let _one = self.loading.lock().await;
        loop {
            let after = self.index.read().map_or(0, |i| i.last_id);
            let page = store.list_holders(after, PAGE).await?;
            let Some(last) = page.last().map(|h| h.id) else {
                return Ok(());
            };
            let keys: Vec<(i64, String)> = page.iter().map(|h| (h.id, holder_key(h))).collect();
            if let Ok(mut i) = self.index.write() {
                i.keys.extend(keys);
                i.last_id = last;
            }
            if page.len() < PAGE as usize {
                return Ok(());
            }
        }
    }

    /// The first `limit` matches of `query` (in registration order) and how many there are.
    pub(super) async fn search(
        &self,
        store: &dyn Store,
        query: &str,
        limit: u32,
    ) -> Result<SearchResult, Error> {
        let q = search_form(query);
        if q.is_empty() {
            return Err(InvalidInput::new(
                "q",
                "type part of a registry number, username or name (kanji, kana or romaji)",
            )
            .into());
        }
        self.catch_up(store).await?;
        let (ids, total) = {
            let index = self
                .index
                .read()
                .map_err(|_| Error::Internal("the holder search index is poisoned".into()))?;
            let mut ids = Vec::new();
            let mut total = 0usize;
            for (id, key) in &index.keys {
                if key.contains(&q) {
                    if ids.len() < limit.clamp(1, MAX_LIMIT) as usize {
                        ids.push(*id);
                    }
                    total += 1;
                }
            }
            (ids, total)
        };
        let mut holders = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            holders.extend(store.holders_by_ids(chunk).await?);
        }
        holders.sort_by_key(|h| h.id);
        Ok(SearchResult { holders, total })
    }
}

/// A cell a spreadsheet will not take for a formula (OWASP's rule for CSV injection): one that
/// starts with `=`, `+`, `-`, `@`, a tab or a carriage return (or their full-width forms) gets
/// a `'` in front, which spreadsheets show as text and do not evaluate.
pub fn csv_cell(value: &str) -> std::borrow::Cow<'_, str> {
    const FORMULA_START: [char; 10] = ['=', '+', '-', '@', '\t', '\r', '＝', '＋', '－', '＠'];
    if value.starts_with(FORMULA_START) {
        format!("'{value}").into()
    } else {
        value.into()
    }
}

/// Holders as CSV with a header row (UTF-8): the registry's columns, then status and
/// registration time; for a spreadsheet (`holder search --csv`, the console's export). Every
/// cell goes through [`csv_cell`].
pub fn holders_csv(holders: &[Holder]) -> Result<String, Error> {
    let bad = |e: csv::Error| Error::Internal(format!("CSV: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "registry_number",
        "username",
        "family_name_kanji",
        "given_name_kanji",
        "name_kana",
        "name_roman",
        "qualification",
        "status",
        "registered_at",
    ])
    .map_err(bad)?;
    for h in holders {
        let record = [
            h.username.registry_number().as_str(),
            &h.username.to_string(),
            h.name_kanji.family(),
            h.name_kanji.given().unwrap_or_default(),
            h.name_kana.as_str(),
            h.name_roman.as_ref().map_or("", |r| r.as_str()),
            h.qualification.code(),
            h.status.as_str(),
            &h.created_at.to_rfc3339(),
        ];
        w.write_record(record.iter().map(|v| csv_cell(v).into_owned()))
            .map_err(bad)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::Internal(format!("CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::Internal(format!("CSV: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_a_spreadsheet_would_evaluate_are_neutralised() {
        for (value, written) in [
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "'=HYPERLINK(\"http://x\",\"y\")",
            ),
            ("@SUM(1+1)", "'@SUM(1+1)"),
            ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
            ("+81", "'+81"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("＝1+1", "'＝1+1"),
            ("Yakuzai Taro", "Yakuzai Taro"),
            ("薬剤", "薬剤"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(csv_cell(value), written, "{value}");
        }
    }

    #[test]
    fn the_search_form_forgets_width_kana_case_and_spaces() {
        assert_eq!(search_form("ﾔｸｻﾞｲ ﾀﾛｳ"), "やくざいたろう");
        assert_eq!(search_form("ヤクザイ　タロウ"), "やくざいたろう");
        assert_eq!(search_form("やくざい"), "やくざい");
        assert_eq!(search_form("９９９９９９－ＪＰＡ"), "999999-jpa");
        assert_eq!(search_form("Taro YAKUZAI"), "taroyakuzai");
        assert_eq!(search_form("薬剤　太郎"), "薬剤太郎");
        assert_eq!(search_form("ヴァン・ダイク"), "ゔぁんだいく");
    }
}
