//! OpenAPI pieces every service's document shares: security schemes and the health endpoint.

use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi;
use utoipa::Modify;

/// Security scheme name of end users' access tokens.
pub const BEARER: &str = "bearer";
/// Security scheme name of the service credential on internal endpoints.
pub const SERVICE: &str = "service";
/// Tag of internal endpoints, which the public merged document leaves out.
pub const INTERNAL_TAG: &str = "internal";

/// Adds the `bearer` (JWT) and `service` (`X-Service-Token`) security schemes.
pub struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("The accessToken from POST /api/v1/users/login"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            SERVICE,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Service-Token",
                "The service credential; only other services have it",
            ))),
        );
    }
}

/// Serves `doc` as JSON at `path` (the service's `<prefix>/openapi.json`).
pub fn serve(router: Router, path: &str, doc: OpenApi) -> Router {
    let json = doc.to_json().unwrap_or_default();
    router.route(
        path,
        get(move || {
            let json = json.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    json,
                )
                    .into_response()
            }
        }),
    )
}
