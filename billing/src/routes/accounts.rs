use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::auth::{AuthUser, InternalCaller, OrderService, UserService};
use common::error::{code, ErrorBody};
use common::http::{data, Data, Json};
use common::idempotency::{self, fingerprint, MaybeIdempotencyKey};
use common::limits::LimitedUser;
use common::money::Amount;
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ledger::{self, Account, LedgerError, Refund, StoredResponse, Withdrawal};
use crate::AppState;

/// The caller's account (created with balance 0 on first use).
#[utoipa::path(get, path = "/api/v1/billing/account/my", tag = "billing",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's account", body = Data<Account>),
    ))]
pub async fn my_account(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<Data<Account>>> {
    let _timer = state.metrics.db_query.start("my_account");
    Ok(data(ledger::account(&state.db, user.user_id).await?))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"amount": 5000}))]
pub struct DepositRequest {
    /// Minor units (cents) to add.
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    amount: i64,
}

/// Adds money to the caller's account. With an `Idempotency-Key`, a repeat with the same body
/// returns the first answer (header `Idempotent-Replayed: true`) and adds nothing.
#[utoipa::path(post, path = "/api/v1/billing/account/deposit", tag = "billing",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters; makes retries safe")),
    request_body = DepositRequest,
    responses(
        (status = 200, description = "The account after the deposit", body = Data<Account>),
        (status = 400, description = "Malformed body or amount out of range", body = ErrorBody),
        (status = 409, description = "The Idempotency-Key was used with a different body", body = ErrorBody),
        (status = 429, description = "Too many commands from this user: retry after `Retry-After` seconds", body = ErrorBody),
    ))]
