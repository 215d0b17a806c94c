use std::collections::HashMap;

use hpki_core::audit::AuditEvent;
use hpki_core::domain::{
    DateOfBirth, Holder, HolderStatus, KanaName, KanjiName, NewHolder, OrganizationName, Photo,
    Qualification, RomanName, Username,
};
use hpki_core::store::{ImportOutcome, StoreError};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::write::{multi_insert, placeholder, Write, CHUNK};
use crate::{corrupt, db_err, Backend, SqlStore};

const COLUMNS: &str = "id, username, family_name_kanji, given_name_kanji, name_kana, name_roman, organization_kanji, organization_roman, date_of_birth, qualification, status, photo_sha256, created_micros";
/// The same columns of `holders h`, for joins.
pub(crate) const H_COLUMNS: &str = "h.id, h.username, h.family_name_kanji, h.given_name_kanji, h.name_kana, h.name_roman, h.organization_kanji, h.organization_roman, h.date_of_birth, h.qualification, h.status, h.photo_sha256, h.created_micros";

pub(crate) fn from_row(row: &AnyRow) -> Result<Holder, StoreError> {
    let text = |c: &str| row.try_get::<String, _>(c).map_err(db_err);
    let optional = |c: &str| row.try_get::<Option<String>, _>(c).map_err(db_err);
    let bad = |_| corrupt("holder");
    let micros: i64 = row.try_get("created_micros").map_err(db_err)?;
    Ok(Holder {
        id: row.try_get("id").map_err(db_err)?,
        username: Username::parse(&text("username")?).map_err(bad)?,
        name_kanji: KanjiName::from_parts(
            &text("family_name_kanji")?,
            optional("given_name_kanji")?.as_deref(),
        )
        .map_err(bad)?,
        name_kana: KanaName::parse(&text("name_kana")?).map_err(bad)?,
        name_roman: optional("name_roman")?
            .map(|r| RomanName::parse(&r))
            .transpose()
            .map_err(bad)?,
        organization_kanji: optional("organization_kanji")?
            .map(|o| OrganizationName::parse_kanji(&o))
            .transpose()
            .map_err(bad)?,
        organization_roman: optional("organization_roman")?
            .map(|o| OrganizationName::parse_roman(&o))
            .transpose()
            .map_err(bad)?,
        date_of_birth: DateOfBirth::from_stored(&text("date_of_birth")?)
            .ok_or_else(|| corrupt("holder"))?,
        qualification: Qualification::parse(&text("qualification")?).map_err(bad)?,
        status: HolderStatus::from_stored(&text("status")?).ok_or_else(|| corrupt("holder"))?,
        photo_sha256: row.try_get("photo_sha256").map_err(db_err)?,
        created_at: chrono::DateTime::from_timestamp_micros(micros)
            .ok_or_else(|| corrupt("holder"))?,
    })
}

/// Inserts holders (and their photos) in the open transaction; returns their ids in order.
async fn insert_rows(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    rows: &[&NewHolder],
    at_micros: i64,
) -> Result<(), StoreError> {
    for chunk in rows.chunks(CHUNK) {
        let sql = multi_insert(
            backend,
            "INSERT INTO holders (org, registry_number, username, family_name_kanji, \
             given_name_kanji, name_kana, name_roman, organization_kanji, organization_roman, \
             date_of_birth, qualification, status, photo_sha256, created_micros) VALUES ",
            14,
            chunk.len(),
        );
        let mut q = sqlx::query(&sql);
        for h in chunk {
            q = q
                .bind(h.username.org().as_str())
                .bind(h.username.registry_number().as_str())
                .bind(h.username.to_string())
                .bind(h.name_kanji.family())
                .bind(h.name_kanji.given().map(str::to_owned))
                .bind(h.name_kana.as_str())
                .bind(h.name_roman.as_ref().map(|r| r.as_str().to_owned()))
                .bind(h.organization_kanji.as_ref().map(|o| o.as_str().to_owned()))
                .bind(h.organization_roman.as_ref().map(|o| o.as_str().to_owned()))
                .bind(h.date_of_birth.to_string())
                .bind(h.qualification.code())
                .bind(HolderStatus::Active.as_str())
                .bind(h.photo.as_ref().map(Photo::sha256_hex))
                .bind(at_micros);
        }
        q.execute(&mut **tx).await.map_err(db_err)?;
    }
    for h in rows.iter().filter(|h| h.photo.is_some()) {
        if let Some(photo) = &h.photo {
            write_photo(tx, &h.username, photo).await?;
        }
    }
    Ok(())
}

