//! HTTP calls to another service's internal endpoints: base URL, timeout, service credential,
//! the current request id and trace context, set in one place. Each service wraps it in a typed client.

use std::time::Duration;

use serde::Serialize;

use crate::auth::{ServiceToken, SERVICE_TOKEN_HEADER};
use crate::http::{RequestId, REQUEST_ID_HEADER};
use crate::telemetry::{self, TRACEPARENT};

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
        let mut request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header(SERVICE_TOKEN_HEADER, self.token.as_str())
            .header(REQUEST_ID_HEADER, &request_id.0);
        // The callee's request span becomes a child of the caller's current span.
        if let Some(traceparent) = telemetry::current_traceparent() {
            request = request.header(TRACEPARENT, traceparent);
        }
        request.json(body).send().await
    }
}
