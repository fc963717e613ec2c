use common::error::code;
use events::EventType;
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{assert_error, json_of, spawn_app, NotificationApi};

fn order_ids(page: &Value) -> Vec<Uuid> {
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|n| {
            n["orderId"]
                .as_str()
                .expect("orderId")
                .parse()
                .expect("uuid")
        })
        .collect()
}

#[tokio::test]
async fn a_user_lists_only_their_own_notifications_newest_first() {
    let app = spawn_app().await;
    let (alice, token) = app.user();
    let (bob, _) = app.user();
    let first = app.notify(alice, EventType::OrderCreated, "Blue mug").await;
    app.notify(bob, EventType::OrderCreated, "Bob's mug").await;
    let second = app.notify(alice, EventType::OrderNotCreated, "Piano").await;

    let page = json_of(app.list(Some(&token), "").await, StatusCode::OK).await;
    assert_eq!(order_ids(&page), vec![second, first]);
    assert!(page.get("nextCursor").is_none(), "{page}");
    let newest = &page["data"][0];
    assert_eq!(newest["type"], "order_not_created");
    assert_eq!(
        newest["text"],
        "Your order \"Piano\" for 12.50 was not placed: not enough money."
    );
    assert_eq!(page["data"][1]["type"], "order_created");
}

#[tokio::test]
async fn pages_follow_the_cursor_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let (alice, token) = app.user();
    let mut placed = Vec::new();
    for i in 0..5 {
        placed.push(
            app.notify(alice, EventType::OrderCreated, &format!("item {i}"))
                .await,
        );
    }
    placed.reverse();

    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    for expected_len in [2, 2, 1] {
        let page = json_of(app.list(Some(&token), &query).await, StatusCode::OK).await;
        let ids = order_ids(&page);
        assert_eq!(ids.len(), expected_len, "{page}");
        seen.extend(ids);
        match page["nextCursor"].as_str() {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, placed);
}

#[tokio::test]
async fn bad_limits_and_cursors_are_400() {
    let app = spawn_app().await;
    let (_, token) = app.user();
    for query in [
        "?limit=0",
        "?limit=201",
        "?limit=abc",
        "?cursor=not-a-cursor",
    ] {
        assert_error(
            app.list(Some(&token), query).await,
            StatusCode::BAD_REQUEST,
            code::INVALID_REQUEST,
        )
        .await;
    }
}

#[tokio::test]
async fn listing_needs_a_valid_token() {
    let app = spawn_app().await;
    assert_error(
        app.list(None, "").await,
        StatusCode::UNAUTHORIZED,
        code::UNAUTHORIZED,
    )
    .await;
    assert_error(
        app.list(Some("not.a.token"), "").await,
        StatusCode::UNAUTHORIZED,
        code::UNAUTHORIZED,
    )
    .await;
}
