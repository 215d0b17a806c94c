//! The schema, one list of migrations for both backends. Only the type names that SQLite and
//! PostgreSQL spell differently are filled in per backend.

use hpki_core::store::StoreError;
use sqlx::AnyPool;

use crate::{db_err, Backend};

/// (version, statements). Append new versions; never edit a released one.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r"
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
CREATE TABLE audit_events (
    seq BIGINT PRIMARY KEY,
    at_micros BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_events_target ON audit_events (target);
CREATE TABLE holders (
    id {id},
    org TEXT NOT NULL,
    registry_number TEXT NOT NULL,
    username TEXT NOT NULL UNIQUE,
    name_kanji TEXT NOT NULL,
    name_kana TEXT NOT NULL,
    name_roman TEXT,
    date_of_birth TEXT NOT NULL,
    qualification TEXT NOT NULL,
    status TEXT NOT NULL,
    photo_sha256 TEXT,
    created_micros BIGINT NOT NULL
);
CREATE TABLE holder_photos (
    holder_id BIGINT PRIMARY KEY REFERENCES holders (id) ON DELETE CASCADE,
    jpeg {blob} NOT NULL,
    width BIGINT NOT NULL,
    height BIGINT NOT NULL
);
CREATE TABLE operators (
    id {id},
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    created_micros BIGINT NOT NULL
);
",
    ),
    (
        2,
        r"
CREATE TABLE certificates (
    id {id},
    serial TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    issuer TEXT NOT NULL,
    holder_id BIGINT REFERENCES holders (id),
    key_algorithm TEXT,
    key_ref {blob},
    subject TEXT NOT NULL,
    der {blob} NOT NULL,
    not_before_micros BIGINT NOT NULL,
    not_after_micros BIGINT NOT NULL,
    revoked_micros BIGINT,
    revocation_reason TEXT,
    created_micros BIGINT NOT NULL
);
CREATE INDEX certificates_holder ON certificates (holder_id);
CREATE INDEX certificates_revoked ON certificates (issuer, revoked_micros);
CREATE TABLE crls (
    issuer TEXT PRIMARY KEY,
    last BIGINT NOT NULL,
    der {blob},
    this_update_micros BIGINT,
    next_update_micros BIGINT
);
",
    ),
    (
        3,
        r"
CREATE TABLE sheets (
    id {id},
    holder_id BIGINT NOT NULL REFERENCES holders (id),
    token_hash TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    failed_attempts BIGINT NOT NULL,
    issued_micros BIGINT NOT NULL,
    expires_micros BIGINT NOT NULL
);
CREATE INDEX sheets_holder ON sheets (holder_id);
CREATE INDEX sheets_expiry ON sheets (state, expires_micros);
",
    ),
    (
        4,
        r"
CREATE TABLE registration_sessions (
    id_hash TEXT PRIMARY KEY,
    sheet_id BIGINT NOT NULL REFERENCES sheets (id),
    holder_id BIGINT NOT NULL REFERENCES holders (id),
    created_micros BIGINT NOT NULL,
    expires_micros BIGINT NOT NULL
);
CREATE INDEX registration_sessions_expiry ON registration_sessions (expires_micros);
",
    ),
    (
        5,
        r"
CREATE TABLE device_credentials (
    id {id},
    holder_id BIGINT NOT NULL REFERENCES holders (id),
    credential_id {blob} NOT NULL UNIQUE,
    user_handle {blob} NOT NULL,
    static_state {blob} NOT NULL,
    dynamic_state {blob} NOT NULL,
    transports BIGINT NOT NULL,
    aaguid TEXT NOT NULL,
    label TEXT NOT NULL,
    state TEXT NOT NULL,
    created_micros BIGINT NOT NULL,
    last_used_micros BIGINT
);
CREATE INDEX device_credentials_holder ON device_credentials (holder_id);
CREATE TABLE webauthn_ceremonies (
    challenge TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    holder_id BIGINT NOT NULL,
    session_hash TEXT NOT NULL,
    state {blob} NOT NULL,
    expires_micros BIGINT NOT NULL
);
CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies (expires_micros);
",
    ),
    (
        6,
        r"
{audit_append_only}
",
    ),
    (
        7,
        r"
ALTER TABLE operators ADD COLUMN token_expires_micros BIGINT;
ALTER TABLE operators ADD COLUMN token_revoked_micros BIGINT;
ALTER TABLE operators ADD COLUMN disabled_micros BIGINT;
ALTER TABLE operators ADD COLUMN last_used_micros BIGINT;
",
    ),
    (
        8,
        // The kanji name in two parts (certificates write family name, U+3000, given name):
        // existing names are split at their first space, ASCII or ideographic (the character
        // in the REPLACE below is U+3000); a name without one is kept whole as the family name.
        // Organisations for the certificates' O.
        r"
ALTER TABLE holders ADD COLUMN family_name_kanji TEXT NOT NULL DEFAULT '';
ALTER TABLE holders ADD COLUMN given_name_kanji TEXT;
ALTER TABLE holders ADD COLUMN organization_kanji TEXT;
ALTER TABLE holders ADD COLUMN organization_roman TEXT;
UPDATE holders SET
    family_name_kanji = CASE WHEN {strpos}(REPLACE(TRIM(name_kanji), '　', ' '), ' ') > 0
        THEN TRIM(SUBSTR(REPLACE(TRIM(name_kanji), '　', ' '), 1, {strpos}(REPLACE(TRIM(name_kanji), '　', ' '), ' ') - 1))
        ELSE TRIM(name_kanji) END,
    given_name_kanji = CASE WHEN {strpos}(REPLACE(TRIM(name_kanji), '　', ' '), ' ') > 0
        THEN NULLIF(TRIM(SUBSTR(REPLACE(TRIM(name_kanji), '　', ' '), {strpos}(REPLACE(TRIM(name_kanji), '　', ' '), ' ') + 1)), '')
        ELSE NULL END;
ALTER TABLE holders DROP COLUMN name_kanji;
",
    ),
    (
        9,
        // OpenID Connect: relying systems, the token-signing keys, and authorizations (the
        // request, the login, the code, the signing session it opens: one row, moving forward).
        r"
CREATE TABLE oidc_clients (
    id {id},
    client_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    methods TEXT NOT NULL,
    secret_hash TEXT,
    jwks TEXT,
    created_micros BIGINT NOT NULL,
    disabled_micros BIGINT
);
CREATE TABLE oidc_client_assertions (
    jti_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    expires_micros BIGINT NOT NULL
);
CREATE TABLE oidc_signing_keys (
    kid TEXT PRIMARY KEY,
    algorithm TEXT NOT NULL,
    key_ref {blob} NOT NULL,
    spki {blob} NOT NULL,
    created_micros BIGINT NOT NULL,
    superseded_micros BIGINT
);
CREATE TABLE oidc_authorizations (
    id {id},
    login_hash TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    state TEXT,
    nonce TEXT,
    code_challenge TEXT NOT NULL,
    max_age BIGINT,
    created_micros BIGINT NOT NULL,
    login_expires_micros BIGINT NOT NULL,
    holder_id BIGINT REFERENCES holders (id),
    device_id BIGINT,
    method TEXT,
    auth_micros BIGINT,
    code_hash TEXT UNIQUE,
    code_expires_micros BIGINT,
    code_used_micros BIGINT,
    session_expires_micros BIGINT,
    ended_micros BIGINT,
    end_reason TEXT
);
CREATE INDEX oidc_authorizations_holder ON oidc_authorizations (holder_id);
CREATE INDEX oidc_authorizations_client ON oidc_authorizations (client_id);
",
    ),
    (
        10,
        // Remote signing (CSC): which relying systems may sign how, what a holder is asked to
        // authorize (SCAL2), and signature activation data (SAD), kept by hash, spent as
        // signatures are made. Signatures themselves are
        // audit events (`signature.created`), found by holder through the target index.
        r"
ALTER TABLE oidc_clients ADD COLUMN signing TEXT NOT NULL DEFAULT 'none';
ALTER TABLE oidc_authorizations ADD COLUMN consent TEXT;
CREATE TABLE csc_sads (
    id {id},
    sad_hash TEXT NOT NULL UNIQUE,
    session_id BIGINT NOT NULL REFERENCES oidc_authorizations (id),
    holder_id BIGINT NOT NULL REFERENCES holders (id),
    client_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    hashes TEXT,
    remaining BIGINT NOT NULL,
    created_micros BIGINT NOT NULL,
    expires_micros BIGINT NOT NULL
);
CREATE INDEX csc_sads_expiry ON csc_sads (expires_micros);
CREATE INDEX audit_events_target_action ON audit_events (target, action, seq);
",
    ),
    (
        11,
        // HPKI card logins: the one-time code a login page shows (kept by hash), the challenge
        // the card signs, and the card's answer (`outcome` NULL while waiting, `verified`, or
        // the refusal's code).
        r"
CREATE TABLE oidc_card_logins (
    authorization_id BIGINT PRIMARY KEY REFERENCES oidc_authorizations (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL UNIQUE,
    challenge TEXT NOT NULL,
    created_micros BIGINT NOT NULL,
    expires_micros BIGINT NOT NULL,
    outcome TEXT,
    detail TEXT,
    holder_id BIGINT REFERENCES holders (id),
    certificate_serial TEXT,
    answered_micros BIGINT
);
CREATE INDEX oidc_card_logins_expiry ON oidc_card_logins (expires_micros);
",
    ),
    (
        12,
        // The holder's own page: a registration session whose browser then signed in with a
        // registered passkey (which one, and when) may show it.
        r"
ALTER TABLE registration_sessions ADD COLUMN signed_in_device BIGINT;
ALTER TABLE registration_sessions ADD COLUMN signed_in_micros BIGINT;
",
    ),
    (
        13,
        // Operators' roles: those added before roles existed keep doing the daily work.
        r"
ALTER TABLE operators ADD COLUMN role TEXT NOT NULL DEFAULT 'operator';
",
    ),
    (
        14,
        // The operator console: operators' passkeys (as holders' device credentials), their
        // single-use enrolment links, and console sessions (cookies kept by hash).
        r"
CREATE TABLE operator_credentials (
    id {id},
    operator_id BIGINT NOT NULL REFERENCES operators (id),
    credential_id {blob} NOT NULL UNIQUE,
    user_handle {blob} NOT NULL,
    static_state {blob} NOT NULL,
    dynamic_state {blob} NOT NULL,
    transports BIGINT NOT NULL,
    aaguid TEXT NOT NULL,
    label TEXT NOT NULL,
    state TEXT NOT NULL,
    created_micros BIGINT NOT NULL,
    last_used_micros BIGINT
);
CREATE INDEX operator_credentials_operator ON operator_credentials (operator_id);
CREATE TABLE operator_enrolments (
    token_hash TEXT PRIMARY KEY,
    operator_id BIGINT NOT NULL REFERENCES operators (id),
    created_micros BIGINT NOT NULL,
    expires_micros BIGINT NOT NULL,
    used_micros BIGINT
);
CREATE TABLE console_sessions (
    token_hash TEXT PRIMARY KEY,
    operator_id BIGINT NOT NULL REFERENCES operators (id),
    credential_id BIGINT NOT NULL,
    created_micros BIGINT NOT NULL,
    seen_micros BIGINT NOT NULL,
    expires_micros BIGINT NOT NULL,
    reauth_micros BIGINT NOT NULL,
    ended_micros BIGINT
);
",
    ),
    (
        15,
        // Dual control: actions waiting for a second operator's approval.
        r"
CREATE TABLE approval_requests (
    id {id},
    action TEXT NOT NULL,
    holder TEXT NOT NULL,
    params TEXT NOT NULL,
    reason TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_micros BIGINT NOT NULL,
    expires_micros BIGINT NOT NULL,
    state TEXT NOT NULL,
    decided_by TEXT,
    decided_micros BIGINT,
    result TEXT
);
CREATE INDEX approval_requests_state ON approval_requests (state, expires_micros);
",
    ),
    (
        16,
        // (target, action, seq) serves every lookup by target; the index on target alone only
        // cost a page write per audit event (a quarter of a signature's writes on SQLite).
        r"
DROP INDEX audit_events_target;
",
    ),
    (
        17,
        // Revocations reach every instance and every CRL: a generation counter that each
        // revocation raises (instances compare it, never a clock), and a CA's CRL marked due in
        // the revocation's transaction until a CRL listing it is published. `published_number`
        // is the number of the CRL kept in `der` (`last` is the newest number taken).
        r"
CREATE TABLE revocation_generation (
    id INTEGER PRIMARY KEY,
    generation BIGINT NOT NULL
);
INSERT INTO revocation_generation (id, generation) SELECT 1, COUNT(*) FROM certificates WHERE revoked_micros IS NOT NULL;
ALTER TABLE crls ADD COLUMN due_generation BIGINT;
ALTER TABLE crls ADD COLUMN published_number BIGINT;
UPDATE crls SET published_number = last WHERE der IS NOT NULL;
",
    ),
    (
        18,
        // Certificates a restored CA no longer knows (issued after its backup) that a CRL it
        // had published lists as revoked: they stay on every CRL it issues.
        r"
CREATE TABLE lost_certificates (
    issuer TEXT NOT NULL,
    serial TEXT NOT NULL,
    revoked_micros BIGINT NOT NULL,
    revocation_reason TEXT NOT NULL,
    recorded_micros BIGINT NOT NULL,
    PRIMARY KEY (issuer, serial)
);
",
    ),
    (
        19,
        // The device authorization grant (RFC 8628): the relying system's request with its
        // device code and user code (both by hash), a refusal, the polls. The phone that
        // entered the user code holds a login whose code is the device code from the start
        // (so its code's uniqueness binds one phone per request). An authorization says how it
        // returns what it grants: a code to a redirect URI, or to the poll (then its
        // redirect_uri and code_challenge are empty).
        r"
ALTER TABLE oidc_authorizations ADD COLUMN grant_type TEXT NOT NULL DEFAULT 'authorization_code';
CREATE TABLE oidc_device_grants (
    id {id},
    device_code_hash TEXT NOT NULL UNIQUE,
    user_code_hash TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_micros BIGINT NOT NULL,
    expires_micros BIGINT NOT NULL,
    interval_secs BIGINT NOT NULL,
    denied_micros BIGINT,
    last_poll_micros BIGINT,
    consent TEXT
);
CREATE INDEX oidc_device_grants_expiry ON oidc_device_grants (expires_micros);
",
    ),
    (
        20,
        // DPoP (RFC 9449): relying systems registered as requiring DPoP-bound tokens; the
        // proofs seen (by the hash of their key's thumbprint and jti) until they are too old to
        // be accepted anyway: a proof is accepted once, on every instance; the nonces the
        // instances hand out (by hash), each for a time window, so that any instance accepts
        // any instance's. Pushed authorization requests (RFC 9126): relying systems registered
        // as pushing theirs, and the requests pushed (by their request_uri's hash), used once.
        r"
ALTER TABLE oidc_clients ADD COLUMN dpop_bound BIGINT NOT NULL DEFAULT 0;
CREATE TABLE oidc_dpop_proofs (
    jti_hash TEXT PRIMARY KEY,
    expires_micros BIGINT NOT NULL
);
CREATE INDEX oidc_dpop_proofs_expiry ON oidc_dpop_proofs (expires_micros);
CREATE TABLE oidc_dpop_nonces (
    nonce_hash TEXT PRIMARY KEY,
    time_window BIGINT NOT NULL
);
CREATE INDEX oidc_dpop_nonces_window ON oidc_dpop_nonces (time_window);
ALTER TABLE oidc_clients ADD COLUMN par_required BIGINT NOT NULL DEFAULT 0;
CREATE TABLE oidc_par_requests (
    uri_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    params TEXT NOT NULL,
    expires_micros BIGINT NOT NULL
);
CREATE INDEX oidc_par_requests_expiry ON oidc_par_requests (expires_micros);
",
    ),
];

