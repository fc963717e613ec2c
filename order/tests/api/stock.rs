//! Stock: an order reserves its units when it is stored, a rejected or cancelled one gives
//! them back, a pending one holds them; an order that asks for more than is left is refused
//! whole; concurrent buyers never get more units than there are.

use std::collections::HashMap;
use std::time::Duration;

use common::error::code::INSUFFICIENT_FUNDS;
use common::error::code::OUT_OF_STOCK;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::Mock;

use crate::helpers::{
    assert_error, json_of, slow, spawn_app, spawn_app_settling_after, OrderApi, TestApp,
};

#[tokio::test]
async fn an_order_is_priced_from_the_catalogue_and_takes_its_units() {
    let app = spawn_app().await;
    app.billing_charges().await;
    let (_, token) = app.user();
    let mug = app.product("Blue mug", 1250, 10).await;
    let tea = app.product("Green tea", 750, 10).await;
    let body = json_of(
        app.order(&token, &[(mug, 2), (tea, 1)], None).await,
        StatusCode::CREATED,
    )
    .await;
    let order = &body["data"];
    assert_eq!(order["title"], "Blue mug ×2, Green tea");
    assert_eq!(order["price"], 2 * 1250 + 750);
    assert_eq!(
        order["items"],
        json!([
            { "productId": mug, "title": "Blue mug", "unitPrice": 1250, "quantity": 2 },
            { "productId": tea, "title": "Green tea", "unitPrice": 750, "quantity": 1 },
        ])
    );
    // Billing was asked for the catalogue's total, whatever a client might have wished.
    let requests = app
        .extra
        .billing
        .received_requests()
        .await
        .expect("recorded");
    let sent: Value = serde_json::from_slice(&requests[0].body).expect("json");
    assert_eq!(sent["amount"], 3250);
    assert_eq!((app.available(mug).await, app.available(tea).await), (8, 9));
    // Reads show the lines as placed.
    let read = json_of(
        app.http
            .get(app.url(&format!("/{}", order["id"].as_str().expect("id"))))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(read["data"]["items"], order["items"]);
    assert!(app.stock_mismatches().await.is_empty());
}

#[tokio::test]
async fn an_order_asking_for_more_than_is_left_is_409_out_of_stock_and_changes_nothing() {
    let app = spawn_app().await;
    app.billing_charges().await;
    let (_, token) = app.user();
    let mug = app.product("Blue mug", 1250, 3).await;
    let tea = app.product("Green tea", 750, 1).await;
    let lamp = app.product("Lamp", 3000, 5).await;
    let body = assert_error(
        app.order(&token, &[(lamp, 1), (mug, 4), (tea, 2)], None)
            .await,
        StatusCode::CONFLICT,
        OUT_OF_STOCK,
    )
    .await;
    // Each product short of units, with what is left; not the line that fits.
    assert_eq!(
        body["details"],
        json!({ mug.to_string(): 3, tea.to_string(): 1 })
    );
    assert_eq!(app.stored().await, (vec![], 0));
    assert!(app
        .extra
        .billing
        .received_requests()
        .await
        .expect("recorded")
        .is_empty());
    assert_eq!(
        (
            app.available(mug).await,
            app.available(tea).await,
            app.available(lamp).await
        ),
        (3, 1, 5)
    );
    // What is left can still be bought, to the last unit.
    json_of(
        app.order(&token, &[(mug, 3), (tea, 1)], None).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!((app.available(mug).await, app.available(tea).await), (0, 0));
    assert!(app.stock_mismatches().await.is_empty());
}

#[tokio::test]
async fn a_rejected_order_gives_its_units_back() {
    let app = spawn_app().await;
    app.billing_answers(
        409,
        json!({ "error": "not enough money", "code": INSUFFICIENT_FUNDS }),
    )
    .await;
    let (_, token) = app.user();
    let piano = app.product("Piano", 500_000, 2).await;
    let body = assert_error(
        app.order(&token, &[(piano, 2)], None).await,
        StatusCode::BAD_REQUEST,
        INSUFFICIENT_FUNDS,
    )
    .await;
    assert_eq!(body["details"]["order"]["status"], "rejected");
    assert_eq!(body["details"]["order"]["items"][0]["quantity"], 2);
    assert_eq!(app.available(piano).await, 2);
    assert!(app.stock_mismatches().await.is_empty());
}

#[tokio::test]
async fn a_pending_order_holds_its_units_until_it_settles_either_way() {
    let app = spawn_app_settling_after(Duration::from_millis(300)).await;
    // Billing does not answer in time: both orders go pending.
    Mock::given(method("POST"))
        .and(path("/api/v1/billing/account/withdraw"))
        .respond_with(slow(Duration::from_secs(2)))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&app.extra.billing)
        .await;
    let (_, token) = app.user();
    let mug = app.product("Blue mug", 1250, 5).await;
    let lamp = app.product("Lamp", 3000, 5).await;
    let first = json_of(
        app.order(&token, &[(mug, 2)], None).await,
        StatusCode::ACCEPTED,
    )
    .await;
    let second = json_of(
        app.order(&token, &[(lamp, 3)], None).await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(first["data"]["status"], "pending");
    assert_eq!(
        (app.available(mug).await, app.available(lamp).await),
        (3, 2)
    );
    assert!(app.stock_mismatches().await.is_empty());

    // Billing is back: it charges the mug order and refuses the lamp for want of money.
    let lamp_order = second["data"]["id"].as_str().expect("id").to_owned();
    Mock::given(method("POST"))
        .and(path("/api/v1/billing/account/withdraw"))
        .and(wiremock::matchers::body_partial_json(
            json!({ "orderId": lamp_order }),
        ))
        .respond_with(
            wiremock::ResponseTemplate::new(409)
                .set_body_json(json!({ "error": "not enough money", "code": INSUFFICIENT_FUNDS })),
        )
        .with_priority(2)
        .mount(&app.extra.billing)
        .await;
    app.billing_charges().await;
    settled(&app, 2).await;
    let statuses = app.stored().await.0;
    assert_eq!(statuses, ["created", "rejected"]);
    // The created one keeps its units; the rejected one gave them back.
    assert_eq!(
        (app.available(mug).await, app.available(lamp).await),
        (3, 5)
    );
    assert!(app.stock_mismatches().await.is_empty());
}

/// Waits (at most 10 s) until `count` orders have left `pending`.
async fn settled(app: &TestApp, count: usize) {
    for _ in 0..100 {
        let statuses = app.stored().await.0;
        if statuses.iter().filter(|s| *s != "pending").count() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the orders were not settled: {:?}", app.stored().await.0);
}

#[tokio::test]
async fn a_cancelled_order_gives_its_units_back_and_a_second_cancel_does_not() {
    let app = spawn_app().await;
    app.billing_charges().await;
    app.billing_refunded(2500).await;
    let (_, token) = app.user();
    let mug = app.product("Blue mug", 1250, 5).await;
    let body = json_of(
        app.order(&token, &[(mug, 2)], None).await,
        StatusCode::CREATED,
    )
    .await;
    let id = body["data"]["id"].as_str().expect("id");
    assert_eq!(app.available(mug).await, 3);
    let cancels = futures::future::join_all((0..5).map(|_| app.cancel(&token, id, None))).await;
    let ok = cancels
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .count();
    assert_eq!(ok, 1, "one cancel wins");
    assert_eq!(app.available(mug).await, 5, "given back once");
    assert!(app.stock_mismatches().await.is_empty());
}

#[tokio::test]
async fn a_repeat_with_the_same_key_reserves_nothing_again() {
    let app = spawn_app().await;
    app.billing_charges().await;
    let (_, token) = app.user();
    let mug = app.product("Blue mug", 1250, 5).await;
    let lines = [(mug, 2)];
    let answers =
        futures::future::join_all((0..8).map(|_| app.order(&token, &lines, Some("k")))).await;
    let mut ids = std::collections::HashSet::new();
    for answer in answers {
        // A repeat that arrives while the first is paying sees the order pending (202).
        let status = answer.status();
        assert!(
            status == StatusCode::CREATED || status == StatusCode::ACCEPTED,
            "{status}"
        );
        let body: Value = answer.json().await.expect("json");
        ids.insert(body["data"]["id"].as_str().expect("id").to_owned());
    }
    assert_eq!(ids.len(), 1, "every answer names the one order");
    assert_eq!(app.stored().await.0.len(), 1);
    assert_eq!(app.available(mug).await, 3);
    assert!(app.stock_mismatches().await.is_empty());
}

#[tokio::test]
async fn two_hundred_buyers_racing_for_fifty_units_get_exactly_fifty() {
    let app = spawn_app().await;
    app.billing_charges().await;
    let mug = app.product("Last mugs", 100, 50).await;
    let buyers: Vec<String> = (0..200).map(|_| app.user().1).collect();
    let lines = [(mug, 1)];
    let answers =
        futures::future::join_all(buyers.iter().map(|token| app.order(token, &lines, None))).await;
    let mut statuses: HashMap<StatusCode, usize> = HashMap::new();
    for answer in answers {
        let status = answer.status();
        let body: Value = answer.json().await.expect("json");
        if status == StatusCode::CONFLICT {
            assert_eq!(body["code"], OUT_OF_STOCK);
            assert_eq!(body["details"][mug.to_string()], 0);
        }
        *statuses.entry(status).or_default() += 1;
    }
    // Sold: paid (201), or pending when billing's answer came after the request's deadline
    // (202: the unit is reserved and the settler pays it later). On a loaded machine a few
    // of 200 simultaneous calls to the stand-in billing can be that slow.
    let sold = statuses.get(&StatusCode::CREATED).copied().unwrap_or(0)
        + statuses.get(&StatusCode::ACCEPTED).copied().unwrap_or(0);
    assert_eq!(sold, 50, "{statuses:?}");
    assert_eq!(
        statuses.get(&StatusCode::CONFLICT),
        Some(&150),
        "{statuses:?}"
    );
    assert_eq!(app.available(mug).await, 0);
    assert!(app.stock_mismatches().await.is_empty());
}

#[tokio::test]
async fn mixed_baskets_racing_never_sell_more_than_there_is() {
    let app = spawn_app().await;
    app.billing_charges().await;
    let products = [
        app.product("A", 100, 40).await,
        app.product("B", 100, 25).await,
        app.product("C", 100, 60).await,
    ];
    let stock = [40, 25, 60];
    // 150 buyers, each 1 to 3 units of one to three products, in varying orders.
    let baskets: Vec<Vec<(Uuid, i64)>> = (0..150usize)
        .map(|n| {
            let mut lines = vec![(products[n % 3], (n % 3 + 1) as i64)];
            if n % 2 == 0 {
                lines.push((products[(n + 1) % 3], ((n / 2) % 3 + 1) as i64));
            }
            if n % 5 == 0 {
                lines.push((products[(n + 2) % 3], 1));
            }
            lines
        })
        .collect();
    let buyers: Vec<String> = (0..150).map(|_| app.user().1).collect();
    let answers = futures::future::join_all(
        buyers
            .iter()
            .zip(&baskets)
            .map(|(token, lines)| app.order(token, lines, None)),
    )
    .await;
    let mut sold = [0i64; 3];
    for (answer, lines) in answers.into_iter().zip(&baskets) {
        match answer.status() {
            // Created, or pending (202: billing answered after the order's deadline, which a
            // busy machine can make happen in this burst): either way its units are taken.
            StatusCode::CREATED | StatusCode::ACCEPTED => {
                for (product, quantity) in lines {
                    let i = products.iter().position(|p| p == product).expect("known");
                    sold[i] += quantity;
                }
            }
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}"),
        }
    }
    for i in 0..3 {
        assert!(sold[i] <= stock[i], "{sold:?} of {stock:?}");
        assert_eq!(app.available(products[i]).await, stock[i] - sold[i]);
    }
    assert!(sold.iter().sum::<i64>() > 0);
    assert!(app.stock_mismatches().await.is_empty());
}

#[tokio::test]
async fn a_price_change_applies_to_later_orders_only() {
    let app = spawn_app().await;
    app.billing_charges().await;
    let (_, token) = app.user();
    let mug = app.product("Blue mug", 1250, 100).await;
    let before = json_of(
        app.order(&token, &[(mug, 2)], None).await,
        StatusCode::CREATED,
    )
    .await;
    app.patch_product(mug, json!({ "price": 1400, "title": "Blue mug, glazed" }))
        .await;
    let after = json_of(
        app.order(&token, &[(mug, 1)], None).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(after["data"]["price"], 1400);
    assert_eq!(after["data"]["title"], "Blue mug, glazed");
    let id = before["data"]["id"].as_str().expect("id");
    let again = json_of(
        app.http
            .get(app.url(&format!("/{id}")))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["data"]["price"], 2500);
    assert_eq!(again["data"]["items"][0]["unitPrice"], 1250);
    assert_eq!(again["data"]["items"][0]["title"], "Blue mug");
}

#[tokio::test]
async fn a_repeat_of_a_placed_order_replays_it_even_once_its_product_ran_out_or_went_off_sale() {
    let app = spawn_app().await;
    app.billing_charges().await;
    let (_, token) = app.user();
    let (_, other) = app.user();
    let mug = app.product("Blue mug", 1250, 2).await;
    let first = json_of(
        app.order(&token, &[(mug, 2)], Some("k1")).await,
        StatusCode::CREATED,
    )
    .await;
    // Sold out: the repeat is still the order placed, not out_of_stock.
    let repeat = app.order(&token, &[(mug, 2)], Some("k1")).await;
    assert_eq!(repeat.headers()["idempotent-replayed"], "true");
    assert_eq!(json_of(repeat, StatusCode::CREATED).await, first);
    // Someone else with the same key is someone else's order: out of stock.
    assert_error(
        app.order(&other, &[(mug, 2)], Some("k1")).await,
        StatusCode::CONFLICT,
        OUT_OF_STOCK,
    )
    .await;
    // Off sale, then repeated: still the order placed.
    app.patch_product(mug, json!({ "active": false })).await;
    let repeat = json_of(
        app.order(&token, &[(mug, 2)], Some("k1")).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(repeat, first);
    assert_eq!(app.stored().await.0.len(), 1);
    assert!(app.stock_mismatches().await.is_empty());
}

/// Orders placed, repeated with their key, and cancelled at once over the same few products
/// (each lock taken in one order: products, then orders): nobody waits on anybody in a cycle,
/// so no request fails with a deadlock, and the units add up.
#[tokio::test]
async fn placing_repeating_and_cancelling_at_once_never_deadlocks() {
    let app = spawn_app().await;
    app.billing_charges().await;
    app.billing_refunded(0).await;
    let products = [
        app.product("A", 100, 1_000).await,
        app.product("B", 100, 1_000).await,
        app.product("C", 100, 1_000).await,
    ];
    let buyers: Vec<String> = (0..30).map(|_| app.user().1).collect();
    let runs = buyers.iter().enumerate().map(|(n, token)| {
        let app = &app;
        let lines = vec![(products[n % 3], 1), (products[(n + 1) % 3], 2)];
        async move {
            let key = format!("k{n}");
            let placed = app.order(token, &lines, Some(&key)).await;
            assert_eq!(placed.status(), StatusCode::CREATED);
            let body: Value = placed.json().await.expect("json");
            let id = body["data"]["id"].as_str().expect("id").to_owned();
            let (cancel, repeat) = tokio::join!(
                app.cancel(token, &id, None),
                app.order(token, &lines, Some(&key))
            );
            assert!(cancel.status().is_success(), "cancel: {}", cancel.status());
            assert!(repeat.status().is_success(), "repeat: {}", repeat.status());
        }
    });
    futures::future::join_all(runs).await;
    for product in products {
        assert_eq!(app.available(product).await, 1_000);
    }
    assert!(app.stock_mismatches().await.is_empty());
}

/// An order decided on units that another transaction takes before it writes (a second
/// replica's sale, here stood in for by the test's own transaction, which holds the product's
/// row while the order is on its way): the stock's CHECK refuses the order's statement, the
/// service decides it again with the product locked, and answers with what is left.
#[tokio::test]
async fn an_order_decided_on_units_taken_meanwhile_is_decided_again_and_refused() {
    let app = spawn_app().await;
    app.billing_charges().await;
    let (_, token) = app.user();
    let mug = app.product("Blue mug", 1250, 5).await;
    let mut rival = app.db.begin().await.expect("begin");
    sqlx::query("SELECT id FROM products WHERE id = $1 FOR NO KEY UPDATE")
        .bind(mug)
        .execute(&mut *rival)
        .await
        .expect("lock");
    let lines = [(mug, 4)];
    let order = app.order(&token, &lines, None);
    let rival_sells = async {
        // The order has read 5 units left and waits on the row by now.
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Units leaving for good (as sold elsewhere, and not counted as held here): the stock
        // invariant still adds up.
        sqlx::query(
            "UPDATE products SET available = available - 3, stocked = stocked - 3 WHERE id = $1",
        )
        .bind(mug)
        .execute(&mut *rival)
        .await
        .expect("take 3");
        rival.commit().await.expect("commit");
    };
    let (answer, ()) = tokio::join!(order, rival_sells);
    let body = assert_error(answer, StatusCode::CONFLICT, OUT_OF_STOCK).await;
    assert_eq!(body["details"][mug.to_string()], 2);
    assert_eq!(app.available(mug).await, 2);
    assert_eq!(app.stored().await, (vec![], 0));
    assert!(app.stock_mismatches().await.is_empty());
}
