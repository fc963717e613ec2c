//! Stock with the real services (order, billing, Postgres, Kafka): buyers racing for the last
//! units never get more than there are, and a price change during a burst never changes an
//! order already placed.

use common::error::code;
use std::collections::{HashMap, HashSet};

use e2e::{assert_stock_adds_up, money_of, Customer, Shop};
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

/// `count` customers with `amount` each, funded 20 at a time.
async fn customers(shop: &Shop, count: usize, amount: i64) -> Vec<Customer> {
    let mut all = Vec::with_capacity(count);
    while all.len() < count {
        let batch = (all.len()..count.min(all.len() + 20)).map(|_| shop.customer_with(amount));
        all.extend(join_all(batch).await);
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_funded_buyers_race_for_fifty_units_and_fifty_get_one() {
    let shop = Shop::start().await;
    let mug = shop.order.product("The last mugs", 1_000, 50).await;
    let buyers = customers(&shop, 200, 5_000).await;
    let one = [(mug, 1)];
    let answers = join_all(
        buyers
            .iter()
            .map(|who| shop.api.order_lines(&shop.order, who, &one)),
    )
    .await;
    let mut by_status: HashMap<StatusCode, usize> = HashMap::new();
    let mut created = Vec::new();
    for (status, body) in &answers {
        *by_status.entry(*status).or_default() += 1;
        match *status {
            // 202: billing answered after the request's deadline (on a loaded machine a few of
            // 200 simultaneous charges can); the unit is reserved and the settler pays it.
            StatusCode::CREATED | StatusCode::ACCEPTED => {
                created.push(body["data"]["id"].as_str().expect("id").to_owned())
            }
            StatusCode::CONFLICT => {
                assert_eq!(body["code"], code::OUT_OF_STOCK, "{body}");
                assert_eq!(body["details"][mug.to_string()], 0, "{body}");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let sold = by_status.get(&StatusCode::CREATED).copied().unwrap_or(0)
        + by_status.get(&StatusCode::ACCEPTED).copied().unwrap_or(0);
    assert_eq!(
        (sold, by_status.get(&StatusCode::CONFLICT)),
        (50, Some(&150)),
        "{by_status:?}"
    );
    assert_eq!(shop.order.available(mug).await, 0);
    e2e::all_settled(&shop.order).await;
    // Exactly the fifty were charged, each its price once; the refused ones nothing.
    for id in &created {
        assert_eq!(money_of(&shop.billing, id).await, (1_000, 0), "order {id}");
    }
    let charged = billing::audit::charged_orders(&shop.billing.db)
        .await
        .expect("ledger")
        .len();
    assert_eq!(charged, 50);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&shop.order.db)
        .await
        .expect("orders");
    assert_eq!(stored, 50, "a refused order is not stored");
    assert_stock_adds_up(&shop.order).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyers_of_one_to_three_units_never_get_more_than_the_stock_round_after_round() {
    let shop = Shop::start().await;
    let buyers = customers(&shop, 60, 1_000_000).await;
    for round in 0..3 {
        let products = [
            shop.order.product(&format!("A{round}"), 100, 30).await,
            shop.order.product(&format!("B{round}"), 250, 17).await,
        ];
        let stock = [30, 17];
        let baskets: Vec<Vec<(Uuid, i64)>> = (0..buyers.len())
            .map(|n| {
                let mut lines = vec![(products[n % 2], (n % 3 + 1) as i64)];
                if n % 3 == 0 {
                    lines.push((products[(n + 1) % 2], ((n + round) % 3 + 1) as i64));
                }
                lines
            })
            .collect();
        let answers = join_all(
            buyers
                .iter()
                .zip(&baskets)
                .map(|(who, lines)| shop.api.order_lines(&shop.order, who, lines)),
        )
        .await;
        let mut sold = [0i64; 2];
        for ((status, body), lines) in answers.iter().zip(&baskets) {
            match *status {
                // 202: paid later by the settler; its units are reserved all the same.
                StatusCode::CREATED | StatusCode::ACCEPTED => {
                    for (product, quantity) in lines {
                        sold[products.iter().position(|p| p == product).expect("known")] +=
                            quantity;
                    }
                }
                StatusCode::CONFLICT => assert_eq!(body["code"], code::OUT_OF_STOCK),
                other => panic!("round {round}: unexpected {other}: {body}"),
            }
        }
        for i in 0..2 {
            assert!(
                sold[i] <= stock[i],
                "round {round}: sold {sold:?} of {stock:?}"
            );
            assert_eq!(shop.order.available(products[i]).await, stock[i] - sold[i]);
        }
        assert_stock_adds_up(&shop.order).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_price_change_during_a_burst_never_changes_an_order_placed() {
    let shop = Shop::start().await;
    let shop = &shop;
    let mug = shop.order.product("Blue mug", 1_000, 10_000).await;
    let tea = shop.order.product("Green tea", 300, 10_000).await;
    let buyers = customers(shop, 20, 1_000_000).await;
    let prices = [1_000, 1_100, 1_250, 990, 1_500];
    let admin = shop.order.admin.clone().expect("admin");
    let burst = join_all(buyers.iter().enumerate().map(|(n, who)| async move {
        let mut placed = Vec::new();
        for i in 0..10 {
            let lines = [(mug, (n + i) as i64 % 3 + 1), (tea, 1)];
            let (status, body) = shop.api.order_lines(&shop.order, who, &lines).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            placed.push((who.token.clone(), body["data"].clone()));
        }
        placed
    }));
    let changes = async {
        for price in &prices[1..] {
            tokio::time::sleep(std::time::Duration::from_millis(40)).await;
            let response = shop
                .api
                .http
                .patch(format!("{}/api/v1/products/{mug}", shop.order.base))
                .bearer_auth(&admin)
                .json(&json!({ "price": price }))
                .send()
                .await
                .expect("patch");
            assert_eq!(response.status(), StatusCode::OK);
        }
    };
    let (placed, ()) = tokio::join!(burst, changes);
    let placed: Vec<(String, Value)> = placed.into_iter().flatten().collect();
    let mut unit_prices = HashSet::new();
    for (token, answered) in &placed {
        let id = answered["id"].as_str().expect("id");
        // As stored now, after every change: the same lines and price as answered.
        let now: Value = shop
            .api
            .http
            .get(format!("{}/api/v1/orders/{id}", shop.order.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("read")
            .json()
            .await
            .expect("json");
        assert_eq!(now["data"]["items"], answered["items"]);
        assert_eq!(now["data"]["price"], answered["price"]);
        let sum: i64 = answered["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|l| l["unitPrice"].as_i64().expect("unit") * l["quantity"].as_i64().expect("q"))
            .sum();
        assert_eq!(
            answered["price"].as_i64(),
            Some(sum),
            "the price is the sum of the lines"
        );
        let mug_price = answered["items"][0]["unitPrice"].as_i64().expect("unit");
        assert!(prices.contains(&mug_price), "{mug_price}");
        unit_prices.insert(mug_price);
        assert_eq!(
            money_of(&shop.billing, id).await,
            (sum, 0),
            "charged its price"
        );
    }
    assert!(
        unit_prices.len() > 1,
        "the burst saw the price change: {unit_prices:?}"
    );
    assert_stock_adds_up(&shop.order).await;
}