/// The audit log is append-only in the database itself: an `UPDATE` or `DELETE` of an event
/// (and on PostgreSQL a `TRUNCATE`) fails, whoever sends it. Someone who owns the database can
/// drop these triggers, which is why the chain of hashes and the checkpoints remain the proof;
/// the triggers stop a mistaken statement or a program with plain write access.
const AUDIT_APPEND_ONLY_SQLITE: &str = "
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit events are append-only: they are never changed or deleted'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit events are append-only: they are never changed or deleted'); END;
";
const AUDIT_APPEND_ONLY_POSTGRES: &str = "
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit events are append-only: they are never changed or deleted'; END $$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
";

fn render(sql: &str, backend: Backend) -> String {
    let (id, blob) = match backend {
        Backend::Sqlite => ("INTEGER PRIMARY KEY", "BLOB"),
        Backend::Postgres => (
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            "BYTEA",
        ),
    };
    let append_only = match backend {
        Backend::Sqlite => AUDIT_APPEND_ONLY_SQLITE,
        Backend::Postgres => AUDIT_APPEND_ONLY_POSTGRES,
    };
    // The position of a substring: SQLite's instr, PostgreSQL's strpos (same arguments).
    let strpos = match backend {
        Backend::Sqlite => "INSTR",
        Backend::Postgres => "STRPOS",
    };
    sql.replace("{id}", id)
        .replace("{strpos}", strpos)
        .replace("{blob}", blob)
        .replace("{audit_append_only}", append_only)
}

