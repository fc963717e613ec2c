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
                // A redirect would carry the service credential to wherever it points.
                .redirect(reqwest::redirect::Policy::none())
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wiremock::matchers::any;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::InternalClient;
    use crate::auth::ServiceToken;
    use crate::http::RequestId;

    #[tokio::test]
    async fn a_redirect_is_not_followed_so_the_credential_stays_with_the_callee() {
        let elsewhere = MockServer::start().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(200))
            .mount(&elsewhere)
            .await;
        let callee = MockServer::start().await;
        Mock::given(any())
            .respond_with(
                ResponseTemplate::new(307)
                    .insert_header("location", format!("{}/collect", elsewhere.uri())),
            )
            .mount(&callee)
            .await;
        let client = InternalClient::new(
            &callee.uri(),
            ServiceToken::new("a-service-credential-0123".to_owned()),
            Duration::from_secs(2),
        )
        .expect("client");
        let answer = client
            .post(
                "/account",
                &serde_json::json!({}),
                &RequestId("test".to_owned()),
            )
            .await
            .expect("an answer");
        assert_eq!(answer.status(), 307, "the redirect is the answer");
        let leaked = elsewhere.received_requests().await.expect("recorded");
        assert!(
            leaked.is_empty(),
            "nothing was sent where the redirect pointed"
        );
    }
}
