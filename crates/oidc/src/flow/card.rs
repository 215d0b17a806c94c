//! The HPKI card login. The login page asks for a short code and shows it; the card client
//! (`hpki-second card sign-in CODE`) fetches the challenge with the code, has the card sign it
//! with its authentication key, and sends the signature with the card's certificate; the page,
//! polling, then gets its code and redirect like a passkey login.
//!
//! The card's certificate counts only if it is, byte for byte, an authentication certificate
//! this service's CA issued to a holder, valid now and not revoked: the chain to the
//! authentication CA and the revocation status are this service's own records.

use aws_lc_rs::signature::{
    UnparsedPublicKey, VerificationAlgorithm, ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_FIXED,
    RSA_PKCS1_2048_8192_SHA256,
};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use der::Decode;
use hpki_core::audit::Action;
use hpki_core::audit::{Actor, AuditEvent};
use hpki_core::domain::oidc::{
    card_code_typed, card_sign_in_message, AuthMethod, Authorization, AuthorizationStage,
    CardLogin, CardOutcome, LoginRefusal,
};
use hpki_core::domain::{
    CaRole, CertificateKind, CertificateStatus, Holder, Serial, StoredCertificate,
};
use hpki_core::secret::{os_random, token_hash};
use hpki_core::store::StoreError;
use hpki_core::Error;
use serde_json::json;

use super::login_refused;
use crate::OidcService;

/// How long a code may wait for the card (bounded by the login page's own time).
const CARD_CODE: Duration = Duration::minutes(5);

/// A code for the login page to show.
#[derive(Clone, Debug)]
pub struct CardCode {
    pub code: String,
    pub expires_at: DateTime<Utc>,
    /// Seconds from now until it expires.
    pub expires_in: i64,
}

/// What the card client gets for a code: the challenge, and whom the holder signs in to.
#[derive(Clone, Debug)]
pub struct CardChallenge {
    pub challenge: String,
    pub client_name: String,
    pub expires_at: DateTime<Utc>,
}

/// The card client's answer, decoded at the edge.
#[derive(Clone, Debug)]
pub struct CardAnswer {
    pub code: String,
    /// The origin the client contacted (part of what the card signed).
    pub origin: String,
    /// The card's authentication certificate, DER.
    pub certificate: Vec<u8>,
    pub signature: Vec<u8>,
}

/// Where a card login stands, for the page.
#[derive(Clone, Debug)]
pub enum CardStatus {
    Waiting {
        expires_at: DateTime<Utc>,
    },
    /// The card answered: the browser goes here.
    SignedIn {
        redirect: String,
    },
}

/// A refusal and its detail, before it is recorded.
type Refusal = (LoginRefusal, String);

fn code_unknown() -> Error {
    login_refused(
        LoginRefusal::CardCodeUnknown,
        "this code is not (or no longer) waiting for a card: it may be mistyped, used, or \
         expired; show a new code on the login page",
    )
}

/// Eight random digits from the OS (no modulo bias).
fn new_code() -> Result<String, Error> {
    loop {
        let mut raw = [0u8; 8];
        os_random(&mut raw)?;
        let n = u64::from_be_bytes(raw);
        // The largest multiple of 10^8 that fits; above it, draw again.
        if n < u64::MAX - u64::MAX % 100_000_000 {
            return Ok(format!("{:08}", n % 100_000_000));
        }
    }
}

/// Verifies the card's signature over `message` with the certificate's key.
fn signature_holds(
    spki: &x509_cert::spki::SubjectPublicKeyInfoOwned,
    message: &[u8],
    signature: &[u8],
) -> bool {
    const RSA: &str = "1.2.840.113549.1.1.1";
    const EC: &str = "1.2.840.10045.2.1";
    let algorithm: &dyn VerificationAlgorithm = match spki.algorithm.oid.to_string().as_str() {
        RSA => &RSA_PKCS1_2048_8192_SHA256,
        // A PKCS#11 card gives r‖s; DER is taken too.
        EC if signature.len() == 64 => &ECDSA_P256_SHA256_FIXED,
        EC => &ECDSA_P256_SHA256_ASN1,
        _ => return false,
    };
    UnparsedPublicKey::new(algorithm, spki.subject_public_key.raw_bytes())
        .verify(message, signature)
        .is_ok()
}

fn not_ours(why: &str) -> Refusal {
    (
        LoginRefusal::CardNotRecognised,
        format!(
            "the card's certificate {why}: sign in with a card whose authentication certificate \
             this certification authority issued"
        ),
    )
}