/// The statements of a migration: each ends with `;` at the end of its line (a `;` inside a
/// line belongs to a trigger's or function's body).
fn statements(sql: &str) -> impl Iterator<Item = &str> {
    sql.split(";\n")
        .map(|s| s.trim().trim_end_matches(';').trim())
        .filter(|s| !s.is_empty())
}

/// The newest schema version this release knows.
pub(crate) fn newest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// The database's schema version (0: none yet).
pub(crate) async fn version(pool: &AnyPool) -> Result<i64, StoreError> {
    let table: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(pool)
        .await
        .ok()
        .flatten();
    Ok(table.unwrap_or(0))
}

/// Applies what is missing, in one transaction, with other processes held off.
pub(crate) async fn run(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    run_up_to(pool, backend, i64::MAX).await
}

/// Applies the migrations up to `last` (tests of a migration start from the version before).
pub(crate) async fn run_up_to(
    pool: &AnyPool,
    backend: Backend,
    last: i64,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    if backend == Backend::Postgres {
        // A migration may take longer than a request's limits allow.
        for unlimited in [
            "SET LOCAL statement_timeout = 0",
            "SET LOCAL lock_timeout = 0",
        ] {
            sqlx::query(unlimited)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        // Two servers starting together must not both create the schema.
        sqlx::query("SELECT pg_advisory_xact_lock(7301245601)")
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    // On SQLite this first write takes the database's write lock.
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_micros BIGINT NOT NULL)")
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
    let current = current.unwrap_or(0);
    let newest = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > newest {
        return Err(StoreError::Other(format!(
            "the database has schema version {current}, newer than this program's {newest}: run a newer hpki-second"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current && m.0 <= last) {
        let rendered = render(sql, backend);
        for statement in statements(&rendered) {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::Other(format!("migration {version} failed: {e}")))?;
        }
        sqlx::query("INSERT INTO schema_migrations (version, applied_micros) VALUES ($1, $2)")
            .bind(*version)
            .bind(chrono::Utc::now().timestamp_micros())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tracing::info!(version, "applied schema migration");
    }
    tx.commit().await.map_err(db_err)
}

#[cfg(test)]
mod tests {
    use super::{render, statements, MIGRATIONS};

    /// Expand/contract: a migration only adds (tables, columns, indexes, rows), so that the
    /// previous release keeps running on the new schema while instances are upgraded one at
    /// a time. Dropping or renaming what a release reads is a contract step: allowed only a
    /// release after the code stopped using it, and listed here with why. A new contract step
    /// that is not listed fails this test.
    #[test]
    fn migrations_only_expand_unless_a_contract_step_is_listed() {
        const CONTRACT: [&str; 5] = [
            "DROP COLUMN",
            "DROP TABLE",
            "RENAME",
            "ALTER COLUMN",
            "DROP VIEW",
        ];
        // (version, what it drops, why that is safe).
        const LISTED: &[(i64, &str, &str)] = &[(
            8,
            "holders.name_kanji",
            "before rolling upgrades were supported: that release stopped every instance",
        )];
        for (version, sql) in MIGRATIONS {
            let upper = sql.to_ascii_uppercase();
            let contracts = CONTRACT.iter().any(|k| upper.contains(k));
            let listed = LISTED.iter().any(|(v, _, _)| v == version);
            assert_eq!(
                contracts, listed,
                "migration {version}: a contract step (drop, rename, alter) must be listed, \
                 a release after the code stopped using what it removes"
            );
        }
    }
    use crate::Backend;

    #[test]
    fn released_migrations_split_as_they_always_did_and_trigger_bodies_stay_whole() {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 <= 5) {
                let rendered = render(sql, backend);
                let before: Vec<&str> = rendered
                    .split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                let now: Vec<&str> = statements(&rendered).collect();
                assert_eq!(now, before, "migration {version}");
            }
            let (_, sql) = MIGRATIONS.iter().find(|m| m.0 == 6).expect("6");
            let rendered = render(sql, backend);
            let now: Vec<&str> = statements(&rendered).collect();
            let expected = if backend == Backend::Sqlite { 2 } else { 3 };
            assert_eq!(now.len(), expected, "{now:#?}");
            assert!(now.iter().all(|s| s.starts_with("CREATE ")), "{now:#?}");
        }
    }
}
