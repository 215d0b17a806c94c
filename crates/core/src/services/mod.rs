//! The services: the rules of the domain, called by the web and CLI layers.

mod audit;
mod holder_input;
mod holders;
pub mod import;
mod operators;
mod printing;
mod registration;
pub mod search;
mod sheets;
mod status;

pub use audit::AuditService;
pub use holder_input::HolderInput;
pub use holders::{find_holder, HolderService, ImportReport};
pub use operators::OperatorService;
pub use printing::{
    HolderProblem, PageProblem, PendingCheck, PrintFailure, PrintRun, SheetCheck, SheetSink,
    PRINT_PROBLEMS,
};
pub use registration::{
    PasswordCheck, Registration, RegistrationLookup, RegistrationService, SheetLookup,
    REGISTRATION_SESSION_MINUTES,
};
pub use search::{search_form, SearchResult};
pub use sheets::{IssuedSheet, SheetService, SheetSettings, SheetView};
pub use status::{Readiness, StatusService};
