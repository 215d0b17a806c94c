use std::path::Path;

use clap::Subcommand;
use hpki_core::domain::device::DeviceCredential;
use serde_json::json;

use crate::app::App;
use crate::output::emit;
use crate::Failure;

#[derive(Subcommand)]
pub enum DeviceCommand {
    /// The holder's registered devices (passkeys): id, label, state, registered, last used.
    List {
        /// The holder: a username (999999-jpa) or a registry number (999999).
        #[arg(long)]
        holder: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a device credential (a lost phone, manual 2.2.2): it can no longer sign in, and
    /// the holder can register a new device with a usable sheet. The same as
    /// `holder lost-phone --device ID`, through the same gate.
    Delete {
        /// The holder: a username (999999-jpa) or a registry number (999999).
        #[arg(long)]
        holder: String,
        /// The device id from `device list`.
        #[arg(long)]
        id: i64,
        /// Why, for the audit log.
        #[arg(long, default_value = "deleted by an operator")]
        reason: String,
        #[arg(long)]
        json: bool,
    },
}

fn view(d: &DeviceCredential) -> serde_json::Value {
    json!({
        "id": d.id,
        "label": d.label,
        "state": d.state,
        "aaguid": d.aaguid,
        "registered_at": d.created_at.to_rfc3339(),
        "last_used_at": d.last_used_at.map(|t| t.to_rfc3339()),
    })
}

fn describe(d: &DeviceCredential) -> String {
    format!(
        "device {}  {}  {:?}  registered {}  last used {}",
        d.id,
        d.label,
        d.state,
        crate::output::jst_date(d.created_at),
        d.last_used_at
            .map_or_else(|| "never".to_owned(), crate::output::jst_time)
    )
}

pub async fn run(data_dir: &Path, cmd: DeviceCommand) -> Result<(), Failure> {
    let app = App::open(data_dir).await?;
    let devices = &app.devices;
    match cmd {
        DeviceCommand::List { holder, json } => {
            let h = app.holders.show(&app.username(&holder)?).await?;
            let list = devices.devices_of(&h).await?;
            let out: Vec<_> = list.iter().map(view).collect();
            emit(json, &out, || {
                if list.is_empty() {
                    format!("{} has no registered device", h.username)
                } else {
                    list.iter().map(describe).collect::<Vec<_>>().join("\n")
                }
            });
        }
        DeviceCommand::Delete {
            holder,
            id,
            reason,
            json,
        } => {
            let request = hpki_lifecycle::Request::Holder {
                holder: app.username(&holder)?,
                case: hpki_lifecycle::Case::LostPhoneDevice { device: id },
            };
            let glass = crate::commands::cases::BreakGlass::default();
            crate::commands::cases::through_gate(&app, request, &reason, &glass, json).await?;
        }
    }
    app.store.close().await;
    Ok(())
}
