//! A service started before its database waits for it instead of exiting, against a real
//! Postgres (`TEST_DATABASE_URL`) that becomes reachable only after the first attempts failed.

use std::time::{Duration, Instant};

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::net::{TcpListener, TcpStream};

/// Forwards every connection made to `listener` to Postgres.
async fn forward_to_postgres(listener: TcpListener, postgres: String) {
    loop {
        let Ok((mut client, _)) = listener.accept().await else {
            return;
        };
        let postgres = postgres.clone();
        tokio::spawn(async move {
            if let Ok(mut server) = TcpStream::connect(&postgres).await {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            }
        });
    }
}

#[tokio::test]
async fn the_pool_waits_for_a_database_that_comes_up_later() {
    let admin = testkit::admin_url();
    let options = PgConnectOptions::from_str(&admin).expect("TEST_DATABASE_URL");
    let postgres = format!("{}:{}", options.get_host(), options.get_port());
    // A port nothing listens on yet: every attempt is refused until the database "comes up".
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = admin.replacen(&postgres, &format!("127.0.0.1:{port}"), 1);
    assert_ne!(
        url, admin,
        "TEST_DATABASE_URL names host:port as {postgres}"
    );

    let started = Instant::now();
    let connecting = tokio::spawn(common::db::connect_with_retry(
        PgPoolOptions::new().max_connections(1),
        url.leak(),
    ));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !connecting.is_finished(),
        "no database yet: still trying, not failed"
    );
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the port");
    tokio::spawn(forward_to_postgres(listener, postgres));

    let pool = tokio::time::timeout(Duration::from_secs(20), connecting)
        .await
        .expect("connected within the backoff")
        .expect("task")
        .expect("pool");
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&pool)
        .await
        .expect("query");
    assert_eq!(one, 1);
    assert!(started.elapsed() >= Duration::from_millis(1500));
}

#[tokio::test]
async fn a_malformed_url_fails_at_once() {
    let result = tokio::time::timeout(
        Duration::from_secs(5),
        common::db::connect_with_retry(
            PgPoolOptions::new(),
            "postgres://shop@127.0.0.1:notaport/x",
        ),
    )
    .await
    .expect("no retrying a URL that can never work");
    assert!(result.is_err());
}

#[test]
fn the_login_cloudnativepg_writes_is_understood() {
    // The `uri` key of the <cluster>-app Secret the Kubernetes deploy reads as DATABASE_URL.
    let options = PgConnectOptions::from_str(
        "postgresql://shop_order:s3cret@order-db-rw.shop:5432/shop_order",
    )
    .expect("a postgresql:// URI");
    assert_eq!(options.get_host(), "order-db-rw.shop");
    assert_eq!(options.get_port(), 5432);
    assert_eq!(options.get_username(), "shop_order");
    assert_eq!(options.get_database(), Some("shop_order"));
}
