//! The seam between a service's routes and its OpenAPI document: both come from one
//! `OpenApiRouter`, and every document gets the security schemes and the shared answers here.

use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi;
use utoipa::Modify;
use utoipa_axum::router::OpenApiRouter;

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

/// A service's document: its routes' operations with the shared answers added.
pub fn document<S>(api: OpenApiRouter<S>) -> OpenApi
where
    S: Clone + Send + Sync + 'static,
{
    let mut doc = api.split_for_parts().1;
    add_shared_responses(&mut doc);
    doc
}

/// A service's router with `state`, serving its own document (the same as [`document`]'s) as
/// JSON at `doc_path` (the service's `<prefix>/openapi.json`).
pub fn router<S>(api: OpenApiRouter<S>, state: S, doc_path: &str) -> Router
where
    S: Clone + Send + Sync + 'static,
{
    let (router, mut doc) = api.split_for_parts();
    add_shared_responses(&mut doc);
    let json = doc.to_json().unwrap_or_default();
    router.with_state(state).route(
        doc_path,
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

/// Documents, on every operation, the answers the shared layers can give whatever the handler:
/// 503 (database unavailable, or the request deadline passed) and, with a body, 413.
fn add_shared_responses(doc: &mut OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in operations.into_iter().flatten() {
            let responses = &mut op.responses.responses;
            responses.entry("503".to_owned()).or_insert_with(|| {
                error("A dependency is unavailable, or the request took too long and its outcome is unknown (retry with the same Idempotency-Key)").into()
            });
            if op.request_body.is_some() {
                responses
                    .entry("413".to_owned())
                    .or_insert_with(|| error("Body larger than 64 KiB").into());
            }
        }
    }
}
