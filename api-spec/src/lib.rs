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
    drop_unreferenced_schemas(&mut merged);
    merged
}

/// Removes component schemas nothing public refers to any more (the internal requests').
fn drop_unreferenced_schemas(doc: &mut OpenApi) {
    let Some(mut components) = doc.components.take() else {
        return;
    };
    let refs = |value: &serde_json::Value| -> std::collections::BTreeSet<String> {
        let text = value.to_string();
        text.match_indices("#/components/schemas/")
            .map(|(i, prefix)| {
                let rest = &text[i + prefix.len()..];
                rest[..rest.find('"').unwrap_or(rest.len())].to_owned()
            })
            .collect()
    };
    let mut used = refs(&serde_json::to_value(&doc.paths).unwrap_or_default());
    loop {
        let reached: std::collections::BTreeSet<String> = components
            .schemas
            .iter()
            .filter(|(name, _)| used.contains(*name))
            .flat_map(|(_, schema)| refs(&serde_json::to_value(schema).unwrap_or_default()))
            .collect();
        let before = used.len();
        used.extend(reached);
        if used.len() == before {
            break;
        }
    }
    components.schemas.retain(|name, _| used.contains(name));
    doc.components = Some(components);
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
