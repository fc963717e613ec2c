use common::error::code::RATE_LIMITED;
use common::limits::CommandLimit;
use reqwest::StatusCode;
use testkit::retry_after;

use crate::helpers::{assert_error, json_of, spawn_app, spawn_app_with_command_limit, OrderApi};

#[tokio::test]
async fn orders_and_cancels_are_limited_per_user_and_a_refused_one_changes_nothing() {
    // Three commands at once, then one a minute.
    let app = spawn_app_with_command_limit(CommandLimit::new(1, 3)).await;
    app.billing_charges().await;
    app.billing_refunded(1250).await;
    let product = app.product("Blue mug", 1250, 10).await;
    let (_, token) = app.user();
    let first = json_of(
        app.order(&token, &[(product, 1)], None).await,
        StatusCode::CREATED,
    )
    .await;
    json_of(
        app.order(&token, &[(product, 1)], None).await,
        StatusCode::CREATED,
    )
    .await;
    let id = first["data"]["id"].as_str().expect("id").to_owned();
    json_of(app.cancel(&token, &id, None).await, StatusCode::OK).await;

    // The fourth command, an order or a cancel, is refused before anything is done.
    let refused = app.order(&token, &[(product, 1)], None).await;
    assert!((1..=60).contains(&retry_after(&refused)));
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, RATE_LIMITED).await;
    let second = app.stored().await;
    let refused = app.cancel(&token, &id, None).await;
    assert!((1..=60).contains(&retry_after(&refused)));
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, RATE_LIMITED).await;
    assert_eq!(
        app.stored().await,
        second,
        "no order stored, no event written"
    );
    assert_eq!(
        app.available(product).await,
        9,
        "one unit sold, one given back"
    );
    let charges = app
        .extra
        .billing
        .received_requests()
        .await
        .expect("recorded");
    assert_eq!(
        charges.len(),
        3,
        "two charges and one refund asked of billing"
    );

    // Reads are not limited, and another user is not held back by this one's loop.
    let mine = app
        .http
        .get(app.url(""))
        .bearer_auth(&token)
        .send()
        .await
        .expect("list");
    json_of(mine, StatusCode::OK).await;
    let (_, other) = app.user();
    json_of(
        app.order(&other, &[(product, 1)], None).await,
        StatusCode::CREATED,
    )
    .await;
}

#[tokio::test]
async fn restocks_are_limited_per_admin() {
    let app = spawn_app_with_command_limit(CommandLimit::new(1, 3)).await;
    // Creating the product is not a limited command; three restocks are.
    let product = app.product("Teapot", 3000, 1).await;
    let restock = || {
        app.http
            .post(app.products_url(&format!("/{product}/restock")))
            .bearer_auth(&app.extra.admin)
            .json(&serde_json::json!({ "quantity": 5 }))
            .send()
    };
    for _ in 0..3 {
        json_of(restock().await.expect("restock"), StatusCode::OK).await;
    }
    let refused = restock().await.expect("restock");
    assert!((1..=60).contains(&retry_after(&refused)));
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, RATE_LIMITED).await;
    assert_eq!(app.available(product).await, 16);
}

#[tokio::test]
async fn a_restock_key_is_remembered_for_a_day_then_swept() {
    let app = spawn_app().await;
    let product = app.product("Kettle", 2500, 1).await;
    let restock = || {
        app.http
            .post(app.products_url(&format!("/{product}/restock")))
            .bearer_auth(&app.extra.admin)
            .header("Idempotency-Key", "restock-1")
            .json(&serde_json::json!({ "quantity": 5 }))
            .send()
    };
    json_of(restock().await.expect("restock"), StatusCode::OK).await;
    json_of(restock().await.expect("restock"), StatusCode::OK).await;
    assert_eq!(app.available(product).await, 6, "the repeat replayed");
    assert_eq!(
        order::catalogue::sweep_restock_keys(&app.db)
            .await
            .expect("sweep"),
        0,
        "under a day old, kept"
    );
    sqlx::query!("UPDATE restocks SET created_at = now() - interval '25 hours'")
        .execute(&app.db)
        .await
        .expect("age the key");
    assert_eq!(
        order::catalogue::sweep_restock_keys(&app.db)
            .await
            .expect("sweep"),
        1
    );
    json_of(restock().await.expect("restock"), StatusCode::OK).await;
    assert_eq!(app.available(product).await, 11, "the key is new again");
}
