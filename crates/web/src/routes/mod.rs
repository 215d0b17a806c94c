pub mod assets;
mod caching;
pub mod console;
pub mod crl;
pub mod csc;
pub mod device;
pub mod health;
pub mod holder_page;
pub mod holders;
pub mod home;
pub mod ocsp;
pub mod oidc;
pub mod oidc_card;
pub mod register;
pub mod sheet_password;

use axum::http::StatusCode;
use axum::response::Response;

pub async fn not_found() -> Response {
    crate::error::client_error(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such page or endpoint",
    )
}
