//! The HTTP face of hpki-second. Handlers are thin: extract, call one service, render.
//! Domain errors become responses in exactly one place, [`error`].
#![forbid(unsafe_code)]

mod client;
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

pub use axum::http::HeaderName;
pub use error::ApiError;
pub use ratelimit::RateLimit;
pub use server::ConnectionLimits;

/// What the holder-facing pages need besides the services.
#[derive(Clone)]
pub struct HolderPages {
    limiter: Arc<ratelimit::AddressLimiter>,
    /// Where a trusted load balancer puts the client address (`X-Forwarded-For`), if any.
    client_ip_header: Option<axum::http::HeaderName>,
    cookies: cookies::Cookies,
    /// The public base URL (addresses to copy into another browser).
    public_url: PublicUrl,
}

impl HolderPages {
    pub fn new(
        limit: RateLimit,
        client_ip_header: Option<axum::http::HeaderName>,
        public_url: PublicUrl,
    ) -> Self {
        Self {
            limiter: Arc::new(ratelimit::AddressLimiter::new(limit)),
            client_ip_header,
            cookies: cookies::Cookies {
                tls: public_url.is_https(),
            },
            public_url,
        }
    }
}

/// Everything the handlers need: the services, nothing concrete.
#[derive(Clone)]
pub struct AppState {
    pub holders: HolderService,
    pub operators: OperatorService,
    pub audit: AuditService,
    pub status: StatusService,
    pub ca: hpki_ca::CaService,
    pub sheets: SheetService,
    pub registrations: RegistrationService,
    pub devices: hpki_passkey::DeviceService,
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

substate!(holders: HolderService, operators: OperatorService, audit: AuditService, status: StatusService, ca: hpki_ca::CaService, sheets: SheetService, registrations: RegistrationService, devices: hpki_passkey::DeviceService, holder_pages: HolderPages);
