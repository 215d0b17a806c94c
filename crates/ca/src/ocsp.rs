//! The OCSP responder (RFC 6960). Each issuing CA has a delegated responder certificate; answers
//! are signed by its key in the keystore. Answers to requests without a nonce are cached until
//! shortly before their nextUpdate and dropped as soon as the revocation generation moves (an
//! answer read before a revocation is never cached after it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use der::asn1::{BitString, GeneralizedTime, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use hpki_core::domain::{CaRole, CertificateKind, Serial};
use hpki_core::keystore::{KeyAlgorithm, KeyRef};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_cert::certificate::Certificate;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::ext::Extension;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse,
    OcspResponseStatus, ResponderId, ResponseData, RevokedInfo, SingleResponse, Version,
};

const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
/// The most memory cached answers may take (a bound, not a tuning knob): about 37,000 answers
/// of ~1.7 KB. Only answers about certificates this CA issued are kept, so the requests that
/// fill it are bounded by what the CA issued, not by what anyone can send.
const CACHE_BYTES: usize = 64 * 1024 * 1024;
/// What one entry costs besides its answer and key (the map's own share, roughly).
const ENTRY_OVERHEAD: usize = 96;

/// What an issuing CA's responder needs, loaded once.
pub(crate) struct Responder {
    pub(crate) role: CaRole,
    name_sha1: Vec<u8>,
    key_sha1: Vec<u8>,
    name_sha256: Vec<u8>,
    key_sha256: Vec<u8>,
    pub(crate) cert: Certificate,
    pub(crate) key: KeyRef,
    pub(crate) algorithm: KeyAlgorithm,
    responder_key_sha1: Vec<u8>,
    pub(crate) not_after: DateTime<Utc>,
}

impl Responder {
    pub(crate) fn new(
        role: CaRole,
        issuer: &Certificate,
        cert: Certificate,
        key: KeyRef,
        algorithm: KeyAlgorithm,
        not_after: DateTime<Utc>,
    ) -> der::Result<Self> {
        let name = issuer.tbs_certificate.subject.to_der()?;
        let issuer_key = issuer
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        let own_key = cert
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        Ok(Self {
            role,
            name_sha1: Sha1::digest(&name).to_vec(),
            key_sha1: Sha1::digest(issuer_key).to_vec(),
            name_sha256: Sha256::digest(&name).to_vec(),
            key_sha256: Sha256::digest(issuer_key).to_vec(),
            responder_key_sha1: Sha1::digest(own_key).to_vec(),
            cert,
            key,
            algorithm,
            not_after,
        })
    }

    fn issued(&self, id: &CertId) -> bool {
        let (name, key) = match id.hash_algorithm.oid {
            SHA1 => (&self.name_sha1, &self.key_sha1),
            SHA256 => (&self.name_sha256, &self.key_sha256),
            _ => return false,
        };
        id.issuer_name_hash.as_bytes() == name.as_slice()
            && id.issuer_key_hash.as_bytes() == key.as_slice()
    }
}

#[derive(Hash, PartialEq, Eq)]
struct CacheKey {
    role: CaRole,
    cert_id: Vec<u8>,
}

struct Cached {
    der: Arc<Vec<u8>>,
    produced: DateTime<Utc>,
    use_until: DateTime<Utc>,
}

/// A signed answer, and how long relying parties and caches may keep it (`None`: not at all,
/// as for an answer with a nonce or about a serial this CA never issued).
#[derive(Clone, Debug)]
pub struct OcspAnswer {
    pub der: Arc<Vec<u8>>,
    pub reuse: Option<Reuse>,
}

impl OcspAnswer {
    /// A strong entity tag for HTTP caches (see [`entity_tag`]).
    pub fn etag(&self) -> String {
        entity_tag(&self.der)
    }
}

/// A strong HTTP entity tag of a DER object: the first 16 bytes of its SHA-256, hex, quoted.
pub(crate) fn entity_tag(der: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(der)[..16]))
}