/// Stores the photo of an existing holder; `false` if there is no such holder.
async fn write_photo(
    tx: &mut Transaction<'static, Any>,
    username: &Username,
    photo: &Photo,
) -> Result<bool, StoreError> {
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM holders WHERE username = $1")
        .bind(username.to_string())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
    let Some(id) = id else { return Ok(false) };
    sqlx::query("DELETE FROM holder_photos WHERE holder_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    sqlx::query(
        "INSERT INTO holder_photos (holder_id, jpeg, width, height) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(photo.jpeg().to_vec())
    .bind(i64::from(photo.width()))
    .bind(i64::from(photo.height()))
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    sqlx::query("UPDATE holders SET photo_sha256 = $1 WHERE id = $2")
        .bind(photo.sha256_hex())
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(true)
}

async fn select_by_username(
    tx: &mut Transaction<'static, Any>,
    username: &Username,
) -> Result<Option<Holder>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM holders WHERE username = $1");
    let row = sqlx::query(&sql)
        .bind(username.to_string())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn insert_one(
    db: &SqlStore,
    holder: &NewHolder,
    event: &AuditEvent,
) -> Result<Holder, StoreError> {
    let mut w = Write::begin(db).await?;
    // The head lock orders writers, so this check cannot race another insert of the same holder.
    if select_by_username(&mut w.tx, &holder.username)
        .await?
        .is_some()
    {
        return Err(StoreError::Conflict(format!(
            "holder {} already exists",
            holder.username
        )));
    }
    insert_rows(&mut w.tx, w.backend, &[holder], event.at.timestamp_micros()).await?;
    let stored = select_by_username(&mut w.tx, &holder.username)
        .await?
        .ok_or_else(|| corrupt("holder"))?;
    w.audit([event]).await?;
    w.commit().await?;
    Ok(stored)
}

pub(crate) async fn import(
    db: &SqlStore,
    rows: &[(NewHolder, AuditEvent)],
) -> Result<ImportOutcome, StoreError> {
    let mut w = Write::begin(db).await?;
    let mut existing: HashMap<String, Holder> = HashMap::new();
    for chunk in rows.chunks(CHUNK) {
        let placeholders: Vec<String> = (1..=chunk.len())
            .map(|i| placeholder(w.backend, i))
            .collect();
        let sql = format!(
            "SELECT {COLUMNS} FROM holders WHERE username IN ({})",
            placeholders.join(",")
        );
        let mut q = sqlx::query(&sql);
        for (h, _) in chunk {
            q = q.bind(h.username.to_string());
        }
        for row in q.fetch_all(&mut *w.tx).await.map_err(db_err)? {
            let h = from_row(&row)?;
            existing.insert(h.username.to_string(), h);
        }
    }
    let mut conflicts = Vec::new();
    let mut new_rows = Vec::new();
    let mut events = Vec::new();
    for (i, (h, ev)) in rows.iter().enumerate() {
        match existing.get(&h.username.to_string()) {
            None => {
                new_rows.push(h);
                events.push(ev);
            }
            Some(stored) if h.same_data_as(stored) => {}
            Some(_) => conflicts.push((
                i,
                format!(
                    "holder {} is already registered with different data",
                    h.username
                ),
            )),
        }
    }
    if !conflicts.is_empty() {
        return Ok(ImportOutcome::Conflicts(conflicts));
    }
    let unchanged = (rows.len() - new_rows.len()) as u64;
    if new_rows.is_empty() {
        return Ok(ImportOutcome::Imported {
            inserted: 0,
            unchanged,
        });
    }
    let at = events.first().map_or(0, |e| e.at.timestamp_micros());
    insert_rows(&mut w.tx, w.backend, &new_rows, at).await?;
    w.audit(events).await?;
    w.commit().await?;
    Ok(ImportOutcome::Imported {
        inserted: new_rows.len() as u64,
        unchanged,
    })
}

pub(crate) async fn set_photo(
    db: &SqlStore,
    username: &Username,
    photo: &Photo,
    event: &AuditEvent,
) -> Result<bool, StoreError> {
    let mut w = Write::begin(db).await?;
    if !write_photo(&mut w.tx, username, photo).await? {
        return Ok(false);
    }
    w.audit([event]).await?;
    w.commit().await?;
    Ok(true)
}

pub(crate) async fn by_username(
    db: &SqlStore,
    username: &Username,
) -> Result<Option<Holder>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM holders WHERE username = $1");
    let row = sqlx::query(&sql)
        .bind(username.to_string())
        .fetch_optional(&db.pool)
        .await
        .map_err(db_err)?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn photo(db: &SqlStore, username: &Username) -> Result<Option<Photo>, StoreError> {
    let row = sqlx::query(
        "SELECT p.jpeg, p.width, p.height FROM holder_photos p JOIN holders h ON h.id = p.holder_id WHERE h.username = $1",
    )
    .bind(username.to_string())
    .fetch_optional(&db.pool)
    .await
    .map_err(db_err)?;
    let Some(row) = row else { return Ok(None) };
    let width: i64 = row.try_get("width").map_err(db_err)?;
    let height: i64 = row.try_get("height").map_err(db_err)?;
    let side = |v: i64| u32::try_from(v).map_err(|_| corrupt("photo"));
    Ok(Some(Photo::from_stored(
        row.try_get("jpeg").map_err(db_err)?,
        side(width)?,
        side(height)?,
    )))
}

pub(crate) async fn list(
    db: &SqlStore,
    after_id: i64,
    limit: u32,
) -> Result<Vec<Holder>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM holders WHERE id > $1 ORDER BY id LIMIT $2");
    let rows = sqlx::query(&sql)
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(&db.pool)
        .await
        .map_err(db_err)?;
    rows.iter().map(from_row).collect()
}

