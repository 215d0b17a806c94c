//! What the whole process shares about a PKCS#11 module and its token: one initialised module
//! per library (finalized at the end of the process), which can be initialised again when a
//! token it lost may be back, and the turn at the token that this service's processes take
//! while they load it or write to it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};

use crate::{unavailable, KeystoreError};

/// A loaded, initialised PKCS#11 library.
pub(crate) struct Module {
    pub(crate) context: Pkcs11,
    /// Held (shared) by every session while it is in use; taken (exclusive) to initialise the
    /// library again, which no call may cross.
    calls: RwLock<()>,
    /// How many times the library was initialised again: a session opened before the last
    /// time died with it (its handle may even name another session now).
    generation: AtomicU64,
    /// When it was last initialised again (at most once a second, however many callers ask).
    reinitialised: Mutex<Option<Instant>>,
}

/// The modules this process initialised, by path.
static MODULES: OnceLock<Mutex<HashMap<std::path::PathBuf, Arc<Module>>>> = OnceLock::new();

fn modules() -> std::sync::MutexGuard<'static, HashMap<std::path::PathBuf, Arc<Module>>> {
    MODULES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

fn initialize(context: &Pkcs11) -> Result<(), KeystoreError> {
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(()),
        Err(e) => Err(unavailable(format!("C_Initialize: {e}"))),
    }
}

/// One initialised module per library for the whole process: a library is initialised once,
/// and unloading it while another keystore's sessions live would pull the ground from under them.
pub(crate) fn module_for(path: &Path) -> Result<Arc<Module>, KeystoreError> {
    let mut modules = modules();
    if let Some(m) = modules.get(path) {
        return Ok(m.clone());
    }
    let context = Pkcs11::new(path).map_err(|e| unavailable(format!("{}: {e}", path.display())))?;
    initialize(&context)?;
    let module = Arc::new(Module {
        context,
        calls: RwLock::new(()),
        generation: AtomicU64::new(0),
        reinitialised: Mutex::new(None),
    });
    modules.insert(path.to_path_buf(), module.clone());
    Ok(module)
}

impl Module {
    /// A turn to use sessions: no re-initialisation until it is dropped.
    pub(crate) fn calls(&self) -> RwLockReadGuard<'_, ()> {
        self.calls.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The current generation (see [`Module::reinitialise`]).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Finalizes and initialises the library again (`C_Finalize`, `C_Initialize`), so that it
    /// looks for its tokens afresh: some libraries see a token that went away (an HSM
    /// restarted, a network HSM reconnected, SoftHSM2's files put back) only then. Once every
    /// session in use is given back; not if another caller did it since generation `seen`, nor
    /// more than once a second. Every session of the library ends (the pools open new ones).
    pub(crate) fn reinitialise(&self, seen: u64) -> Result<(), KeystoreError> {
        let _exclusive = self.calls.write().unwrap_or_else(|p| p.into_inner());
        if self.generation() != seen {
            return Ok(());
        }
        let mut last = self.reinitialised.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|at| at.elapsed() < Duration::from_secs(1)) {
            return Ok(());
        }
        *last = Some(Instant::now());
        // A library that was not initialised any more is initialised below all the same.
        let _ = self.context.clone().finalize();
        self.generation.fetch_add(1, Ordering::AcqRel);
        tracing::warn!("PKCS#11: the library was initialised again to find its token");
        initialize(&self.context)
    }
}

/// Finalizes every module this process initialised (`C_Finalize`), for the end of the process,
/// once every keystore is gone. A module left initialised at exit is torn down by its own
/// static destructors instead: SoftHSM2 then crashed now and then at a CLI's exit ("malloc():
/// unaligned fastbin chunk detected", "double free or corruption") after its work was done.
pub fn finalize_modules() {
    let drained: Vec<Arc<Module>> = modules().drain().map(|(_, m)| m).collect();
    for module in drained {
        let _exclusive = module.calls.write().unwrap_or_else(|p| p.into_inner());
        // At the end of the process, a module that cannot finalize has nothing left to lose.
        let _ = module.context.clone().finalize();
    }
}

/// A turn at the token among this service's processes (the server, the CLI, tests): an
/// advisory lock on a file named after the token, in the system's temporary directory.
/// SoftHSM2 keeps a token as files that it rewrites when a key is made, and a process that
/// loads the token meanwhile may find no token at all: `init` once failed with "no token
/// labelled" while a server generated keys on the same token. So the token is loaded, and keys
/// are made, in turn. Best effort: if the file cannot be opened or locked, the work goes on
/// without it (a hardware token does not need it). Other tools that write the token (e.g.
/// `softhsm2-util --import`) can take the same turn.
pub struct TokenTurn(Option<std::fs::File>);

impl TokenTurn {
    /// Waits for, and holds until dropped, the turn at the token labelled `token_label`.
    pub fn take(token_label: &str) -> Self {
        let name: String = token_label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = std::env::temp_dir().join(format!("hpki-second-pkcs11-{name}.lock"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .ok()
            .filter(|f| f.lock().is_ok());
        Self(file)
    }
}

impl Drop for TokenTurn {
    fn drop(&mut self) {
        if let Some(f) = &self.0 {
            let _ = f.unlock();
        }
    }
}