/// Why a presented certificate does not sign a holder in (`None`: it does): it must be, byte
/// for byte, the authentication certificate this CA stored under its serial, valid at `now`
/// and not revoked.
fn certificate_refusal(
    stored: Option<&StoredCertificate>,
    serial: &Serial,
    presented: &[u8],
    now: DateTime<Utc>,
) -> Option<Refusal> {
    let Some(stored) = stored else {
        return Some(not_ours(&format!("(serial {serial}) was not issued here")));
    };
    if stored.cert.der != presented {
        return Some(not_ours(&format!(
            "(serial {serial}) is not the one issued here under that serial"
        )));
    }
    if stored.cert.kind != CertificateKind::CardAuthentication
        || stored.cert.issuer != CaRole::Authentication
    {
        return Some(not_ours(&format!(
            "(serial {serial}) is not an HPKI card authentication certificate"
        )));
    }
    match stored.status_at(now) {
        CertificateStatus::Valid => None,
        CertificateStatus::Revoked { at, .. } => Some((
            LoginRefusal::CardRevoked,
            format!(
                "the card's authentication certificate {serial} was revoked at {}",
                at.to_rfc3339()
            ),
        )),
        CertificateStatus::Expired | CertificateStatus::NotYetValid => Some((
            LoginRefusal::CardExpired,
            format!(
                "the card's authentication certificate {serial} is valid from {} until {}, not now",
                stored.cert.not_before.to_rfc3339(),
                stored.cert.not_after.to_rfc3339()
            ),
        )),
    }
}

