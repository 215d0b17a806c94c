//! Every key reference the database keeps, replaced all at once by a KEK rotation.

use async_trait::async_trait;
use hpki_core::audit::AuditEvent;
use hpki_core::domain::oidc::TokenAlgorithm;
use hpki_core::keystore::{KeyAlgorithm, KeyRef};
use hpki_core::store::{KeyPlace, KeyRefStore, StoreError, StoredKey};
use sqlx::Row;

use crate::write::Write;
use crate::{corrupt, db_err, SqlStore};

#[async_trait]
impl KeyRefStore for SqlStore {
    async fn stored_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let mut out = Vec::new();
        let certificates = sqlx::query(
            "SELECT id, key_algorithm, key_ref FROM certificates WHERE key_ref IS NOT NULL ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for row in &certificates {
            out.push(StoredKey {
                place: KeyPlace::Certificate(row.try_get("id").map_err(db_err)?),
                algorithm: algorithm(&row.try_get::<String, _>("key_algorithm").map_err(db_err)?)?,
                key: KeyRef::from_bytes(row.try_get("key_ref").map_err(db_err)?),
            });
        }
        let oidc =
            sqlx::query("SELECT kid, algorithm, key_ref FROM oidc_signing_keys ORDER BY kid")
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        for row in &oidc {
            out.push(StoredKey {
                place: KeyPlace::OidcSigningKey(row.try_get("kid").map_err(db_err)?),
                algorithm: TokenAlgorithm::parse(
                    &row.try_get::<String, _>("algorithm").map_err(db_err)?,
                )
                .ok_or_else(|| corrupt("token-signing key"))?
                .key_algorithm(),
                key: KeyRef::from_bytes(row.try_get("key_ref").map_err(db_err)?),
            });
        }
        Ok(out)
    }

    async fn replace_keys(
        &self,
        replaced: &[(StoredKey, KeyRef)],
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut w = Write::begin(self).await?;
        for (old, new) in replaced {
            let q = match &old.place {
                KeyPlace::Certificate(id) => sqlx::query(
                    "UPDATE certificates SET key_ref = $1 WHERE id = $2 AND key_ref = $3",
                )
                .bind(new.as_bytes().to_vec())
                .bind(*id),
                KeyPlace::OidcSigningKey(kid) => sqlx::query(
                    "UPDATE oidc_signing_keys SET key_ref = $1 WHERE kid = $2 AND key_ref = $3",
                )
                .bind(new.as_bytes().to_vec())
                .bind(kid.clone()),
            };
            let r = q
                .bind(old.key.as_bytes().to_vec())
                .execute(&mut *w.tx)
                .await
                .map_err(db_err)?;
            if r.rows_affected() != 1 {
                return Err(StoreError::Conflict(format!(
                    "the key of {:?} changed while the keys were sealed again; nothing was written",
                    old.place
                )));
            }
        }
        w.audit([event]).await?;
        w.commit().await
    }
}

fn algorithm(s: &str) -> Result<KeyAlgorithm, StoreError> {
    KeyAlgorithm::parse(s).ok_or_else(|| corrupt("key"))
}