/// The window in which an answer may be reused.
#[derive(Clone, Copy, Debug)]
pub struct Reuse {
    /// Its producedAt (and thisUpdate).
    pub produced: DateTime<Utc>,
    /// Its nextUpdate less a tenth of the validity: no cache should keep it longer.
    pub until: DateTime<Utc>,
}

/// The responder's state, shared by every clone of the CA service.
#[derive(Default)]
pub(crate) struct OcspState {
    pub(crate) responders: RwLock<Vec<Arc<Responder>>>,
    cache: Mutex<Cache>,
}

/// Cached answers and what they take.
#[derive(Default)]
struct Cache {
    answers: HashMap<CacheKey, Cached>,
    bytes: usize,
    /// The revocation generation the answers were read at (`None` before the first look).
    generation: Option<i64>,
}

impl Cache {
    fn cost(key: &CacheKey, cached: &Cached) -> usize {
        key.cert_id.len() + cached.der.len() + ENTRY_OVERHEAD
    }

    fn clear(&mut self) {
        self.answers.clear();
        self.bytes = 0;
    }

    /// Keeps `cached` under `key`, making room first: expired answers go, and if that is not
    /// enough, all of them (they are cheap to sign again; the bound is what matters).
    fn insert(&mut self, key: CacheKey, cached: Cached, now: DateTime<Utc>) {
        let cost = Self::cost(&key, &cached);
        let key_len = key.cert_id.len();
        if self.bytes + cost > CACHE_BYTES {
            self.answers.retain(|_, c| now < c.use_until);
            self.bytes = self.answers.iter().map(|(k, c)| Self::cost(k, c)).sum();
            if self.bytes + cost > CACHE_BYTES {
                self.clear();
            }
        }
        self.bytes += cost;
        if let Some(old) = self.answers.insert(key, cached) {
            // The answer it replaced (the same key) no longer counts.
            self.bytes -= key_len + old.der.len() + ENTRY_OVERHEAD;
        }
    }
}

/// The status of one certificate, as the CA's records say.
pub(crate) enum Found {
    Good,
    Revoked { at: DateTime<Utc>, reason_code: u8 },
    Unknown,
}

/// A parsed request: what to look up, and how to answer.
pub(crate) struct Parsed {
    pub(crate) responder: Arc<Responder>,
    pub(crate) requests: Vec<(CertId, Option<Serial>)>,
    nonce: Option<Extension>,
    cache_key: Option<CacheKey>,
}

/// The most octets a nonce may have (RFC 8954, 2.1), and the fewest.
const NONCE_OCTETS: std::ops::RangeInclusive<usize> = 1..=32;

/// Checks a request's (or a single request's) extensions as RFC 5280 and RFC 6960 say: none
/// twice, none critical that this responder does not understand (`understood`), and a nonce
/// an OCTET STRING of 1 to 32 octets (RFC 8954), which a responder must not echo otherwise.
/// Gives the nonce extension, when there is one. Other extensions are ignored.
fn request_extensions(
    extensions: Option<&[Extension]>,
    understood: &[ObjectIdentifier],
) -> Result<Option<Extension>, OcspResponseStatus> {
    let extensions = extensions.unwrap_or_default();
    let mut nonce = None;
    for (i, e) in extensions.iter().enumerate() {
        if extensions[..i]
            .iter()
            .any(|before| before.extn_id == e.extn_id)
        {
            return Err(OcspResponseStatus::MalformedRequest);
        }
        if !understood.contains(&e.extn_id) {
            if e.critical {
                return Err(OcspResponseStatus::MalformedRequest);
            }
            continue;
        }
        if e.extn_id == NONCE {
            let value = OctetString::from_der(e.extn_value.as_bytes())
                .map_err(|_| OcspResponseStatus::MalformedRequest)?;
            if !NONCE_OCTETS.contains(&value.as_bytes().len()) {
                return Err(OcspResponseStatus::MalformedRequest);
            }
            nonce = Some(e.clone());
        }
    }
    Ok(nonce)
}

/// The DER of an unsuccessful OCSPResponse.
pub(crate) fn status_only(status: OcspResponseStatus) -> Vec<u8> {
    let r = OcspResponse {
        response_status: status,
        response_bytes: None,
    };
    r.to_der()
        .unwrap_or_else(|_| vec![0x30, 0x03, 0x0a, 0x01, 0x02])
}

