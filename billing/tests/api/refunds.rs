//! Refunds for cancelled orders: exactly what the order was charged, at most once; an order never
//! charged is voided so that a late withdrawal charges nothing; the books stay straight under
//! concurrency.

use common::error::code;
use futures::future::join_all;
use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::{assert_error, json_of, spawn_app, BillingApi};

#[tokio::test]
async fn a_refund_gives_back_exactly_the_charge_once() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    json_of(app.deposit(&token, 5_000, None).await, StatusCode::OK).await;
    let order = Uuid::new_v4();
    json_of(app.withdraw(user, order, 1_250).await, StatusCode::OK).await;

    let first = json_of(app.refund(user, order).await, StatusCode::OK).await;
    assert_eq!(first["data"]["refunded"], 1_250);
    assert_eq!(first["data"]["balance"], 5_000);
    assert_eq!(first["data"]["userId"], user.to_string());
    // A repeat answers the same and gives nothing more.
    let again = json_of(app.refund(user, order).await, StatusCode::OK).await;
    assert_eq!(again["data"], first["data"]);
    assert_eq!(app.order_money(order).await, (1_250, 1_250));
    assert_eq!(app.books(user).await, (5_000, 5_000, 3));
    // The order stays charged-and-refunded: a repeated withdrawal replays, charging nothing.
    json_of(app.withdraw(user, order, 1_250).await, StatusCode::OK).await;
    assert_eq!(app.books(user).await, (5_000, 5_000, 3));
}

#[tokio::test]
async fn refunding_an_order_never_charged_voids_it() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    json_of(app.deposit(&token, 5_000, None).await, StatusCode::OK).await;
    let order = Uuid::new_v4();

    let voided = json_of(app.refund(user, order).await, StatusCode::OK).await;
    assert_eq!(voided["data"]["refunded"], 0);
    assert_eq!(voided["data"]["balance"], 5_000);
    // A withdrawal arriving later (sent before the cancel) charges nothing.
    let late = app.withdraw(user, order, 1_250).await;
    assert_error(late, StatusCode::CONFLICT, code::ORDER_VOIDED).await;
    assert_eq!(app.order_money(order).await, (0, 0));
    assert_eq!(app.books(user).await, (5_000, 5_000, 1));
}

#[tokio::test]
async fn refunding_an_order_refused_for_money_gives_nothing() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    json_of(app.deposit(&token, 100, None).await, StatusCode::OK).await;
    let order = Uuid::new_v4();
    assert_error(
        app.withdraw(user, order, 1_250).await,
        StatusCode::CONFLICT,
        code::INSUFFICIENT_FUNDS,
    )
    .await;
    let refund = json_of(app.refund(user, order).await, StatusCode::OK).await;
    assert_eq!(refund["data"]["refunded"], 0);
    assert_eq!(app.books(user).await, (100, 100, 1));
}

#[tokio::test]
async fn another_users_order_is_not_refunded_to_you() {
    let app = spawn_app().await;
    let (owner, token) = app.user();
    let (stranger, stranger_token) = app.user();
    json_of(app.deposit(&token, 5_000, None).await, StatusCode::OK).await;
    json_of(app.deposit(&stranger_token, 10, None).await, StatusCode::OK).await;
    let order = Uuid::new_v4();
    json_of(app.withdraw(owner, order, 1_250).await, StatusCode::OK).await;

    assert_error(
        app.refund(stranger, order).await,
        StatusCode::CONFLICT,
        code::CONFLICT,
    )
    .await;
    assert_eq!(app.books(stranger).await, (10, 10, 1));
    assert_eq!(app.books(owner).await, (3_750, 3_750, 2));
    // And once refunded to its owner, nobody else can claim that refund.
    json_of(app.refund(owner, order).await, StatusCode::OK).await;
    assert_error(
        app.refund(stranger, order).await,
        StatusCode::CONFLICT,
        code::CONFLICT,
    )
    .await;
}

