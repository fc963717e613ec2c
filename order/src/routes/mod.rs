mod health;
mod orders;
mod products;

use axum::Router;
use common::openapi::SecuritySchemes;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Shop order API", version = "1.0.0",
         description = "The catalogue, and orders of its products paid from the caller's \
                        billing account, cancelled with their money and units given back. Each \
                        outcome is also published as an OrderCreated, OrderNotCreated or \
                        OrderCancelled event."),
    modifiers(&SecuritySchemes),
    tags(
        (name = "orders", description = "The caller's orders"),
        (name = "products", description = "The catalogue: products, prices and stock"),
    )
)]
struct ApiDoc;

/// Where the service's API lives; the gateway routes it, and `/api/v1/products` (the
/// catalogue), to this service. Health and the OpenAPI document are under this prefix.
pub const PREFIX: &str = "/api/v1/orders";

/// Every order route with its documentation, registered together.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(orders::list_orders, orders::create_order))
        .routes(routes!(orders::get_order))
        .routes(routes!(orders::cancel_order))
        .routes(routes!(products::list_products, products::create_product))
        .routes(routes!(products::get_product, products::update_product))
        .routes(routes!(products::restock_product))
}

/// The service's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    common::openapi::document(api(), PREFIX)
}

/// The router, serving its own document at `/api/v1/orders/openapi.json`.
pub fn router(state: AppState) -> Router {
    common::openapi::router(api(), state, PREFIX)
}