impl OidcService {
    /// A new code for the login page (replacing any earlier one of this login).
    pub async fn card_code(&self, login_token: &str) -> Result<CardCode, Error> {
        let a = self.waiting_login(login_token).await?;
        self.method_allowed(&a, AuthMethod::Card).await?;
        let now = self.clock.now();
        let expires_at = (now + CARD_CODE).min(a.request.login_expires_at);
        let mut attempts = 0;
        loop {
            let code = new_code()?;
            let mut challenge = [0u8; 32];
            os_random(&mut challenge)?;
            let login = CardLogin {
                authorization_id: a.id,
                challenge: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(challenge),
                expires_at,
                outcome: CardOutcome::Waiting,
            };
            match self
                .store
                .insert_card_login(&login, &token_hash(&code), now)
                .await
            {
                Ok(()) => {
                    return Ok(CardCode {
                        code,
                        expires_at,
                        expires_in: (expires_at - now).num_seconds(),
                    })
                }
                // Another login shows the same code just now: draw again.
                Err(StoreError::Conflict(_)) if attempts < 4 => attempts += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The card login a typed code names, if it still waits, with its authorization.
    async fn waiting_card(&self, typed: &str) -> Result<(CardLogin, Authorization, String), Error> {
        let code = card_code_typed(typed).ok_or_else(code_unknown)?;
        let login = self
            .store
            .card_login_by_code(&token_hash(&code))
            .await?
            .ok_or_else(code_unknown)?;
        let now = self.clock.now();
        if login.outcome != CardOutcome::Waiting || now >= login.expires_at {
            return Err(code_unknown());
        }
        let a = self
            .store
            .authorization(login.authorization_id)
            .await?
            .filter(|a| a.stage(now) == AuthorizationStage::WaitingForLogin)
            .ok_or_else(code_unknown)?;
        Ok((login, a, code))
    }

    /// The challenge for the card client.
    pub async fn card_challenge(&self, code: &str) -> Result<CardChallenge, Error> {
        let (login, a, _) = self.waiting_card(code).await?;
        let client_name = self.method_allowed(&a, AuthMethod::Card).await?;
        Ok(CardChallenge {
            challenge: login.challenge,
            client_name,
            expires_at: login.expires_at,
        })
    }

    /// The certificate presented, checked against this CA's records, and its holder.
    async fn card_holder(
        &self,
        certificate: &[u8],
    ) -> Result<Result<(Holder, Serial, x509_cert::Certificate), Refusal>, Error> {
        let Ok(cert) = x509_cert::Certificate::from_der(certificate) else {
            return Ok(Err(not_ours("is not a DER X.509 certificate")));
        };
        let serial = Serial::from_bytes(cert.tbs_certificate.serial_number.as_bytes());
        let stored = self.certs.certificate(&serial).await?;
        if let Some(refusal) =
            certificate_refusal(stored.as_ref(), &serial, certificate, self.clock.now())
        {
            return Ok(Err(refusal));
        }
        let holder = match stored.and_then(|s| s.cert.holder_id) {
            Some(id) => self.holders.holder_by_id(id).await?,
            None => None,
        };
        let Some(holder) = holder else {
            return Ok(Err(not_ours(&format!("(serial {serial}) names no holder"))));
        };
        Ok(Ok((holder, serial, cert)))
    }

    /// The card client's answer: the certificate and the signature checked, the holder
    /// allowed to sign; recorded (refusals too, and a refusal spends the code). Returns the
    /// holder's username (for the client to show).
    pub async fn card_answer(&self, actor: &Actor, answer: &CardAnswer) -> Result<String, Error> {
        let (login, a, code) = self.waiting_card(&answer.code).await?;
        self.method_allowed(&a, AuthMethod::Card).await?;
        let own_origin = url::Url::parse(self.settings.issuer())
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        let checked = if answer.origin != own_origin {
            Err((
                LoginRefusal::CardSignatureInvalid,
                format!(
                    "the card signed a challenge for {:?}, and this service is {own_origin:?}",
                    answer.origin
                ),
            ))
        } else {
            match self.card_holder(&answer.certificate).await? {
                Err(refusal) => Err(refusal),
                Ok((holder, serial, cert)) => {
                    let message = card_sign_in_message(&own_origin, &code, &login.challenge);
                    let spki = &cert.tbs_certificate.subject_public_key_info;
                    if !signature_holds(spki, message.as_bytes(), &answer.signature) {
                        Err((
                            LoginRefusal::CardSignatureInvalid,
                            format!("the signature is not over this login's challenge with the key of certificate {serial}"),
                        ))
                    } else {
                        match self.holder_refusal(&a, &holder).await? {
                            Some(refusal) => Err(refusal),
                            None => Ok((holder, serial)),
                        }
                    }
                }
            }
        };
        let now = self.clock.now();
        let code_hash = token_hash(&code);
        match checked {
            Ok((holder, serial)) => {
                let outcome = CardOutcome::Verified {
                    holder_id: holder.id,
                    certificate_serial: serial.to_string(),
                    at: now,
                };
                let event = AuditEvent::new(
                    now,
                    actor,
                    Action::OIDC_CARD_VERIFIED,
                    holder.username.to_string(),
                    json!({ "client": a.request.client_id, "authorization": a.id, "certificate": serial }),
                );
                if !self
                    .store
                    .answer_card_login(a.id, &code_hash, &outcome, now, &event)
                    .await?
                {
                    return Err(code_unknown());
                }
                Ok(holder.username.to_string())
            }
            Err((refusal, detail)) => {
                let outcome = CardOutcome::Refused {
                    refusal,
                    detail: detail.clone(),
                };
                let event = AuditEvent::new(
                    now,
                    actor,
                    Action::OIDC_LOGIN_REFUSED,
                    a.request.client_id.to_string(),
                    json!({ "client": a.request.client_id, "authorization": a.id, "method": AuthMethod::Card.as_str(), "reason": refusal.code(), "detail": detail }),
                );
                self.store
                    .answer_card_login(a.id, &code_hash, &outcome, now, &event)
                    .await?;
                Err(login_refused(refusal, detail))
            }
        }
    }

    /// The page's poll: still waiting, refused (the error), or signed in (a code is made now,
    /// for this browser, and the login recorded).
    pub async fn card_status(&self, actor: &Actor, login_token: &str) -> Result<CardStatus, Error> {
        let a = self.waiting_login(login_token).await?;
        let login = self
            .store
            .card_login(a.id)
            .await?
            .ok_or_else(code_unknown)?;
        let (holder_id, serial, verified_at) = match login.outcome {
            CardOutcome::Waiting if self.clock.now() < login.expires_at => {
                return Ok(CardStatus::Waiting {
                    expires_at: login.expires_at,
                })
            }
            CardOutcome::Waiting => return Err(code_unknown()),
            CardOutcome::Refused { refusal, detail } => return Err(login_refused(refusal, detail)),
            CardOutcome::Verified {
                holder_id,
                certificate_serial,
                at,
            } => (holder_id, certificate_serial, at),
        };
        let holder = self.holders.holder_by_id(holder_id).await?.ok_or_else(|| {
            Error::Internal(format!("holder {holder_id} of a card login is gone"))
        })?;
        let method = AuthMethod::Card;
        // Checked again: the holder or the certificate may have changed since the card answered.
        if let Some((refusal, detail)) = self.holder_refusal(&a, &holder).await? {
            let target = holder.username.to_string();
            return Err(self
                .refuse_login(actor, &a, &target, method, refusal, detail)
                .await);
        }
        let handout = self.handout(&a)?;
        let event = self.login_event(actor, &a, &holder, method, ("certificate", json!(serial)));
        let recorded = self
            .store
            .record_login(
                &hpki_core::store::Login {
                    authorization: a.id,
                    holder: holder.id,
                    device: None,
                    method,
                    at: verified_at,
                    code_hash: &handout.code_hash,
                    code_expires_at: handout.expires_at,
                },
                &event,
            )
            .await?;
        if !recorded {
            return Err(login_refused(
                LoginRefusal::LoginEnded,
                "this login was finished in another window, or it ended meanwhile",
            ));
        }
        super::login::count_login(method, "signed_in");
        Ok(CardStatus::SignedIn {
            redirect: handout.to,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpki_core::domain::{NewCertificate, Revocation, RevocationReason};

    fn stored(kind: CertificateKind, issuer: CaRole) -> StoredCertificate {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).expect("time").to_utc();
        StoredCertificate {
            id: 1,
            cert: NewCertificate {
                serial: Serial::parse("1a2b").expect("serial"),
                kind,
                issuer,
                holder_id: Some(7),
                key: None,
                subject: "CN=Taro Yakuzai".into(),
                der: vec![0x30, 0x03, 0x02, 0x01, 0x01],
                not_before: at("2026-01-01T00:00:00Z"),
                not_after: at("2027-01-01T00:00:00Z"),
            },
            revocation: None,
        }
    }

    fn refusal(s: Option<&StoredCertificate>, presented: &[u8], now: &str) -> Option<LoginRefusal> {
        let now = DateTime::parse_from_rfc3339(now).expect("time").to_utc();
        let serial = Serial::parse("1a2b").expect("serial");
        certificate_refusal(s, &serial, presented, now).map(|(r, _)| r)
    }

    #[test]
    fn only_this_cas_valid_authentication_certificates_sign_in() {
        let auth = stored(CertificateKind::CardAuthentication, CaRole::Authentication);
        let der = auth.cert.der.clone();
        let mid = "2026-06-01T00:00:00Z";
        assert_eq!(refusal(Some(&auth), &der, mid), None);
        // Expired, and not valid yet.
        assert_eq!(
            refusal(Some(&auth), &der, "2027-01-01T00:00:01Z"),
            Some(LoginRefusal::CardExpired)
        );
        assert_eq!(
            refusal(Some(&auth), &der, "2025-12-31T23:59:59Z"),
            Some(LoginRefusal::CardExpired)
        );
        // Revoked (and revocation wins over expiry).
        let mut revoked = auth.clone();
        revoked.revocation = Some(Revocation {
            at: DateTime::parse_from_rfc3339("2026-05-01T00:00:00Z")
                .expect("t")
                .to_utc(),
            reason: RevocationReason::KeyCompromise,
        });
        assert_eq!(
            refusal(Some(&revoked), &der, mid),
            Some(LoginRefusal::CardRevoked)
        );
        assert_eq!(
            refusal(Some(&revoked), &der, "2028-01-01T00:00:00Z"),
            Some(LoginRefusal::CardRevoked)
        );
        // Not issued here, a changed copy, a signing certificate.
        assert_eq!(
            refusal(None, &der, mid),
            Some(LoginRefusal::CardNotRecognised)
        );
        assert_eq!(
            refusal(Some(&auth), &[0x30, 0x03, 0x02, 0x01, 0x02], mid),
            Some(LoginRefusal::CardNotRecognised)
        );
        let signing = stored(CertificateKind::CardSigning, CaRole::Signing);
        assert_eq!(
            refusal(Some(&signing), &der, mid),
            Some(LoginRefusal::CardNotRecognised)
        );
    }

    #[test]
    fn codes_are_eight_digits() {
        let codes: Vec<String> = (0..50).map(|_| new_code().expect("rng")).collect();
        assert!(codes
            .iter()
            .all(|c| c.len() == 8 && c.bytes().all(|b| b.is_ascii_digit())));
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert!(distinct.len() > 45, "{codes:?}");
    }
}
