//! The typed client for billing's internal account endpoint.

use std::time::Duration;

use common::auth::{ServiceToken, SERVICE_TOKEN_HEADER};
use common::http::{RequestId, REQUEST_ID_HEADER};
use serde_json::json;
use uuid::Uuid;

/// Calls billing with a per-attempt timeout and a few retries.
#[derive(Clone)]
pub struct BillingClient {
    http: reqwest::Client,
    base_url: String,
    token: ServiceToken,
    attempts: u32,
}

impl BillingClient {
    pub fn new(base_url: &str, token: ServiceToken, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .build()?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token,
            attempts: 3,
        })
    }

    /// Makes sure the user has an account (billing answers 201 or 200; both are success).
    pub async fn ensure_account(
        &self,
        user_id: Uuid,
        request_id: &RequestId,
    ) -> anyhow::Result<()> {
        let url = format!("{}/api/v1/billing/account", self.base_url);
        let mut last_error = anyhow::anyhow!("no attempt made");
        for attempt in 1..=self.attempts {
            let sent = self
                .http
                .post(&url)
                .header(SERVICE_TOKEN_HEADER, self.token.as_str())
                .header(REQUEST_ID_HEADER, &request_id.0)
                .json(&json!({ "userId": user_id }))
                .send()
                .await;
            match sent {
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
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
        }
        Err(last_error)
    }
}
