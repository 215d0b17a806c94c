//! Who acts: an operator who may change things, checked once, and how they came.

use chrono::{DateTime, Utc};
use hpki_core::audit::Actor;
use hpki_core::store::{Operator, OperatorRole};
use hpki_core::{Error, OperatorRefusal};

/// An operator allowed to change things, as the gate takes them. The only way to get one is
/// through the role check here: an auditor gets none. It also says how the operator came,
/// because the rules differ: a console session proves a recent passkey assertion, a shell on
/// the host may set dual control aside with a reason (`--break-glass`).
#[derive(Clone, Debug)]
pub struct Acting {
    /// As requests name their requester: the operator's name, or `cli:<os user>`.
    name: String,
    role: OperatorRole,
    actor: Actor,
    via: Via,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    /// An operator API token (the operator API, or `--as NAME` on the command line).
    Token,
    /// A console session, with its last passkey assertion.
    Console { last_assertion: DateTime<Utc> },
    /// The host's command line, run by a local user: the local operator.
    Host { break_glass: Option<String> },
}

impl Acting {
    /// An operator who proved who they are with their API token.
    pub fn with_token(operator: &Operator) -> Result<Self, Error> {
        Self::checked(operator, Via::Token)
    }

    /// An operator in a console session whose last passkey assertion was at `last_assertion`.
    pub fn in_console(operator: &Operator, last_assertion: DateTime<Utc>) -> Result<Self, Error> {
        Self::checked(operator, Via::Console { last_assertion })
    }

    /// The local user `os_user` on the host's command line. They act as an operator (they
    /// cannot approve), and with `break_glass` (why, required) they carry out at once what dual
    /// control would hold for an approver; the gate audits it.
    pub fn on_host(os_user: &str, break_glass: Option<&str>) -> Result<Self, Error> {
        let break_glass = match break_glass.map(str::trim) {
            Some("") => {
                return Err(hpki_core::domain::InvalidInput::new(
                    "break-glass",
                    "say why dual control is set aside (it goes into the audit log)",
                )
                .into())
            }
            other => other.map(str::to_owned),
        };
        let actor = Actor::cli(os_user);
        Ok(Self {
            name: actor.as_str().to_owned(),
            role: OperatorRole::Operator,
            actor,
            via: Via::Host { break_glass },
        })
    }

    /// The one role check.
    fn checked(operator: &Operator, via: Via) -> Result<Self, Error> {
        if !operator.role.may_change() {
            return Err(Error::OperatorRefused(OperatorRefusal::ReadOnlyRole {
                operator: operator.name.clone(),
            }));
        }
        Ok(Self {
            name: operator.name.clone(),
            role: operator.role,
            actor: Actor::operator(&operator.name),
            via,
        })
    }

    /// Who the audit log says did it.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// As a request names its requester.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn is_approver(&self) -> bool {
        self.role == OperatorRole::Approver
    }

    pub(crate) fn via(&self) -> &Via {
        &self.via
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operator(role: OperatorRole) -> Operator {
        Operator {
            id: hpki_core::store::OperatorId(1),
            name: "alice".into(),
            role,
            created_at: chrono::DateTime::UNIX_EPOCH,
            token_expires_at: None,
            token_revoked_at: None,
            disabled_at: None,
            last_used_at: None,
        }
    }

    #[test]
    fn an_auditor_never_acts() {
        let at = chrono::DateTime::UNIX_EPOCH;
        for refused in [
            Acting::with_token(&operator(OperatorRole::Auditor)),
            Acting::in_console(&operator(OperatorRole::Auditor), at),
        ] {
            assert!(matches!(
                refused,
                Err(Error::OperatorRefused(OperatorRefusal::ReadOnlyRole { .. }))
            ));
        }
        for role in [OperatorRole::Operator, OperatorRole::Approver] {
            let acting = Acting::with_token(&operator(role)).expect("may act");
            assert_eq!(acting.actor().as_str(), "operator:alice");
            assert_eq!(acting.is_approver(), role == OperatorRole::Approver);
        }
    }

    #[test]
    fn the_host_acts_as_an_operator_and_breaks_glass_only_with_a_reason() {
        let host = Acting::on_host("root", None).expect("host");
        assert_eq!(host.name(), "cli:root");
        assert!(!host.is_approver());
        assert!(matches!(
            Acting::on_host("root", Some("  ")),
            Err(Error::Invalid(_))
        ));
        let glass = Acting::on_host("root", Some(" the approver is away ")).expect("host");
        assert_eq!(
            glass.via(),
            &Via::Host {
                break_glass: Some("the approver is away".into())
            }
        );
    }
}
