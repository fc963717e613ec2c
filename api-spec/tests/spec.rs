//! The committed specification is exactly what the code generates, and it is public only.

#[test]
fn the_committed_spec_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.yaml");
    let committed = std::fs::read_to_string(&path).expect("api-spec/openapi.yaml exists");
    let generated = api_spec::public_spec_yaml().expect("generate");
    assert!(
        committed == generated,
        "api-spec/openapi.yaml is out of date: run `cargo run -p api-spec` and commit the result"
    );
}

#[test]
fn internal_endpoints_are_not_public() {
    let yaml = api_spec::public_spec_yaml().expect("generate");
    assert!(
        !yaml.contains("/api/v1/billing/account/withdraw:"),
        "withdraw is internal"
    );
    assert!(
        !yaml.contains("/api/v1/billing/account/refund:"),
        "refund is internal"
    );
    assert!(
        !yaml.contains("/api/v1/billing/account:"),
        "account creation is internal"
    );
    assert!(!yaml.contains("X-Service-Token"));
    assert!(!yaml.contains("WithdrawRequest") && !yaml.contains("CreateAccountRequest"));
    for public in [
        "/api/v1/users/register:",
        "/api/v1/billing/account/deposit:",
        "/api/v1/orders:",
        "/api/v1/products:",
        "/api/v1/products/{id}/restock:",
        "/api/v1/notifications:",
    ] {
        assert!(yaml.contains(public), "{public} missing");
    }
}

#[test]
fn every_public_operation_documents_its_errors_and_security() {
    let spec = api_spec::public_spec();
    for (path, item) in &spec.paths.paths {
        for op in [&item.get, &item.put, &item.post, &item.delete, &item.patch]
            .into_iter()
            .flatten()
        {
            let codes: Vec<&String> = op.responses.responses.keys().collect();
            assert!(
                codes.iter().any(|c| c.starts_with('2')),
                "{path}: no success response"
            );
            let public = path.ends_with("/health")
                || path.ends_with("/health/live")
                || ["/register", "/login", "/refresh"]
                    .iter()
                    .any(|p| path.ends_with(p));
            if !public {
                assert!(op.security.is_some(), "{path}: no security requirement");
                assert!(
                    codes.iter().any(|c| *c == "401"),
                    "{path}: 401 not documented"
                );
            }
        }
    }
}

#[test]
fn every_request_body_has_an_example() {
    let spec: serde_json::Value =
        serde_json::from_str(&api_spec::public_spec().to_json().expect("json")).expect("parse");
    let schemas = &spec["components"]["schemas"];
    let mut bodies = 0;
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let Some(reference) =
                op["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
            else {
                continue;
            };
            bodies += 1;
            let name = reference.rsplit('/').next().expect("name");
            assert!(
                schemas[name].get("example").is_some(),
                "{method} {path}: {name} has no example"
            );
        }
    }
    assert!(bodies >= 7, "only {bodies} request bodies found");
}
