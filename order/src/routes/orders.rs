use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use common::auth::AuthUser;
use common::error::ErrorBody;
use common::http::{data, Data, Json, Path, Query, RequestId};
use common::idempotency::{self, fingerprint, MaybeIdempotencyKey};
use common::money::Amount;
use common::pagination::{Page, PageQuery};
use common::telemetry;
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::orders::{self, Cancel, NewOrder, OrderStatus, Placed};
use crate::{payment, AppState};

/// An order as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"id": "c1a5e3d2-9b7f-4a6e-8d2c-5f1b3e7a9c04", "title": "Blue mug", "price": 1250, "status": "created", "createdAt": "2026-11-25T12:00:00Z"}))]
#[serde(rename_all = "camelCase")]
pub struct Order {
    id: Uuid,
    title: String,
    /// Minor units (cents).
    price: i64,
    status: OrderStatus,
    created_at: DateTime<Utc>,
}

impl From<orders::Order> for Order {
    fn from(order: orders::Order) -> Self {
        Self {
            id: order.id,
            title: order.title,
            price: order.price,
            status: order.status,
            created_at: order.created_at,
        }
    }
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"title": "Blue mug", "price": 1250}))]
pub struct CreateOrderRequest {
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    title: String,
    /// Minor units (cents), charged from the caller's account.
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    price: i64,
}

fn parse_title(raw: &str) -> Result<String, ApiError> {
    let title = raw.trim();
    if (1..=200).contains(&title.chars().count()) && !title.chars().any(char::is_control) {
        Ok(title.to_owned())
    } else {
        Err(ApiError::invalid_field(
            "title",
            "must be 1 to 200 characters",
        ))
    }
}

/// Places an order and pays it from the caller's account: 201 created; 400 insufficient_funds
/// (the order is kept as rejected); or 202 pending when billing's answer is unknown, in which
/// case the service settles it later. With an `Idempotency-Key`, a repeat with the same body
/// returns the same order in its current state and charges nothing again.
#[utoipa::path(post, path = "/api/v1/orders", tag = "orders",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters; makes retries safe")),
    request_body = CreateOrderRequest,
    responses(
        (status = 201, description = "Paid and created", body = Data<Order>),
        (status = 200, description = "A repeat (same Idempotency-Key) of an order cancelled since: the order as it stands", body = Data<Order>),
        (status = 202, description = "Payment outcome not known yet; the order is pending", body = Data<Order>),
        (status = 400, description = "Malformed body or invalid field (code invalid_request), or not enough money (code insufficient_funds, with the rejected order)", body = ErrorBody),
        (status = 409, description = "The Idempotency-Key was used with a different body", body = ErrorBody),
    ))]
pub async fn create_order(
    State(state): State<AppState>,
    user: AuthUser,
    request_id: RequestId,
    MaybeIdempotencyKey(key): MaybeIdempotencyKey,
    Json(request): Json<CreateOrderRequest>,
) -> ApiResult<Response> {
    let title = parse_title(&request.title)?;
    let price = Amount::parse("price", request.price)?;
    let new = NewOrder {
        user_id: user.user_id,
        title,
        price,
        request_id: request_id.0.clone(),
        traceparent: telemetry::current_traceparent(),
        idempotency: match key {
            Some(k) => Some((k.as_str().to_owned(), fingerprint(&request)?)),
            None => None,
        },
    };
    let placed = {
        let _timer = state.metrics.db_query.start("place_order");
        state.orders.place(new).await?
    };
    let order = match placed {
        Placed::New(order) => order,
        Placed::Repeat {
            order,
            same_request: true,
        } => {
            let response = respond(order).unwrap_or_else(IntoResponse::into_response);
            return Ok(idempotency::replayed(response));
        }
        Placed::Repeat {
            same_request: false,
            ..
        } => return Err(idempotency::reused_key()),
    };
    let order = payment::pay(&state, order).await;
    tracing::info!(order_id = %order.id, status = order.status.as_str(), "order placed");
    respond(order)
}

