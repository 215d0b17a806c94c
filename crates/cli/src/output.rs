//! What commands print: JSON for scripts (`--json`), plain lines for people.

use serde::Serialize;

pub fn emit<T: Serialize>(json: bool, value: &T, human: impl FnOnce() -> String) {
    if json {
        match serde_json::to_string_pretty(value) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("error: cannot print JSON: {e}"),
        }
    } else {
        println!("{}", human());
    }
}

/// A moment as people here read it: Japan's time, to the minute, said so
/// (`2026-12-08 09:00 JST`). JSON keeps RFC 3339 in UTC.
pub fn jst_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&hpki_core::clock::japan())
        .format("%Y-%m-%d %H:%M JST")
        .to_string()
}

/// The day a moment falls on in Japan (`2026-12-08`).
pub fn jst_date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&hpki_core::clock::japan())
        .format("%Y-%m-%d")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_japans() {
        let t = chrono::DateTime::from_timestamp(1_796_050_800, 0).expect("time");
        assert_eq!(t.to_rfc3339(), "2026-11-30T15:00:00+00:00");
        assert_eq!(jst_time(t), "2026-12-01 00:00 JST");
        assert_eq!(jst_date(t), "2026-12-01");
    }
}
