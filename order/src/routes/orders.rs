use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use common::auth::AuthUser;
use common::error::code::INSUFFICIENT_FUNDS;
use common::error::ErrorBody;
use common::http::{data, Data, Json, Path, Query, RequestId};
use common::idempotency::{self, fingerprint, MaybeIdempotencyKey};
use common::limits::LimitedUser;
use common::money::MAX_AMOUNT;
use common::pagination::{Page, PageQuery};
use common::telemetry;
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::orders::{
    self, Basket, Cancel, CancelRequest, NewOrder, OrderLine, OrderStatus, Placed, Refusal,
};
use crate::{payment, AppState};
use common::error::code::OUT_OF_STOCK;

/// An order as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"id": "c1a5e3d2-9b7f-4a6e-8d2c-5f1b3e7a9c04", "items": [{"productId": "5b1f4f4e-8a0c-4c55-9d0c-6a1d2f3e4b5c", "title": "Blue mug", "unitPrice": 1250, "quantity": 2}, {"productId": "0e2d8c1a-7b6f-4e5d-9c3b-2a1f0e9d8c7b", "title": "Green tea, 100 g", "unitPrice": 750, "quantity": 1}], "title": "Blue mug ×2, Green tea, 100 g", "price": 3250, "status": "created", "createdAt": "2026-11-25T12:00:00Z"}))]
#[serde(rename_all = "camelCase")]
pub struct Order {
    id: Uuid,
    /// The lines, each priced from the catalogue when the order was placed (none for an order
    /// placed before the catalogue existed).
    items: Vec<OrderLine>,
    /// A short summary of the lines.
    title: String,
    /// Minor units (cents): the sum of unitPrice × quantity.
    price: i64,
    status: OrderStatus,
    created_at: DateTime<Utc>,
}

impl From<orders::Order> for Order {
    fn from(order: orders::Order) -> Self {
        Self {
            id: order.id,
            items: order.items.0,
            title: order.title,
            price: order.price,
            status: order.status,
            created_at: order.created_at,
        }
    }
}

/// One line of a new order: a product of the catalogue and how many units.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemRequest {
    product_id: Uuid,
    /// 1 to 100.
    #[schema(minimum = 1, maximum = 100)]
    quantity: i64,
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"items": [{"productId": "5b1f4f4e-8a0c-4c55-9d0c-6a1d2f3e4b5c", "quantity": 2}, {"productId": "0e2d8c1a-7b6f-4e5d-9c3b-2a1f0e9d8c7b", "quantity": 1}]}))]
pub struct CreateOrderRequest {
    /// 1 to 20 lines, each product once. The service prices them from the catalogue.
    #[schema(required = true, nullable = false, min_items = 1, max_items = 20)]
    items: Option<Vec<ItemRequest>>,
}

impl CreateOrderRequest {
    /// The basket it asks for. A body without `items` (the old `{title, price}` shape among
    /// them) is refused naming `items`: a client no longer names the price.
    fn basket(&self) -> Result<Basket, ApiError> {
        let items = self.items.as_deref().ok_or_else(|| {
            ApiError::invalid_field(
                "items",
                "is required: the catalogue products to order and how many of each, as \
                 [{productId, quantity}]; the service prices them",
            )
        })?;
        let lines: Vec<(Uuid, i64)> = items.iter().map(|i| (i.product_id, i.quantity)).collect();
        Basket::parse(&lines)
    }
}

