use std::path::Path;

use clap::{Args, Subcommand};
use hpki_core::domain::oidc::{ClientId, RedirectKind, RelyingParty};
use hpki_oidc::NewClient;
use serde_json::json;

use crate::app::{cli_actor, App};
use crate::output::emit;
use crate::Failure;

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Register a relying system. With --secret it gets a client secret, shown this once (a
    /// confidential client: client_secret_basic); without, it is a public client (PKCE only).
    Add(AddArgs),
    /// Every registered relying system.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One relying system.
    Show {
        client_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Disable a relying system: no more logins or tokens, and its signing sessions end.
    Disable {
        client_id: String,
        #[arg(long)]
        json: bool,
    },
    /// A holder's signing sessions (logins to relying systems), newest first.
    Sessions {
        /// The holder: a username (999999-jpa) or a registry number (999999).
        #[arg(long)]
        holder: String,
        #[arg(long)]
        json: bool,
    },
    /// Sign a holder out of every relying system: their signing sessions end now (a lost
    /// phone, a stolen card, a suspicion).
    EndSessions {
        /// The holder: a username (999999-jpa) or a registry number (999999).
        #[arg(long)]
        holder: String,
        /// Why, for the audit log.
        #[arg(long, default_value = "signed out by an operator")]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// Make a new key for signing ID tokens and access tokens (in the keystore). The old key
    /// signs no more but stays in the JWKS while tokens it signed may be in use.
    RotateKey {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct AddArgs {
    /// The name holders see on the login page, e.g. the pharmacy system's.
    #[arg(long)]
    name: String,
    /// Where the login returns (exactly as the system will send it); repeat for several.
    #[arg(long = "redirect-uri", required = true)]
    redirect_uris: Vec<String>,
    /// How holders may sign in to it: passkey, card or any.
    #[arg(long, default_value = "any")]
    auth: String,
    /// Whether and how it may have the holder's signatures made through the CSC API: none,
    /// scal1 (for the length of a sign-in's signing session), scal2 (each signature confirmed
    /// by the holder with the passkey, for exactly those hashes) or scal1,scal2.
    #[arg(long, default_value = "none")]
    signing: String,
    /// Give it a client secret (shown once).
    #[arg(long, conflicts_with = "jwks_file")]
    secret: bool,
    /// Its public keys (a JWK Set file, RSA 2048+ or EC P-256): it authenticates with JWTs it
    /// signs (private_key_jwt), and no secret is shared.
    #[arg(long)]
    jwks_file: Option<std::path::PathBuf>,
    /// Require DPoP-bound access tokens (RFC 9449): its token requests without a DPoP proof
    /// are refused, and its tokens work only with a proof of its key.
    #[arg(long)]
    dpop: bool,
    /// Require pushed authorization requests (RFC 9126): its requests to the authorization
    /// endpoint must name a request_uri it pushed first.
    #[arg(long)]
    par: bool,
    #[arg(long)]
    json: bool,
}

fn view(c: &RelyingParty) -> serde_json::Value {
    json!({
        "client_id": c.client_id,
        "name": c.name,
        "redirect_uris": c.redirect_uris,
        "auth": c.methods,
        "signing": c.signing.as_str(),
        "client_type": c.client_type(),
        "token_endpoint_auth_method": c.token_endpoint_auth_method(),
        "dpop_bound_access_tokens": c.requires_dpop(),
        "require_pushed_authorization_requests": c.par_required,
        "redirect_kinds": c.redirect_uris.iter().map(|u| u.kind().as_str()).collect::<Vec<_>>(),
        "created_at": c.created_at.to_rfc3339(),
        "disabled_at": c.disabled_at.map(|t| t.to_rfc3339()),
    })
}

fn describe(c: &RelyingParty) -> String {
    format!(
        "{}  {}  auth: {}  signing: {}  {}{}  {}{}",
        c.client_id,
        c.name,
        c.methods.as_str(),
        c.signing.as_str(),
        c.token_endpoint_auth_method(),
        if c.requires_dpop() { "  DPoP" } else { "" },
        c.redirect_uris
            .iter()
            .map(|u| u.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        if c.disabled_at.is_some() {
            "  (disabled)"
        } else {
            ""
        }
    )
}

/// What kind of client was made, in words, and how its redirect URIs match.
fn what_it_is(c: &RelyingParty) -> String {
    let mut lines = vec![match c.client_type() {
        "public" => {
            "public: no secret or keys, PKCE alone (a native app on the pharmacy's PC)".to_owned()
        }
        _ => format!(
            "confidential: it authenticates at the token endpoint with {}",
            c.token_endpoint_auth_method()
        ),
    }];
    if c.requires_dpop() {
        lines.push(format!(
            "DPoP required{}: its access tokens are bound to the key of its proofs (RFC 9449)",
            if c.dpop_bound {
                ""
            } else {
                " (a public client allowed to sign)"
            }
        ));
    }
    for u in &c.redirect_uris {
        lines.push(format!(
            "redirect {}: {}",
            u.as_str(),
            match u.kind() {
                RedirectKind::Https => "https, matched exactly",
                RedirectKind::Loopback => {
                    "loopback IP literal: matched with any port (RFC 8252 7.3), the rest exactly"
                }
                RedirectKind::Localhost => {
                    "localhost: matched exactly (for development; native apps should use \
                     http://127.0.0.1/... with any port)"
                }
                RedirectKind::PrivateUse => "private-use scheme (RFC 8252 7.1), matched exactly",
            }
        ));
    }
    lines.join("\n")
}

fn client_id(s: &str) -> Result<ClientId, Failure> {
    ClientId::parse(s).map_err(|e| Failure::from(e.message))
}

pub async fn run(data_dir: &Path, cmd: ClientCommand) -> Result<(), Failure> {
    let app = App::open(data_dir).await?;
    let oidc = app.oidc.clone();
    match cmd {
        ClientCommand::Add(a) => {
            let jwks = match &a.jwks_file {
                Some(p) => Some(
                    String::from_utf8(hpki_core::files::read_at_most(p, 64 * 1024)?)
                        .map_err(|_| format!("{}: not UTF-8 text", p.display()))?,
                ),
                None => None,
            };
            let input = NewClient {
                name: a.name,
                redirect_uris: a.redirect_uris,
                methods: Some(a.auth),
                signing: Some(a.signing),
                with_secret: a.secret,
                jwks,
                dpop: a.dpop,
                par: a.par,
            };
            let (client, secret) = oidc.add_client(&cli_actor(), &input).await?;
            let mut out = view(&client);
            out["issuer"] = json!(oidc.settings().issuer());
            if let Some(s) = &secret {
                out["client_secret"] = json!(s);
            }
            emit(a.json, &out, || {
                let mut text = format!(
                    "registered a {} client: {}\n{}",
                    client.client_type(),
                    describe(&client),
                    what_it_is(&client)
                );
                text.push_str(&format!("\nissuer: {}", oidc.settings().issuer()));
                if let Some(s) = &secret {
                    text.push_str(&format!(
                        "\nclient secret (shown only now; keep it in the relying system's secret store): {s}"
                    ));
                }
                text
            });
        }
        ClientCommand::List { json } => {
            let list = oidc.clients().await?;
            let out: Vec<_> = list.iter().map(view).collect();
            emit(json, &out, || {
                if list.is_empty() {
                    "no relying system is registered (hpki-second client add)".to_owned()
                } else {
                    list.iter().map(describe).collect::<Vec<_>>().join("\n")
                }
            });
        }
        ClientCommand::Show {
            client_id: id,
            json,
        } => {
            let c = oidc.client(&client_id(&id)?).await?;
            emit(json, &view(&c), || describe(&c));
        }
        ClientCommand::Disable {
            client_id: id,
            json,
        } => {
            let c = oidc.disable_client(&cli_actor(), &client_id(&id)?).await?;
            emit(json, &view(&c), || format!("disabled {}", describe(&c)));
        }
        ClientCommand::Sessions { holder, json } => {
            let username = app.username(&holder)?;
            let list = oidc.sessions(&username).await?;
            emit(json, &list, || {
                if list.is_empty() {
                    format!("{username} has signed in to no relying system")
                } else {
                    list.iter()
                        .map(|s| {
                            format!(
                                "session {}  {}  signed in {}  {}",
                                s["session"].as_str().unwrap_or_default(),
                                s["client_id"].as_str().unwrap_or_default(),
                                s["signed_in_at"].as_str().unwrap_or_default(),
                                if s["active"] == true {
                                    format!(
                                        "active until {}",
                                        s["expires_at"].as_str().unwrap_or_default()
                                    )
                                } else {
                                    format!(
                                        "ended: {}",
                                        s["end_reason"].as_str().unwrap_or("expired")
                                    )
                                }
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                }
            });
        }
        ClientCommand::EndSessions {
            holder,
            reason,
            json,
        } => {
            let username = app.username(&holder)?;
            let ended = oidc.end_sessions(&cli_actor(), &username, &reason).await?;
            emit(json, &json!({ "holder": username, "ended": ended }), || {
                format!("{username}: {ended} signing session(s) ended")
            });
        }
        ClientCommand::RotateKey { json } => {
            let kid = oidc.rotate_signing_key(&cli_actor()).await?;
            emit(json, &json!({ "kid": kid }), || {
                format!("new token-signing key {kid}; the previous key stays in the JWKS while its tokens may be in use")
            });
        }
    }
    app.store.close().await;
    Ok(())
}
