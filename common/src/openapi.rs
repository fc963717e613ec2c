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

/// A service's document: its routes' operations, the liveness probe under `prefix` and the
/// shared answers.
pub fn document<S>(api: OpenApiRouter<S>, prefix: &str) -> OpenApi
where
    S: Clone + Send + Sync + 'static,
{
    let mut doc = api.split_for_parts().1;
    complete(&mut doc, prefix);
    doc
}

/// A service's router with `state`, serving its own document (the same as [`document`]'s) as
/// JSON at `<prefix>/openapi.json`.
pub fn router<S>(api: OpenApiRouter<S>, state: S, prefix: &str) -> Router
where
    S: Clone + Send + Sync + 'static,
{
    let (router, mut doc) = api.split_for_parts();
    complete(&mut doc, prefix);
    let json = doc.to_json().unwrap_or_default();
    router.with_state(state).route(
        &format!("{prefix}/openapi.json"),
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

fn complete(doc: &mut OpenApi, prefix: &str) {
    add_liveness(doc, prefix);
    add_shared_responses(doc);
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

/// Documents `<prefix>/health/live`, which `crate::server` serves for every service.
fn add_liveness(doc: &mut OpenApi, prefix: &str) {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::{ContentBuilder, ResponseBuilder};
    let resource = prefix.rsplit('/').next().unwrap_or("service");
    let status = ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("\"ok\""));
    let live = ObjectBuilder::new()
        .property(
            "data",
            ObjectBuilder::new()
                .property("status", status)
                .required("status"),
        )
        .required("data");
    let operation = OperationBuilder::new()
        .tag(resource)
        .operation_id(Some(format!("{resource}Live")))
        .summary(Some(
            "Whether the process and its background loops run (liveness).",
        ))
        .description(Some(
            "No dependency is checked, so an outage of the database or the broker never makes \
             the orchestrator restart the service; `health` tells whether it can serve.",
        ))
        .response(
            "200",
            ResponseBuilder::new()
                .description("Live")
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(live)).build(),
                )
                .build(),
        )
        .response(
            "503",
            error_response("A background loop stopped; `error` names it"),
        )
        .build();
    doc.paths.paths.insert(
        format!("{prefix}{}", crate::server::LIVE_PATH),
        PathItem::new(HttpMethod::Get, operation),
    );
}

/// Documents, on every operation, the answers the shared layers can give whatever the handler:
/// 503 (a dependency unavailable, not applied), 504 (the request deadline passed, outcome
/// unknown); with a body, 413; and behind
/// a bearer token or the service credential, the 401 of its extractor (unless the operation
/// documents a 401 of its own).
fn add_shared_responses(doc: &mut OpenApi) {
    let error = error_response;
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
                error("A dependency is unavailable; the request was not applied").into()
            });
            responses.entry("504".to_owned()).or_insert_with(|| {
                error("Code outcome_unknown: the request's deadline passed while it was in flight, so it may or may not have been applied; retry with the same Idempotency-Key, or read the resource").into()
            });
            if op.request_body.is_some() {
                responses
                    .entry("413".to_owned())
                    .or_insert_with(|| error("Body larger than 64 KiB").into());
            }
            let schemes = op
                .security
                .iter()
                .flatten()
                .map(|requirement| serde_json::to_value(requirement).unwrap_or_default());
            for scheme in schemes.collect::<Vec<_>>() {
                let unauthorized = if scheme.get(BEARER).is_some() {
                    "Missing, invalid or expired access token"
                } else if scheme.get(SERVICE).is_some() {
                    "Missing or wrong service credential"
                } else {
                    continue;
                };
                responses
                    .entry("401".to_owned())
                    .or_insert_with(|| error(unauthorized).into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;

    #[utoipa::path(post, path = "/mine", security(("bearer" = [])), request_body = String,
        responses((status = 200, description = "ok")))]
    async fn mine() {}

    #[utoipa::path(get, path = "/internal", security(("service" = [])),
        responses((status = 200, description = "ok")))]
    async fn internal() {}

    #[utoipa::path(get, path = "/open", responses((status = 200, description = "ok")))]
    async fn open() {}

    #[test]
    fn every_operation_documents_the_answers_of_the_shared_layers_that_apply_to_it() {
        let api = OpenApiRouter::<()>::new()
            .routes(routes!(mine))
            .routes(routes!(internal))
            .routes(routes!(open));
        let doc = serde_json::to_value(super::document(api, "/api/v1/test")).expect("json");
        let codes = |path: &str, method: &str| -> Vec<String> {
            let responses = doc["paths"][path][method]["responses"]
                .as_object()
                .expect("responses");
            responses.keys().cloned().collect()
        };
        assert_eq!(codes("/mine", "post"), ["200", "401", "413", "503", "504"]);
        assert_eq!(codes("/internal", "get"), ["200", "401", "503", "504"]);
        assert_eq!(codes("/open", "get"), ["200", "503", "504"]);
        assert_eq!(
            codes("/api/v1/test/health/live", "get"),
            ["200", "503", "504"]
        );
        let internal_401 = &doc["paths"]["/internal"]["get"]["responses"]["401"]["description"];
        assert_eq!(internal_401, "Missing or wrong service credential");
    }
}
