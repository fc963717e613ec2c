mod auth;
mod health;
mod users;

use axum::Router;
use common::openapi::SecuritySchemes;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Shop user API", version = "1.0.0",
         description = "Registration, login with a JWT access token and a rotating refresh token, profiles."),
    modifiers(&SecuritySchemes),
    tags((name = "users", description = "Accounts and sessions of the shop's customers"))
)]
struct ApiDoc;

/// Where the service's API lives; the gateway routes it by this prefix.
pub const PREFIX: &str = "/api/v1/users";

/// Every user-service route with its documentation, registered together.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(users::register))
        .routes(routes!(users::me))
        .routes(routes!(users::update_profile))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
}

/// The service's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    common::openapi::document(api(), PREFIX)
}

/// The router, serving its own document at `/api/v1/users/openapi.json`. No answer of this
/// service may be stored by a browser or proxy: they carry tokens (login, refresh), a generated
/// password (register) or personal data (profiles).
pub fn router(state: AppState) -> Router {
    common::openapi::router(api(), state, PREFIX).layer(axum::middleware::map_response(no_store))
}

async fn no_store(mut response: axum::response::Response) -> axum::response::Response {
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}