/// Places an order for catalogue products and pays it from the caller's account, priced from
/// the catalogue at this moment, its units reserved at once: 201 created; 400 insufficient_funds
/// (the order is kept as rejected and its units are given back); 409 out_of_stock (nothing is
/// stored or charged; `details` names each product short of units and how many are available);
/// or 202 pending when billing's answer is unknown, in which case the service settles it later
/// (the units stay reserved until then). With an `Idempotency-Key`, a repeat with the same body
/// returns the same order in its current state and charges nothing again.
#[utoipa::path(post, path = "/api/v1/orders", tag = "orders",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters; makes retries safe")),
    request_body = CreateOrderRequest,
    responses(
        (status = 201, description = "Paid and created", body = Data<Order>),
        (status = 200, description = "A repeat (same Idempotency-Key) of an order cancelled since: the order as it stands", body = Data<Order>),
        (status = 202, description = "Payment outcome not known yet; the order is pending", body = Data<Order>),
        (status = 400, description = "Malformed body or invalid field, an unknown or inactive product, or a total over 1000000000 (code invalid_request, `details` naming the line); or not enough money (code insufficient_funds, with the rejected order)", body = ErrorBody),
        (status = 409, description = "Not enough units of some product (code out_of_stock, `details` maps each such product id to the units available); or the Idempotency-Key was used with a different body (code conflict)", body = ErrorBody),
        (status = 429, description = "Too many commands from this user: retry after `Retry-After` seconds", body = ErrorBody),
    ))]
pub async fn create_order(
    State(state): State<AppState>,
    LimitedUser(user): LimitedUser,
    request_id: RequestId,
    MaybeIdempotencyKey(key): MaybeIdempotencyKey,
    Json(request): Json<CreateOrderRequest>,
) -> ApiResult<Response> {
    let new = NewOrder {
        user_id: user.user_id,
        basket: request.basket()?,
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
        Placed::Refused(refusal) => {
            state
                .metrics
                .refused_orders
                .with_label_values(&[refusal.reason()])
                .inc();
            return Err(refused(refusal));
        }
    };
    let order = payment::pay(&state, order).await;
    tracing::info!(order_id = %order.id, status = order.status.as_str(), "order placed");
    respond(order)
}

/// The answer to an order that could not be placed.
fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::NotForSale { line } => ApiError::invalid_field(
            &format!("items[{line}].productId"),
            "is not a product for sale (unknown, or no longer sold)",
        ),
        Refusal::OverLimit { total } => ApiError::invalid_field(
            "items",
            format!("cost {total} in all, more than one order may cost ({MAX_AMOUNT})"),
        ),
        Refusal::OutOfStock(short) => {
            let details: serde_json::Map<String, serde_json::Value> = short
                .iter()
                .map(|(id, available)| (id.to_string(), json!(available)))
                .collect();
            ApiError::Domain {
                status: StatusCode::CONFLICT,
                code: OUT_OF_STOCK,
                message: "not enough units in stock: details names each product short of \
                          units and how many are available"
                    .to_owned(),
                details: Some(details.into()),
            }
        }
    }
}

/// The answer for an order in its current state.
fn respond(order: orders::Order) -> ApiResult<Response> {
    let status = order.status;
    let order = Order::from(order);
    match status {
        OrderStatus::Created => Ok((StatusCode::CREATED, data(order)).into_response()),
        OrderStatus::Rejected => Err(ApiError::Domain {
            status: StatusCode::BAD_REQUEST,
            code: INSUFFICIENT_FUNDS,
            message: "not enough money".to_owned(),
            details: Some(json!({ "order": order })),
        }),
        OrderStatus::Pending => Ok((StatusCode::ACCEPTED, data(order)).into_response()),
        // A repeat of the request that placed an order cancelled since.
        OrderStatus::Cancelled => Ok((StatusCode::OK, data(order)).into_response()),
    }
}

/// Cancels one of the caller's orders, created or pending, gives its units back to the
/// catalogue and its money back through billing: 200 with the order cancelled and refunded, or 202 when billing's answer is not known
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
        (status = 429, description = "Too many commands from this user: retry after `Retry-After` seconds", body = ErrorBody),
    ))]
pub async fn cancel_order(
    State(state): State<AppState>,
    LimitedUser(user): LimitedUser,
    request_id: RequestId,
    MaybeIdempotencyKey(key): MaybeIdempotencyKey,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let traceparent = telemetry::current_traceparent();
    let request = CancelRequest {
        user_id: user.user_id,
        order_id: id,
        key: key.as_ref().map(|k| k.as_str()),
        request_id: &request_id.0,
        traceparent: traceparent.as_deref(),
    };
    let outcome = {
        let _timer = state.metrics.db_query.start("cancel_order");
        orders::cancel(&state.db, &request, state.settle_delay).await?
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
