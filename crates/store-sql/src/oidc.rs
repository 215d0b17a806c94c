//! Relying systems, token-signing keys and authorizations (see `OidcStore`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hpki_core::audit::AuditEvent;
use hpki_core::domain::csc::{CredentialConsent, SigningModes};
use hpki_core::domain::oidc::{
    AuthMethod, Authorization, CardLogin, CardOutcome, ClientId, ClientKeys, Grant, LoginMethods,
    NewAuthorization, NewRelyingParty, Redemption, RedirectUri, RelyingParty, TokenAlgorithm,
    TokenSigningKey, DEVICE_CODE_GRANT,
};
use hpki_core::keystore::KeyRef;
use hpki_core::store::{OidcStore, StoreError};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::card_logins::CardKey;
use crate::group::Guarded;
use crate::write::Write;
use crate::{corrupt, db_err, SqlStore};

pub(crate) fn time(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| corrupt("time"))
}

pub(crate) fn opt_time(row: &AnyRow, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    row.try_get::<Option<i64>, _>(column)
        .map_err(db_err)?
        .map(time)
        .transpose()
}

const CLIENT_COLUMNS: &str = "id, client_id, name, redirect_uris, methods, signing, secret_hash, \
     jwks, dpop_bound, par_required, created_micros, disabled_micros";

fn client_from_row(row: &AnyRow) -> Result<RelyingParty, StoreError> {
    let bad = |_| corrupt("relying system");
    let uris: Vec<String> =
        serde_json::from_str(&row.try_get::<String, _>("redirect_uris").map_err(db_err)?)
            .map_err(|_| corrupt("relying system"))?;
    Ok(RelyingParty {
        id: row.try_get("id").map_err(db_err)?,
        client_id: ClientId::parse(&row.try_get::<String, _>("client_id").map_err(db_err)?)
            .map_err(bad)?,
        name: row.try_get("name").map_err(db_err)?,
        redirect_uris: uris
            .iter()
            .map(|u| RedirectUri::parse(u))
            .collect::<Result<_, _>>()
            .map_err(bad)?,
        methods: LoginMethods::parse(&row.try_get::<String, _>("methods").map_err(db_err)?)
            .map_err(bad)?,
        signing: SigningModes::parse(&row.try_get::<String, _>("signing").map_err(db_err)?)
            .map_err(bad)?,
        secret_hash: row.try_get("secret_hash").map_err(db_err)?,
        jwks: row
            .try_get::<Option<String>, _>("jwks")
            .map_err(db_err)?
            .map(|j| ClientKeys::parse(&j))
            .transpose()
            .map_err(bad)?,
        dpop_bound: row.try_get::<i64, _>("dpop_bound").map_err(db_err)? != 0,
        par_required: row.try_get::<i64, _>("par_required").map_err(db_err)? != 0,
        created_at: time(row.try_get("created_micros").map_err(db_err)?)?,
        disabled_at: opt_time(row, "disabled_micros")?,
    })
}

pub(crate) const AUTHORIZATION_COLUMNS: &str =
    "id, login_hash, client_id, grant_type, redirect_uri, scope, state, nonce, \
     code_challenge, max_age, created_micros, login_expires_micros, holder_id, device_id, method, \
     auth_micros, code_hash, code_expires_micros, code_used_micros, session_expires_micros, \
     ended_micros, end_reason, consent";

/// How a grant is stored: its type, and for a code its redirect URI, state and PKCE challenge
/// (empty for a device grant).
fn grant_from_row(row: &AnyRow) -> Result<Grant, StoreError> {
    let grant_type: String = row.try_get("grant_type").map_err(db_err)?;
    match grant_type.as_str() {
        "authorization_code" => Ok(Grant::Code {
            redirect_uri: RedirectUri::parse(
                &row.try_get::<String, _>("redirect_uri").map_err(db_err)?,
            )
            .map_err(|_| corrupt("authorization"))?,
            state: row.try_get("state").map_err(db_err)?,
            code_challenge: row.try_get("code_challenge").map_err(db_err)?,
        }),
        DEVICE_CODE_GRANT => Ok(Grant::Device),
        _ => Err(corrupt("authorization")),
    }
}

