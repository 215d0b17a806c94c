//! Every kind of event the audit log holds, with what it means: the one list. Only this file
//! makes an [`Action`], so every event a crate writes is one listed here; `docs/audit-log.md`
//! shows the same list, and a test keeps the two equal.

/// The kind of an audit event (`holder.created`, `certificate.revoked`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Action(&'static str);

impl Action {
    /// The name stored in the log.
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// What an event of this kind means.
    pub fn meaning(self) -> &'static str {
        ALL.iter()
            .find(|(a, _)| *a == self)
            .map_or("", |(_, meaning)| meaning)
    }

    /// The action a stored name stands for, if the catalogue lists it.
    pub fn parse(name: &str) -> Option<Self> {
        ALL.iter().map(|(a, _)| *a).find(|a| a.0 == name)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

macro_rules! catalogue {
    ($($name:ident = $id:literal: $meaning:literal;)*) => {
        impl Action {
            $(#[doc = $meaning] pub const $name: Action = Action($id);)*
        }

        /// Every action, with its meaning, grouped by what it is about.
        pub const ALL: &[(Action, &str)] = &[$((Action::$name, $meaning)),*];
    };
}

catalogue! {
    HOLDER_CREATED = "holder.created": "a holder was registered (by hand, through the API, or by a CSV import: one event per holder)";
    HOLDER_PHOTO_REPLACED = "holder.photo_replaced": "a holder's face photo was set or replaced";
    HOLDER_SUSPENDED = "holder.suspended": "a holder was suspended: sheet pages, registration, sign-in and signing all refuse";
    HOLDER_REACTIVATED = "holder.reactivated": "a suspended holder was resumed";
    HOLDER_PAGE_OPENED = "holder.page_opened": "a holder signed in to their own page (/me)";
    SHEET_ISSUED = "sheet.issued": "an initial registration sheet (QR code and password) was issued";
    SHEET_SUPERSEDED = "sheet.superseded": "a sheet was replaced by a newer one for the same holder";
    SHEET_REVOKED = "sheet.revoked": "a sheet was withdrawn (by an operator, a failed print, or a lost phone)";
    SHEET_PASSWORD_ACCEPTED = "sheet.password_accepted": "the holder typed the sheet's password correctly";
    SHEET_PASSWORD_FAILED = "sheet.password_failed": "a wrong password was typed on a sheet (attempts are counted)";
    SHEET_LOCKED = "sheet.locked": "a sheet locked after the last allowed wrong password";
    DEVICE_REGISTERED = "device.registered": "a holder registered a phone (a passkey, a device credential)";
    DEVICE_SIGNED_IN = "device.signed_in": "a holder signed in with a registered phone";
    DEVICE_SUSPECT = "device.suspect": "a passkey's signature counter went back: the credential may be cloned and is held";
    DEVICE_DELETED = "device.deleted": "a device credential was deleted (a lost phone)";
    DEVICE_REPORTED_LOST = "device.reported_lost": "a holder reported their phone lost on their own page";
    DEVICE_LABELLED = "device.labelled": "a device credential got its label";
    CA_CREATED = "ca.created": "a CA certificate of a new hierarchy was made (one event per CA)";
    CA_IMPORTED = "ca.imported": "a CA certificate of an existing hierarchy was taken in (one event per CA)";
    CA_ROOT_KEY_OFFLINE = "ca.root_key_offline": "the root CA's key was taken off this machine after its ceremony";
    CERTIFICATE_ISSUED = "certificate.issued": "a certificate was issued (second certificate, card certificate, OCSP responder)";
    CERTIFICATE_REVOKED = "certificate.revoked": "a certificate was revoked (with its reason; after a restore, made again from a published CRL)";
    CERTIFICATE_REVOKED_UNKNOWN = "certificate.revoked_unknown": "a serial a restored database does not know, listed on a CRL the CA had published, is kept revoked";
    CRL_ISSUED = "crl.issued": "a CRL was published (its number, entries and nextUpdate)";
    KEY_DESTROYED = "key.destroyed": "a key no longer needed (a revoked or expired second certificate's) was destroyed";
    KEYSTORE_REKEYED = "keystore.rekeyed": "every sealed key was sealed again under a new key-encryption key";
    DATABASE_BACKED_UP = "database.backed_up": "a backup of the database was taken (written before the copy, so the copy carries it)";
    DATABASE_RESTORED = "database.restored": "the database was restored from a backup (with the backup's last event)";
    OPERATOR_CREATED = "operator.created": "an operator was added (with an API token)";
    OPERATOR_TOKEN_ROTATED = "operator.token_rotated": "an operator's API token was replaced";
    OPERATOR_TOKEN_REVOKED = "operator.token_revoked": "an operator's API token was revoked";
    OPERATOR_DISABLED = "operator.disabled": "an operator was disabled";
    OPERATOR_ENABLED = "operator.enabled": "a disabled operator was enabled again";
    OPERATOR_ENROLMENT_ISSUED = "operator.enrolment_issued": "a console enrolment link was issued to an operator";
    OPERATOR_ENROLMENT_USED = "operator.enrolment_used": "an operator used their enrolment link";
    OPERATOR_PASSKEY_REGISTERED = "operator.passkey_registered": "an operator registered a passkey or security key for the console";
    OPERATOR_PASSKEY_USED = "operator.passkey_used": "an operator signed in to the console with a passkey";
    OPERATOR_PASSKEY_SUSPECT = "operator.passkey_suspect": "an operator's passkey counter went back: held as possibly cloned";
    OPERATOR_PASSKEY_DELETED = "operator.passkey_deleted": "an operator's passkey was deleted";
    OPERATOR_PASSKEY_REPORTED_LOST = "operator.passkey_reported_lost": "an operator reported a passkey lost";
    OPERATOR_PASSKEY_LABELLED = "operator.passkey_labelled": "an operator's passkey got its label";
    CONSOLE_SIGNED_IN = "console.signed_in": "an operator's console session began";
    CONSOLE_SIGNED_OUT = "console.signed_out": "an operator's console session ended";
    CONSOLE_REAUTHENTICATED = "console.reauthenticated": "an operator confirmed with a fresh passkey assertion before a sensitive action";
    APPROVAL_REQUESTED = "approval.requested": "under dual control, an operator asked for an action";
    APPROVAL_CLAIMED = "approval.claimed": "the files of an approved CA import were taken up to be imported (once)";
    APPROVAL_APPROVED = "approval.approved": "a second operator approved a request";
    APPROVAL_REJECTED = "approval.rejected": "a request was rejected";
    APPROVAL_CARRIED_OUT = "approval.carried_out": "an approved request was carried out";
    APPROVAL_FAILED = "approval.failed": "an approved request could not be carried out (its reason is in the details)";
    APPROVAL_BROKEN_GLASS = "approval.broken_glass": "on the host's command line, dual control was set aside (--break-glass): the request was carried out without an approver; the details say why";
    OIDC_CLIENT_ADDED = "oidc.client_added": "a relying system (OpenID Connect client) was registered";
    OIDC_CLIENT_DISABLED = "oidc.client_disabled": "a relying system was disabled";
    OIDC_SIGNING_KEY_CREATED = "oidc.signing_key_created": "the provider's token-signing key was made";
    OIDC_SIGNED_IN = "oidc.signed_in": "a holder signed in to a relying system";
    OIDC_LOGIN_REFUSED = "oidc.login_refused": "a holder's sign-in to a relying system was refused after the passkey or card answered";
    OIDC_CARD_VERIFIED = "oidc.card_verified": "an HPKI card's authentication certificate and signature were verified for a login";
    OIDC_TOKENS_ISSUED = "oidc.tokens_issued": "a relying system exchanged a code or refresh token for tokens";
    OIDC_TOKEN_REFUSED = "oidc.token_refused": "a token request was refused";
    OIDC_CODE_REPLAYED = "oidc.code_replayed": "an authorization code was presented a second time: the signing session it opened and its tokens are ended";
    OIDC_DEVICE_DENIED = "oidc.device_denied": "the holder refused a device authorization on the phone";
    OIDC_SESSION_ENDED = "oidc.session_ended": "one signing session was ended (by the relying system or the holder)";
    OIDC_SESSIONS_ENDED = "oidc.sessions_ended": "every signing session of a holder was ended at once (signed out of every relying system)";
    CSC_CONSENTED = "csc.consented": "a holder approved a signature (SCAL2: what is signed, bound to the login)";
    CSC_AUTHORIZED = "csc.authorized": "a signature activation (SAD) was issued for a credential";
    CSC_EXTENDED = "csc.extended": "a new SAD was issued for a credential within the same signing session (extendTransaction)";
    CSC_REFUSED = "csc.refused": "a remote-signing request was refused";
    SIGNATURE_CREATED = "signature.created": "a holder's second certificate's key signed (hashes or a document)";
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCUMENT: &str = include_str!("../../../../docs/audit-log.md");

    /// The rows of the document's catalogue table: (action, meaning).
    fn documented() -> Vec<(String, String)> {
        let section = DOCUMENT
            .split("## The catalogue of events")
            .nth(1)
            .expect("docs/audit-log.md has a section \"The catalogue of events\"");
        let section = section.split("\n## ").next().unwrap_or(section);
        section
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line
                    .trim()
                    .trim_matches('|')
                    .split(" | ")
                    .map(str::trim)
                    .collect();
                match cells.as_slice() {
                    [action, meaning] if action.starts_with('`') => {
                        Some((action.trim_matches('`').to_owned(), (*meaning).to_owned()))
                    }
                    _ => None,
                }
            })
            .collect()
    }

    #[test]
    fn the_document_lists_the_catalogue() {
        let code: Vec<(String, String)> = ALL
            .iter()
            .map(|(a, m)| (a.as_str().to_owned(), (*m).to_owned()))
            .collect();
        let doc = documented();
        for (a, m) in &code {
            assert!(
                doc.contains(&(a.clone(), m.clone())),
                "docs/audit-log.md lacks `{a}` | {m}"
            );
        }
        for (a, m) in &doc {
            assert!(
                code.contains(&(a.clone(), m.clone())),
                "docs/audit-log.md lists `{a}` | {m}, which the catalogue does not"
            );
        }
        assert_eq!(code.len(), doc.len());
    }

    #[test]
    fn actions_are_unique_and_well_formed() {
        for (i, (a, meaning)) in ALL.iter().enumerate() {
            assert!(!meaning.is_empty(), "{a}");
            let (what, happened) = a.as_str().split_once('.').expect("area.event");
            assert!(!what.is_empty() && !happened.is_empty(), "{a}");
            assert!(
                a.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.'),
                "{a}"
            );
            assert!(ALL[..i].iter().all(|(b, _)| b != a), "{a} twice");
            assert_eq!(Action::parse(a.as_str()), Some(*a));
            assert_eq!(a.meaning(), *meaning);
        }
        assert_eq!(Action::parse("holder.deleted"), None);
    }
}