pub async fn deposit(
    State(state): State<AppState>,
    LimitedUser(user): LimitedUser,
    MaybeIdempotencyKey(key): MaybeIdempotencyKey,
    Json(request): Json<DepositRequest>,
) -> ApiResult<Response> {
    let amount = Amount::parse("amount", request.amount)?;
    let request_fingerprint = fingerprint(&request)?;
    let _timer = state.metrics.db_query.start("deposit");
    let mut tx = state.db.begin().await?;
    if let Some(key) = &key {
        if let Some(earlier) = ledger::stored_response(&mut tx, user.user_id, key.as_str()).await? {
            return replay(earlier, &request_fingerprint);
        }
    }
    let account = ledger::deposit(&mut tx, user.user_id, amount).await?;
    let body = serde_json::to_value(Data { data: &account }).map_err(anyhow::Error::from)?;
    if let Some(key) = &key {
        let response = StoredResponse {
            fingerprint: request_fingerprint.clone(),
            status: 200,
            body: body.clone(),
        };
        if !ledger::store_response(&mut tx, user.user_id, key.as_str(), &response).await? {
            // The same key won a race with us: undo this deposit and answer as the first one did.
            tx.rollback().await?;
            let mut conn = state.db.acquire().await?;
            let earlier = ledger::stored_response(&mut conn, user.user_id, key.as_str())
                .await?
                .ok_or_else(|| anyhow::anyhow!("idempotency key vanished after a conflict"))?;
            return replay(earlier, &request_fingerprint);
        }
    }
    tx.commit().await?;
    state.metrics.deposits.inc();
    state
        .metrics
        .deposited_amount
        .inc_by(amount.minor_units() as u64);
    tracing::info!(account_id = %account.id, amount = amount.minor_units(), "deposit applied");
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

fn replay(earlier: StoredResponse, request_fingerprint: &[u8]) -> ApiResult<Response> {
    if earlier.fingerprint != request_fingerprint {
        return Err(idempotency::reused_key());
    }
    let status = StatusCode::from_u16(earlier.status as u16).map_err(anyhow::Error::from)?;
    Ok(idempotency::replayed(
        (status, axum::Json(earlier.body)).into_response(),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateAccountRequest {
    user_id: Uuid,
}

/// Creates a user's account (internal: the user service calls it at registration).
#[utoipa::path(post, path = "/api/v1/billing/account", tag = "internal",
    security(("service" = [])),
    request_body = CreateAccountRequest,
    responses(
        (status = 201, description = "Created", body = Data<Account>),
        (status = 200, description = "The user already had an account", body = Data<Account>),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No or an unknown service credential", body = ErrorBody),
        (status = 403, description = "Another service's credential", body = ErrorBody),
    ))]
pub async fn create_account(
    State(state): State<AppState>,
    _caller: InternalCaller<UserService>,
    Json(request): Json<CreateAccountRequest>,
) -> ApiResult<Response> {
    let mut conn = state.db.acquire().await?;
    let (account, created) = ledger::ensure_account(&mut conn, request.user_id).await?;
    let status = if created {
        tracing::info!(account_id = %account.id, user_id = %account.user_id, "account created");
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, data(account)).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WithdrawRequest {
    user_id: Uuid,
    /// Withdrawals are idempotent per order id.
    order_id: Uuid,
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    amount: i64,
}

/// Charges an order (internal: the order service calls it). A repeat for the same order returns
/// the first outcome and never charges twice.
#[utoipa::path(post, path = "/api/v1/billing/account/withdraw", tag = "internal",
    security(("service" = [])),
    request_body = WithdrawRequest,
    responses(
        (status = 200, description = "Charged (now or earlier)", body = Data<Account>),
        (status = 400, description = "Malformed body or amount out of range", body = ErrorBody),
        (status = 401, description = "No or an unknown service credential", body = ErrorBody),
        (status = 403, description = "Another service's credential", body = ErrorBody),
        (status = 409, description = "Not enough money (code insufficient_funds), the order was voided by a refund before it was charged (code order_voided), or the order id was used with another user or amount (code conflict)", body = ErrorBody),
        (status = 503, description = "Nothing was charged (the database is unavailable, or the request kept colliding with concurrent changes): retry after `Retry-After` seconds when given", body = ErrorBody),
    ))]
pub async fn withdraw(
    State(state): State<AppState>,
    _caller: InternalCaller<OrderService>,
    Json(request): Json<WithdrawRequest>,
) -> ApiResult<Json<Data<Account>>> {
    let amount = Amount::parse("amount", request.amount)?;
    let outcome = {
        let _timer = state.metrics.db_query.start("withdraw");
        ledger::withdraw(&state.db, request.user_id, request.order_id, amount).await?
    };
    let label = match &outcome {
        Withdrawal::Charged { first: true, .. } => "charged",
        Withdrawal::Charged { first: false, .. } => "replayed",
        Withdrawal::InsufficientFunds => code::INSUFFICIENT_FUNDS,
        Withdrawal::Voided => "voided",
        Withdrawal::Mismatch => "mismatch",
    };
    state.metrics.withdrawals.with_label_values(&[label]).inc();
    if matches!(outcome, Withdrawal::Charged { first: true, .. }) {
        state
            .metrics
            .withdrawn_amount
            .inc_by(amount.minor_units() as u64);
    }
    tracing::info!(order_id = %request.order_id, outcome = label, "withdrawal");
    match outcome {
        Withdrawal::Charged { account, .. } => Ok(data(account)),
        Withdrawal::InsufficientFunds => Err(ApiError::Domain {
            status: StatusCode::CONFLICT,
            code: code::INSUFFICIENT_FUNDS,
            message: "not enough money".to_owned(),
            details: None,
        }),
        Withdrawal::Voided => Err(ApiError::Domain {
            status: StatusCode::CONFLICT,
            code: code::ORDER_VOIDED,
            message: "the order was cancelled before it was charged; nothing was charged"
                .to_owned(),
            details: None,
        }),
        Withdrawal::Mismatch => Err(ApiError::Conflict(
            "orderId was already used for a different withdrawal".to_owned(),
        )),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundRequest {
    user_id: Uuid,
    /// Refunds are idempotent per order id.
    order_id: Uuid,
}

/// The account after a refund, and what the refund gave back.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "5b1c2a9e-7f7d-4c54-9d59-6c3c1f0b2a11", "userId": "0f8e1f7c-3a3e-4a8b-9a57-2b8f4f0e9c01", "balance": 5000, "refunded": 1250}))]
pub struct Refunded {
    pub id: Uuid,
    pub user_id: Uuid,
    pub balance: i64,
    /// Minor units given back: what the order's withdrawal charged, or 0 when it was never
    /// charged (then the order is voided and never will be).
    pub refunded: i64,
}

/// Gives back what an order was charged (internal: the order service calls it when an order is
/// cancelled). At most once per order: a repeat returns the first outcome. An order that was
/// never charged is voided, so a withdrawal arriving later charges nothing.
#[utoipa::path(post, path = "/api/v1/billing/account/refund", tag = "internal",
    security(("service" = [])),
    request_body = RefundRequest,
    responses(
        (status = 200, description = "Refunded (now or earlier), or voided with refunded 0", body = Data<Refunded>),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No or an unknown service credential", body = ErrorBody),
        (status = 403, description = "Another service's credential", body = ErrorBody),
        (status = 409, description = "The order id belongs to another user (code conflict)", body = ErrorBody),
        (status = 503, description = "Nothing was refunded (the database is unavailable, or the request kept colliding with concurrent changes): retry after `Retry-After` seconds when given", body = ErrorBody),
    ))]
pub async fn refund(
    State(state): State<AppState>,
    _caller: InternalCaller<OrderService>,
    Json(request): Json<RefundRequest>,
) -> ApiResult<Json<Data<Refunded>>> {
    let outcome = {
        let _timer = state.metrics.db_query.start("refund");
        ledger::refund(&state.db, request.user_id, request.order_id).await?
    };
    let label = match &outcome {
        Refund::Done { first: false, .. } => "replayed",
        Refund::Done { refunded: 0, .. } => "voided",
        Refund::Done { .. } => "refunded",
        Refund::Mismatch => "mismatch",
    };
    state.metrics.refunds.with_label_values(&[label]).inc();
    tracing::info!(order_id = %request.order_id, outcome = label, "refund");
    match outcome {
        Refund::Done {
            account,
            refunded,
            first,
        } => {
            if first {
                state.metrics.refunded_amount.inc_by(refunded as u64);
            }
            Ok(data(Refunded {
                id: account.id,
                user_id: account.user_id,
                balance: account.balance,
                refunded,
            }))
        }
        Refund::Mismatch => Err(ApiError::Conflict(
            "orderId belongs to another user's withdrawal or refund".to_owned(),
        )),
    }
}

/// A withdrawal or refund that gave up applied nothing, so the caller may retry: 503 with
/// `Retry-After`, never the 504 of an unknown outcome.
impl From<LedgerError> for ApiError {
    fn from(err: LedgerError) -> Self {
        match err {
            LedgerError::Contended(reason) => {
                tracing::warn!(reason, "gave up on concurrent changes, nothing applied");
                Self::Busy {
                    message: format!("{reason}; nothing was applied, try again shortly"),
                    retry_after: 1,
                }
            }
            LedgerError::Database(err) => err.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::header::RETRY_AFTER;

    use super::*;

    #[tokio::test]
    async fn a_ledger_that_gave_up_is_503_unavailable_with_retry_after_not_504() {
        let response = ApiError::from(LedgerError::Contended("kept colliding")).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "1");
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(body["code"], code::UNAVAILABLE);
    }
}
