use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hpki_core::audit::AuditEvent;
use hpki_core::domain::{
    CaRole, CertificateKind, NewCertificate, Revocation, RevocationReason, Serial,
    StoredCertificate,
};
use hpki_core::keystore::{KeyAlgorithm, KeyRef};
use hpki_core::store::{CertificateStore, CrlState, StoreError, StoredCrl};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::write::Write;
use crate::{corrupt, db_err, Backend, SqlStore};

const COLUMNS: &str = "id, serial, kind, issuer, holder_id, key_algorithm, key_ref, subject, der, \
                       not_before_micros, not_after_micros, revoked_micros, revocation_reason";

fn time(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| corrupt("certificate"))
}

fn reason_from_stored(s: &str) -> Option<RevocationReason> {
    RevocationReason::from_stored(s)
}

fn from_row(row: &AnyRow) -> Result<StoredCertificate, StoreError> {
    let bad = || corrupt("certificate");
    let text = |c: &str| row.try_get::<String, _>(c).map_err(db_err);
    let key = match (
        row.try_get::<Option<String>, _>("key_algorithm")
            .map_err(db_err)?,
        row.try_get::<Option<Vec<u8>>, _>("key_ref")
            .map_err(db_err)?,
    ) {
        (Some(a), Some(k)) => Some((
            KeyAlgorithm::parse(&a).ok_or_else(bad)?,
            KeyRef::from_bytes(k),
        )),
        _ => None,
    };
    let revocation = match row
        .try_get::<Option<i64>, _>("revoked_micros")
        .map_err(db_err)?
    {
        Some(at) => Some(Revocation {
            at: time(at)?,
            reason: reason_from_stored(
                &row.try_get::<Option<String>, _>("revocation_reason")
                    .map_err(db_err)?
                    .unwrap_or_default(),
            )
            .ok_or_else(bad)?,
        }),
        None => None,
    };
    Ok(StoredCertificate {
        id: row.try_get("id").map_err(db_err)?,
        cert: NewCertificate {
            serial: Serial::from_stored(text("serial")?).ok_or_else(bad)?,
            kind: CertificateKind::from_stored(&text("kind")?).ok_or_else(bad)?,
            issuer: CaRole::parse(&text("issuer")?).ok_or_else(bad)?,
            holder_id: row.try_get("holder_id").map_err(db_err)?,
            key,
            subject: text("subject")?,
            der: row.try_get("der").map_err(db_err)?,
            not_before: time(row.try_get("not_before_micros").map_err(db_err)?)?,
            not_after: time(row.try_get("not_after_micros").map_err(db_err)?)?,
        },
        revocation,
    })
}

async fn select_one(
    exec: impl sqlx::Executor<'_, Database = sqlx::Any>,
    filter: &str,
    value: &str,
) -> Result<Option<StoredCertificate>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM certificates WHERE {filter} = $1");
    let row = sqlx::query(&sql)
        .bind(value.to_owned())
        .fetch_optional(exec)
        .await
        .map_err(db_err)?;
    row.as_ref().map(from_row).transpose()
}

