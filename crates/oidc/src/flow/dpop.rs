//! DPoP at the token endpoint and at the protected resources (RFC 9449): a proof checked and
//! its `jti` recorded (accepted once, on every instance); an access token bound to the proof's
//! key (`cnf.jkt`); a bound token accepted only with a proof of that key for the request.

use hpki_core::domain::oidc::OAuthErrorCode as C;
use hpki_core::secret::token_hash;
use hpki_core::Error;
use serde_json::Value;

use super::oauth;
use crate::dpop::{self, AccessToken, DpopRequest, Proof, TokenScheme};
use crate::OidcService;

impl OidcService {
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
                            "the DPoP header with a proof for this request is missing",
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
