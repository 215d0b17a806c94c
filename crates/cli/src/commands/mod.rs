pub mod approval;
pub mod audit;
pub mod ca;
pub mod card;
pub mod cases;
pub mod client;
pub mod db;
pub mod device;
pub mod holder;
pub mod init;
pub mod keystore;
pub mod operator;
pub mod recovery;
pub mod root;
pub mod serve;
pub mod sheet;
pub mod sign;
pub mod signature;

/// What to run about a service error, when a command fixes it.
pub fn hint(e: &hpki_core::Error) -> Option<String> {
    use hpki_core::services::{PageProblem, PrintFailure};
    use hpki_core::{Error, OperatorRefusal, Unset};
    match e {
        Error::NotSetUp(Unset::CaHierarchy | Unset::Ca(_)) => {
            Some("run `hpki-second init` to create the CA hierarchy, or `hpki-second ca import` to take in an existing one".into())
        }
        Error::NotSetUp(Unset::Schema { .. }) => Some(
            "run `hpki-second db migrate` (once, before this release's instances start: migrations only add, so the running older release keeps working)".into(),
        ),
        Error::NotSetUp(Unset::TokenSigningKey) => Some(
            "`hpki-second serve` makes the token-signing key when it starts (so does `init`)".into(),
        ),
        Error::Unprintable(PrintFailure::Refused { problems, .. }) => {
            let without_photo: Vec<String> = problems
                .iter()
                .filter(|p| p.problem == PageProblem::NoPhoto)
                .map(|p| format!("`hpki-second holder photo {} FILE`", p.username))
                .collect();
            (!without_photo.is_empty())
                .then(|| format!("add the missing photos first: {}", without_photo.join(", ")))
        }
        Error::Unprintable(PrintFailure::Stopped {
            problem,
            not_withdrawn: Some(_),
            ..
        }) => Some(format!(
            "the sheets this run issued before {} stay usable without a page: reissue them (`hpki-second sheet reissue --holder N`) or revoke them (`hpki-second sheet revoke --holder N`)",
            problem.username
        )),
        Error::KeyOffline(_) => {
            Some("bring the key to a ceremony and give its file with --root-key".into())
        }
        Error::OperatorRefused(OperatorRefusal::ImportNeedsRequest) => Some(
            "ask with --as YOUR_OPERATOR_NAME --reason TEXT; once an approver approves, run the same import with --request ID"
                .into(),
        ),
        Error::OperatorRefused(OperatorRefusal::NotApproved { request }) => Some(format!(
            "an approver runs `hpki-second approval approve {request} --as NAME` (or approves it in the console)"
        )),
        _ => None,
    }
}
