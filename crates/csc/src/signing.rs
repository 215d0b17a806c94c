//! `credentials/authorize` (a SAD for up to `numSignatures` hashes, bound to them when the
//! relying system lists them), `credentials/extendTransaction`, and `signatures/signHash`.
//! Every signature is audited (`signature.created`) in the transaction that spends its SAD;
//! a signature whose audit event was not written is never returned.

use base64::Engine;
use hpki_core::audit::Action;
use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::domain::csc::{oids, CredentialId, NewSad, Sad, SigningMode};
use hpki_core::domain::oidc::OAuthErrorCode;
use hpki_core::keystore::{DigestSigning, KeyAlgorithm, Sha256Digest};
use hpki_core::secret::{new_token, token_hash};
use hpki_core::store::SpendGuard;
use hpki_core::Error;
use hpki_oidc::dpop::AccessToken;
use hpki_oidc::SigningSession;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::credentials::SigningKey;
use crate::{refusal, CscService, SignAlgorithm};

/// The audit action of a signature.
pub const SIGNED: Action = Action::SIGNATURE_CREATED;

#[derive(Clone, Debug, Default, Deserialize)]
pub struct AuthorizeRequest {
    #[serde(rename = "credentialID")]
    pub credential_id: Option<String>,
    #[serde(rename = "numSignatures")]
    pub num_signatures: Option<i64>,
    /// v1 `hash`, v2 `hashes`: Base64 SHA-256 digests the SAD is bound to.
    #[serde(alias = "hashes")]
    pub hash: Option<Vec<String>>,
    #[serde(rename = "hashAlgo", alias = "hashAlgorithmOID")]
    pub hash_algo: Option<String>,
    #[serde(rename = "PIN")]
    pub pin: Option<String>,
    #[serde(rename = "OTP")]
    pub otp: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ExtendRequest {
    #[serde(rename = "credentialID")]
    pub credential_id: Option<String>,
    #[serde(rename = "SAD")]
    pub sad: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct SignHashRequest {
    #[serde(rename = "credentialID")]
    pub credential_id: Option<String>,
    #[serde(rename = "SAD")]
    pub sad: Option<String>,
    /// v1 `hash`, v2 `hashes` (v2 servers take both: pyHanko sends `hash`).
    #[serde(alias = "hashes")]
    pub hash: Option<Vec<String>>,
    #[serde(rename = "hashAlgo", alias = "hashAlgorithmOID")]
    pub hash_algo: Option<String>,
    #[serde(rename = "signAlgo")]
    pub sign_algo: Option<String>,
    #[serde(rename = "signAlgoParams")]
    pub sign_algo_params: Option<String>,
}

/// SADs: `hsd_` and 64 hex digits.
const SAD_PREFIX: &str = "hsd_";

fn invalid(description: impl Into<String>) -> Error {
    refusal(OAuthErrorCode::InvalidRequest, description)
}

/// Base64 SHA-256 digests, as the API sends them.
fn digests(field: &str, values: &[String], most: u32) -> Result<Vec<Sha256Digest>, Error> {
    if values.is_empty() {
        return Err(invalid(format!(
            "Missing parameter {field}: give the hashes to sign"
        )));
    }
    if values.len() > most as usize {
        return Err(invalid(format!(
            "Invalid parameter {field}: at most {most} hashes in one call"
        )));
    }
    values
        .iter()
        .map(|v| {
            base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .ok()
                .and_then(|d| Sha256Digest::try_from(d.as_slice()).ok())
                .ok_or_else(|| {
                    invalid(format!(
                        "Invalid parameter {field}: {v:?} is not the Base64 of a SHA-256 digest (32 bytes)"
                    ))
                })
        })
        .collect()
}

impl CscService {
    /// `credentials/authorize` in a signing session (SCAL1): a SAD for up to `numSignatures`
    /// signatures, bound to the listed hashes when there are any.
    pub async fn authorize(
        &self,
        actor: &Actor,
        access: &AccessToken,
        r: &AuthorizeRequest,
    ) -> Result<Value, Error> {
        const ENDPOINT: &str = "credentials/authorize";
        let token = access.token.as_str();
        let s = self.session(actor, ENDPOINT, token).await?;
        self.presented(actor, ENDPOINT, &s, access).await?;
        let credential = self
            .credential_of(actor, ENDPOINT, &s, r.credential_id.as_deref())
            .await?;
        if Self::is_consent(&s) {
            return Err(invalid(
                "a credential token (scope credential) signs the hashes the holder authorized without a SAD: call signHash or signDoc with it directly",
            ));
        }
        self.check_mode(actor, ENDPOINT, &s, SigningMode::Session)
            .await?;
        if r.pin.is_some() || r.otp.is_some() {
            return Err(invalid(
                "PIN and OTP are not used: the holder authenticated with the passkey when signing in",
            ));
        }
        let most = self.settings.max_signatures;
        let Some(count) = r.num_signatures else {
            return Err(invalid(
                "Missing (or invalid type) integer parameter numSignatures",
            ));
        };
        if count < 1 || count > i64::from(most) {
            return Err(invalid(format!(
                "Invalid parameter numSignatures: give 1 to {most}"
            )));
        }
        let hashes = match &r.hash {
            None => None,
            Some(h) => {
                if let Some(a) = r.hash_algo.as_deref().map(str::trim) {
                    if a != oids::SHA256 {
                        return Err(invalid(format!(
                            "Invalid parameter hashAlgo: {a} is not supported; hashes must be SHA-256 ({})",
                            oids::SHA256
                        )));
                    }
                }
                let d = digests("hash", h, most)?;
                if d.len() as i64 != count {
                    return Err(invalid(format!(
                        "Invalid parameter numSignatures: {count}, but {} hashes were given",
                        d.len()
                    )));
                }
                Some(d)
            }
        };
        let now = self.clock.now();
        let session_end = s.authorization.session_expires_at.unwrap_or(now);
        let expires_at = (now + self.settings.sad_lifetime).min(session_end);
        let sad = new_token(SAD_PREFIX)?;
        let new = NewSad {
            sad_hash: token_hash(&sad),
            session_id: s.authorization.id,
            holder_id: s.holder.id,
            client_id: s.client.client_id.clone(),
            mode: SigningMode::Session,
            hashes,
            remaining: count,
            created_at: now,
            expires_at,
        };
        let event = AuditEvent::new(
            now,
            actor,
            Action::CSC_AUTHORIZED,
            s.holder.username.to_string(),
            json!({
                "client_id": s.client.client_id,
                "credential": credential.to_string(),
                "mode": SigningMode::Session.as_str(),
                "session": s.authorization.id.to_string(),
                "num_signatures": count,
                "hashes": new.hashes.as_ref().map(|h| h.iter().map(hex::encode).collect::<Vec<_>>()),
                "expires_at": expires_at.to_rfc3339(),
            }),
        );
        self.store.insert_sad(&new, &event).await?;
        Ok(json!({ "SAD": sad, "expiresIn": (expires_at - now).num_seconds() }))
    }

    /// `credentials/extendTransaction`: a new SAD value with a new lifetime for what the old
    /// one may still sign; the old value stops working.
    pub async fn extend(
        &self,
        actor: &Actor,
        access: &AccessToken,
        r: &ExtendRequest,
    ) -> Result<Value, Error> {
        const ENDPOINT: &str = "credentials/extendTransaction";
        let token = access.token.as_str();
        let s = self.session(actor, ENDPOINT, token).await?;
        self.presented(actor, ENDPOINT, &s, access).await?;
        let credential = self
            .credential_of(actor, ENDPOINT, &s, r.credential_id.as_deref())
            .await?;
        let was = self
            .usable_sad(actor, ENDPOINT, &s, r.sad.as_deref())
            .await?;
        let now = self.clock.now();
        let session_end = s.authorization.session_expires_at.unwrap_or(now);
        let expires_at = (now + self.settings.sad_lifetime).min(session_end);
        let sad = new_token(SAD_PREFIX)?;
        let event = AuditEvent::new(
            now,
            actor,
            Action::CSC_EXTENDED,
            s.holder.username.to_string(),
            json!({
                "client_id": s.client.client_id,
                "credential": credential.to_string(),
                "session": s.authorization.id.to_string(),
                "expires_at": expires_at.to_rfc3339(),
            }),
        );
        let extended = self
            .store
            .extend_sad(
                was.id,
                &was.sad.sad_hash,
                &token_hash(&sad),
                expires_at,
                now,
                &event,
            )
            .await?;
        if !extended {
            return Err(self
                .refuse(
                    actor,
                    ENDPOINT,
                    &s,
                    OAuthErrorCode::InvalidRequest,
                    "Invalid parameter SAD: it was used up, replaced or expired meanwhile",
                )
                .await);
        }
        Ok(json!({ "SAD": sad, "expiresIn": (expires_at - now).num_seconds() }))
    }

    /// The SAD a call names, if it belongs to this signing session and may still sign.
    async fn usable_sad(
        &self,
        actor: &Actor,
        endpoint: &str,
        s: &SigningSession,
        sad: Option<&str>,
    ) -> Result<Sad, Error> {
        let Some(sad) = sad.map(str::trim).filter(|v| !v.is_empty()) else {
            return Err(invalid("Missing (or invalid type) string parameter SAD"));
        };
        let found = self.store.sad_by_hash(&token_hash(sad)).await?;
        self.check_sad(actor, endpoint, s, found).await
    }

    /// [`Self::usable_sad`] for a signing endpoint: a session-mode SAD as last spent on this
    /// instance is used without reading it (its spend is guarded by what is stored).
    async fn spendable_sad(
        &self,
        actor: &Actor,
        endpoint: &str,
        s: &SigningSession,
        sad: Option<&str>,
    ) -> Result<Sad, Error> {
        if let Some(value) = sad.map(str::trim).filter(|v| !v.is_empty()) {
            if let Some(found) = self.checked.sad(&token_hash(value), self.clock.now()) {
                return self.check_sad(actor, endpoint, s, Some(found)).await;
            }
        }
        self.usable_sad(actor, endpoint, s, sad).await
    }

    /// A SAD as read, if it belongs to this signing session and may still sign.
    async fn check_sad(
        &self,
        actor: &Actor,
        endpoint: &str,
        s: &SigningSession,
        found: Option<Sad>,
    ) -> Result<Sad, Error> {
        let now = self.clock.now();
        let why = match found {
            None => {
                "Invalid parameter SAD: it is not one this service gave (or it expired long ago)"
            }
            Some(found) if found.sad.session_id != s.authorization.id => {
                "Invalid parameter SAD: it was given in another signing session"
            }
            Some(found) if found.sad.expires_at <= now => "SAD expired",
            Some(found) if found.sad.remaining <= 0 => {
                "Invalid parameter SAD: it has been used for every signature it authorized"
            }
            Some(found) => return Ok(found),
        };
        Err(self
            .refuse(actor, endpoint, s, OAuthErrorCode::InvalidRequest, why)
            .await)
    }

    /// `signatures/signHash`: signs the hashes with the holder's second certificate's key,
    /// spending the SAD.
    pub async fn sign_hash(
        &self,
        actor: &Actor,
        access: &AccessToken,
        r: &SignHashRequest,
    ) -> Result<Value, Error> {
        const ENDPOINT: &str = "signatures/signHash";
        let token = access.token.as_str();
        let s = self.session_for_signing(actor, ENDPOINT, token).await?;
        self.presented(actor, ENDPOINT, &s, access).await?;
        let credential = self
            .credential_of(actor, ENDPOINT, &s, r.credential_id.as_deref())
            .await?;
        let algorithm = SignAlgorithm::parse(
            r.sign_algo.as_deref(),
            r.sign_algo_params.as_deref(),
            r.hash_algo.as_deref(),
        )
        .map_err(invalid)?;
        let hashes = digests(
            "hash",
            r.hash.as_deref().unwrap_or_default(),
            self.settings.max_signatures,
        )?;
        let spend = self
            .begin_spend(actor, ENDPOINT, &s, token, r.sad.as_deref(), hashes)
            .await?;
        let key = self.signing_key(&s)?;
        if let Err(why) = algorithm.0.check(key.algorithm) {
            // A PSS salt too long for the key is the parameters' fault, anything else the
            // algorithm's.
            return Err(invalid(match (algorithm.0, key.algorithm) {
                (DigestSigning::RsaPss { .. }, KeyAlgorithm::Rsa2048) => {
                    format!("Invalid parameter signAlgoParams: {why}")
                }
                _ => format!(
                    "Invalid parameter signAlgo: the credential's key is {} and cannot sign {}",
                    key.algorithm.as_str(),
                    algorithm.oid()
                ),
            }));
        }
        let signatures = self.sign_with(&s, &key, algorithm, &spend.hashes).await?;
        self.finish_spend(
            actor,
            ENDPOINT,
            &s,
            token,
            &credential,
            &key,
            spend,
            json!({ "algorithm": algorithm.0.as_str() }),
        )
        .await?;
        let b64 = base64::engine::general_purpose::STANDARD;
        Ok(json!({
            "signatures": signatures.iter().map(|sig| b64.encode(sig)).collect::<Vec<_>>(),
        }))
    }
}

impl CscService {
    /// The SAD of a credential token, made on its first use from what the holder authorized
    /// (kept, like every SAD, by the hash of its value: here the token).
    async fn consent_sad(
        &self,
        actor: &Actor,
        s: &SigningSession,
        token: &str,
    ) -> Result<Sad, Error> {
        let sad_hash = token_hash(token);
        if let Some(found) = self.store.sad_by_hash(&sad_hash).await? {
            return Ok(found);
        }
        let Some(consent) = &s.authorization.request.consent else {
            return Err(invalid(
                "the access token authorizes no particular signatures",
            ));
        };
        let now = self.clock.now();
        let new = NewSad {
            sad_hash: sad_hash.clone(),
            session_id: s.authorization.id,
            holder_id: s.holder.id,
            client_id: s.client.client_id.clone(),
            mode: SigningMode::Consent,
            hashes: Some(consent.hashes.clone()),
            remaining: consent.hashes.len() as i64,
            created_at: now,
            expires_at: s.authorization.session_expires_at.unwrap_or(now),
        };
        let event = AuditEvent::new(
            now,
            actor,
            Action::CSC_AUTHORIZED,
            s.holder.username.to_string(),
            json!({
                "client_id": s.client.client_id,
                "credential": consent.credential.to_string(),
                "mode": SigningMode::Consent.as_str(),
                "session": s.authorization.id.to_string(),
                "num_signatures": consent.hashes.len(),
                "hashes": consent.hashes.iter().map(hex::encode).collect::<Vec<_>>(),
                "expires_at": new.expires_at.to_rfc3339(),
            }),
        );
        match self.store.insert_sad(&new, &event).await {
            Ok(id) => Ok(Sad { id, sad: new }),
            // Two first uses at once: the other one made it.
            Err(e) => self.store.sad_by_hash(&sad_hash).await?.ok_or(e.into()),
        }
    }
}

/// Signatures a SAD is about to pay for: checked, not yet spent.
pub(crate) struct Spend {
    sad: Sad,
    /// The hashes the signatures are audited with.
    pub(crate) hashes: Vec<Sha256Digest>,
    hashes_left: Option<Vec<Sha256Digest>>,
}

impl CscService {
    /// Checks that the SAD may pay for signatures of `hashes`: this session's, unexpired, in
    /// a mode the relying system may use, with enough signatures left, and (when bound to
    /// hashes) each of them among its hashes.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn begin_spend(
        &self,
        actor: &Actor,
        endpoint: &str,
        s: &SigningSession,
        token: &str,
        sad: Option<&str>,
        hashes: Vec<Sha256Digest>,
    ) -> Result<Spend, Error> {
        let sad = self
            .authorize_spend(actor, endpoint, s, token, sad, hashes.len())
            .await?;
        self.bind_spend(actor, endpoint, s, sad, hashes).await
    }

    /// The first half of [`Self::begin_spend`], for a call that must read its documents to know
    /// their hashes: the SAD is this session's, unexpired, in a mode the relying system may
    /// use, and has `count` signatures left. Nothing of the documents is read before this.
    pub(crate) async fn authorize_spend(
        &self,
        actor: &Actor,
        endpoint: &str,
        s: &SigningSession,
        token: &str,
        sad: Option<&str>,
        count: usize,
    ) -> Result<Sad, Error> {
        let sad = match sad.map(str::trim).filter(|v| !v.is_empty()) {
            // A credential token is its own SAD: for the hashes the holder authorized.
            None if Self::is_consent(s) => {
                let found = self.consent_sad(actor, s, token).await?;
                self.check_sad(actor, endpoint, s, Some(found)).await?
            }
            sad => self.spendable_sad(actor, endpoint, s, sad).await?,
        };
        self.check_mode(actor, endpoint, s, sad.sad.mode).await?;
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        self.enough_left(actor, endpoint, s, &sad, count).await?;
        Ok(sad)
    }

    /// The second half of [`Self::begin_spend`]: when the SAD is bound to hashes, each of
    /// `hashes` is among those it has left.
    pub(crate) async fn bind_spend(
        &self,
        actor: &Actor,
        endpoint: &str,
        s: &SigningSession,
        sad: Sad,
        hashes: Vec<Sha256Digest>,
    ) -> Result<Spend, Error> {
        let hashes_left = match &sad.sad.hashes {
            None => None,
            Some(bound) => {
                let mut left = bound.clone();
                for h in &hashes {
                    let Some(at) = left.iter().position(|b| b == h) else {
                        let why = format!(
                            "Invalid parameter hash: {} is not a hash this SAD authorized (or it was signed already)",
                            base64::engine::general_purpose::STANDARD.encode(h)
                        );
                        return Err(self
                            .refuse(actor, endpoint, s, OAuthErrorCode::InvalidRequest, &why)
                            .await);
                    };
                    left.swap_remove(at);
                }
                Some(left)
            }
        };
        Ok(Spend {
            sad,
            hashes,
            hashes_left,
        })
    }

    /// Refuses a call for more signatures than the SAD has left.
    async fn enough_left(
        &self,
        actor: &Actor,
        endpoint: &str,
        s: &SigningSession,
        sad: &Sad,
        used: i64,
    ) -> Result<(), Error> {
        if used <= sad.sad.remaining {
            return Ok(());
        }
        let why = format!(
            "Invalid parameter hash: the SAD authorizes {} more signature(s), not {used}",
            sad.sad.remaining
        );
        Err(self
            .refuse(actor, endpoint, s, OAuthErrorCode::InvalidRequest, &why)
            .await)
    }

    /// Signs digests with the holder's second certificate's key (which must still be valid).
    pub(crate) async fn sign_with(
        &self,
        s: &SigningSession,
        key: &SigningKey,
        algorithm: SignAlgorithm,
        digests: &[Sha256Digest],
    ) -> Result<Vec<Vec<u8>>, Error> {
        self.ca
            .sign_digests_with_second_certificate(&s.holder, &key.certificate, algorithm.0, digests)
            .await
            .map_err(|e| match e {
                Error::Conflict(why) => invalid(format!("the credential's key is disabled: {why}")),
                other => other,
            })
    }

    /// Spends the SAD with the event that audits the signatures (holder, relying system,
    /// certificate, mode, session, hashes, and `details`); until this returns, no signature
    /// may leave.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn finish_spend(
        &self,
        actor: &Actor,
        endpoint: &str,
        s: &SigningSession,
        token: &str,
        credential: &CredentialId,
        key: &SigningKey,
        spend: Spend,
        details: Value,
    ) -> Result<(), Error> {
        let now = self.clock.now();
        let mut audited = json!({
            "client_id": s.client.client_id,
            "credential": credential.to_string(),
            "certificate": key.certificate.cert.serial.to_string(),
            "mode": spend.sad.sad.mode.as_str(),
            "session": s.authorization.id.to_string(),
            "endpoint": endpoint,
            "hashes": spend.hashes.iter().map(hex::encode).collect::<Vec<_>>(),
        });
        if let (Some(all), Value::Object(more)) = (audited.as_object_mut(), details) {
            all.extend(more);
        }
        let event = AuditEvent::new(now, actor, SIGNED, s.holder.username.to_string(), audited);
        let guard = SpendGuard {
            holder_id: s.holder.id,
            session_id: s.authorization.id,
            certificate: key.certificate.cert.serial.to_string(),
            device_id: s.authorization.device_id,
            client_id: s.client.client_id.to_string(),
        };
        let used = spend.hashes.len() as i64;
        let spent = self
            .store
            .spend_sad(
                &spend.sad,
                used,
                spend.hashes_left.as_deref(),
                &guard,
                now,
                &event,
            )
            .await?;
        if spent {
            metrics::counter!(
                "hpki_signatures_total",
                "mode" => spend.sad.sad.mode.as_str(),
                "algorithm" => key.algorithm.as_str(),
                "endpoint" => endpoint.to_owned()
            )
            .increment(used.unsigned_abs());
            self.checked.keep_spent_sad(spend.sad, used, now);
            return Ok(());
        }
        // Something changed since it was checked: say what, as read now (and audited there).
        let sad_key = spend.sad.sad.sad_hash.clone();
        self.checked.forget(&token_hash(token), &sad_key);
        let now_session = self.session(actor, endpoint, token).await?;
        let found = self.store.sad_by_hash(&sad_key).await?;
        let sad = self.check_sad(actor, endpoint, &now_session, found).await?;
        self.enough_left(actor, endpoint, s, &sad, used).await?;
        Err(self
            .refuse(
                actor,
                endpoint,
                s,
                OAuthErrorCode::InvalidRequest,
                "Invalid parameter SAD: it was used by another request or expired meanwhile, or the signing session ended (the relying system disabled)",
            )
            .await)
    }
}