fn generalized(t: DateTime<Utc>) -> der::Result<OcspGeneralizedTime> {
    let secs = u64::try_from(t.timestamp()).map_err(|_| der::ErrorKind::DateTime)?;
    Ok(OcspGeneralizedTime(GeneralizedTime::from_unix_duration(
        StdDuration::from_secs(secs),
    )?))
}

/// The CRLReason of a code (none for unspecified, which is then left out).
pub(crate) fn crl_reason(code: u8) -> Option<CrlReason> {
    Some(match code {
        1 => CrlReason::KeyCompromise,
        2 => CrlReason::CaCompromise,
        3 => CrlReason::AffiliationChanged,
        4 => CrlReason::Superseded,
        5 => CrlReason::CessationOfOperation,
        9 => CrlReason::PrivilegeWithdrawn,
        _ => return None,
    })
}

impl OcspState {
    /// Reads a request. `Err` carries the status to answer with (malformedRequest, unauthorized).
    pub(crate) fn parse(&self, der: &[u8]) -> Result<Parsed, OcspResponseStatus> {
        let req = OcspRequest::from_der(der).map_err(|_| OcspResponseStatus::MalformedRequest)?;
        let list = req.tbs_request.request_list;
        if list.is_empty() {
            return Err(OcspResponseStatus::MalformedRequest);
        }
        let responders = self.responders.read().unwrap_or_else(|p| p.into_inner());
        // One response is signed by one responder: the one of the first certificate's issuer.
        let responder = responders
            .iter()
            .find(|r| r.issued(&list[0].req_cert))
            .cloned()
            .ok_or(OcspResponseStatus::Unauthorized)?;
        for r in &list {
            request_extensions(r.single_request_extensions.as_deref(), &[])?;
        }
        let nonce = request_extensions(req.tbs_request.request_extensions.as_deref(), &[NONCE])?;
        let cache_key = match (&nonce, list.len()) {
            (None, 1) => Some(CacheKey {
                role: responder.role,
                cert_id: list[0]
                    .req_cert
                    .to_der()
                    .map_err(|_| OcspResponseStatus::MalformedRequest)?,
            }),
            _ => None,
        };
        let requests = list
            .into_iter()
            .map(|r| {
                let serial = responder
                    .issued(&r.req_cert)
                    .then(|| Serial::from_bytes(r.req_cert.serial_number.as_bytes()));
                (r.req_cert, serial)
            })
            .collect();
        Ok(Parsed {
            responder,
            requests,
            nonce,
            cache_key,
        })
    }

    pub(crate) fn cached(&self, parsed: &Parsed, now: DateTime<Utc>) -> Option<OcspAnswer> {
        let key = parsed.cache_key.as_ref()?;
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .answers
            .get(key)
            .filter(|c| now < c.use_until)
            .map(|c| OcspAnswer {
                der: c.der.clone(),
                reuse: Some(Reuse {
                    produced: c.produced,
                    until: c.use_until,
                }),
            })
    }

    /// The revocation generation as last noticed: taken before a status is read, and handed
    /// back to [`Self::finish`], which caches nothing if it moved in between.
    pub(crate) fn generation(&self) -> Option<i64> {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .generation
    }

    /// The ResponseData to sign.
    pub(crate) fn response_data(
        &self,
        parsed: &Parsed,
        found: &[Found],
        now: DateTime<Utc>,
        next_update: DateTime<Utc>,
    ) -> der::Result<ResponseData> {
        let mut responses = Vec::with_capacity(found.len());
        for ((cert_id, _), status) in parsed.requests.iter().zip(found) {
            let cert_status = match status {
                Found::Good => CertStatus::good(),
                Found::Unknown => CertStatus::unknown(),
                Found::Revoked { at, reason_code } => CertStatus::revoked(RevokedInfo {
                    revocation_time: generalized(*at)?,
                    revocation_reason: crl_reason(*reason_code),
                }),
            };
            responses.push(SingleResponse {
                cert_id: cert_id.clone(),
                cert_status,
                this_update: generalized(now)?,
                next_update: Some(generalized(next_update)?),
                single_extensions: None,
            });
        }
        Ok(ResponseData {
            version: Version::V1,
            responder_id: ResponderId::ByKey(OctetString::new(
                parsed.responder.responder_key_sha1.clone(),
            )?),
            produced_at: generalized(now)?,
            responses,
            response_extensions: parsed.nonce.clone().map(|n| vec![n]),
        })
    }

