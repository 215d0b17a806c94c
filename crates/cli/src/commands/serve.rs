use std::io::Write;
use std::path::Path;
use std::time::Duration;

use clap::Args;
use hpki_core::services::HolderInput;
use hpki_web::{AppState, Services};

use crate::app::{cli_actor, App};
use crate::commands::audit::append_checkpoint;
use crate::config::{parse_public_url, Settings, PUBLIC_URL_ENV};
use crate::logging::init_logging;
use crate::Failure;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides server.listen); port 0 picks a free port.
    #[arg(long)]
    pub listen: Option<String>,
    /// Public base URL (overrides server.public_url).
    #[arg(long)]
    pub public_url: Option<String>,
}

#[derive(Args)]
pub struct DemoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
}

pub async fn run(data_dir: &Path, args: ServeArgs) -> Result<(), Failure> {
    super::recovery::refuse_while_restoring(data_dir)?;
    // Overrides first, so that every service is built with them (the public URL goes into
    // certificates and sheet URLs).
    let mut overrides = Vec::new();
    if let Some(u) = &args.public_url {
        parse_public_url(u).map_err(|m| format!("--public-url: {m}"))?;
        overrides.push((PUBLIC_URL_ENV.to_owned(), u.clone()));
    }
    let mut settings = App::settings_with(data_dir, overrides)?;
    if let Some(l) = &args.listen {
        settings.listen = l
            .parse()
            .map_err(|_| format!("--listen: {l:?} is not an address like 127.0.0.1:8080"))?;
    }
    let app = App::with_settings(settings.clone()).await?;
    serve(app, settings, None).await
}

/// Where the demo relying system's logins return: nothing listens there; the browser's
/// address bar shows the code (docs/oidc.md).
const DEMO_REDIRECT: &str = "http://localhost:9999/callback";

