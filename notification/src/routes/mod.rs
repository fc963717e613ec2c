mod health;
mod notifications;

use axum::Router;
use common::openapi::SecuritySchemes;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Shop notification API", version = "1.0.0",
         description = "Notifications about the caller's orders, one per order event."),
    modifiers(&SecuritySchemes),
    tags((name = "notifications", description = "The caller's notifications"))
)]
struct ApiDoc;

/// Where the service's API lives; the gateway routes it by this prefix.
pub const PREFIX: &str = "/api/v1/notifications";

/// Every notification route with its documentation, registered together.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(notifications::list_notifications))
}

/// The service's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    common::openapi::document(api(), PREFIX)
}

/// The router, serving its own document at `/api/v1/notifications/openapi.json`.
pub fn router(state: AppState) -> Router {
    common::openapi::router(api(), state, PREFIX)
}