pub(crate) fn authorization_from_row(row: &AnyRow) -> Result<Authorization, StoreError> {
    let bad = |_| corrupt("authorization");
    Ok(Authorization {
        id: row.try_get("id").map_err(db_err)?,
        request: NewAuthorization {
            login_hash: row.try_get("login_hash").map_err(db_err)?,
            client_id: ClientId::parse(&row.try_get::<String, _>("client_id").map_err(db_err)?)
                .map_err(bad)?,
            grant: grant_from_row(row)?,
            scope: row.try_get("scope").map_err(db_err)?,
            nonce: row.try_get("nonce").map_err(db_err)?,
            max_age: row.try_get("max_age").map_err(db_err)?,
            created_at: time(row.try_get("created_micros").map_err(db_err)?)?,
            login_expires_at: time(row.try_get("login_expires_micros").map_err(db_err)?)?,
            consent: row
                .try_get::<Option<String>, _>("consent")
                .map_err(db_err)?
                .map(|c| CredentialConsent::from_stored(&c).ok_or_else(|| corrupt("authorization")))
                .transpose()?,
        },
        holder_id: row.try_get("holder_id").map_err(db_err)?,
        device_id: row.try_get("device_id").map_err(db_err)?,
        method: row
            .try_get::<Option<String>, _>("method")
            .map_err(db_err)?
            .map(|m| AuthMethod::from_stored(&m).ok_or_else(|| corrupt("authorization")))
            .transpose()?,
        auth_time: opt_time(row, "auth_micros")?,
        code_hash: row.try_get("code_hash").map_err(db_err)?,
        code_expires_at: opt_time(row, "code_expires_micros")?,
        code_used_at: opt_time(row, "code_used_micros")?,
        session_expires_at: opt_time(row, "session_expires_micros")?,
        ended_at: opt_time(row, "ended_micros")?,
        end_reason: row.try_get("end_reason").map_err(db_err)?,
    })
}