/// The holders with these ids (numbers bound as parameters, one each).
pub(crate) async fn by_ids(db: &SqlStore, ids: &[i64]) -> Result<Vec<Holder>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM holders WHERE id IN ({})",
        marks.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(*id);
    }
    let rows = q.fetch_all(&db.pool).await.map_err(db_err)?;
    rows.iter().map(from_row).collect()
}

/// Active holders with no active sheet that is still before its expiry.
pub(crate) async fn without_sheet(
    db: &SqlStore,
    now: chrono::DateTime<chrono::Utc>,
    after_id: i64,
    limit: u32,
) -> Result<Vec<Holder>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM holders h WHERE h.id > $1 AND h.status = $2 AND NOT EXISTS \
         (SELECT 1 FROM sheets s WHERE s.holder_id = h.id AND s.state = $3 AND s.expires_micros > $4) \
         ORDER BY h.id LIMIT $5"
    );
    let rows = sqlx::query(&sql)
        .bind(after_id)
        .bind(HolderStatus::Active.as_str())
        .bind(hpki_core::domain::sheet::SheetState::Active.as_str())
        .bind(now.timestamp_micros())
        .bind(i64::from(limit))
        .fetch_all(&db.pool)
        .await
        .map_err(db_err)?;
    rows.iter().map(from_row).collect()
}

pub(crate) async fn by_id(db: &SqlStore, id: i64) -> Result<Option<Holder>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM holders WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(&db.pool)
        .await
        .map_err(db_err)?;
    row.as_ref().map(from_row).transpose()
}
