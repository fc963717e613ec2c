//! The catalogue: public reads, admin writes, restocks with Idempotency-Key, and bad input.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{assert_error, json_of, spawn_app, OrderApi, TestApp};

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app.http.get(app.products_url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut request = app.http.request(method, app.products_url(path)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn anyone_lists_the_active_products_newest_first_in_pages() {
    let app = spawn_app().await;
    for n in 0..5 {
        app.product(&format!("Product {n}"), 100 + n, 10).await;
    }
    let retired = app.product("Retired", 100, 10).await;
    app.patch_product(retired, json!({ "active": false })).await;
    let mut titles = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".to_owned(),
        };
        let page = json_of(get(&app, &query, None).await, StatusCode::OK).await;
        for product in page["data"].as_array().expect("list") {
            assert_eq!(product["active"], true);
            assert_eq!(product["available"], 10);
            assert!(product["description"].is_string());
            titles.push(product["title"].as_str().expect("title").to_owned());
        }
        match page.get("nextCursor").and_then(Value::as_str) {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        titles,
        [
            "Product 4",
            "Product 3",
            "Product 2",
            "Product 1",
            "Product 0"
        ]
    );

    // An admin may ask for the inactive ones too; nobody else may.
    let all = json_of(
        get(&app, "?includeInactive=true", Some(&app.extra.admin)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(all["data"].as_array().expect("list").len(), 6);
    assert_eq!(all["data"][0]["title"], "Retired");
    assert_error(
        get(&app, "?includeInactive=true", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let (_, shopper) = app.user();
    assert_error(
        get(&app, "?includeInactive=true", Some(&shopper)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    for query in [
        "?limit=0",
        "?limit=201",
        "?cursor=garbage",
        "?includeInactive=maybe",
    ] {
        assert_error(
            get(&app, query, None).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
    }
}

#[tokio::test]
async fn an_inactive_product_is_read_by_admins_only_and_cannot_be_ordered() {
    let app = spawn_app().await;
    app.billing_charges().await;
    let lamp = app.product("Lamp", 3000, 4).await;
    let (_, shopper) = app.user();
    let shown = json_of(get(&app, &format!("/{lamp}"), None).await, StatusCode::OK).await;
    assert_eq!(
        shown["data"],
        json!({ "id": lamp, "title": "Lamp", "description": "", "price": 3000, "available": 4, "active": true })
    );
    app.patch_product(lamp, json!({ "active": false })).await;
    assert_error(
        get(&app, &format!("/{lamp}"), None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        get(&app, &format!("/{lamp}"), Some(&shopper)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(app.read_product(lamp).await["active"], false);
    assert_error(
        app.order(&shopper, &[(lamp, 1)], None).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    // Back on sale.
    app.patch_product(lamp, json!({ "active": true })).await;
    json_of(
        app.order(&shopper, &[(lamp, 1)], None).await,
        StatusCode::CREATED,
    )
    .await;
    assert_error(
        get(&app, &format!("/{}", Uuid::new_v4()), None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        get(&app, "/not-a-uuid", None).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn an_admin_adds_changes_and_restocks_a_product() {
    let app = spawn_app().await;
    let created = json_of(
        send(&app, reqwest::Method::POST, "", Some(&app.extra.admin),
             json!({ "title": " Blue mug ", "description": "Stoneware.", "price": 1250, "stock": 40 })).await,
        StatusCode::CREATED,
    )
    .await;
    let id: Uuid = created["data"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    assert_eq!(created["data"]["title"], "Blue mug");
    assert_eq!(created["data"]["available"], 40);
    let changed = app
        .patch_product(id, json!({ "price": 1400, "description": "" }))
        .await;
    assert_eq!(
        (
            &changed["price"],
            &changed["description"],
            &changed["title"]
        ),
        (&json!(1400), &json!(""), &json!("Blue mug"))
    );
    let restocked = json_of(
        send(
            &app,
            reqwest::Method::POST,
            &format!("/{id}/restock"),
            Some(&app.extra.admin),
            json!({ "quantity": 10 }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(restocked["data"]["available"], 50);
    assert!(app.stock_mismatches().await.is_empty());
}

#[tokio::test]
async fn a_restock_with_an_idempotency_key_adds_its_units_once() {
    let app = spawn_app().await;
    let mug = app.product("Blue mug", 1250, 5).await;
    let restock = |key: &'static str, quantity: i64| {
        let request = app
            .http
            .post(app.products_url(&format!("/{mug}/restock")))
            .bearer_auth(&app.extra.admin)
            .header("Idempotency-Key", key)
            .json(&json!({ "quantity": quantity }));
        async move { request.send().await.expect("request") }
    };
    let answers = futures::future::join_all((0..6).map(|_| restock("r1", 10))).await;
    let mut replayed = 0;
    for answer in answers {
        replayed += usize::from(answer.headers().contains_key("idempotent-replayed"));
        let body = json_of(answer, StatusCode::OK).await;
        assert_eq!(body["data"]["available"], 15);
    }
    assert_eq!(replayed, 5);
    assert_eq!(app.available(mug).await, 15);
    assert_error(restock("r1", 11).await, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(app.available(mug).await, 15);
    // The same key for another product is another request.
    let tea = app.product("Green tea", 750, 1).await;
    let other = app
        .http
        .post(app.products_url(&format!("/{tea}/restock")))
        .bearer_auth(&app.extra.admin)
        .header("Idempotency-Key", "r1")
        .json(&json!({ "quantity": 10 }))
        .send()
        .await
        .expect("request");
    assert_error(other, StatusCode::CONFLICT, "conflict").await;
    assert!(app.stock_mismatches().await.is_empty());
}

#[tokio::test]
async fn only_an_admin_may_write_the_catalogue() {
    let app = spawn_app().await;
    let mug = app.product("Blue mug", 1250, 5).await;
    let (_, shopper) = app.user();
    let writes = [
        (
            reqwest::Method::POST,
            String::new(),
            json!({ "title": "Mug", "price": 1, "stock": 1 }),
        ),
        (
            reqwest::Method::PATCH,
            format!("/{mug}"),
            json!({ "price": 1 }),
        ),
        (
            reqwest::Method::POST,
            format!("/{mug}/restock"),
            json!({ "quantity": 1 }),
        ),
    ];
    for (method, path, body) in writes {
        let anonymous = send(&app, method.clone(), &path, None, body.clone()).await;
        assert_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let foreign = testkit::TestKeys::new().admin_token(Uuid::new_v4());
        let forged = send(&app, method.clone(), &path, Some(&foreign), body.clone()).await;
        assert_error(forged, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let refused = send(&app, method, &path, Some(&shopper), body).await;
        assert_error(refused, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let product = app.read_product(mug).await;
    assert_eq!(
        (&product["price"], &product["available"]),
        (&json!(1250), &json!(5))
    );
    let listed = json_of(get(&app, "", None).await, StatusCode::OK).await;
    assert_eq!(listed["data"].as_array().expect("list").len(), 1);
}

#[tokio::test]
async fn bad_product_input_is_400_and_changes_nothing() {
    let app = spawn_app().await;
    let mug = app.product("Blue mug", 1250, 5).await;
    let admin = Some(app.extra.admin.as_str());
    let creates = [
        json!({ "title": "Mug", "price": 0, "stock": 1 }),
        json!({ "title": "Mug", "price": -5, "stock": 1 }),
        json!({ "title": "Mug", "price": 1_000_000_001, "stock": 1 }),
        json!({ "title": "Mug", "price": 100, "stock": 0 }),
        json!({ "title": "Mug", "price": 100, "stock": -1 }),
        json!({ "title": "Mug", "price": 100, "stock": 1_000_001 }),
        json!({ "title": "", "price": 100, "stock": 1 }),
        json!({ "title": "t".repeat(201), "price": 100, "stock": 1 }),
        json!({ "title": "Mug", "description": "d".repeat(2001), "price": 100, "stock": 1 }),
        json!({ "title": "Mug", "price": "100", "stock": 1 }),
        json!({ "price": 100, "stock": 1 }),
    ];
    for body in creates {
        let answer = send(&app, reqwest::Method::POST, "", admin, body).await;
        assert_error(answer, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    for body in [
        json!({}),
        json!({ "price": 0 }),
        json!({ "title": " " }),
        json!({ "active": "no" }),
    ] {
        let answer = send(
            &app,
            reqwest::Method::PATCH,
            &format!("/{mug}"),
            admin,
            body,
        )
        .await;
        assert_error(answer, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    for body in [
        json!({ "quantity": 0 }),
        json!({ "quantity": -3 }),
        json!({}),
        json!({ "quantity": 1_000_001 }),
    ] {
        let answer = send(
            &app,
            reqwest::Method::POST,
            &format!("/{mug}/restock"),
            admin,
            body,
        )
        .await;
        assert_error(answer, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let missing = Uuid::new_v4();
    assert_error(
        send(
            &app,
            reqwest::Method::PATCH,
            &format!("/{missing}"),
            admin,
            json!({ "price": 5 }),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        send(
            &app,
            reqwest::Method::POST,
            &format!("/{missing}/restock"),
            admin,
            json!({ "quantity": 5 }),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let product = app.read_product(mug).await;
    assert_eq!(
        (
            &product["title"],
            &product["price"],
            &product["available"],
            &product["active"]
        ),
        (&json!("Blue mug"), &json!(1250), &json!(5), &json!(true))
    );
    let listed = json_of(get(&app, "", None).await, StatusCode::OK).await;
    assert_eq!(listed["data"].as_array().expect("list").len(), 1);
}

/// The listing is kept for a second per replica: an admin's change through it shows at once,
/// units taken by orders within the second, and a single product's read is always current.
#[tokio::test]
async fn the_listing_shows_an_admin_change_at_once_and_units_sold_within_a_second() {
    let app = spawn_app().await;
    app.billing_charges().await;
    let mug = app.product("Blue mug", 1250, 10).await;
    let listed = |body: Value| body["data"][0].clone();
    let first = listed(json_of(get(&app, "", None).await, StatusCode::OK).await);
    assert_eq!(
        (&first["price"], &first["available"]),
        (&json!(1250), &json!(10))
    );

    let (_, token) = app.user();
    json_of(
        app.order(&token, &[(mug, 3)], None).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(app.available(mug).await, 7, "one product's read is current");
    let started = std::time::Instant::now();
    loop {
        let now = listed(json_of(get(&app, "", None).await, StatusCode::OK).await);
        if now["available"] == 7 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_millis(1500),
            "{now}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    app.patch_product(mug, json!({ "price": 1400 })).await;
    let after = listed(json_of(get(&app, "", None).await, StatusCode::OK).await);
    assert_eq!(after["price"], 1400, "the admin's change shows at once");
}
