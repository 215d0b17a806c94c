//! Environment overrides: `HPKI_SECOND__SECTION__KEY=value` over the file, and the two
//! variables that carry a value of their own.

use super::{cfg_err, ConfigError};

const ENV_PREFIX: &str = "HPKI_SECOND__";
/// The environment variable that carries the key-encryption key (64 hex digits) instead of
/// `ca.kek_file`, for deployments that inject secrets through the environment.
pub const KEK_ENV: &str = "HPKI_SECOND_KEK";
/// The environment variable of `[server] public_url` (also how `serve --public-url` applies).
pub const PUBLIC_URL_ENV: &str = "HPKI_SECOND__SERVER__PUBLIC_URL";

/// Applies `HPKI_SECOND__SECTION__KEY=value` variables onto the table; returns their names.
pub(super) fn apply_env(
    table: &mut toml::Table,
    vars: impl Iterator<Item = (String, String)>,
) -> Result<Vec<String>, ConfigError> {
    let mut used = Vec::new();
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let parts: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        let [section, key] = parts.as_slice() else {
            return Err(cfg_err(
                &name,
                "an override is named HPKI_SECOND__SECTION__KEY, e.g. HPKI_SECOND__SERVER__LISTEN",
            ));
        };
        // A value that reads as TOML (a number, true/false, an array such as `["revoke"]`) is
        // taken as such, anything else as text.
        let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .filter(|v| !matches!(v, toml::Value::Table(_)))
            .unwrap_or(toml::Value::String(value));
        let entry = table
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(section_table) = entry.as_table_mut() else {
            return Err(cfg_err(&name, format!("{section} is not a section")));
        };
        section_table.insert(key.clone(), parsed);
        used.push(name);
    }
    Ok(used)
}
