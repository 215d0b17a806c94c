//! Which characters each name field of the registry takes: Japanese script with every kanji a
//! family register may hold, Latin letters for foreign and romanized names, and the few marks
//! names are written with. Markup, formula signs and invisible characters are refused, each
//! refusal naming the field and the character (holder.rs parses the fields with these).

use super::InvalidInput;

/// A character of a name in Japanese script: kanji (every CJK ideograph block, the
/// compatibility ideographs among them, with variation selectors), hiragana, katakana, the
/// iteration and long-vowel marks (々 〆 〇 ゝ ゞ ヽ ヾ ー), the middle dot and double hyphen of
/// foreign names in katakana (・ ゠), and private-use characters, which is where a family
/// register's gaiji (外字) live. Invisible characters (zero-width spaces) and other spaces than
/// U+0020 and U+3000 are refused.
fn is_japanese_name_char(c: char) -> bool {
    matches!(c,
        '\u{4E00}'..='\u{9FFF}'      // CJK Unified Ideographs
        | '\u{3400}'..='\u{4DBF}'    // Extension A
        | '\u{20000}'..='\u{3134F}'  // Extensions B to G, Compatibility Supplement
        | '\u{F900}'..='\u{FAFF}'    // Compatibility Ideographs (﨑, 髙's kin)
        | '\u{3005}'..='\u{3007}'    // 々 〆 〇
        | '\u{3041}'..='\u{3096}'    // hiragana
        | '\u{309D}'..='\u{309F}'    // ゝ ゞ ゟ
        | '\u{30A0}'..='\u{30FF}'    // katakana with ゠ ・ ー ヽ ヾ
        | '\u{FE00}'..='\u{FE0F}'    // standardized variation selectors (辻︀)
        | '\u{E000}'..='\u{F8FF}'    // private use: a registry's gaiji (外字)
        | '\u{F0000}'..='\u{10FFFD}'  // supplementary private use, likewise
        | '\u{E0100}'..='\u{E01EF}'  // variation selectors of registered kanji (IVS)
    )
}

/// A character of a name in Latin letters (a foreign name, or one written in romaji): the
/// letters of ASCII, Latin-1 and Latin Extended-A/B (é, ø, ł, ș), full-width letters, and
/// combining accents.
fn is_latin_name_char(c: char) -> bool {
    c.is_ascii_alphabetic()
        || (('\u{C0}'..='\u{24F}').contains(&c) && c.is_alphabetic())
        || ('\u{FF21}'..='\u{FF3A}').contains(&c)
        || ('\u{FF41}'..='\u{FF5A}').contains(&c)
        || ('\u{300}'..='\u{36F}').contains(&c)
}

/// Refuses the first character of `s` that a `field` cannot hold, naming it and saying what
/// the field takes (`takes`).
pub(super) fn only(
    field: &'static str,
    s: &str,
    allowed: impl Fn(char) -> bool,
    takes: &str,
) -> Result<(), InvalidInput> {
    match s.chars().find(|c| !allowed(*c)) {
        None => Ok(()),
        Some(bad) => Err(InvalidInput::new(
            field,
            format!("{s:?} contains {bad:?} (U+{:04X}); {takes}", bad as u32),
        )),
    }
}

/// A person's name in the registry (kanji name, family or given): Japanese script, Latin
/// letters, spaces, and the marks names are written with (- ' .).
pub(super) fn is_person_name_char(c: char) -> bool {
    is_japanese_name_char(c)
        || is_latin_name_char(c)
        || c == ' '
        || c == super::holder::IDEOGRAPHIC_SPACE
        || matches!(c, '-' | '\'' | '.' | '’' | '－' | '．')
}

pub(super) const PERSON_NAME_TAKES: &str =
    "a name may hold kanji, hiragana, katakana, 々 〆 ・ ー, Latin letters, spaces and - ' .";
