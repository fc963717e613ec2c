//! The shop's public OpenAPI specification, merged from the four services' own documents
//! (which are generated from their handlers and types) without the internal endpoints.

use utoipa::openapi::path::Operation;
use utoipa::openapi::server::Server;
use utoipa::openapi::{InfoBuilder, OpenApi, Paths};

/// Where the committed specification lives, relative to the workspace root.
pub const SPEC_PATH: &str = "api-spec/openapi.yaml";

/// The merged public document.
pub fn public_spec() -> OpenApi {
    let mut merged = user::openapi();
    for doc in [
        billing::openapi(),
        order::openapi(),
        notification::openapi(),
    ] {
        merged.merge(doc);
    }
    merged.info = InfoBuilder::new()
        .title("Shop API")
        .version("1.0.0")
        .description(Some(
            "The public API of the shop, through the gateway. Success bodies are wrapped in \
             {\"data\": ...}; errors are {\"error\", \"code\", \"details\"?}. Money is an integer \
             count of minor units. Every response carries X-Request-Id.",
        ))
        .build();
    merged.servers = Some(vec![Server::new("/")]);
    merged.paths = without_internal(merged.paths);
    if let Some(tags) = merged.tags.as_mut() {
        tags.retain(|t| t.name != common::openapi::INTERNAL_TAG);
    }
    if let Some(components) = merged.components.as_mut() {
        components.security_schemes.remove(common::openapi::SERVICE);
    }
    merged
}

fn is_internal(op: &Operation) -> bool {
    op.tags
        .as_ref()
        .is_some_and(|tags| tags.iter().any(|t| t == common::openapi::INTERNAL_TAG))
}

/// Drops internal operations, and paths left with none.
fn without_internal(mut paths: Paths) -> Paths {
    paths.paths.retain(|_, item| {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ] {
            if op.as_ref().is_some_and(is_internal) {
                *op = None;
            }
        }
        item.get.is_some()
            || item.put.is_some()
            || item.post.is_some()
            || item.delete.is_some()
            || item.patch.is_some()
    });
    paths
}

/// The document as YAML, as committed.
pub fn public_spec_yaml() -> anyhow::Result<String> {
    Ok(public_spec().to_yaml()?)
}