/// The answer for an order in its current state.
fn respond(order: orders::Order) -> ApiResult<Response> {
    let status = order.status;
    let order = Order::from(order);
    match status {
        OrderStatus::Created => Ok((StatusCode::CREATED, data(order)).into_response()),
        OrderStatus::Rejected => Err(ApiError::Domain {
            status: StatusCode::BAD_REQUEST,
            code: "insufficient_funds",
            message: "not enough money".to_owned(),
            details: Some(json!({ "order": order })),
        }),
        OrderStatus::Pending => Ok((StatusCode::ACCEPTED, data(order)).into_response()),
        // A repeat of the request that placed an order cancelled since.
        OrderStatus::Cancelled => Ok((StatusCode::OK, data(order)).into_response()),
    }
}

/// Cancels one of the caller's orders, created or pending, and gives its money back through
/// billing: 200 with the order cancelled and refunded, or 202 when billing's answer is not known
/// yet (the service settles the refund later; a pending order's charge, should it land, is given
/// back too). A rejected or already cancelled order is 409. With an `Idempotency-Key`, a repeat
/// replays the first answer's order in its current state.
#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "orders",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The order's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters; makes retries safe"),
    ),
    responses(
        (status = 200, description = "Cancelled, its money given back", body = Data<Order>),
        (status = 202, description = "Cancelled; the refund is settled later", body = Data<Order>),
        (status = 400, description = "The id is not a UUID, or a malformed Idempotency-Key", body = ErrorBody),
        (status = 403, description = "Another user's order", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
        (status = 409, description = "The order is rejected or already cancelled, or the Idempotency-Key was used to cancel another order (code conflict)", body = ErrorBody),
    ))]
pub async fn cancel_order(
    State(state): State<AppState>,
    user: AuthUser,
    request_id: RequestId,
    MaybeIdempotencyKey(key): MaybeIdempotencyKey,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let outcome = {
        let _timer = state.metrics.db_query.start("cancel_order");
        orders::cancel(
            &state.db,
            user.user_id,
            id,
            key.as_ref().map(|k| k.as_str()),
            &request_id.0,
            telemetry::current_traceparent().as_deref(),
            state.settle_delay,
        )
        .await?
    };
    match outcome {
        Cancel::Cancelled(order) => {
            state.metrics.orders.with_label_values(&["cancelled"]).inc();
            tracing::info!(order_id = %order.id, "order cancelled");
            Ok(respond_cancelled(payment::refund(&state, order).await))
        }
        Cancel::Replayed(order) => Ok(idempotency::replayed(respond_cancelled(order))),
        Cancel::Conflict(order) => Err(ApiError::Conflict(format!(
            "the order is {}: only a created or pending order can be cancelled",
            order.status.as_str()
        ))),
        Cancel::KeyReused => Err(idempotency::reused_key()),
        Cancel::Forbidden => Err(ApiError::Forbidden(
            "this order belongs to another user".to_owned(),
        )),
        Cancel::NotFound => Err(ApiError::NotFound("order not found".to_owned())),
    }
}

/// A cancelled order: 200 once its refund is done, 202 while it is due.
fn respond_cancelled(order: orders::Order) -> Response {
    let status = if order.refund_due() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    (status, data(Order::from(order))).into_response()
}

/// The caller's orders, newest first, paginated.
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of orders", body = Page<Order>),
        (status = 400, description = "Bad limit or cursor", body = ErrorBody),
    ))]
pub async fn list_orders(
    State(state): State<AppState>,
    user: AuthUser,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<Page<Order>>> {
    let page = query.parse()?;
    let rows = {
        let _timer = state.metrics.db_query.start("list_orders");
        orders::list(&state.db, user.user_id, page).await?
    };
    Ok(Json(Page::from_rows(rows, page).map(Order::from)))
}

/// One of the caller's orders.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The order's id")),
    responses(
        (status = 200, description = "The order", body = Data<Order>),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 403, description = "Another user's order", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody),
    ))]
pub async fn get_order(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Data<Order>>> {
    match orders::find(&state.db, id).await? {
        Some(order) if order.user_id == user.user_id => Ok(data(Order::from(order))),
        Some(_) => Err(ApiError::Forbidden(
            "this order belongs to another user".to_owned(),
        )),
        None => Err(ApiError::NotFound("order not found".to_owned())),
    }
}
