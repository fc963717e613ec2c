use std::ops::Deref;

pub use testkit::{assert_error, json_of};

use events::testing::no_broker;
use events::{Envelope, EventType, OrderEvent};
use notification::{build, notifications, Config};
use reqwest::Response;
use testkit::{TestBase, TestService};
use uuid::Uuid;

/// A notification service on a random port with its own database.
pub type TestApp = testkit::TestApp;

pub async fn spawn_app() -> TestApp {
    let test = TestBase::new("notification").await;
    let config = Config {
        service: test.service(),
        kafka: no_broker(),
        group_id: "notification-api-tests".to_owned(),
    };
    let app = build(config).await.expect("build notification service");
    let service = test.serve(app, "/api/v1/notifications").await;
    TestApp { service, extra: () }
}

/// The notification service's requests, on the service under test.
pub trait NotificationApi: Deref<Target = TestService> {
    /// Stores the notification of an order event for `user`, as the consumer does.
    async fn notify(&self, user: Uuid, event_type: EventType, title: &str) -> Uuid {
        let order_id = Uuid::new_v4();
        let envelope = Envelope::new(
            event_type,
            OrderEvent {
                order_id,
                user_id: user,
                title: title.to_owned(),
                price: 1250,
                items: vec![],
                reason: (event_type == EventType::OrderNotCreated)
                    .then(|| common::error::code::INSUFFICIENT_FUNDS.to_owned()),
                refunded: (event_type == EventType::OrderCancelled).then_some(1250),
            },
        );
        let stored = notifications::store_all(&self.db, &[&envelope])
            .await
            .expect("store");
        assert_eq!(stored, vec![envelope.event_id]);
        order_id
    }

    async fn list(&self, token: Option<&str>, query: &str) -> Response {
        let mut request = self
            .http
            .get(format!("{}/api/v1/notifications{query}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("list")
    }
}

impl<T: Deref<Target = TestService>> NotificationApi for T {}
