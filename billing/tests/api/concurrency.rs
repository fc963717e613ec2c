//! Money under concurrency: many requests at once on one account.

use std::collections::HashSet;

use futures::future::join_all;
use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::{json_of, spawn_app, BillingApi};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deposits_and_withdrawals_keep_the_books_straight() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    json_of(app.deposit(&token, 1_000, None).await, StatusCode::OK).await;

    // 150 deposits of 10 and 150 withdrawals of 25, all at once: money for only some of them.
    let deposits = (0..150).map(|_| app.deposit(&token, 10, None));
    let orders: Vec<Uuid> = (0..150).map(|_| Uuid::new_v4()).collect();
    let withdrawals = orders.iter().map(|order| app.withdraw(user, *order, 25));
    let (deposit_results, withdraw_results) =
        tokio::join!(join_all(deposits), join_all(withdrawals));

    assert!(deposit_results.iter().all(|r| r.status() == StatusCode::OK));
    let charged = withdraw_results
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .count() as i64;
    let refused = withdraw_results
        .iter()
        .filter(|r| r.status() == StatusCode::CONFLICT)
        .count() as i64;
    assert_eq!(
        charged + refused,
        150,
        "every withdrawal is either charged or refused"
    );

    let (balance, ledger_sum, entries) = app.books(user).await;
    assert_eq!(balance, ledger_sum, "balance equals the ledger sum");
    assert_eq!(balance, 1_000 + 150 * 10 - charged * 25);
    assert!(balance >= 0);
    assert_eq!(entries, 1 + 150 + charged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_withdrawals_never_overdraw() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    json_of(app.deposit(&token, 1_000, None).await, StatusCode::OK).await;
    // Enough for exactly 40 of 200.
    let results = join_all((0..200).map(|_| app.withdraw(user, Uuid::new_v4(), 25))).await;
    let charged = results
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .count();
    assert_eq!(charged, 40);
    assert_eq!(app.books(user).await, (0, 0, 41));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_order_is_charged_at_most_once_under_concurrent_repeats() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    json_of(app.deposit(&token, 10_000, None).await, StatusCode::OK).await;
    let orders: Vec<Uuid> = (0..20).map(|_| Uuid::new_v4()).collect();
    // Every order sent 10 times concurrently.
    let requests = orders
        .iter()
        .flat_map(|o| (0..10).map(move |_| *o))
        .map(|o| app.withdraw(user, o, 100));
    let results = join_all(requests).await;
    assert!(results.iter().all(|r| r.status() == StatusCode::OK));
    let charged: HashSet<Uuid> = billing::audit::charged_orders(&app.db)
        .await
        .expect("ledger")
        .into_iter()
        .collect();
    assert_eq!(charged, orders.iter().copied().collect());
    assert_eq!(app.books(user).await, (8_000, 8_000, 21));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_idempotency_key_is_applied_once_under_concurrent_repeats() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    // 20 keys, each sent 10 times at once.
    let keys: Vec<String> = (0..20).map(|i| format!("deposit-{i}")).collect();
    let requests = keys
        .iter()
        .flat_map(|k| (0..10).map(move |_| k))
        .map(|k| app.deposit(&token, 30, Some(k)));
    let results = join_all(requests).await;
    assert!(results.iter().all(|r| r.status() == StatusCode::OK));
    assert_eq!(app.books(user).await, (600, 600, 20));
}
