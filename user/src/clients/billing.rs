//! The typed client for billing's internal account endpoint.

use std::time::Duration;

use common::backoff::Backoff;
use common::http::RequestId;
use common::internal_client::InternalClient;
use serde_json::json;
use uuid::Uuid;

/// Creates billing accounts, with a per-attempt timeout and a few retries.
#[derive(Clone)]
pub struct BillingClient {
    client: InternalClient,
    attempts: u32,
}

impl BillingClient {
    pub fn new(client: InternalClient) -> Self {
        Self {
            client,
            attempts: 3,
        }
    }

    /// Makes sure the user has an account (billing answers 201 or 200; both are success).
    pub async fn ensure_account(
        &self,
        user_id: Uuid,
        request_id: &RequestId,
    ) -> anyhow::Result<()> {
        let body = json!({ "userId": user_id });
        let mut last_error = anyhow::anyhow!("no attempt made");
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(1));
        for attempt in 1..=self.attempts {
            match self
                .client
                .post("/api/v1/billing/account", &body, request_id)
                .await
            {
                Ok(response) if response.status().is_success() => return Ok(()),
                // A 4xx will not change on retry (for example a wrong service credential).
                Ok(response) if response.status().is_client_error() => {
                    anyhow::bail!("billing refused account creation: {}", response.status())
                }
                Ok(response) => {
                    last_error = anyhow::anyhow!("billing answered {}", response.status())
                }
                Err(e) => last_error = anyhow::Error::new(e).context("calling billing"),
            }
            if attempt < self.attempts {
                backoff.wait().await;
            }
        }
        Err(last_error)
    }
}
