//! The HTTP face of hpki-second. Handlers are thin: extract, call one service, render.
//! Domain errors become responses in exactly one place, [`error`].
#![forbid(unsafe_code)]

mod client;
pub use client::{Forwarding, Network};
mod cookies;
mod csrf;
mod error;
mod extract;
mod headers;
mod lang;
mod pages;
mod ratelimit;
mod routes;
mod server;
pub mod sheet_pdf;
mod words;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hpki_core::services::{
    AuditService, HolderService, OperatorService, RegistrationService, SheetService, StatusService,
};
use hpki_core::PublicUrl;
use tokio::net::TcpListener;

/// Entry points for the fuzz targets in `fuzz/` (the `fuzzing` feature).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use axum::http::{HeaderMap, HeaderName, HeaderValue};

    /// The request's cookies as the pages read them.
    pub fn cookies(header: &[u8]) {
        if let Ok(v) = HeaderValue::from_bytes(header) {
            let mut h = HeaderMap::new();
            h.insert(axum::http::header::COOKIE, v);
            for name in ["hpki-csrf", "__Host-hpki-reg", "hpki-lang", ""] {
                let _ = crate::cookies::cookie(&h, name);
            }
        }
    }

    /// The client address behind a load balancer, from `X-Forwarded-For` and `Forwarded`.
    pub fn client_address(header: &[u8]) {
        if let Ok(v) = HeaderValue::from_bytes(header) {
            for name in ["x-forwarded-for", "forwarded"] {
                let name = HeaderName::from_static(name);
                let mut h = HeaderMap::new();
                h.insert(name.clone(), v.clone());
                let _ = crate::client::forwarded(&h, &name);
            }
        }
    }
}

pub use axum::http::HeaderName;
pub use error::ApiError;
pub use ratelimit::RateLimit;
pub use server::{BodyPace, ConnectionLimits};

/// Whom holders contact when a sheet cannot be used (`[contact]`): shown on those pages and
/// printed on the sheet. Empty fields are left out; all empty, no block is shown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contact {
    pub name: String,
    pub phone: String,
    pub url: String,
}

impl Contact {
    pub fn is_empty(&self) -> bool {
        self.name.is_empty() && self.phone.is_empty() && self.url.is_empty()
    }

    /// One line for print: 「お問い合わせ：name　phone　url」.
    pub fn line(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.name, &self.phone, &self.url]
            .into_iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join("　"))
    }
}

/// How many card client calls an address may make at once, and per minute.
const CARD_CALLS: RateLimit = RateLimit {
    burst: 30,
    per_minute: 30,
};

/// What the holder-facing pages need besides the services.
#[derive(Clone)]
pub struct HolderPages {
    limiter: Arc<ratelimit::AddressLimiter>,
    /// The card client's calls (a code looked up, an answer), per address: guessing one of
    /// 10^8 codes at this pace has odds of about 1 in 700,000 in a code's five minutes.
    card_limiter: Arc<ratelimit::AddressLimiter>,
    /// User codes of the device grant entered on a phone, per address: at the default pace
    /// (10 at once, 5 a minute) an address tries about 60 codes in a code's 10 minutes, each
    /// with odds of (codes pending) in 20^8 ≈ 2.6 × 10^10 (RFC 8628 5.1).
    device_limiter: Arc<ratelimit::AddressLimiter>,
    /// Where a trusted load balancer puts the client address (`X-Forwarded-For`), and which
    /// peers are trusted to, if any.
    forwarding: Option<client::Forwarding>,
    cookies: cookies::Cookies,
    /// The public base URL (addresses to copy into another browser).
    public_url: PublicUrl,
    /// Whom to contact, on the pages of sheets that cannot be used.
    contact: Arc<Contact>,
}

