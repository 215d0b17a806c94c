//! DPoP at the token endpoint and at the protected resources (RFC 9449): a proof checked and
//! its `jti` recorded (accepted once, on every instance); an access token bound to the proof's
//! key (`cnf.jkt`); a bound token accepted only with a proof of that key for the request; with
//! `[oidc] dpop_nonce`, proofs carrying a nonce of the server's (§8, §9).

use std::collections::HashMap;

use hpki_core::domain::oidc::{OAuthError, OAuthErrorCode as C};
use hpki_core::secret::{new_token, token_hash};
use hpki_core::Error;
use serde_json::Value;

use super::oauth;
use crate::dpop::{self, AccessToken, DpopRequest, Proof, TokenScheme};
use crate::OidcService;

/// How long one nonce is handed out; it is accepted during its window and the next.
const NONCE_WINDOW_SECS: i64 = 300;

/// This instance's nonce for its window, and the windows of the nonces (by hash) of any
/// instance found valid.
#[derive(Default)]
pub(crate) struct DpopNonces {
    mine: Option<(i64, String)>,
    known: HashMap<String, i64>,
}

impl OidcService {
    /// The nonce to hand out now: this instance's for the current window (a new one each
    /// window, recorded by hash so that every instance accepts it).
    pub async fn dpop_nonce(&self) -> Result<String, Error> {
        let window = self.clock.now().timestamp().div_euclid(NONCE_WINDOW_SECS);
        if let Some((w, n)) = self.nonces().mine.clone() {
            if w == window {
                return Ok(n);
            }
        }
        let nonce = new_token("hdn_")?;
        self.store
            .insert_dpop_nonce(&token_hash(&nonce), window)
            .await?;
        self.nonces().mine = Some((window, nonce.clone()));
        Ok(nonce)
    }

    /// Whether `nonce` was handed out by an instance in this window or the one before.
    async fn dpop_nonce_fresh(&self, nonce: &str) -> Result<bool, Error> {
        let window = self.clock.now().timestamp().div_euclid(NONCE_WINDOW_SECS);
        let fresh = |w: i64| w == window || w == window - 1;
        let hash = token_hash(nonce);
        if let Some(w) = self.nonces().known.get(&hash) {
            return Ok(fresh(*w));
        }
        let Some(w) = self.store.dpop_nonce_window(&hash).await? else {
            return Ok(false);
        };
        let mut nonces = self.nonces();
        nonces.known.retain(|_, seen| fresh(*seen));
        nonces.known.insert(hash, w);
        Ok(fresh(w))
    }

    fn nonces(&self) -> std::sync::MutexGuard<'_, DpopNonces> {
        // A panic elsewhere while holding it leaves a cache, not a broken invariant.
        self.dpop_nonces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The request's DPoP proof, checked (at a resource: for `access_token`) and recorded;
    /// `None` if the request has none.
    pub(crate) async fn dpop_proof(
        &self,
        request: &DpopRequest,
        access_token: Option<&str>,
    ) -> Result<Option<Proof>, Error> {
        let Some(proof) = &request.proof else {
            return Ok(None);
        };
        let now = self.clock.now();
        let url = self.settings.endpoint(&request.path);
        let p = dpop::check(proof, &request.method, &url, access_token, now.timestamp())
            .map_err(|why| oauth(C::InvalidDpopProof, why))?;
        if self.settings.dpop_nonce {
            let fresh = match &p.nonce {
                Some(n) => self.dpop_nonce_fresh(n).await?,
                None => false,
            };
            if !fresh {
                let nonce = self.dpop_nonce().await?;
                return Err(Error::OAuth(OAuthError::use_dpop_nonce(nonce)));
            }
        }
        // Remembered as long as its iat could still be accepted.
        let kept_until = now + chrono::Duration::seconds(dpop::MAX_AGE_SECS + dpop::MAX_AHEAD_SECS);
        let key = token_hash(&format!("{}.{}", p.jkt, p.jti));
        if !self.store.record_dpop_proof(&key, kept_until, now).await? {
            return Err(oauth(
                C::InvalidDpopProof,
                "this DPoP proof was used before: make a new one (a new jti) for each request",
            ));
        }
        Ok(Some(p))
    }

    /// Whether `access` may be used as presented, its token's claims being `claims`: a token
    /// bound to a key (`cnf.jkt`) needs the DPoP scheme and a proof of that key for this
    /// request; an unbound token the Bearer scheme.
    pub async fn check_binding(&self, claims: &Value, access: &AccessToken) -> Result<(), Error> {
        match (claims["cnf"]["jkt"].as_str(), access.scheme) {
            (None, TokenScheme::Bearer) => Ok(()),
            (None, TokenScheme::Dpop) => Err(oauth(
                C::InvalidToken,
                "the access token is not DPoP-bound: send it as Authorization: Bearer",
            )),
            (Some(_), TokenScheme::Bearer) => Err(oauth(
                C::InvalidToken,
                "the access token is DPoP-bound: send it as Authorization: DPoP, with a DPoP \
                 proof of its key",
            )),
            (Some(jkt), TokenScheme::Dpop) => {
                let proof = self
                    .dpop_proof(&access.request, Some(&access.token))
                    .await?
                    .ok_or_else(|| {
                        oauth(
                            C::InvalidDpopProof,
                            "a DPoP header (exactly one) with a proof for this request is \
                             missing",
                        )
                    })?;
                if proof.jkt != jkt {
                    return Err(oauth(
                        C::InvalidDpopProof,
                        "the DPoP proof is signed by another key than the one the access token \
                         is bound to",
                    ));
                }
                Ok(())
            }
        }
    }
}
