//! HTTP calls to another service's internal endpoints: base URL, timeout, service credential
//! and the current request id, set in one place. Each service wraps it in a typed client.

use std::time::Duration;

use serde::Serialize;

use crate::auth::{ServiceToken, SERVICE_TOKEN_HEADER};
use crate::http::{RequestId, REQUEST_ID_HEADER};

#[derive(Clone)]
pub struct InternalClient {
    http: reqwest::Client,
    base_url: String,
    token: ServiceToken,
}

impl InternalClient {
    /// `timeout` bounds each whole call, connection included.
    pub fn new(base_url: &str, token: ServiceToken, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .build()?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// POSTs `body` as JSON to `path` (which starts with `/`).
    pub async fn post(
        &self,
        path: &str,
        body: &impl Serialize,
        request_id: &RequestId,
    ) -> reqwest::Result<reqwest::Response> {
        self.http
            .post(format!("{}{path}", self.base_url))
            .header(SERVICE_TOKEN_HEADER, self.token.as_str())
            .header(REQUEST_ID_HEADER, &request_id.0)
            .json(body)
            .send()
            .await
    }
}