/// Initialises a demo data directory with a demo holder and serves it.
pub async fn demo(data_dir: &Path, args: DemoArgs) -> Result<(), Failure> {
    let listen: std::net::SocketAddr = args.listen.parse().map_err(|_| {
        format!(
            "--listen: {:?} is not an address like 127.0.0.1:8080",
            args.listen
        )
    })?;
    let public_url = format!("http://localhost:{}", listen.port());
    let fresh = !data_dir.join(crate::config::CONFIG_FILE).exists();
    let settings =
        crate::commands::init::prepare(data_dir, fresh.then_some(public_url.as_str()), None)?;
    let app = App::creating(settings).await?;
    app.ca.init_hierarchy(&cli_actor()).await?;
    let demo = hpki_core::domain::Username::parse("999999-jpa").map_err(|e| e.message)?;
    let demo_holder = HolderInput {
        registry_number: "999999".into(),
        org: None,
        family_name_kanji: Some("薬剤".into()),
        given_name_kanji: Some("太郎".into()),
        name_kana: "ヤクザイ タロウ".into(),
        name_roman: Some("Taro Yakuzai".into()),
        date_of_birth: "1980-04-01".into(),
        qualification: "Pharmacist".into(),
        ..HolderInput::default()
    };
    match app
        .holders
        .add(&cli_actor(), &demo_holder, Some(demo_photo()?))
        .await
    {
        Ok(_) | Err(hpki_core::Error::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    match app.ca.issue_second(&cli_actor(), &demo).await {
        Ok(_) | Err(hpki_core::Error::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let token_file = data_dir.join("demo-operator-token");
    let token = match std::fs::read_to_string(&token_file) {
        Ok(t) => t.trim().to_owned(),
        Err(_) => {
            let (_, token) = app
                .operators
                .add(
                    &cli_actor(),
                    &format!("demo-{}", std::process::id()),
                    hpki_core::store::OperatorRole::Operator,
                    None,
                )
                .await?;
            crate::commands::init::write_private(&token_file, &token)?;
            token
        }
    };
    // The demo's relying systems, kept across starts like the token (a secret is shown once,
    // so the file is the demo's only copy): a confidential web system, and a desktop
    // application (a public client, for `hpki-second sign`).
    let client = demo_client(
        &app,
        &data_dir.join("demo-client.json"),
        hpki_oidc::NewClient {
            name: "デモ薬局システム (demo relying system)".into(),
            redirect_uris: vec![DEMO_REDIRECT.into()],
            methods: None,
            signing: Some("scal1,scal2".into()),
            with_secret: true,
            jwks: None,
            dpop: false,
            par: false,
        },
    )
    .await?;
    let desktop = demo_client(
        &app,
        &data_dir.join("demo-desktop-client.json"),
        hpki_oidc::NewClient {
            name: "デモ薬局 デスクトップ版 (demo desktop application)".into(),
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            methods: Some("passkey".into()),
            signing: Some("scal1,scal2".into()),
            with_secret: false,
            jwks: None,
            dpop: false,
            par: false,
        },
    )
    .await?;
    // A fresh initial registration sheet on every start (it supersedes the last one), printed
    // when the Japanese font is installed.
    let sheet_pdf = data_dir.join("demo-sheet.pdf");
    let (sheet, printed) = match crate::commands::sheet::load_font(&app) {
        Ok(font) => {
            let settings = crate::commands::sheet::print_settings(&app).await?;
            let mut sink = crate::print::PdfSink::create(&sheet_pdf, &font, &settings)?;
            match app
                .sheets
                .issue_printed(&cli_actor(), &demo, &mut sink)
                .await
            {
                Ok(s) => {
                    sink.finish()?;
                    (s, format!("{}", sheet_pdf.display()))
                }
                Err(e) => {
                    sink.abandon();
                    return Err(e.into());
                }
            }
        }
        Err(why) => (
            app.sheets.issue(&cli_actor(), &demo).await?,
            format!("not printed: {}", why.message),
        ),
    };
    // The operator console: a fresh one-time enrolment link for the demo operator on every
    // start (a passkey for the console, then sign in at /admin).
    let operator = app
        .operators
        .list()
        .await?
        .into_iter()
        .find(|o| o.name.starts_with("demo-"));
    let console = match &operator {
        Some(op) => match crate::commands::operator::enrolment_link(&app, op).await {
            Ok((link, _)) => format!(
                "{}/admin  (operator {}: enrol a passkey once at\n                  {link}\n                  more operators: hpki-second --data-dir {} operator add --name NAME)",
                app.settings.public_url,
                op.name,
                data_dir.display()
            ),
            Err(why) => format!("{}/admin  (no enrolment link: {})", app.settings.public_url, why.message),
        },
        None => format!("{}/admin", app.settings.public_url),
    };
    let mut settings = app.settings.clone();
    settings.listen = listen;
    // No load balancer to drain for: Ctrl-C stops the demo at once.
    settings.drain = std::time::Duration::ZERO;
    let banner = format!(
        "\nhpki-second demo\n  data directory: {}\n  open:           {}/\n  demo holder:    999999-jpa (薬剤 太郎, Pharmacist)\n  demo sheet:     {}  password {}  ({})\n  console:        {console}\n  operator API:   curl -H 'Authorization: Bearer {token}' {}/api/v1/holders/999999-jpa\n  relying system: client_id {}  client_secret {}  redirect_uri {DEMO_REDIRECT}\n                  (a sign-in step by step: docs/oidc.md)\n  desktop app:    client_id {} (public)\n                  hpki-second sign --url {} --client-id {} --document rx.xml  (docs/integration.md)\n  another address or port: demo --listen 127.0.0.1:8081\n  stop with Ctrl-C\n",
        data_dir.display(),
        settings.public_url,
        sheet.url,
        sheet.password,
        printed,
        settings.public_url,
        client["client_id"].as_str().unwrap_or_default(),
        client["client_secret"].as_str().unwrap_or_default(),
        desktop["client_id"].as_str().unwrap_or_default(),
        settings.public_url,
        desktop["client_id"].as_str().unwrap_or_default(),
    );
    serve(app, settings, Some(banner)).await
}

/// A relying system of the demo: as saved in `file` by an earlier start, or registered now
/// (and saved, with its secret if it has one).
async fn demo_client(
    app: &App,
    file: &std::path::Path,
    client: hpki_oidc::NewClient,
) -> Result<serde_json::Value, Failure> {
    if let Ok(text) = std::fs::read_to_string(file) {
        return serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()).into());
    }
    let (c, secret) = app.oidc.add_client(&cli_actor(), &client).await?;
    let saved = serde_json::json!({ "client_id": c.client_id, "client_secret": secret });
    crate::commands::init::write_private(file, &saved.to_string())?;
    Ok(saved)
}

/// A placeholder face photo for the demo holder: a grey silhouette.
fn demo_photo() -> Result<Vec<u8>, Failure> {
    let (w, h) = (300u32, 400u32);
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let head = (fx - 150.0).powi(2) + (fy - 150.0).powi(2) < 70.0f32.powi(2);
        let body =
            (fx - 150.0).powi(2) / 130.0f32.powi(2) + (fy - 400.0).powi(2) / 150.0f32.powi(2) < 1.0;
        if head || body {
            image::Rgb([120, 130, 145])
        } else {
            image::Rgb([225, 232, 240])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok(out.into_inner())
}

/// Descriptors kept for the server's own work: database connections, CRL and checkpoint
/// files, the listener, logs.
const DESCRIPTOR_RESERVE: u64 = 64;

/// The connection cap, lowered (with a warning) when the process may not open that many files
/// besides its own.
fn within_descriptor_limit(limits: hpki_web::ConnectionLimits) -> hpki_web::ConnectionLimits {
    let Some(open_files) = open_files_limit() else {
        return limits;
    };
    let most = open_files.saturating_sub(DESCRIPTOR_RESERVE).max(8);
    if limits.max_connections as u64 <= most {
        return limits;
    }
    tracing::warn!(
        configured = limits.max_connections,
        open_files,
        using = most,
        "server.max_connections is above what the open-file limit leaves; raise the limit (ulimit -n) to use it"
    );
    hpki_web::ConnectionLimits {
        max_connections: usize::try_from(most).unwrap_or(limits.max_connections),
        ..limits
    }
}

/// The soft limit on open files (Linux: /proc/self/limits), if it can be read.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

async fn serve(app: App, settings: Settings, banner: Option<String>) -> Result<(), Failure> {
    let (traces, layer) = match &settings.traces {
        None => (None, None),
        Some(t) => {
            let (traces, layer) = crate::traces::Traces::start(t)?;
            (Some(traces), Some(layer))
        }
    };
    init_logging(settings.log_format, &settings.log_level, layer);
    if let Some(t) = &settings.traces {
        tracing::info!(endpoint = %t.endpoint, "traces to an OTLP collector");
    }
    // Before anything is announced: a SIGTERM from now on is a clean stop. Its first step is
    // to drain: /readyz answers 503 for `drain` while requests are still served, so that a
    // load balancer stops sending new ones before the listener closes.
    let stop = shutdown_signal()?;
    let status = app.status.clone();
    let drain = settings.drain;
    let systemd = crate::systemd::Notifier::from_env().map(std::sync::Arc::new);
    let stopping = systemd.clone();
    let shutdown = async move {
        stop.await;
        if let Some(systemd) = &stopping {
            systemd.send("STOPPING=1");
        }
        status.start_draining();
        tracing::info!(
            ?drain,
            "stopping: not ready any more; the listener closes after the drain"
        );
        tokio::time::sleep(drain).await;
    };
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
    // Metrics on their own listener, when configured: the recorder goes in before anything
    // is counted.
    let metrics = match settings.metrics_listen {
        None => None,
        Some(addr) => {
            let handle = crate::metrics::install()?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("metrics.listen: cannot listen on {addr}: {e}"))?;
            let scrape = std::sync::Arc::new(crate::metrics::Scrape {
                handle,
                ca: app.ca.clone(),
                status: app.status.clone(),
                audit: app.audit.clone(),
                store: app.store.clone(),
                checkpoint_file: settings.checkpoint_file.clone(),
            });
            tracing::info!(%addr, "metrics for Prometheus at /metrics");
            let render = move || {
                let scrape = scrape.clone();
                async move { scrape.render().await }
            };
            Some(tokio::spawn(async move {
                if let Err(e) = hpki_web::serve_metrics(listener, render).await {
                    tracing::warn!(error = %e, "the metrics listener stopped");
                }
            }))
        }
    };
    let local = listener.local_addr().map_err(|e| e.to_string())?;

    // What the service needs before it answers (written at the first start): said done
    // before the address is announced, so that whoever waits for it sees them.
    app.ca.check_keys().await?;
    app.ca
        .ensure_ocsp_responders(&hpki_core::audit::Actor::system())
        .await?;
    let oidc = app.oidc.clone();
    oidc.ensure_signing_key(&hpki_core::audit::Actor::system())
        .await?;
    // The holder's page after a sign-in (/me) is a relying system of this provider.
    oidc.ensure_holder_page_client(&hpki_core::audit::Actor::system())
        .await?;

    // Tests and scripts read this line to learn the port when listening on port 0.
    println!("listening on http://{local}");
    if let Some(b) = banner {
        println!("{b}");
    }
    let _ = std::io::stdout().flush();
    tracing::info!(%local, public_url = %settings.public_url, database = %settings.database_url, "serving");
    // Under systemd (Type=notify): ready now, and the watchdog pinged while the runtime runs.
    let watchdog = systemd.as_ref().map(|systemd| {
        systemd.send("READY=1");
        let systemd = systemd.clone();
        let every = crate::systemd::watchdog_every();
        tokio::spawn(async move {
            let Some(every) = every else { return };
            loop {
                systemd.send("WATCHDOG=1");
                tokio::time::sleep(every).await;
            }
        })
    });
    let upkeep = tokio::spawn(ca_upkeep(app.ca.clone()));
    // The holder search's index, read before the first operator searches.
    let holders = app.holders.clone();
    tokio::spawn(async move {
        if let Err(e) = holders.warm_search().await {
            tracing::warn!(error = %e, "the holder search index will be read by the first search");
        }
    });
    let checkpoints = tokio::spawn(checkpoint_loop(
        app.audit.clone(),
        settings.checkpoint_file.clone(),
        settings.checkpoint_interval,
    ));
    let state = AppState::new(Services {
        holders: app.holders.clone(),
        operators: app.operators.clone(),
        audit: app.audit.clone(),
        status: app.status.clone(),
        ca: app.ca.clone(),
        sheets: app.sheets.clone(),
        registrations: app.sheets.registrations(),
        devices: app.devices.clone(),
        csc: app.csc.clone(),
        lifecycle: app.lifecycle.clone(),
        console: app.console.clone(),
        printing: match crate::commands::sheet::load_font(&app) {
            Ok(font) => Some(std::sync::Arc::new(hpki_web::sheet_pdf::Printing {
                font,
                settings: crate::commands::sheet::print_settings(&app).await?,
            })),
            Err(why) => {
                tracing::warn!(error = %why.message, "the sheet font is not available: the console shows new sheets without their PDF");
                None
            }
        },
        oidc,
        holder_pages: hpki_web::HolderPages::new(
            (settings.password_attempts, settings.device_codes),
            settings.client_ip_header.clone(),
            settings.public_url.clone(),
            settings.contact.clone(),
        ),
    });
    let limits = within_descriptor_limit(settings.connections);
    let result = hpki_web::serve(listener, state, limits, shutdown, settings.shutdown_grace).await;
    checkpoints.abort();
    upkeep.abort();
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    if let Some(watchdog) = watchdog {
        watchdog.abort();
    }
    // A last checkpoint, so that the file records the head as this process leaves it.
    if let Err(e) = write_checkpoint(&app, &settings).await {
        tracing::warn!(error = %e.message, "final audit checkpoint failed");
    }
    let (transactions, updates) = app.store.group_commit_stats();
    tracing::info!(
        transactions,
        updates,
        "small audited updates (sign-ins, labels, state moves) shared transactions"
    );
    app.store.close().await;
    tracing::info!("stopped");
    if let Some(traces) = traces {
        // Sending the last batch blocks: off the runtime's threads.
        let _ = tokio::task::spawn_blocking(move || traces.shutdown()).await;
    }
    result.map_err(|e| format!("server failed: {e}").into())
}

async fn write_checkpoint(app: &App, settings: &Settings) -> Result<(), Failure> {
    let cp = app.audit.checkpoint().await?;
    append_checkpoint(&settings.checkpoint_file, &cp)?;
    Ok(())
}

async fn checkpoint_loop(
    audit: hpki_core::services::AuditService,
    file: std::path::PathBuf,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        match audit.checkpoint().await {
            Ok(cp) if cp.seq > 0 => {
                let file = file.clone();
                let written =
                    tokio::task::spawn_blocking(move || append_checkpoint(&file, &cp)).await;
                if let Ok(Err(e)) = written {
                    tracing::warn!(error = %e.message, "audit checkpoint failed");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "audit checkpoint failed"),
        }
    }
}

/// Every second: drop cached OCSP answers if any instance revoked something (the revocation
/// generation moved), and publish any CRL that is due (a revocation whose CRL failed), never
/// published, or past half its validity, or load one another instance published. Every hour:
/// renew OCSP responder certificates, and destroy the keys of revoked or expired second
/// certificates that still have one.
async fn ca_upkeep(ca: hpki_ca::CaService) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        if let Err(e) = ca.refresh_revocations().await {
            tracing::warn!(error = %e, "checking for revocations failed");
        }
        if let Err(e) = ca.crl_upkeep().await {
            tracing::warn!(error = %e, "checking the CRLs failed");
        }
        if n.is_multiple_of(3600) && n > 0 {
            if let Err(e) = ca
                .ensure_ocsp_responders(&hpki_core::audit::Actor::system())
                .await
            {
                tracing::warn!(error = %e, "renewing OCSP responders failed");
            }
        }
        if n.is_multiple_of(3600) {
            match ca
                .destroy_spent_keys(&hpki_core::audit::Actor::system())
                .await
            {
                Ok(d) if !d.is_empty() => {
                    tracing::info!(
                        keys = d.len(),
                        "destroyed the keys of revoked or expired second certificates"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "destroying spent keys failed"),
            }
        }
        n += 1;
    }
}

/// SIGTERM or SIGINT (Ctrl-C). The handlers are installed here, at once, not when the future is
/// first polled: until then either signal would end the process without a clean stop.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static, Failure> {
    use tokio::signal::unix::{signal, SignalKind};
    let install = |kind: SignalKind| {
        signal(kind).map_err(|e| Failure::from(format!("cannot handle stop signals: {e}")))
    };
    let mut term = install(SignalKind::terminate())?;
    let mut interrupt = install(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = interrupt.recv() => {},
        }
    })
}