/// In a revocation's transaction: raises the revocation generation (what every instance
/// compares to drop cached OCSP answers) and marks the issuer's CRL due until one listing the
/// revocation is published.
async fn revocation_noted(w: &mut Write, issuer: CaRole) -> Result<(), StoreError> {
    let generation: i64 = sqlx::query_scalar(
        "UPDATE revocation_generation SET generation = generation + 1 WHERE id = 1 RETURNING generation",
    )
    .fetch_one(&mut *w.tx)
    .await
    .map_err(db_err)?;
    sqlx::query(
        "INSERT INTO crls (issuer, last, due_generation) VALUES ($1, 0, $2) \
         ON CONFLICT (issuer) DO UPDATE SET due_generation = excluded.due_generation",
    )
    .bind(issuer.as_str())
    .bind(generation)
    .execute(&mut *w.tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl CertificateStore for SqlStore {
    async fn insert_certificates(
        &self,
        certs: &[NewCertificate],
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let mut w = Write::begin(self).await?;
        for c in certs {
            if let CertificateKind::Ca(role) = c.kind {
                if select_one(&mut *w.tx, "kind", c.kind.as_str())
                    .await?
                    .is_some()
                {
                    return Err(StoreError::Conflict(format!(
                        "the {} CA already exists",
                        role.as_str()
                    )));
                }
            }
            sqlx::query(
                "INSERT INTO certificates (serial, kind, issuer, holder_id, key_algorithm, key_ref, subject, der, \
                 not_before_micros, not_after_micros, created_micros) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(c.serial.as_str())
            .bind(c.kind.as_str())
            .bind(c.issuer.as_str())
            .bind(c.holder_id)
            .bind(c.key.as_ref().map(|(a, _)| a.as_str()))
            .bind(c.key.as_ref().map(|(_, k)| k.as_bytes().to_vec()))
            .bind(c.subject.as_str())
            .bind(c.der.clone())
            .bind(c.not_before.timestamp_micros())
            .bind(c.not_after.timestamp_micros())
            .bind(Utc::now().timestamp_micros())
            .execute(&mut *w.tx)
            .await
            .map_err(db_err)?;
        }
        w.audit(events).await?;
        w.commit().await
    }

    async fn ca_certificate(&self, role: CaRole) -> Result<Option<StoredCertificate>, StoreError> {
        select_one(&self.pool, "kind", CertificateKind::Ca(role).as_str()).await
    }

    async fn newest_of_kind(
        &self,
        kind: CertificateKind,
    ) -> Result<Option<StoredCertificate>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM certificates WHERE kind = $1 ORDER BY id DESC LIMIT 1");
        let row = sqlx::query(&sql)
            .bind(kind.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(from_row).transpose()
    }

    async fn revocation_generation(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT generation FROM revocation_generation WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn certificate(&self, serial: &Serial) -> Result<Option<StoredCertificate>, StoreError> {
        select_one(&self.pool, "serial", serial.as_str()).await
    }

    async fn certificates_of_holder(
        &self,
        holder_id: i64,
    ) -> Result<Vec<StoredCertificate>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM certificates WHERE holder_id = $1 ORDER BY id");
        let rows = sqlx::query(&sql)
            .bind(holder_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(from_row).collect()
    }

    async fn revoke_certificate(
        &self,
        serial: &Serial,
        revocation: Revocation,
        event: &AuditEvent,
    ) -> Result<Option<StoredCertificate>, StoreError> {
        let mut w = Write::begin(self).await?;
        let Some(current) = select_one(&mut *w.tx, "serial", serial.as_str()).await? else {
            return Ok(None);
        };
        if current.revocation.is_some() {
            return Ok(Some(current));
        }
        sqlx::query(
            "UPDATE certificates SET revoked_micros = $1, revocation_reason = $2 WHERE id = $3",
        )
        .bind(revocation.at.timestamp_micros())
        .bind(revocation.reason.as_str())
        .bind(current.id)
        .execute(&mut *w.tx)
        .await
        .map_err(db_err)?;
        revocation_noted(&mut w, current.cert.issuer).await?;
        w.audit([event]).await?;
        w.commit().await?;
        Ok(Some(StoredCertificate {
            revocation: Some(revocation),
            ..current
        }))
    }

    async fn revoke_lost_certificate(
        &self,
        issuer: CaRole,
        serial: &Serial,
        revocation: Revocation,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut w = Write::begin(self).await?;
        let r = sqlx::query(
            "INSERT INTO lost_certificates (issuer, serial, revoked_micros, revocation_reason, recorded_micros) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (issuer, serial) DO NOTHING",
        )
        .bind(issuer.as_str())
        .bind(serial.as_str())
        .bind(revocation.at.timestamp_micros())
        .bind(revocation.reason.as_str())
        .bind(event.at.timestamp_micros())
        .execute(&mut *w.tx)
        .await
        .map_err(db_err)?;
        if r.rows_affected() != 1 {
            return Ok(false);
        }
        revocation_noted(&mut w, issuer).await?;
        w.audit([event]).await?;
        w.commit().await?;
        Ok(true)
    }

    async fn lost_certificate(
        &self,
        issuer: CaRole,
        serial: &Serial,
    ) -> Result<Option<Revocation>, StoreError> {
        let row = sqlx::query(
            "SELECT revoked_micros, revocation_reason FROM lost_certificates WHERE issuer = $1 AND serial = $2",
        )
        .bind(issuer.as_str())
        .bind(serial.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Revocation {
            at: time(row.try_get("revoked_micros").map_err(db_err)?)?,
            reason: reason_from_stored(
                &row.try_get::<String, _>("revocation_reason")
                    .map_err(db_err)?,
            )
            .ok_or_else(|| corrupt("lost certificate"))?,
        }))
    }

    async fn revoked_by(&self, issuer: CaRole) -> Result<Vec<(Serial, Revocation)>, StoreError> {
        // A CRL can list a million entries. Row by row, the driver's per-row hand-over
        // dominated; so rows come packed, BATCH to a string, walked in id order. (`issuer || ''`
        // keeps both planners on the primary key: through the issuer index every batch would
        // have to sort all the issuer's revocations again.)
        const BATCH: i64 = 20_000;
        let aggregate = match self.backend {
            Backend::Sqlite => {
                "group_concat(serial || ',' || revoked_micros || ',' || revocation_reason, ';')"
            }
            Backend::Postgres => {
                "string_agg(serial || ',' || revoked_micros || ',' || revocation_reason, ';')"
            }
        };
        let sql = format!(
            "SELECT MAX(id) AS last, {aggregate} AS packed FROM (SELECT id, serial, revoked_micros, revocation_reason \
             FROM certificates WHERE issuer || '' = $1 AND revoked_micros IS NOT NULL AND kind <> $2 AND id > $3 \
             ORDER BY id LIMIT $4) batch"
        );
        let mut out = Vec::new();
        let mut after = 0i64;
        loop {
            let row = sqlx::query(&sql)
                .bind(issuer.as_str())
                .bind(CertificateKind::Ca(CaRole::Root).as_str())
                .bind(after)
                .bind(BATCH)
                .fetch_one(&self.pool)
                .await
                .map_err(db_err)?;
            let Some(last) = row.try_get::<Option<i64>, _>("last").map_err(db_err)? else {
                break;
            };
            let packed: String = row
                .try_get::<Option<String>, _>("packed")
                .map_err(db_err)?
                .unwrap_or_default();
            for entry in packed.split(';') {
                let mut parts = entry.splitn(3, ',');
                let (Some(serial), Some(at), Some(reason)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Err(corrupt("revocation"));
                };
                let serial =
                    Serial::from_stored(serial.to_owned()).ok_or_else(|| corrupt("certificate"))?;
                let at = time(at.parse().map_err(|_| corrupt("revocation"))?)?;
                let reason = reason_from_stored(reason).ok_or_else(|| corrupt("revocation"))?;
                out.push((serial, Revocation { at, reason }));
            }
            after = last;
        }
        let lost = sqlx::query(
            "SELECT serial, revoked_micros, revocation_reason FROM lost_certificates WHERE issuer = $1",
        )
        .bind(issuer.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for row in &lost {
            let serial = Serial::from_stored(row.try_get("serial").map_err(db_err)?)
                .ok_or_else(|| corrupt("lost certificate"))?;
            let at = time(row.try_get("revoked_micros").map_err(db_err)?)?;
            let reason = reason_from_stored(
                &row.try_get::<String, _>("revocation_reason")
                    .map_err(db_err)?,
            )
            .ok_or_else(|| corrupt("lost certificate"))?;
            out.push((serial, Revocation { at, reason }));
        }
        Ok(out)
    }

    async fn next_crl_number(&self, issuer: CaRole, at_least: i64) -> Result<i64, StoreError> {
        // One statement, so atomic on both backends. A number taken is not yet a CRL issued:
        // the event is written when one is published (`save_crl`).
        sqlx::query_scalar(
            "INSERT INTO crls (issuer, last) VALUES ($1, $2) ON CONFLICT (issuer) DO UPDATE SET last = \
             CASE WHEN crls.last + 1 > excluded.last THEN crls.last + 1 ELSE excluded.last END RETURNING last",
        )
        .bind(issuer.as_str())
        .bind(at_least.max(1))
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn save_crl(
        &self,
        issuer: CaRole,
        crl: &StoredCrl,
        due_seen: Option<i64>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        // Only the CRL with the newest number is kept; a slower writer of an older one loses.
        // The due mark is cleared only if it is still the one read before the entries were.
        let mut w = Write::begin(self).await?;
        let r = sqlx::query(
            "UPDATE crls SET der = $1, this_update_micros = $2, next_update_micros = $3, published_number = $4, \
             due_generation = CASE WHEN due_generation = $5 THEN NULL ELSE due_generation END \
             WHERE issuer = $6 AND last = $4",
        )
        .bind(crl.der.clone())
        .bind(crl.this_update.timestamp_micros())
        .bind(crl.next_update.timestamp_micros())
        .bind(crl.number)
        .bind(due_seen)
        .bind(issuer.as_str())
        .execute(&mut *w.tx)
        .await
        .map_err(db_err)?;
        w.commit_one_row(r, event).await
    }

    async fn latest_crl(&self, issuer: CaRole) -> Result<Option<StoredCrl>, StoreError> {
        let row = sqlx::query(
            "SELECT published_number, der, this_update_micros, next_update_micros FROM crls WHERE issuer = $1 AND der IS NOT NULL",
        )
        .bind(issuer.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredCrl {
            number: row.try_get("published_number").map_err(db_err)?,
            der: row.try_get("der").map_err(db_err)?,
            this_update: time(row.try_get("this_update_micros").map_err(db_err)?)?,
            next_update: time(row.try_get("next_update_micros").map_err(db_err)?)?,
        }))
    }

    async fn crl_states(&self) -> Result<Vec<CrlState>, StoreError> {
        let rows = sqlx::query(
            "SELECT issuer, due_generation, published_number, this_update_micros, next_update_micros FROM crls",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let issuer = CaRole::parse(&row.try_get::<String, _>("issuer").map_err(db_err)?)
                    .ok_or_else(|| corrupt("crl"))?;
                let published = match (
                    row.try_get::<Option<i64>, _>("published_number")
                        .map_err(db_err)?,
                    row.try_get::<Option<i64>, _>("this_update_micros")
                        .map_err(db_err)?,
                    row.try_get::<Option<i64>, _>("next_update_micros")
                        .map_err(db_err)?,
                ) {
                    (Some(n), Some(this), Some(next)) => Some((n, time(this)?, time(next)?)),
                    _ => None,
                };
                Ok(CrlState {
                    issuer,
                    due: row.try_get("due_generation").map_err(db_err)?,
                    published,
                })
            })
            .collect()
    }

    async fn raise_crl_number(&self, issuer: CaRole, published: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO crls (issuer, last) VALUES ($1, $2) ON CONFLICT (issuer) DO UPDATE SET last = \
             CASE WHEN crls.last > excluded.last THEN crls.last ELSE excluded.last END",
        )
        .bind(issuer.as_str())
        .bind(published)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn erase_key(&self, serial: &Serial, event: &AuditEvent) -> Result<bool, StoreError> {
        let mut w = Write::begin(self).await?;
        let r = sqlx::query(
            "UPDATE certificates SET key_algorithm = NULL, key_ref = NULL WHERE serial = $1 AND key_ref IS NOT NULL",
        )
        .bind(serial.as_str())
        .execute(&mut *w.tx)
        .await
        .map_err(db_err)?;
        w.commit_one_row(r, event).await
    }

    async fn spent_second_keys(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<StoredCertificate>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM certificates WHERE kind = $1 AND key_ref IS NOT NULL \
             AND (revoked_micros IS NOT NULL OR not_after_micros < $2) ORDER BY id"
        );
        let rows = sqlx::query(&sql)
            .bind(CertificateKind::Second.as_str())
            .bind(now.timestamp_micros())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(from_row).collect()
    }

    async fn certificates_with_keys(&self) -> Result<Vec<StoredCertificate>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM certificates WHERE key_ref IS NOT NULL ORDER BY id");
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(from_row).collect()
    }
}
