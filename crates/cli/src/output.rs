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
