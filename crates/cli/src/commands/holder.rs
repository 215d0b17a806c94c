use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use hpki_core::domain::Holder;
use hpki_core::services::{HolderInput, SheetCheck};
use serde_json::json;

use crate::app::{cli_actor, App};
use crate::commands::sheet::{load_font, pending_text};
use crate::output::emit;
use crate::print::FontCheck;
use crate::Failure;

#[derive(Subcommand)]
pub enum HolderCommand {
    /// Register one holder.
    Add(Box<AddArgs>),
    /// Import holders from a UTF-8 CSV file, all or nothing.
    Import {
        /// Columns: registry_number, name_kana, date_of_birth, qualification and the kanji name
        /// (required): family_name_kanji and given_name_kanji, or name_kanji (split at its
        /// first space); org, name_roman, organization_kanji, organization_roman, photo (a
        /// path relative to the file) (optional).
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Show a holder by username (999999-jpa) or registry number.
    Show {
        /// The holder: a username (999999-jpa) or a registry number (999999).
        holder: String,
        #[arg(long)]
        json: bool,
    },
    /// Set or replace a holder's face photo (JPEG or PNG; it is re-encoded).
    Photo {
        /// The holder: a username (999999-jpa) or a registry number (999999).
        holder: String,
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// The manual's section 2, a renewal: through the gate, under dual control.
    #[command(flatten)]
    Case(crate::commands::cases::CaseCommand),
    /// Find holders by registry number, username or name (kanji, kana, romaji): partial,
    /// full-width or half-width, hiragana or katakana alike.
    Search {
        query: String,
        /// At most this many (1 to 100000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Every match as CSV (UTF-8, header row) on standard output, for a spreadsheet.
        #[arg(long)]
        csv: bool,
    },
    /// List holders in registration order.
    List {
        /// Start after this holder id (for paging).
        #[arg(long, default_value_t = 0)]
        after: i64,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct AddArgs {
    #[arg(long)]
    registry_number: String,
    /// Default: holders.default_org from the config.
    #[arg(long)]
    org: Option<String>,
    /// The kanji name in one, split at its first space (ASCII or ideographic) into family and
    /// given name; or give --family-name-kanji and --given-name-kanji.
    #[arg(long, required_unless_present = "family_name_kanji")]
    name_kanji: Option<String>,
    #[arg(long, conflicts_with = "name_kanji")]
    family_name_kanji: Option<String>,
    #[arg(long, requires = "family_name_kanji")]
    given_name_kanji: Option<String>,
    #[arg(long)]
    name_kana: String,
    /// In Latin letters, given name first, as it is to appear in certificates.
    #[arg(long)]
    name_roman: Option<String>,
    /// The organisation in certificates (optional): in kanji (subjectAltName) ...
    #[arg(long)]
    organization_kanji: Option<String>,
    /// ... and romanized (subject).
    #[arg(long)]
    organization_roman: Option<String>,
    /// YYYY-MM-DD
    #[arg(long)]
    date_of_birth: String,
    /// The hcRole code, e.g. Pharmacist.
    #[arg(long)]
    qualification: String,
    /// A JPEG or PNG face photo.
    #[arg(long)]
    photo: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

pub(crate) fn describe(h: &Holder) -> String {
    format!(
        "{}  {} ({})  born {}  {}  {}  photo: {}",
        h.username,
        h.name_kanji,
        h.name_kana.as_str(),
        h.date_of_birth,
        h.qualification,
        h.status.as_str(),
        if h.photo_sha256.is_some() {
            "yes"
        } else {
            "no"
        }
    )
}

/// The largest holder CSV read: 100,000 holders take about 10 MB.
const IMPORT_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// Reads a photo: at most the size limit is read (a device or a growing file included).
fn read_photo(path: &Path, max: usize) -> Result<Vec<u8>, Failure> {
    Ok(hpki_core::files::read_at_most(path, max as u64).map_err(|e| format!("photo {e}"))?)
}

/// After `holder add`: what would keep this holder's sheet from being printed (no photo, a
/// character the sheet font lacks), so it is known before the print run. The holder is
/// registered either way.
async fn printable_note(app: &App, h: &Holder) -> Option<String> {
    if h.photo_sha256.is_none() {
        return Some(format!(
            "note: {} has no face photo yet; add one with `hpki-second holder photo {} FILE` before printing a sheet",
            h.username, h.username
        ));
    }
    let photo = match app.holders.photo(&h.username).await {
        Ok(p) => p,
        Err(e) => return Some(format!("note: the photo was not checked: {e}")),
    };
    match load_font(app) {
        Err(e) => Some(format!(
            "note: the sheet font cannot be loaded, so the names were not checked: {}",
            e.message
        )),
        Ok(font) => FontCheck(&font)
            .check(h, Some(&photo))
            .err()
            .map(|why| format!("note: the sheet cannot be printed yet: {why}")),
    }
}

/// After `holder import`: which holders waiting for a sheet cannot be printed yet.
async fn pending_note(app: &App) -> Option<String> {
    match load_font(app) {
        Err(e) => Some(format!(
            "note: the sheet font cannot be loaded, so names were not checked: {}",
            e.message
        )),
        Ok(font) => match app.sheets.check_pending(&FontCheck(&font)).await {
            Ok(check) if check.unprintable > 0 => Some(format!(
                "note: before sheets are printed: {}",
                pending_text(&check)
            )),
            Ok(_) => None,
            Err(e) => Some(format!(
                "note: the holders waiting for a sheet were not checked: {e}"
            )),
        },
    }
}

pub async fn run(data_dir: &Path, cmd: HolderCommand) -> Result<(), Failure> {
    let app = App::open(data_dir).await?;
    match cmd {
        HolderCommand::Add(a) => {
            let photo = match &a.photo {
                Some(p) => Some(read_photo(p, app.settings.photo_limits.max_bytes)?),
                None => None,
            };
            let input = HolderInput {
                registry_number: a.registry_number,
                org: a.org,
                name_kanji: a.name_kanji,
                family_name_kanji: a.family_name_kanji,
                given_name_kanji: a.given_name_kanji,
                name_kana: a.name_kana,
                name_roman: a.name_roman,
                organization_kanji: a.organization_kanji,
                organization_roman: a.organization_roman,
                date_of_birth: a.date_of_birth,
                qualification: a.qualification,
            };
            let h = app.holders.add(&cli_actor(), &input, photo).await?;
            emit(a.json, &h, || format!("registered {}", describe(&h)));
            if let Some(note) = input.name_note() {
                eprintln!("note: {note}");
            }
            if let Some(note) = printable_note(&app, &h).await {
                eprintln!("{note}");
            }
        }
        HolderCommand::Import { file, json } => {
            let bytes = hpki_core::files::read_at_most(&file, IMPORT_MAX_BYTES)?;
            let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
            let r = app
                .holders
                .import_csv(&cli_actor(), bytes, Some(dir))
                .await?;
            emit(json, &r, || {
                format!(
                    "{} rows: {} holders registered, {} already registered and unchanged",
                    r.rows, r.inserted, r.unchanged
                )
            });
            if r.names_split > 0 || r.names_one_word > 0 {
                eprintln!(
                    "note: name_kanji was split at its first space into family and given name in {} rows, and kept whole as a one-word family name in {}; check them with `hpki-second holder list`, or give family_name_kanji and given_name_kanji columns",
                    r.names_split, r.names_one_word
                );
            }
            if let Some(note) = pending_note(&app).await {
                eprintln!("{note}");
            }
        }
        HolderCommand::Show { holder, json } => {
            let username = app.username(&holder)?;
            let h = app.holders.show(&username).await?;
            emit(json, &h, || describe(&h));
        }
        HolderCommand::Case(c) => crate::commands::cases::run(&app, c).await?,
        HolderCommand::Photo { holder, file, json } => {
            let bytes = read_photo(&file, app.settings.photo_limits.max_bytes)?;
            let username = app.username(&holder)?;
            let p = app
                .holders
                .set_photo(&cli_actor(), &username, bytes)
                .await?;
            let out = json!({
                "username": username,
                "width": p.width(),
                "height": p.height(),
                "photo_sha256": p.sha256_hex(),
            });
            emit(json, &out, || {
                format!(
                    "photo of {username} set: {}x{} pixels, SHA-256 {}",
                    p.width(),
                    p.height(),
                    p.sha256_hex()
                )
            });
        }
        HolderCommand::Search {
            query,
            limit,
            json,
            csv,
        } => {
            if csv {
                let found = app
                    .holders
                    .search(&query, hpki_core::services::search::MAX_LIMIT)
                    .await?;
                print!(
                    "{}",
                    hpki_core::services::search::holders_csv(&found.holders)?
                );
                app.store.close().await;
                return Ok(());
            }
            let found = app.holders.search(&query, limit).await?;
            emit(json, &found, || {
                let mut lines: Vec<String> = found.holders.iter().map(describe).collect();
                lines.push(format!(
                    "{} holder(s) match{}",
                    found.total,
                    if found.total > found.holders.len() {
                        format!("; the first {} shown (--limit)", found.holders.len())
                    } else {
                        String::new()
                    }
                ));
                lines.join("\n")
            });
        }
        HolderCommand::List { after, limit, json } => {
            let page = app.holders.list(after, limit).await?;
            let next = page.last().map(|h| h.id);
            emit(
                json,
                &json!({ "holders": page, "next_after": next }),
                || {
                    page.iter()
                        .map(|h| format!("{:>8}  {}", h.id, describe(h)))
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            );
        }
    }
    app.store.close().await;
    Ok(())
}
