//! What this instance checked recently for the signing endpoints (`signHash`, `signDoc`): the
//! signing session behind an access token, and session-mode SADs. A call that finds both here
//! reads nothing before it signs; what was checked is checked again, exactly, in the
//! transaction that spends the SAD (`SpendGuard`: the holder active, the session running, the
//! certificate unrevoked and unexpired, the device credential active, the relying system
//! enabled, the SAD unspent and unexpired), and no signature leaves before that transaction.
//! So a revocation, a deleted device or an ended session stops the next signature at once, on
//! every instance, as without this memory. A spend that this guard refuses forgets both, and
//! the call is checked again from the database, to say why.
//!
//! Entries are kept [`KEEP`] at most (what is shown from them, such as the holder's name, is
//! that fresh), and only while what they hold is unexpired.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, Utc};
use hpki_core::domain::csc::Sad;
use hpki_oidc::SigningSession;

/// How long an entry is used before it is read again.
const KEEP: Duration = Duration::seconds(30);

/// At most this many entries of each kind (a session is a few kilobytes): beyond, entries no
/// longer used are dropped, and if that is not enough the memory starts again.
const MOST: usize = 10_000;

/// Entries by key, each with when it was read from the database.
type Remembered<T> = RwLock<HashMap<String, (T, DateTime<Utc>)>>;

#[derive(Default)]
pub(crate) struct Checked {
    /// By the hash of the access token.
    sessions: Remembered<Arc<SigningSession>>,
    /// By the hash of the SAD (session mode only: a SAD bound to hashes is read each time).
    sads: Remembered<Sad>,
}

impl Checked {
    /// The session checked for this token, if recent and nothing in it has expired.
    pub(crate) fn session(
        &self,
        token_key: &str,
        now: DateTime<Utc>,
    ) -> Option<Arc<SigningSession>> {
        let map = self.sessions.read().ok()?;
        let (s, at) = map.get(token_key)?;
        let token_lives = s.claims["exp"]
            .as_i64()
            .is_some_and(|exp| exp > now.timestamp());
        let session_runs = s.authorization.session_expires_at.is_some_and(|e| e > now);
        let certificate_valid = s.second_certificate.cert.not_before <= now
            && s.second_certificate.cert.not_after > now;
        (now < *at + KEEP && token_lives && session_runs && certificate_valid).then(|| s.clone())
    }

    pub(crate) fn keep_session(
        &self,
        token_key: String,
        s: Arc<SigningSession>,
        now: DateTime<Utc>,
    ) {
        if let Ok(mut map) = self.sessions.write() {
            make_room(&mut map, now);
            map.insert(token_key, (s, now));
        }
    }

    /// The SAD as last spent here, if recent and unexpired.
    pub(crate) fn sad(&self, sad_key: &str, now: DateTime<Utc>) -> Option<Sad> {
        let map = self.sads.read().ok()?;
        let (sad, at) = map.get(sad_key)?;
        (now < *at + KEEP && sad.sad.expires_at > now && sad.sad.hashes.is_none())
            .then(|| sad.clone())
    }

    /// A session-mode SAD after `used` of its signatures were spent here.
    pub(crate) fn keep_spent_sad(&self, mut sad: Sad, used: i64, now: DateTime<Utc>) {
        if sad.sad.hashes.is_some() {
            return;
        }
        let Ok(mut map) = self.sads.write() else {
            return;
        };
        sad.sad.remaining -= used;
        if sad.sad.remaining <= 0 {
            map.remove(&sad.sad.sad_hash);
            return;
        }
        make_room(&mut map, now);
        let at = map.get(&sad.sad.sad_hash).map_or(now, |(_, at)| *at);
        map.insert(sad.sad.sad_hash.clone(), (sad, at));
    }

    /// Forgets a token's session and a SAD (a spend was refused).
    pub(crate) fn forget(&self, token_key: &str, sad_key: &str) {
        if let Ok(mut map) = self.sessions.write() {
            map.remove(token_key);
        }
        if let Ok(mut map) = self.sads.write() {
            map.remove(sad_key);
        }
    }
}

/// Keeps a memory under [`MOST`] entries: those older than [`KEEP`] go first.
fn make_room<T>(map: &mut HashMap<String, (T, DateTime<Utc>)>, now: DateTime<Utc>) {
    if map.len() < MOST {
        return;
    }
    map.retain(|_, (_, at)| now < *at + KEEP);
    if map.len() >= MOST {
        map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_memory_drops_what_is_no_longer_used_first() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let mut map: HashMap<String, (u8, DateTime<Utc>)> = HashMap::new();
        for i in 0..MOST - 1 {
            map.insert(format!("old-{i}"), (0, t0));
        }
        map.insert("fresh".into(), (1, t0 + KEEP));
        make_room(&mut map, t0 + KEEP + Duration::seconds(1));
        assert_eq!(map.len(), 1, "only the fresh entry stays");
        assert!(map.contains_key("fresh"));
        // All fresh and full: it starts again.
        let mut map: HashMap<String, (u8, DateTime<Utc>)> =
            (0..MOST).map(|i| (i.to_string(), (0, t0))).collect();
        make_room(&mut map, t0);
        assert!(map.is_empty());
    }
}
