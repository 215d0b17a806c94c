//! The token's sessions, pooled, and a pool that heals: a session whose call found the token
//! out of reach (removed, its sessions closed) is closed instead of going back, and when none
//! is idle a new one is opened on whichever slot holds the token now (found again by its
//! label) and logged in. A token that comes back is used again without a restart.

use std::sync::Mutex;

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use hpki_core::keystore::KeystoreError;

use crate::unavailable;

pub(crate) struct Sessions {
    // Kept so the library stays loaded and initialised while sessions exist.
    context: Pkcs11,
    /// The token's label, to find it again and to tell a missing key from a missing token.
    pub(crate) token_label: String,
    pin: AuthPin,
    idle: Mutex<Vec<Session>>,
}

impl Sessions {
    /// Opens `count` sessions on the token labelled `token_label`, logged in with `pin`.
    pub(crate) fn open(
        context: Pkcs11,
        token_label: &str,
        pin: &str,
        count: usize,
    ) -> Result<Self, KeystoreError> {
        let sessions = Self {
            context,
            token_label: token_label.to_owned(),
            pin: AuthPin::new(pin.to_owned().into()),
            idle: Mutex::new(Vec::with_capacity(count)),
        };
        let mut opened = Vec::with_capacity(count);
        for _ in 0..count {
            opened.push(sessions.open_one()?);
        }
        *sessions.lock() = opened;
        Ok(sessions)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Session>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The slot that holds the token now.
    fn slot(&self) -> Result<Slot, KeystoreError> {
        self.context
            .get_slots_with_token()
            .map_err(unavailable)?
            .into_iter()
            .find(|s| {
                self.context
                    .get_token_info(*s)
                    .is_ok_and(|t| t.label().trim() == self.token_label)
            })
            .ok_or_else(|| unavailable(format!("no token labelled {:?}", self.token_label)))
    }

    fn open_one(&self) -> Result<Session, KeystoreError> {
        let session = self
            .context
            .open_rw_session(self.slot()?)
            .map_err(unavailable)?;
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(e) => Err(unavailable(format!(
                "login to token {:?}: {e}",
                self.token_label
            ))),
        }
    }

    /// An idle session, or a new one.
    pub(crate) fn take(&self) -> Result<Session, KeystoreError> {
        let idle = self.lock().pop();
        match idle {
            Some(session) => Ok(session),
            None => self.open_one(),
        }
    }

    /// A session back after its call: into the pool, unless the call found the token out of
    /// reach (then it is closed, and the next call opens a new one).
    pub(crate) fn give_back(&self, session: Session, outcome: &Result<impl Sized, KeystoreError>) {
        if matches!(outcome, Err(KeystoreError::Unavailable(_))) {
            drop(session);
        } else {
            self.lock().push(session);
        }
    }

    /// Whether the token is still in one of the module's slots.
    pub(crate) fn token_present(&self) -> bool {
        self.slot().is_ok()
    }
}