#[tokio::test]
async fn refund_needs_the_service_credential_and_a_valid_body() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    let body = serde_json::json!({ "userId": user, "orderId": Uuid::new_v4() });
    let anonymous = app
        .http
        .post(app.url("/account/refund"))
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_error(anonymous, StatusCode::UNAUTHORIZED, code::UNAUTHORIZED).await;
    let end_user = app
        .http
        .post(app.url("/account/refund"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_error(end_user, StatusCode::UNAUTHORIZED, code::UNAUTHORIZED).await;
    let malformed = app
        .http
        .post(app.url("/account/refund"))
        .header("X-Service-Token", crate::helpers::ORDER_SERVICE_TOKEN)
        .json(&serde_json::json!({ "userId": user, "orderId": "not-a-uuid" }))
        .send()
        .await
        .expect("request");
    assert_error(malformed, StatusCode::BAD_REQUEST, code::INVALID_REQUEST).await;
}

/// Concurrency: many refunds of each charged order at once give back each charge exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refunds_of_one_order_give_back_once() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    json_of(app.deposit(&token, 10_000, None).await, StatusCode::OK).await;
    let orders: Vec<Uuid> = (0..20).map(|_| Uuid::new_v4()).collect();
    for order in &orders {
        json_of(app.withdraw(user, *order, 100).await, StatusCode::OK).await;
    }
    let refunds = orders
        .iter()
        .flat_map(|o| (0..8).map(move |_| *o))
        .map(|o| app.refund(user, o));
    let results = join_all(refunds).await;
    for response in results {
        let body = json_of(response, StatusCode::OK).await;
        assert_eq!(
            body["data"]["refunded"], 100,
            "every repeat answers with the one refund"
        );
    }
    for order in &orders {
        assert_eq!(app.order_money(*order).await, (100, 100));
    }
    assert_eq!(app.books(user).await, (10_000, 10_000, 41));
}

/// Concurrency: a cancel's refund racing the order's own withdrawal (a settler retry, or the
/// first attempt still in flight). Whichever commits first, the order ends with charged minus
/// refunded = 0, and the books equal the ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refund_racing_the_withdrawal_never_leaves_the_order_charged() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    json_of(app.deposit(&token, 100_000, None).await, StatusCode::OK).await;
    let orders: Vec<Uuid> = (0..60).map(|_| Uuid::new_v4()).collect();
    let races = orders.iter().map(|order| async {
        let (withdrawn, refunded) =
            tokio::join!(app.withdraw(user, *order, 100), app.refund(user, *order));
        let refund = json_of(refunded, StatusCode::OK).await;
        let status = withdrawn.status();
        if status == StatusCode::CONFLICT {
            assert_error(withdrawn, StatusCode::CONFLICT, code::ORDER_VOIDED).await;
        }
        (
            status,
            refund["data"]["refunded"].as_i64().expect("refunded"),
        )
    });
    let outcomes = join_all(races).await;
    let mut charged_then_refunded = 0;
    let mut voided_first = 0;
    for ((status, refunded), order) in outcomes.iter().zip(&orders) {
        let (charged, given_back) = app.order_money(*order).await;
        assert_eq!(
            charged, given_back,
            "order {order}: charged {charged}, refunded {given_back}"
        );
        match (*status, *refunded) {
            (StatusCode::OK, 100) => charged_then_refunded += 1,
            (StatusCode::CONFLICT, 0) => voided_first += 1,
            other => panic!("order {order}: withdrawal and refund disagree: {other:?}"),
        }
        // Whatever happened, a late repeat of the withdrawal charges nothing more.
        let _ = app.withdraw(user, *order, 100).await;
        assert_eq!(app.order_money(*order).await, (charged, given_back));
    }
    eprintln!("charged then refunded: {charged_then_refunded}, voided first: {voided_first}");
    assert_eq!(charged_then_refunded + voided_first, orders.len());
    let (balance, ledger_sum, _) = app.books(user).await;
    assert_eq!((balance, ledger_sum), (100_000, 100_000));
}
