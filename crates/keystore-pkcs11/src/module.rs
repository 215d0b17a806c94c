//! What the whole process shares about a PKCS#11 module and its token: one initialised context
//! per module (finalized at the end of the process), and the turn at the token that this
//! service's processes take while they load it or write to it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};

use crate::{unavailable, KeystoreError};

/// The modules this process initialised, by path.
static CONTEXTS: OnceLock<Mutex<HashMap<std::path::PathBuf, Pkcs11>>> = OnceLock::new();

/// One initialised context per module for the whole process: a library is initialised once,
/// and unloading it while another keystore's sessions live would pull the ground from under them.
pub(crate) fn context_for(module: &Path) -> Result<Pkcs11, KeystoreError> {
    let mut contexts = CONTEXTS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(c) = contexts.get(module) {
        return Ok(c.clone());
    }
    let context =
        Pkcs11::new(module).map_err(|e| unavailable(format!("{}: {e}", module.display())))?;
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(unavailable(format!("C_Initialize: {e}"))),
    }
    contexts.insert(module.to_path_buf(), context.clone());
    Ok(context)
}

/// Finalizes every module this process initialised (`C_Finalize`), for the end of the process,
/// once every keystore is gone. A module left initialised at exit is torn down by its own
/// static destructors instead: SoftHSM2 then crashed now and then at a CLI's exit ("malloc():
/// unaligned fastbin chunk detected", "double free or corruption") after its work was done.
pub fn finalize_modules() {
    let Some(contexts) = CONTEXTS.get() else {
        return;
    };
    let drained: Vec<(std::path::PathBuf, Pkcs11)> = contexts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain()
        .collect();
    for (_, context) in drained {
        // At the end of the process, a module that cannot finalize has nothing left to lose.
        let _ = context.finalize();
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
