pub mod health;
pub mod home;
pub mod holders;

use axum::http::StatusCode;
use axum::response::Response;

pub async fn not_found() -> Response {
    crate::error::client_error(StatusCode::NOT_FOUND, "not_found", "no such page or endpoint")
}