    /// Puts the signed response together, and caches it when it may be reused: a request
    /// without a nonce about a certificate this CA issued (`known`), whose status was read at
    /// the generation still current (`read_at`, from [`Self::generation`]). Answers about
    /// serials it never issued are never kept: anyone can ask about any number of those.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn finish(
        &self,
        parsed: Parsed,
        data: ResponseData,
        signature: &[u8],
        known: bool,
        read_at: Option<i64>,
        now: DateTime<Utc>,
        use_until: DateTime<Utc>,
    ) -> der::Result<OcspAnswer> {
        let basic = BasicOcspResponse {
            tbs_response_data: data,
            signature_algorithm: crate::profile::signature_algorithm(parsed.responder.algorithm),
            signature: BitString::from_bytes(signature)?,
            certs: Some(vec![parsed.responder.cert.clone()]),
        };
        let der = Arc::new(OcspResponse::successful(basic)?.to_der()?);
        let Some(key) = parsed.cache_key.filter(|_| known) else {
            return Ok(OcspAnswer { der, reuse: None });
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.generation != read_at {
            // Something was revoked while this status was read and signed: the answer may
            // already be stale. It goes to this one asker, uncached and not to be kept.
            return Ok(OcspAnswer { der, reuse: None });
        }
        let cached = Cached {
            der: der.clone(),
            produced: now,
            use_until,
        };
        cache.insert(key, cached, now);
        Ok(OcspAnswer {
            der,
            reuse: Some(Reuse {
                produced: now,
                until: use_until,
            }),
        })
    }

    /// Notes the revocation generation: when it moved, every cached answer is forgotten (under
    /// the same lock that inserts, so no answer read before it can be cached after it).
    pub(crate) fn note_generation(&self, generation: i64) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.generation != Some(generation) {
            cache.generation = Some(generation);
            cache.clear();
        }
    }

    /// How many answers are cached and the memory they take (bytes, roughly).
    pub(crate) fn size(&self) -> (usize, usize) {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        (cache.answers.len(), cache.bytes)
    }

    pub(crate) fn forget_all(&self) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// Whether a stored certificate of this kind is one the responder answers for.
pub(crate) fn answerable(kind: CertificateKind) -> bool {
    !matches!(kind, CertificateKind::Ca(_))
}

#[cfg(test)]
mod cache_tests {
    use super::*;

    #[test]
    fn the_cache_never_takes_more_than_its_bound() {
        let mut cache = Cache::default();
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let answer = Arc::new(vec![0u8; 64 * 1024]);
        for i in 0..3_000u32 {
            let key = CacheKey {
                role: CaRole::Signing,
                cert_id: i.to_be_bytes().to_vec(),
            };
            let cached = Cached {
                der: answer.clone(),
                produced: now,
                use_until: now + chrono::Duration::minutes(50),
            };
            cache.insert(key, cached, now);
            assert!(
                cache.bytes <= CACHE_BYTES,
                "{} bytes after {i}",
                cache.bytes
            );
        }
        let counted: usize = cache.answers.iter().map(|(k, c)| Cache::cost(k, c)).sum();
        assert_eq!(cache.bytes, counted, "the count is exact");
        // The same key again replaces, and is counted once.
        let key = || CacheKey {
            role: CaRole::Signing,
            cert_id: 2_999u32.to_be_bytes().to_vec(),
        };
        let before = cache.bytes;
        cache.insert(
            key(),
            Cached {
                der: answer.clone(),
                produced: now,
                use_until: now,
            },
            now,
        );
        assert_eq!(cache.bytes, before);
    }
}
