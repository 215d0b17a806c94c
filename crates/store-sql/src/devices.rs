use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hpki_core::audit::AuditEvent;
use hpki_core::domain::device::{
    Ceremony, CeremonyKind, DeviceCredential, DeviceState, NewDeviceCredential,
};
use hpki_core::store::{DeviceStore, StoreError};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::group::Guarded;
use crate::write::Write;
use crate::{corrupt, db_err, SqlStore};

/// Where a kind of owner's passkeys are kept: holders' device credentials, or operators'
/// console credentials (the same columns; `owner` names the owner's id column).
#[derive(Clone, Copy)]
pub(crate) struct CredentialTable {
    name: &'static str,
    owner: &'static str,
}

const HOLDERS: CredentialTable = CredentialTable {
    name: "device_credentials",
    owner: "holder_id",
};

const OPERATORS: CredentialTable = CredentialTable {
    name: "operator_credentials",
    owner: "operator_id",
};

impl CredentialTable {
    fn columns(self) -> String {
        format!(
            "id, {} AS owner_id, credential_id, user_handle, static_state, dynamic_state, \
             transports, aaguid, label, state, created_micros, last_used_micros",
            self.owner
        )
    }
}

/// The operators' passkeys (the console's sign-in), stored as holders' device credentials
/// are, through the same trait: a [`DeviceCredential`]'s `holder_id` is then the operator's id.
#[derive(Clone)]
pub struct OperatorCredentials(pub SqlStore);

fn time(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| corrupt("device credential"))
}

fn from_row(row: &AnyRow) -> Result<DeviceCredential, StoreError> {
    let last: Option<i64> = row.try_get("last_used_micros").map_err(db_err)?;
    Ok(DeviceCredential {
        id: row.try_get("id").map_err(db_err)?,
        owner_id: row.try_get("owner_id").map_err(db_err)?,
        credential_id: row.try_get("credential_id").map_err(db_err)?,
        user_handle: row.try_get("user_handle").map_err(db_err)?,
        static_state: row.try_get("static_state").map_err(db_err)?,
        dynamic_state: row.try_get("dynamic_state").map_err(db_err)?,
        transports: u8::try_from(row.try_get::<i64, _>("transports").map_err(db_err)?)
            .map_err(|_| corrupt("device credential"))?,
        aaguid: row.try_get("aaguid").map_err(db_err)?,
        label: row.try_get("label").map_err(db_err)?,
        state: DeviceState::from_stored(&row.try_get::<String, _>("state").map_err(db_err)?)
            .ok_or_else(|| corrupt("device credential"))?,
        created_at: time(row.try_get("created_micros").map_err(db_err)?)?,
        last_used_at: last.map(time).transpose()?,
    })
}

impl SqlStore {
    async fn save_ceremony_row(&self, c: &Ceremony, now: DateTime<Utc>) -> Result<(), StoreError> {
        // Single statements on the ephemeral connections (see `SqlStore::ephemeral`).
        let _turn = self.writer_turn().await;
        // Unfinished ceremonies are swept now and then (one save in 64, by the random
        // challenge), not on every save.
        self.sweep_now_and_then(
            &c.challenge,
            "DELETE FROM webauthn_ceremonies WHERE expires_micros < $1",
            now,
        )
        .await?;
        sqlx::query(
            "INSERT INTO webauthn_ceremonies (challenge, kind, holder_id, session_hash, state, expires_micros) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(c.challenge.as_str())
        .bind(c.kind.as_str())
        // The column predates logins, whose holder is not known yet: 0 stands for none.
        .bind(c.holder_id.unwrap_or(0))
        .bind(c.session_hash.as_str())
        .bind(c.state.as_slice())
        .bind(c.expires_at.timestamp_micros())
        .execute(&self.ephemeral)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn take_ceremony_row(&self, challenge: &str) -> Result<Option<Ceremony>, StoreError> {
        let _turn = self.writer_turn().await;
        // One statement: of two instances finishing the same ceremony, one gets the row.
        let row = sqlx::query(
            "DELETE FROM webauthn_ceremonies WHERE challenge = $1 \
             RETURNING challenge, kind, holder_id, session_hash, state, expires_micros",
        )
        .bind(challenge.to_owned())
        .fetch_optional(&self.ephemeral)
        .await
        .map_err(db_err)?;
        drop(_turn);
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Ceremony {
            challenge: row.try_get("challenge").map_err(db_err)?,
            kind: CeremonyKind::from_stored(&row.try_get::<String, _>("kind").map_err(db_err)?)
                .ok_or_else(|| corrupt("ceremony"))?,
            holder_id: Some(row.try_get::<i64, _>("holder_id").map_err(db_err)?)
                .filter(|id| *id != 0),
            session_hash: row.try_get("session_hash").map_err(db_err)?,
            state: row.try_get("state").map_err(db_err)?,
            expires_at: time(row.try_get("expires_micros").map_err(db_err)?)?,
        }))
    }

