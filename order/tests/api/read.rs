use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_error, json_of, spawn_app, OrderApi, TestApp};

#[tokio::test]
async fn list_shows_only_own_orders_newest_first_in_pages() {
    let app = spawn_app().await;
    app.billing_charges().await;
    let (_, alice) = app.user();
    let (_, bob) = app.user();
    for i in 0..5 {
        json_of(
            app.create(&alice, &format!("item {i}"), 100 + i, None)
                .await,
            StatusCode::CREATED,
        )
        .await;
    }
    json_of(
        app.create(&bob, "bob's", 1, None).await,
        StatusCode::CREATED,
    )
    .await;

    let mut titles = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut request = app
            .http
            .get(app.url(""))
            .bearer_auth(&alice)
            .query(&[("limit", "2")]);
        if let Some(c) = &cursor {
            request = request.query(&[("cursor", c.as_str())]);
        }
        let page = json_of(request.send().await.expect("request"), StatusCode::OK).await;
        pages += 1;
        for order in page["data"].as_array().expect("list") {
            titles.push(order["title"].as_str().expect("title").to_owned());
        }
        match page.get("nextCursor").and_then(Value::as_str) {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(titles, ["item 4", "item 3", "item 2", "item 1", "item 0"]);
}

#[tokio::test]
async fn bad_pagination_parameters_are_400() {
    let app = spawn_app().await;
    let (_, token) = app.user();
    for query in [
        ("limit", "0"),
        ("limit", "201"),
        ("limit", "many"),
        ("cursor", "garbage"),
    ] {
        let response = app
            .http
            .get(app.url(""))
            .bearer_auth(&token)
            .query(&[query])
            .send()
            .await
            .expect("request");
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
}

#[tokio::test]
async fn an_order_is_readable_by_its_owner_only() {
    let app = spawn_app().await;
    app.billing_charges().await;
    let (_, alice) = app.user();
    let (_, bob) = app.user();
    let created = json_of(
        app.create(&alice, "Desk", 20_000, None).await,
        StatusCode::CREATED,
    )
    .await;
    let id = created["data"]["id"].as_str().expect("id");
    let own = json_of(
        app.http
            .get(app.url(&format!("/{id}")))
            .bearer_auth(&alice)
            .send()
            .await
            .expect("request"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(own["data"], created["data"]);
    let foreign = app
        .http
        .get(app.url(&format!("/{id}")))
        .bearer_auth(&bob)
        .send()
        .await
        .expect("request");
    assert_error(foreign, StatusCode::FORBIDDEN, "forbidden").await;
    let missing = app
        .http
        .get(app.url(&format!("/{}", uuid::Uuid::new_v4())))
        .bearer_auth(&alice)
        .send()
        .await
        .expect("request");
    assert_error(missing, StatusCode::NOT_FOUND, "not_found").await;
    let malformed = app
        .http
        .get(app.url("/not-a-uuid"))
        .bearer_auth(&alice)
        .send()
        .await
        .expect("request");
    assert_error(malformed, StatusCode::BAD_REQUEST, "invalid_request").await;
}

async fn assert_live(app: &TestApp) {
    let live = app.get("/health/live").await;
    assert_eq!(json_of(live, StatusCode::OK).await["data"]["status"], "ok");
}

#[tokio::test]
async fn with_the_broker_down_it_is_ready_but_degraded_and_live() {
    // The outbox keeps taking orders while the broker is down: the pod must stay in the
    // Service (ready) and must not be restarted (live).
    let app = spawn_app().await;
    let ready = app.get("/health").await;
    let body = json_of(ready, StatusCode::OK).await;
    assert_eq!(body["data"]["status"], "degraded");
    assert_eq!(body["data"]["checks"]["database"], "ok");
    assert_ne!(body["data"]["checks"]["broker"], "ok");
    assert_live(&app).await;
}

#[tokio::test]
async fn without_its_database_it_is_not_ready_but_still_live() {
    let app = spawn_app().await;
    app.cut_off_database().await;
    let ready = app.get("/health").await;
    let body = assert_error(ready, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert_ne!(body["details"]["database"], "ok", "{body}");
    assert_live(&app).await;
}
