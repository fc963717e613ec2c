//! Trace context through the order service: billing is called within the request's trace, and
//! the settler's later attempt, and the event it writes, continue the trace of the request that
//! placed the order.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{json_of, spawn_app_settling_after, OrderApi};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// (trace id, span id) of a `traceparent`.
fn ids(traceparent: &str) -> (String, String) {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    (parts[1].to_owned(), parts[2].to_owned())
}

#[tokio::test]
async fn the_settler_continues_the_trace_of_the_request_that_placed_the_order() {
    let app = spawn_app_settling_after(Duration::from_millis(200)).await;
    // The request's withdraw fails (the order stays pending); the settler's is charged.
    Mock::given(method("POST"))
        .and(path("/api/v1/billing/account/withdraw"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.extra.billing)
        .await;
    app.billing_charges().await;
    let (_, token) = app.user();
    let lamp = app.product("Lamp", 100, 10).await;
    let response = app
        .http
        .post(app.url(""))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{TRACE}-{CLIENT_SPAN}-01"))
        .json(&json!({ "items": [{ "productId": lamp, "quantity": 1 }] }))
        .send()
        .await
        .expect("request");
    let body = json_of(response, StatusCode::ACCEPTED).await;
    assert_eq!(body["data"]["status"], "pending");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.stored().await != (vec!["created".to_owned()], 1) {
        assert!(tokio::time::Instant::now() < deadline, "never settled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let withdraws: Vec<(String, String)> = app
        .extra
        .billing
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .map(|r| {
            let header = r
                .headers
                .get("traceparent")
                .expect("a traceparent to billing");
            ids(header.to_str().expect("text"))
        })
        .collect();
    let [(request_trace, request_span), (settler_trace, settler_span)] = &withdraws[..] else {
        panic!("two withdraws expected: {withdraws:?}");
    };
    assert_eq!(
        request_trace, TRACE,
        "the request continues the caller's trace"
    );
    assert_ne!(
        request_span, CLIENT_SPAN,
        "billing's parent is the order request's span"
    );
    assert_eq!(
        settler_trace, TRACE,
        "the settler continues the placing request's trace"
    );
    assert_ne!(settler_span, request_span, "in a span of its own");

    // The event goes out as a child of the settler's span (the relay's publish span then sits
    // between it and the consumer).
    let stored: Option<String> = sqlx::query_scalar("SELECT traceparent FROM outbox")
        .fetch_one(&app.db)
        .await
        .expect("event");
    let (event_trace, event_parent) = ids(&stored.expect("the event's trace context"));
    assert_eq!((&event_trace, &event_parent), (settler_trace, settler_span));
}
