//! The holder registry: register, import, show, list, and the face photo.

use crate::audit::Action;
use std::path::PathBuf;
use std::sync::Arc;

use crate::audit::{Actor, AuditEvent};
use crate::clock::Clock;
use crate::domain::{Holder, KanjiNameSplit, NewHolder, OrgCode, Photo, PhotoLimits, Username};
use crate::store::{ImportOutcome, Store};
use crate::{Error, RowError};

use super::holder_input::HolderInput;

/// The holder with this username, or `NotFound`: the lookup every service that acts for a
/// holder starts with.
pub async fn find_holder(store: &dyn Store, username: &Username) -> Result<Holder, Error> {
    store
        .holder(username)
        .await?
        .ok_or_else(|| Error::NotFound(format!("holder {username}")))
}

/// What an import did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    pub rows: u64,
    pub inserted: u64,
    pub unchanged: u64,
    /// Rows whose one-field `name_kanji` was split at its first space into family and given
    /// name, and rows whose `name_kanji` is one word (kept whole as the family name).
    pub names_split: u64,
    pub names_one_word: u64,
}

/// The registry's rules; web and CLI call these.
#[derive(Clone)]
pub struct HolderService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    default_org: OrgCode,
    photo_limits: PhotoLimits,
    search: super::search::SearchIndex,
}

fn created_event(
    at: chrono::DateTime<chrono::Utc>,
    actor: &Actor,
    h: &NewHolder,
    via: &str,
) -> AuditEvent {
    AuditEvent::new(
        at,
        actor,
        Action::HOLDER_CREATED,
        h.username.to_string(),
        serde_json::json!({
            "via": via,
            "qualification": h.qualification.code(),
            "photo_sha256": h.photo.as_ref().map(Photo::sha256_hex),
        }),
    )
}

impl HolderService {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        default_org: OrgCode,
        photo_limits: PhotoLimits,
    ) -> Self {
        Self {
            store,
            clock,
            default_org,
            photo_limits,
            search: super::search::SearchIndex::default(),
        }
    }

    /// Reads every holder into the search index now (a server does this as it starts, so
    /// that the first operator's search does not wait for it).
    pub async fn warm_search(&self) -> Result<(), Error> {
        self.search.catch_up(self.store.as_ref()).await
    }

    /// Holders whose registry number, username or name (kanji, kana, romaji) contains
    /// `query`, however it is typed (see [`super::search_form`]): the first `limit` (at most
    /// 100,000) in registration order, and how many match in all.
    pub async fn search(&self, query: &str, limit: u32) -> Result<super::SearchResult, Error> {
        self.search.search(self.store.as_ref(), query, limit).await
    }

    pub fn photo_limits(&self) -> PhotoLimits {
        self.photo_limits
    }

    /// Checks and re-encodes a photo off the async runtime (decoding is CPU work).
    pub async fn prepare_photo(&self, bytes: Vec<u8>) -> Result<Photo, Error> {
        let limits = self.photo_limits;
        tokio::task::spawn_blocking(move || Photo::from_upload(&bytes, limits))
            .await
            .map_err(|e| Error::Internal(format!("photo task failed: {e}")))?
            .map_err(Error::Photo)
    }

    /// Registers one holder.
    pub async fn add(
        &self,
        actor: &Actor,
        input: &HolderInput,
        photo: Option<Vec<u8>>,
    ) -> Result<Holder, Error> {
        let now = self.clock.now();
        let photo = match photo {
            Some(bytes) => Some(self.prepare_photo(bytes).await?),
            None => None,
        };
        let holder = input
            .parse(&self.default_org, now.date_naive(), photo)
            .map_err(Error::Invalid)?;
        let event = created_event(now, actor, &holder, "add");
        match self.store.insert_holder(&holder, &event).await {
            Ok(h) => Ok(h),
            Err(crate::store::StoreError::Conflict(_)) => Err(Error::Conflict(format!(
                "holder {} is already registered",
                holder.username
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Imports a UTF-8 CSV file, all or nothing (see [`super::import`] for the format).
    /// Photo paths in the file are relative to `photo_dir`.
    pub async fn import_csv(
        &self,
        actor: &Actor,
        csv: Vec<u8>,
        photo_dir: Option<PathBuf>,
    ) -> Result<ImportReport, Error> {
        let now = self.clock.now();
        let (org, limits) = (self.default_org.clone(), self.photo_limits);
        // Parsing reads and decodes photos: CPU and file work, off the async runtime.
        let parsed = tokio::task::spawn_blocking(move || {
            super::import::parse_holder_csv(
                &csv,
                &org,
                now.date_naive(),
                photo_dir.as_deref(),
                limits,
            )
        })
        .await
        .map_err(|e| Error::Internal(format!("import task failed: {e}")))??;
        let rows: Vec<(NewHolder, AuditEvent)> = parsed
            .iter()
            .map(|r| {
                let ev = created_event(now, actor, &r.holder, "import");
                (r.holder.clone(), ev)
            })
            .collect();
        let split = |how| parsed.iter().filter(|r| r.name_split == Some(how)).count() as u64;
        match self.store.import_holders(&rows).await? {
            ImportOutcome::Imported {
                inserted,
                unchanged,
            } => Ok(ImportReport {
                rows: rows.len() as u64,
                inserted,
                unchanged,
                names_split: split(KanjiNameSplit::AtFirstSpace),
                names_one_word: split(KanjiNameSplit::OneWord),
            }),
            ImportOutcome::Conflicts(conflicts) => Err(Error::ImportRejected(
                conflicts
                    .into_iter()
                    .map(|(i, message)| RowError {
                        line: parsed.get(i).map_or(0, |r| r.line),
                        message,
                    })
                    .collect(),
            )),
        }
    }

    pub async fn show(&self, username: &Username) -> Result<Holder, Error> {
        find_holder(self.store.as_ref(), username).await
    }

    /// Holders by their ids (any order; unknown ids are left out).
    pub async fn by_ids(&self, ids: &[i64]) -> Result<Vec<Holder>, Error> {
        Ok(self.store.holders_by_ids(ids).await?)
    }

    pub async fn list(&self, after_id: i64, limit: u32) -> Result<Vec<Holder>, Error> {
        Ok(self
            .store
            .list_holders(after_id, limit.clamp(1, 10_000))
            .await?)
    }

    pub async fn count(&self) -> Result<u64, Error> {
        Ok(self.store.count_holders().await?)
    }

    /// Replaces the holder's face photo.
    pub async fn set_photo(
        &self,
        actor: &Actor,
        username: &Username,
        bytes: Vec<u8>,
    ) -> Result<Photo, Error> {
        let photo = self.prepare_photo(bytes).await?;
        let event = AuditEvent::new(
            self.clock.now(),
            actor,
            Action::HOLDER_PHOTO_REPLACED,
            username.to_string(),
            serde_json::json!({ "photo_sha256": photo.sha256_hex() }),
        );
        if self
            .store
            .set_holder_photo(username, &photo, &event)
            .await?
        {
            Ok(photo)
        } else {
            Err(Error::NotFound(format!("holder {username}")))
        }
    }

    pub async fn photo(&self, username: &Username) -> Result<Photo, Error> {
        self.store
            .holder_photo(username)
            .await?
            .ok_or_else(|| Error::NotFound(format!("photo of holder {username}")))
    }
}
