//! The token's sessions, pooled, and a pool that heals: a session whose call found the token
//! out of reach (removed, its sessions closed) is closed instead of going back, and when none
//! is idle a new one is opened on whichever slot holds the token now (found again by its
//! label) and logged in. When no slot holds it, the library is initialised again (at most once
//! a second) so that it looks afresh: a token that comes back is used again without a restart.

use std::sync::{Arc, Mutex, RwLockReadGuard};

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use hpki_core::keystore::KeystoreError;

use crate::module::Module;
use crate::unavailable;

pub(crate) struct Sessions {
    // Kept so the library stays loaded and initialised while sessions exist.
    module: Arc<Module>,
    /// The token's label, to find it again and to tell a missing key from a missing token.
    pub(crate) token_label: String,
    pin: AuthPin,
    /// Idle sessions, with the module's generation they were opened in.
    idle: Mutex<Vec<(Session, u64)>>,
}

/// A session in use: the module is not initialised again until it is given back.
pub(crate) struct Lease<'a> {
    pub(crate) session: Session,
    /// The module's generation, current for as long as the lease lives.
    pub(crate) generation: u64,
    _calls: RwLockReadGuard<'a, ()>,
}

impl Sessions {
    /// Opens `count` sessions on the token labelled `token_label`, logged in with `pin`.
    pub(crate) fn open(
        module: Arc<Module>,
        token_label: &str,
        pin: &str,
        count: usize,
    ) -> Result<Self, KeystoreError> {
        let sessions = Self {
            module,
            token_label: token_label.to_owned(),
            pin: AuthPin::new(pin.to_owned().into()),
            idle: Mutex::new(Vec::with_capacity(count)),
        };
        let generation = sessions.module.generation();
        let mut opened = Vec::with_capacity(count);
        {
            let _calls = sessions.module.calls();
            for _ in 0..count {
                opened.push((sessions.open_one()?, generation));
            }
        }
        *sessions.lock() = opened;
        Ok(sessions)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Session, u64)>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The slot that holds the token now (under a turn of [`Module::calls`]).
    fn slot(&self) -> Result<Slot, KeystoreError> {
        let context = &self.module.context;
        context
            .get_slots_with_token()
            .map_err(unavailable)?
            .into_iter()
            .find(|s| {
                context
                    .get_token_info(*s)
                    .is_ok_and(|t| t.label().trim() == self.token_label)
            })
            .ok_or_else(|| unavailable(format!("no token labelled {:?}", self.token_label)))
    }

    fn open_one(&self) -> Result<Session, KeystoreError> {
        let session = self
            .module
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

    /// An idle session of the current generation, or a new one (after initialising the
    /// library again if the token is in none of its slots).
    pub(crate) fn take(&self) -> Result<Lease<'_>, KeystoreError> {
        let calls = self.module.calls();
        let generation = self.module.generation();
        if let Some(session) = self.idle_of(generation) {
            return Ok(Lease {
                session,
                generation,
                _calls: calls,
            });
        }
        match self.open_one() {
            Ok(session) => Ok(Lease {
                session,
                generation,
                _calls: calls,
            }),
            Err(missing) if self.slot().is_err() => {
                drop(calls);
                self.module.reinitialise(generation).map_err(|_| missing)?;
                let calls = self.module.calls();
                Ok(Lease {
                    session: self.open_one()?,
                    generation: self.module.generation(),
                    _calls: calls,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// An idle session opened in `generation`. Older ones died with their generation: they
    /// are forgotten, not closed (their handles may name new sessions now).
    fn idle_of(&self, generation: u64) -> Option<Session> {
        let mut idle = self.lock();
        while let Some((session, opened_in)) = idle.pop() {
            if opened_in == generation {
                return Some(session);
            }
            std::mem::forget(session);
        }
        None
    }

    /// A session back after its call: into the pool, unless the call found the token out of
    /// reach (then it is closed, and the next call opens a new one).
    pub(crate) fn give_back(&self, lease: Lease<'_>, outcome: &Result<impl Sized, KeystoreError>) {
        if matches!(outcome, Err(KeystoreError::Unavailable(_))) {
            drop(lease);
        } else {
            self.lock().push((lease.session, lease.generation));
        }
    }

    /// Whether the token is still in one of the module's slots (under a lease).
    pub(crate) fn token_present(&self) -> bool {
        self.slot().is_ok()
    }
}

impl Drop for Sessions {
    fn drop(&mut self) {
        // Sessions of an earlier generation are forgotten, as in `idle_of`.
        let generation = self.module.generation();
        for (session, opened_in) in self.lock().drain(..) {
            if opened_in != generation {
                std::mem::forget(session);
            }
        }
    }
}
