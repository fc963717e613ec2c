//! The typed client for billing's internal withdraw and refund endpoints.

use common::error::code::{INSUFFICIENT_FUNDS, ORDER_VOIDED};
use common::http::RequestId;
use common::internal_client::InternalClient;
use common::money::Amount;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

/// A definite answer from billing about an order's payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payment {
    Charged,
    InsufficientFunds,
    /// The order was cancelled before it was charged: billing voided it and charged nothing.
    Voided,
}

/// Billing gave no answer that settles the call. The caller leaves the order as it was
/// (pending, or its refund due) in every case, for the settler to ask again: both calls are
/// idempotent per order id, so asking again never applies one twice. The cases differ in what
/// is known, and so in what is logged and counted.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// A 4xx other than the endpoint's definite answers (a wrong service credential, an order
    /// id used with another user or amount): nothing was applied, and asking again cannot help
    /// until an operator mends the cause.
    #[error("billing refused the call with {status}: {body}")]
    Rejected { status: StatusCode, body: Value },
    /// Nothing was applied, and asking again later may succeed: billing answered 503 (down, or
    /// a withdrawal or refund that kept colliding with concurrent changes), or could not be
    /// connected to (the request was never sent).
    #[error("billing unavailable: {0}")]
    Unavailable(String),
    /// Applied or not, no one knows: a timeout or a broken connection after the request was
    /// sent, a 5xx other than 503 (504 `outcome_unknown` among them), or an answer this client
    /// does not understand.
    #[error("billing's answer unknown: {0}")]
    Unknown(String),
}

impl BillingError {
    /// An answer that is none of the endpoint's definite ones.
    fn answered(status: StatusCode, body: Value) -> Self {
        if status == StatusCode::SERVICE_UNAVAILABLE {
            Self::Unavailable(format!("billing answered {status}: {body}"))
        } else if status.is_client_error() {
            Self::Rejected { status, body }
        } else {
            Self::Unknown(format!("billing answered {status}: {body}"))
        }
    }
}

impl From<reqwest::Error> for BillingError {
    fn from(error: reqwest::Error) -> Self {
        let connecting = error.is_connect();
        // The error with its causes ("connection refused", "operation timed out").
        let text = format!("{:#}", anyhow::Error::new(error));
        if connecting {
            // No connection, so no request: billing saw nothing.
            Self::Unavailable(text)
        } else {
            Self::Unknown(text)
        }
    }
}

#[derive(Clone)]
pub struct BillingClient {
    client: InternalClient,
}

impl BillingClient {
    pub fn new(client: InternalClient) -> Self {
        Self { client }
    }

    /// Charges the order (idempotent per order id): billing's definite answer, or why there is
    /// none.
    pub async fn withdraw(
        &self,
        user_id: Uuid,
        order_id: Uuid,
        amount: Amount,
        request_id: &RequestId,
    ) -> Result<Payment, BillingError> {
        let body = json!({ "userId": user_id, "orderId": order_id, "amount": amount });
        let response = self
            .client
            .post("/api/v1/billing/account/withdraw", &body, request_id)
            .await?;
        let status = response.status();
        if status == StatusCode::OK {
            return Ok(Payment::Charged);
        }
        let body = body_of(response).await;
        if status == StatusCode::CONFLICT && body["code"] == INSUFFICIENT_FUNDS {
            return Ok(Payment::InsufficientFunds);
        }
        if status == StatusCode::CONFLICT && body["code"] == ORDER_VOIDED {
            return Ok(Payment::Voided);
        }
        Err(BillingError::answered(status, body))
    }

    /// Gives back what a cancelled order was charged (idempotent per order id; an order never
    /// charged is voided so that a charge still in flight cannot land). Returns the minor units
    /// given back, or why billing's answer does not say.
    pub async fn refund(
        &self,
        user_id: Uuid,
        order_id: Uuid,
        request_id: &RequestId,
    ) -> Result<i64, BillingError> {
        let body = json!({ "userId": user_id, "orderId": order_id });
        let response = self
            .client
            .post("/api/v1/billing/account/refund", &body, request_id)
            .await?;
        let status = response.status();
        let body = body_of(response).await;
        if status == StatusCode::OK {
            return body["data"]["refunded"].as_i64().ok_or_else(|| {
                BillingError::Unknown(format!("billing's refund answer names no amount: {body}"))
            });
        }
        Err(BillingError::answered(status, body))
    }
}

/// The answer's JSON body; `null` when it has none that can be read.
async fn body_of(response: Response) -> Value {
    response.json().await.unwrap_or_default()
}