/// The insert of a new authorization (its id returned).
fn authorization_insert(
    r: &NewAuthorization,
) -> sqlx::query::QueryScalar<'_, sqlx::Any, i64, sqlx::any::AnyArguments<'_>> {
    let (redirect_uri, state, challenge) = match &r.grant {
        Grant::Code {
            redirect_uri,
            state,
            code_challenge,
        } => (
            redirect_uri.as_str(),
            state.clone(),
            code_challenge.as_str(),
        ),
        Grant::Device => ("", None, ""),
    };
    sqlx::query_scalar(
        "INSERT INTO oidc_authorizations (login_hash, client_id, grant_type, redirect_uri, \
         scope, state, nonce, code_challenge, max_age, created_micros, login_expires_micros, \
         consent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(r.login_hash.as_str())
    .bind(r.client_id.as_str())
    .bind(r.grant.grant_type())
    .bind(redirect_uri)
    .bind(r.scope.as_str())
    .bind(state)
    .bind(r.nonce.clone())
    .bind(challenge)
    .bind(r.max_age)
    .bind(r.created_at.timestamp_micros())
    .bind(r.login_expires_at.timestamp_micros())
    .bind(r.consent.as_ref().map(CredentialConsent::to_stored))
}

/// How an authorization is looked up.
enum AuthorizationKey<'a> {
    Id(i64),
    Login(&'a str),
    Code(&'a str),
}

impl SqlStore {
    async fn authorization_by(
        &self,
        key: AuthorizationKey<'_>,
    ) -> Result<Option<Authorization>, StoreError> {
        let condition = match key {
            AuthorizationKey::Id(_) => "id = $1",
            AuthorizationKey::Login(_) => "login_hash = $1",
            AuthorizationKey::Code(_) => "code_hash = $1",
        };
        let sql =
            format!("SELECT {AUTHORIZATION_COLUMNS} FROM oidc_authorizations WHERE {condition}");
        let q = sqlx::query(&sql);
        let q = match key {
            AuthorizationKey::Id(id) => q.bind(id),
            AuthorizationKey::Login(hash) | AuthorizationKey::Code(hash) => q.bind(hash.to_owned()),
        };
        let row = q.fetch_optional(&self.pool).await.map_err(db_err)?;
        row.as_ref().map(authorization_from_row).transpose()
    }
}

#[async_trait]
impl OidcStore for SqlStore {
    async fn insert_client(
        &self,
        c: &NewRelyingParty,
        event: &AuditEvent,
    ) -> Result<RelyingParty, StoreError> {
        let uris: Vec<&str> = c.redirect_uris.iter().map(RedirectUri::as_str).collect();
        let uris = serde_json::to_string(&uris).map_err(|e| StoreError::Other(e.to_string()))?;
        let mut w = Write::begin(self).await?;
        let inserted = sqlx::query(
            "INSERT INTO oidc_clients (client_id, name, redirect_uris, methods, signing, \
             secret_hash, jwks, dpop_bound, par_required, created_micros, disabled_micros) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL) \
             ON CONFLICT (client_id) DO NOTHING",
        )
        .bind(c.client_id.as_str())
        .bind(c.name.as_str())
        .bind(uris)
        .bind(c.methods.as_str())
        .bind(c.signing.as_str())
        .bind(c.secret_hash.clone())
        .bind(c.jwks.as_ref().map(ClientKeys::to_json))
        .bind(i64::from(c.dpop_bound))
        .bind(i64::from(c.par_required))
        .bind(c.created_at.timestamp_micros())
        .execute(&mut *w.tx)
        .await
        .map_err(db_err)?;
        if inserted.rows_affected() == 0 {
            drop(w);
            return Err(StoreError::Conflict(format!(
                "client {} is registered already",
                c.client_id
            )));
        }
        w.audit([event]).await?;
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM oidc_clients WHERE client_id = $1");
        let row = sqlx::query(&sql)
            .bind(c.client_id.as_str())
            .fetch_one(&mut *w.tx)
            .await
            .map_err(db_err)?;
        let stored = client_from_row(&row)?;
        w.commit().await?;
        Ok(stored)
    }

    async fn client(&self, client_id: &ClientId) -> Result<Option<RelyingParty>, StoreError> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM oidc_clients WHERE client_id = $1");
        let row = sqlx::query(&sql)
            .bind(client_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(client_from_row).transpose()
    }

    async fn clients(&self) -> Result<Vec<RelyingParty>, StoreError> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM oidc_clients ORDER BY id");
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(client_from_row).collect()
    }

    async fn disable_client(
        &self,
        client_id: &ClientId,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut w = Write::begin(self).await?;
        let changed = sqlx::query(
            "UPDATE oidc_clients SET disabled_micros = $1 WHERE client_id = $2 AND disabled_micros IS NULL",
        )
        .bind(at.timestamp_micros())
        .bind(client_id.as_str())
        .execute(&mut *w.tx)
        .await
        .map_err(db_err)?;
        if changed.rows_affected() == 0 {
            drop(w);
            return Ok(false);
        }
        sqlx::query(
            "UPDATE oidc_authorizations SET ended_micros = $1, end_reason = 'client disabled' \
             WHERE client_id = $2 AND ended_micros IS NULL",
        )
        .bind(at.timestamp_micros())
        .bind(client_id.as_str())
        .execute(&mut *w.tx)
        .await
        .map_err(db_err)?;
        w.audit([event]).await?;
        w.commit().await?;
        Ok(true)
    }

    async fn record_client_assertion(
        &self,
        client_id: &ClientId,
        jti_hash: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // Single statements on the ephemeral connections, like challenges: a jti only has to
        // be remembered until its assertion expires.
        let _turn = self.writer_turn().await;
        sqlx::query("DELETE FROM oidc_client_assertions WHERE expires_micros < $1")
            .bind(now.timestamp_micros())
            .execute(&self.ephemeral)
            .await
            .map_err(db_err)?;
        let inserted = sqlx::query(
            "INSERT INTO oidc_client_assertions (jti_hash, client_id, expires_micros) \
             VALUES ($1, $2, $3) ON CONFLICT (jti_hash) DO NOTHING",
        )
        .bind(jti_hash.to_owned())
        .bind(client_id.as_str())
        .bind(expires_at.timestamp_micros())
        .execute(&self.ephemeral)
        .await
        .map_err(db_err)?;
        Ok(inserted.rows_affected() == 1)
    }

    async fn record_dpop_proof(
        &self,
        jti_hash: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // As client assertions' jtis, on the ephemeral connections; swept one call in 64 (by
        // the random jti's hash), as a proof comes with every call of a DPoP client.
        let _turn = self.writer_turn().await;
        self.sweep_now_and_then(
            jti_hash,
            "DELETE FROM oidc_dpop_proofs WHERE expires_micros < $1",
            now,
        )
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO oidc_dpop_proofs (jti_hash, expires_micros) VALUES ($1, $2) \
             ON CONFLICT (jti_hash) DO NOTHING",
        )
        .bind(jti_hash.to_owned())
        .bind(expires_at.timestamp_micros())
        .execute(&self.ephemeral)
        .await
        .map_err(db_err)?;
        Ok(inserted.rows_affected() == 1)
    }

    async fn insert_par_request(
        &self,
        uri_hash: &str,
        client_id: &ClientId,
        params: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Like an authorization request: on the ephemeral connections, not audited; swept one
        // push in 64.
        let _turn = self.writer_turn().await;
        self.sweep_now_and_then(
            uri_hash,
            "DELETE FROM oidc_par_requests WHERE expires_micros < $1",
            now,
        )
        .await?;
        sqlx::query(
            "INSERT INTO oidc_par_requests (uri_hash, client_id, params, expires_micros) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(uri_hash.to_owned())
        .bind(client_id.as_str())
        .bind(params.to_owned())
        .bind(expires_at.timestamp_micros())
        .execute(&self.ephemeral)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn par_request(
        &self,
        uri_hash: &str,
        client_id: &ClientId,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT params FROM oidc_par_requests WHERE uri_hash = $1 AND client_id = $2 \
             AND expires_micros > $3",
        )
        .bind(uri_hash.to_owned())
        .bind(client_id.as_str())
        .bind(now.timestamp_micros())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn insert_dpop_nonce(&self, nonce_hash: &str, window: i64) -> Result<(), StoreError> {
        // One per instance per window (minutes): on the ephemeral connections.
        let _turn = self.writer_turn().await;
        sqlx::query("DELETE FROM oidc_dpop_nonces WHERE time_window < $1")
            .bind(window - 2)
            .execute(&self.ephemeral)
            .await
            .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO oidc_dpop_nonces (nonce_hash, time_window) VALUES ($1, $2) \
             ON CONFLICT (nonce_hash) DO NOTHING",
        )
        .bind(nonce_hash.to_owned())
        .bind(window)
        .execute(&self.ephemeral)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn dpop_nonce_window(&self, nonce_hash: &str) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar("SELECT time_window FROM oidc_dpop_nonces WHERE nonce_hash = $1")
            .bind(nonce_hash.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn token_signing_keys(&self) -> Result<Vec<TokenSigningKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, algorithm, key_ref, spki, created_micros, superseded_micros FROM oidc_signing_keys \
             ORDER BY created_micros DESC, kid",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                Ok(TokenSigningKey {
                    kid: row.try_get("kid").map_err(db_err)?,
                    algorithm: TokenAlgorithm::parse(
                        &row.try_get::<String, _>("algorithm").map_err(db_err)?,
                    )
                    .ok_or_else(|| corrupt("token-signing key"))?,
                    key_ref: KeyRef::from_bytes(row.try_get("key_ref").map_err(db_err)?),
                    spki_der: row.try_get("spki").map_err(db_err)?,
                    created_at: time(row.try_get("created_micros").map_err(db_err)?)?,
                    superseded_at: opt_time(row, "superseded_micros")?,
                })
            })
            .collect()
    }

    async fn insert_token_signing_key(
        &self,
        key: &TokenSigningKey,
        only_if_none: bool,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        // The audit head is held: of two instances, the second sees the first one's key.
        let mut w = Write::begin(self).await?;
        if only_if_none {
            let signing: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM oidc_signing_keys WHERE superseded_micros IS NULL",
            )
            .fetch_one(&mut *w.tx)
            .await
            .map_err(db_err)?;
            if signing > 0 {
                drop(w);
                return Ok(false);
            }
        }
        sqlx::query(
            "UPDATE oidc_signing_keys SET superseded_micros = $1 WHERE superseded_micros IS NULL",
        )
        .bind(key.created_at.timestamp_micros())
        .execute(&mut *w.tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO oidc_signing_keys (kid, algorithm, key_ref, spki, created_micros, \
             superseded_micros) VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(key.kid.as_str())
        .bind(key.algorithm.as_str())
        .bind(key.key_ref.as_bytes().to_vec())
        .bind(key.spki_der.clone())
        .bind(key.created_at.timestamp_micros())
        .execute(&mut *w.tx)
        .await
        .map_err(db_err)?;
        w.audit([event]).await?;
        w.commit().await?;
        Ok(true)
    }

    async fn insert_authorization(&self, r: &NewAuthorization) -> Result<i64, StoreError> {
        // A single statement on the ephemeral connections (see `SqlStore::ephemeral`), like a
        // WebAuthn challenge: nothing is audited until the login answers it.
        let _turn = self.writer_turn().await;
        // Requests nobody answered are swept now and then (one insert in 64, by the random
        // login token's hash), like unfinished ceremonies: they were never audited, and
        // keeping them would let anyone grow the table by opening login pages.
        self.sweep_now_and_then(
            &r.login_hash,
            "DELETE FROM oidc_authorizations WHERE holder_id IS NULL AND login_expires_micros < $1",
            r.created_at,
        )
        .await?;
        let id: i64 = authorization_insert(r)
            .fetch_one(&self.ephemeral)
            .await
            .map_err(db_err)?;
        Ok(id)
    }

    async fn authorization_by_login(
        &self,
        login_hash: &str,
    ) -> Result<Option<Authorization>, StoreError> {
        self.authorization_by(AuthorizationKey::Login(login_hash))
            .await
    }

    async fn authorization(&self, id: i64) -> Result<Option<Authorization>, StoreError> {
        self.authorization_by(AuthorizationKey::Id(id)).await
    }

    async fn authorization_by_code(
        &self,
        code_hash: &str,
    ) -> Result<Option<Authorization>, StoreError> {
        self.authorization_by(AuthorizationKey::Code(code_hash))
            .await
    }

    async fn record_refusal(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.append_event(event).await
    }

    async fn record_login(
        &self,
        login: &hpki_core::store::Login<'_>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let at = login.at.timestamp_micros();
        let update = Guarded::new(
            "UPDATE oidc_authorizations SET holder_id = $1, device_id = $2, method = $3, \
             auth_micros = $4, code_hash = $5, code_expires_micros = $6 \
             WHERE id = $7 AND holder_id IS NULL AND ended_micros IS NULL AND login_expires_micros > $8",
        )
        .int(login.holder)
        .opt_int(login.device)
        .text(login.method.as_str())
        .int(at)
        .text(login.code_hash)
        .int(login.code_expires_at.timestamp_micros())
        .int(login.authorization)
        .int(at);
        self.group.submit(update, event).await
    }

    async fn redeem_code(
        &self,
        code_hash: &str,
        at: DateTime<Utc>,
        session_expires_at: DateTime<Utc>,
        redeemed: &AuditEvent,
        replayed: &AuditEvent,
    ) -> Result<Redemption, StoreError> {
        // Each claim is one guarded update through the group commit: of two redemptions of
        // one code, one sets `code_used_micros`; the other then finds it set and ends it.
        let redeem = Guarded::new(
            "UPDATE oidc_authorizations SET code_used_micros = $1, session_expires_micros = $2 \
             WHERE code_hash = $3 AND code_used_micros IS NULL AND ended_micros IS NULL \
             AND code_expires_micros > $4",
        )
        .int(at.timestamp_micros())
        .int(session_expires_at.timestamp_micros())
        .text(code_hash)
        .int(at.timestamp_micros());
        if self.group.submit(redeem, redeemed).await? {
            Ok(Redemption::Redeemed)
        } else {
            // Not redeemable: used before (a replay ends what it issued), expired, or unknown.
            let end = Guarded::new(
                "UPDATE oidc_authorizations SET ended_micros = $1, end_reason = 'code replayed' \
                 WHERE code_hash = $2 AND code_used_micros IS NOT NULL AND ended_micros IS NULL",
            )
            .int(at.timestamp_micros())
            .text(code_hash);
            Ok(if self.group.submit(end, replayed).await? {
                Redemption::Replayed
            } else {
                Redemption::Unknown
            })
        }
    }

    async fn sessions_of_holder(
        &self,
        holder_id: i64,
        limit: u32,
    ) -> Result<Vec<Authorization>, StoreError> {
        let sql = format!(
            "SELECT {AUTHORIZATION_COLUMNS} FROM oidc_authorizations \
             WHERE holder_id = $1 AND code_used_micros IS NOT NULL ORDER BY id DESC LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(holder_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(authorization_from_row).collect()
    }

    async fn end_sessions_of_holder(
        &self,
        holder_id: i64,
        at: DateTime<Utc>,
        reason: &str,
        event: &AuditEvent,
    ) -> Result<u64, StoreError> {
        let mut w = Write::begin(self).await?;
        // Running sessions, and codes handed out but not yet redeemed.
        let ended = sqlx::query(
            "UPDATE oidc_authorizations SET ended_micros = $1, end_reason = $2 \
             WHERE holder_id = $3 AND ended_micros IS NULL \
             AND (session_expires_micros > $1 \
                  OR (code_used_micros IS NULL AND code_expires_micros > $1))",
        )
        .bind(at.timestamp_micros())
        .bind(reason.to_owned())
        .bind(holder_id)
        .execute(&mut *w.tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if ended == 0 {
            drop(w);
            return Ok(0);
        }
        w.audit([event]).await?;
        w.commit().await?;
        Ok(ended)
    }

    async fn insert_card_login(
        &self,
        login: &CardLogin,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.insert_card_login_row(login, code_hash, now).await
    }

    async fn card_login_by_code(&self, code_hash: &str) -> Result<Option<CardLogin>, StoreError> {
        self.card_login_by(CardKey::Code(code_hash)).await
    }

    async fn card_login(&self, authorization_id: i64) -> Result<Option<CardLogin>, StoreError> {
        self.card_login_by(CardKey::Authorization(authorization_id))
            .await
    }

    async fn answer_card_login(
        &self,
        authorization_id: i64,
        code_hash: &str,
        outcome: &CardOutcome,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.answer_card_login_row(authorization_id, code_hash, outcome, at, event)
            .await
    }

    async fn end_authorization(
        &self,
        id: i64,
        at: DateTime<Utc>,
        reason: &str,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let update = Guarded::new(
            "UPDATE oidc_authorizations SET ended_micros = $1, end_reason = $2 \
             WHERE id = $3 AND ended_micros IS NULL",
        )
        .int(at.timestamp_micros())
        .text(reason)
        .int(id);
        self.group.submit(update, event).await
    }
}
