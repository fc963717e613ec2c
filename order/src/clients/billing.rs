//! The typed client for billing's internal withdraw and refund endpoints.

use common::http::RequestId;
use common::internal_client::InternalClient;
use common::money::Amount;
use reqwest::StatusCode;
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

#[derive(Clone)]
pub struct BillingClient {
    client: InternalClient,
}

impl BillingClient {
    pub fn new(client: InternalClient) -> Self {
        Self { client }
    }

    /// Charges the order (idempotent per order id). An `Err` means the outcome is unknown:
    /// billing was unreachable, timed out, or answered something unexpected; a [`Refused`]
    /// error is billing's definite refusal (a wrong service credential, an order id already
    /// charged with another amount), which only an operator can mend.
    pub async fn withdraw(
        &self,
        user_id: Uuid,
        order_id: Uuid,
        amount: Amount,
        request_id: &RequestId,
    ) -> anyhow::Result<Payment> {
        let body = json!({ "userId": user_id, "orderId": order_id, "amount": amount });
        let response = self
            .client
            .post("/api/v1/billing/account/withdraw", &body, request_id)
            .await?;
        let status = response.status();
        if status == StatusCode::OK {
            return Ok(Payment::Charged);
        }
        let body: Value = response.json().await.unwrap_or_default();
        if status == StatusCode::CONFLICT && body["code"] == "insufficient_funds" {
            return Ok(Payment::InsufficientFunds);
        }
        if status == StatusCode::CONFLICT && body["code"] == "order_voided" {
            return Ok(Payment::Voided);
        }
        if status.is_client_error() {
            return Err(Refused { status, body }.into());
        }
        anyhow::bail!("billing answered {status}: {body}")
    }

    /// Gives back what a cancelled order was charged (idempotent per order id; an order never
    /// charged is voided so that a charge still in flight cannot land). Returns the minor units
    /// given back. An `Err` means the outcome is unknown, or a [`Refused`] as for withdraw.
    pub async fn refund(
        &self,
        user_id: Uuid,
        order_id: Uuid,
        request_id: &RequestId,
    ) -> anyhow::Result<i64> {
        let body = json!({ "userId": user_id, "orderId": order_id });
        let response = self
            .client
            .post("/api/v1/billing/account/refund", &body, request_id)
            .await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        if status == StatusCode::OK {
            return body["data"]["refunded"]
                .as_i64()
                .ok_or_else(|| anyhow::anyhow!("billing's refund answer names no amount: {body}"));
        }
        if status.is_client_error() {
            return Err(Refused { status, body }.into());
        }
        anyhow::bail!("billing answered {status}: {body}")
    }
}

/// Billing refused the charge with a 4xx other than insufficient funds.
#[derive(Debug, thiserror::Error)]
#[error("billing refused the charge with {status}: {body}")]
pub struct Refused {
    pub status: StatusCode,
    pub body: Value,
}