    async fn credential_is_active(
        &self,
        t: CredentialTable,
        holder_id: i64,
        id: i64,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE id = $1 AND {} = $2 AND state = $3",
            t.name, t.owner
        );
        let n: i64 = sqlx::query_scalar(&sql)
            .bind(id)
            .bind(holder_id)
            .bind(DeviceState::Active.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(n > 0)
    }

    async fn credentials_of(
        &self,
        t: CredentialTable,
        holder_id: i64,
    ) -> Result<Vec<DeviceCredential>, StoreError> {
        let sql = format!(
            "SELECT {} FROM {} WHERE {} = $1 AND state <> $2 ORDER BY id",
            t.columns(),
            t.name,
            t.owner
        );
        let rows = sqlx::query(&sql)
            .bind(holder_id)
            .bind(DeviceState::Deleted.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(from_row).collect()
    }

    async fn credentials_in_state(
        &self,
        t: CredentialTable,
        state: DeviceState,
        limit: u32,
    ) -> Result<Vec<DeviceCredential>, StoreError> {
        let sql = format!(
            "SELECT {} FROM {} WHERE state = $1 ORDER BY id DESC LIMIT $2",
            t.columns(),
            t.name
        );
        let rows = sqlx::query(&sql)
            .bind(state.as_str())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(from_row).collect()
    }

    async fn credential_by_id(
        &self,
        t: CredentialTable,
        credential_id: &[u8],
    ) -> Result<Option<DeviceCredential>, StoreError> {
        let sql = format!(
            "SELECT {} FROM {} WHERE credential_id = $1",
            t.columns(),
            t.name
        );
        let row = sqlx::query(&sql)
            .bind(credential_id.to_vec())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(from_row).transpose()
    }

    async fn insert_credential(
        &self,
        t: CredentialTable,
        d: &NewDeviceCredential,
        max_active: u32,
        event: &AuditEvent,
    ) -> Result<DeviceCredential, StoreError> {
        let mut w = Write::begin(self).await?;
        // The audit head is locked: two registrations of one owner cannot both pass this.
        let count = format!(
            "SELECT COUNT(*) FROM {} WHERE {} = $1 AND state = $2",
            t.name, t.owner
        );
        let active: i64 = sqlx::query_scalar(&count)
            .bind(d.owner_id)
            .bind(DeviceState::Active.as_str())
            .fetch_one(&mut *w.tx)
            .await
            .map_err(db_err)?;
        if active >= i64::from(max_active) {
            return Err(StoreError::DeviceLimit {
                active: u32::try_from(active).unwrap_or(u32::MAX),
            });
        }
        let insert = format!(
            "INSERT INTO {} ({}, credential_id, user_handle, static_state, \
             dynamic_state, transports, aaguid, label, state, created_micros, last_used_micros) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL) RETURNING id",
            t.name, t.owner
        );
        let id: i64 = sqlx::query_scalar(&insert)
            .bind(d.owner_id)
            .bind(d.credential_id.clone())
            .bind(d.user_handle.clone())
            .bind(d.static_state.clone())
            .bind(d.dynamic_state.clone())
            .bind(i64::from(d.transports))
            .bind(d.aaguid.as_str())
            .bind(d.label.as_str())
            .bind(DeviceState::Active.as_str())
            .bind(d.created_at.timestamp_micros())
            .fetch_one(&mut *w.tx)
            .await
            .map_err(db_err)?;
        w.audit([event]).await?;
        let sql = format!("SELECT {} FROM {} WHERE id = $1", t.columns(), t.name);
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_one(&mut *w.tx)
            .await
            .map_err(db_err)?;
        let stored = from_row(&row)?;
        w.commit().await?;
        Ok(stored)
    }

    async fn record_credential_use(
        &self,
        t: CredentialTable,
        id: i64,
        verified_against: &[u8],
        dynamic_state: &[u8],
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let update = Guarded::new(format!(
            "UPDATE {} SET dynamic_state = $1, last_used_micros = $2 \
             WHERE id = $3 AND state = $4 AND dynamic_state = $5",
            t.name
        ))
        .bytes(dynamic_state)
        .int(at.timestamp_micros())
        .int(id)
        .text(DeviceState::Active.as_str())
        .bytes(verified_against);
        self.group.submit(update, event).await
    }

    async fn set_credential_state(
        &self,
        t: CredentialTable,
        id: i64,
        to: DeviceState,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        // Deleting ends an active or a suspect credential; other moves start from active.
        let (from_test, from) = if to == DeviceState::Deleted {
            ("<>", DeviceState::Deleted)
        } else {
            ("=", DeviceState::Active)
        };
        let update = Guarded::new(format!(
            "UPDATE {} SET state = $1 WHERE id = $2 AND state {from_test} $3",
            t.name
        ))
        .text(to.as_str())
        .int(id)
        .text(from.as_str());
        self.group.submit(update, event).await
    }

    async fn set_credential_label(
        &self,
        t: CredentialTable,
        id: i64,
        holder_id: i64,
        label: &str,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let update = Guarded::new(format!(
            "UPDATE {} SET label = $1 WHERE id = $2 AND {} = $3 AND state <> $4",
            t.name, t.owner
        ))
        .text(label)
        .int(id)
        .int(holder_id)
        .text(DeviceState::Deleted.as_str());
        self.group.submit(update, event).await
    }
}

/// The trait's methods on one table (both impls are this, with their table).
macro_rules! credential_store {
    ($ty:ty, $table:expr) => {
        #[async_trait]
        impl DeviceStore for $ty {
            async fn save_ceremony(
                &self,
                c: &Ceremony,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                self.rows().save_ceremony_row(c, now).await
            }

            async fn take_ceremony(&self, challenge: &str) -> Result<Option<Ceremony>, StoreError> {
                self.rows().take_ceremony_row(challenge).await
            }

            async fn devices_of_holder(
                &self,
                holder_id: i64,
            ) -> Result<Vec<DeviceCredential>, StoreError> {
                self.rows().credentials_of($table, holder_id).await
            }

            async fn devices_in_state(
                &self,
                state: DeviceState,
                limit: u32,
            ) -> Result<Vec<DeviceCredential>, StoreError> {
                self.rows().credentials_in_state($table, state, limit).await
            }

            async fn device_is_active(&self, holder_id: i64, id: i64) -> Result<bool, StoreError> {
                self.rows()
                    .credential_is_active($table, holder_id, id)
                    .await
            }

            async fn device_by_credential_id(
                &self,
                credential_id: &[u8],
            ) -> Result<Option<DeviceCredential>, StoreError> {
                self.rows().credential_by_id($table, credential_id).await
            }

            async fn insert_device(
                &self,
                d: &NewDeviceCredential,
                max_active: u32,
                event: &AuditEvent,
            ) -> Result<DeviceCredential, StoreError> {
                self.rows()
                    .insert_credential($table, d, max_active, event)
                    .await
            }

            async fn record_device_use(
                &self,
                id: i64,
                verified_against: &[u8],
                dynamic_state: &[u8],
                at: DateTime<Utc>,
                event: &AuditEvent,
            ) -> Result<bool, StoreError> {
                self.rows()
                    .record_credential_use($table, id, verified_against, dynamic_state, at, event)
                    .await
            }

            async fn set_device_state(
                &self,
                id: i64,
                to: DeviceState,
                event: &AuditEvent,
            ) -> Result<bool, StoreError> {
                self.rows()
                    .set_credential_state($table, id, to, event)
                    .await
            }

            async fn set_device_label(
                &self,
                id: i64,
                holder_id: i64,
                label: &str,
                event: &AuditEvent,
            ) -> Result<bool, StoreError> {
                self.rows()
                    .set_credential_label($table, id, holder_id, label, event)
                    .await
            }
        }
    };
}

impl SqlStore {
    fn rows(&self) -> &SqlStore {
        self
    }
}

impl OperatorCredentials {
    fn rows(&self) -> &SqlStore {
        &self.0
    }
}

credential_store!(SqlStore, HOLDERS);
credential_store!(OperatorCredentials, OPERATORS);