impl HolderPages {
    /// `limits`: sheet password attempts, and device-grant user codes, per address.
    pub fn new(
        (limit, device_codes): (RateLimit, RateLimit),
        forwarding: Option<client::Forwarding>,
        public_url: PublicUrl,
        contact: Contact,
    ) -> Self {
        Self {
            limiter: Arc::new(ratelimit::AddressLimiter::new(limit)),
            card_limiter: Arc::new(ratelimit::AddressLimiter::new(CARD_CALLS)),
            device_limiter: Arc::new(ratelimit::AddressLimiter::new(device_codes)),
            forwarding,
            cookies: cookies::Cookies {
                tls: public_url.is_https(),
            },
            public_url,
            contact: Arc::new(contact),
        }
    }
}

/// Everything the handlers need: the services, nothing concrete. The router hands each request
/// a clone of its state, so this is one shared pointer, not a copy of every service.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The services behind [`AppState`].
pub struct Services {
    pub holders: HolderService,
    pub operators: OperatorService,
    pub audit: AuditService,
    pub status: StatusService,
    pub ca: hpki_ca::CaService,
    pub sheets: SheetService,
    pub registrations: RegistrationService,
    pub devices: hpki_passkey::DeviceService,
    pub oidc: hpki_oidc::OidcService,
    pub csc: hpki_csc::CscService,
    pub lifecycle: hpki_lifecycle::LifecycleService,
    pub console: hpki_operator_accounts::ConsoleService,
    /// The sheet font and print settings, when the font could be loaded (the console's PDFs).
    pub printing: Option<Arc<sheet_pdf::Printing>>,
    pub holder_pages: HolderPages,
}

/// All routes, with the security headers and request logging on every response.
pub fn router(state: AppState) -> Router {
    let tls = state.holder_pages.public_url.is_https();
    let cookies = state.holder_pages.cookies;
    routes::health::router()
        .merge(routes::home::router())
        .merge(routes::crl::router())
        .merge(routes::ocsp::router())
        .merge(routes::sheet_password::router())
        .merge(routes::register::router())
        .merge(routes::holder_page::router())
        .merge(routes::oidc::router())
        .merge(routes::oidc_card::router())
        .merge(routes::device::router())
        .merge(routes::console::router(
            state.holders.photo_limits().max_bytes,
        ))
        .merge(routes::csc::router())
        .merge(routes::assets::router())
        .merge(routes::holders::router(
            state.holders.photo_limits().max_bytes,
        ))
        .fallback(routes::not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            cookies,
            lang::negotiate,
        ))
        .layer(axum::middleware::from_fn(move |req, next| {
            headers::security_headers(tls, req, next)
        }))
        .layer(axum::middleware::from_fn(headers::log_request))
}

/// Serves `GET /metrics` (Prometheus text) on the management listener, nothing else: `scrape`
/// renders the text at each request.
pub async fn serve_metrics<F, Fut>(
    listener: tokio::net::TcpListener,
    scrape: F,
) -> std::io::Result<()>
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = String> + Send + 'static,
{
    use axum::http::header::CONTENT_TYPE;
    let router = Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let scrape = scrape.clone();
            async move {
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    scrape().await,
                )
            }
        }),
    );
    axum::serve(listener, router).await
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish (up to `grace`), with
/// every connection bounded by `limits` (see [`server`]).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    server::serve(listener, router(state), limits, shutdown, grace).await
}

macro_rules! substate {
    ($($field:ident: $ty:ty),*) => {$(
        impl axum::extract::FromRef<AppState> for $ty {
            fn from_ref(s: &AppState) -> Self {
                s.$field.clone()
            }
        }
    )*};
}

substate!(holders: HolderService, operators: OperatorService, audit: AuditService, status: StatusService, ca: hpki_ca::CaService, sheets: SheetService, registrations: RegistrationService, devices: hpki_passkey::DeviceService, oidc: hpki_oidc::OidcService, csc: hpki_csc::CscService, lifecycle: hpki_lifecycle::LifecycleService, console: hpki_operator_accounts::ConsoleService, holder_pages: HolderPages);
