mod health;
mod orders;

use axum::Router;
use common::openapi::SecuritySchemes;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Shop order API", version = "1.0.0",
         description = "Orders paid from the caller's billing account, and cancelled with their \
                        money given back. Each outcome is also published as an OrderCreated, \
                        OrderNotCreated or OrderCancelled event."),
    modifiers(&SecuritySchemes),
    tags((name = "orders", description = "The caller's orders"))
)]
struct ApiDoc;

/// Where the service's API lives; the gateway routes it by this prefix.
pub const PREFIX: &str = "/api/v1/orders";

/// Every order route with its documentation, registered together.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(orders::list_orders, orders::create_order))
        .routes(routes!(orders::get_order))
        .routes(routes!(orders::cancel_order))
}

/// The service's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    common::openapi::document(api(), PREFIX)
}

/// The router, serving its own document at `/api/v1/orders/openapi.json`.
pub fn router(state: AppState) -> Router {
    common::openapi::router(api(), state, PREFIX)
}
