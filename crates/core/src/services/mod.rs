//! The services: the rules of the domain, called by the web and CLI layers.

mod audit;
mod holders;
pub mod import;
mod operators;
mod sheets;
mod status;

pub use audit::AuditService;
pub use holders::{find_holder, HolderInput, HolderService, ImportReport};
pub use operators::OperatorService;
pub use sheets::{
    more_problems, IssuedSheet, PasswordCheck, PendingCheck, PrintRun, Registration,
    RegistrationLookup, SheetCheck, SheetLookup, SheetService, SheetSettings, SheetSink, SheetView,
    REGISTRATION_SESSION_MINUTES,
};
pub use status::StatusService;
