mod accounts;
mod health;

use axum::Router;
use common::openapi::SecuritySchemes;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Shop billing API", version = "1.0.0",
         description = "One account per user: balance, deposits, and withdrawals and refunds for orders. \
                        Amounts are integers in minor units (cents)."),
    modifiers(&SecuritySchemes),
    tags(
        (name = "billing", description = "The caller's account"),
        (name = "internal", description = "For other services only; not routed by the gateway"),
    )
)]
struct ApiDoc;

/// Where the service's API lives; the gateway routes it by this prefix.
pub const PREFIX: &str = "/api/v1/billing";

/// Every billing route with its documentation, registered together so neither can drift.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(accounts::my_account))
        .routes(routes!(accounts::deposit))
        .routes(routes!(accounts::create_account))
        .routes(routes!(accounts::withdraw))
        .routes(routes!(accounts::refund))
}

/// The service's OpenAPI document, internal endpoints included.
pub fn openapi() -> utoipa::openapi::OpenApi {
    common::openapi::document(api(), PREFIX)
}

/// The router, serving its own document at `/api/v1/billing/openapi.json`.
pub fn router(state: AppState) -> Router {
    common::openapi::router(api(), state, PREFIX)
}
