use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::auth::{AdminUser, MaybeAuthUser};
use common::error::ErrorBody;
use common::http::{data, Data, Json, Path, Query};
use common::idempotency::{self, fingerprint, MaybeIdempotencyKey};
use common::money::Amount;
use common::pagination::{Page, PageQuery, DEFAULT_LIMIT};
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalogue::{self, Changes, Description, NewProduct, Product, Restocked, Title, Units};
use crate::AppState;

/// The catalogue listing's query string.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
    /// Admins only: list inactive products too (default false).
    include_inactive: Option<bool>,
}

/// The catalogue: the products for sale, newest first, with their price and the units
/// available now. Anyone may read it; an admin may ask for the inactive products too.
#[utoipa::path(get, path = "/api/v1/products", tag = "products",
    // Anyone; a token is optional (an admin's lists the inactive products too).
    security((), ("bearer" = [])),
    params(ProductQuery),
    responses(
        (status = 200, description = "A page of products", body = Page<Product>),
        (status = 400, description = "Bad limit or cursor", body = ErrorBody),
        (status = 401, description = "includeInactive with a missing, invalid or expired access token", body = ErrorBody),
        (status = 403, description = "includeInactive by someone who is not an admin", body = ErrorBody),
    ))]
pub async fn list_products(
    State(state): State<AppState>,
    MaybeAuthUser(user): MaybeAuthUser,
    Query(query): Query<ProductQuery>,
) -> ApiResult<Response> {
    let with_inactive = query.include_inactive.unwrap_or(false);
    if with_inactive && !user.is_some_and(|u| u.admin) {
        return Err(match user {
            None => ApiError::Unauthorized("includeInactive needs an admin's token".to_owned()),
            Some(_) => ApiError::Forbidden("includeInactive is for admins".to_owned()),
        });
    }
    let key = (query.limit.unwrap_or(DEFAULT_LIMIT), query.cursor.clone());
    if !with_inactive {
        if let Some(body) = state.listing.get(&key) {
            return Ok(json_body(body));
        }
    }
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .parse()?;
    let rows = {
        let _timer = state.metrics.db_query.start("list_products");
        catalogue::list(&state.db, page, with_inactive).await?
    };
    let body = Bytes::from(
        serde_json::to_vec(&Page::from_rows(rows, page))
            .map_err(|e| anyhow::Error::new(e).context("serializing the catalogue"))?,
    );
    if !with_inactive {
        state.listing.put(key, body.clone());
    }
    Ok(json_body(body))
}

/// An answer whose JSON body is ready.
fn json_body(body: Bytes) -> Response {
    ([(CONTENT_TYPE, "application/json")], body).into_response()
}

/// One product. An inactive product is shown to admins only (404 to anyone else).
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "products",
    // Anyone; a token is optional (an admin's reads an inactive product too).
    security((), ("bearer" = [])),
    params(("id" = Uuid, Path, description = "The product's id")),
    responses(
        (status = 200, description = "The product", body = Data<Product>),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "An invalid or expired access token (none is needed)", body = ErrorBody),
        (status = 404, description = "No such product, or not for sale", body = ErrorBody),
    ))]
pub async fn get_product(
    State(state): State<AppState>,
    MaybeAuthUser(user): MaybeAuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Data<Product>>> {
    match catalogue::find(&state.db, id).await? {
        Some(product) if product.active || user.is_some_and(|u| u.admin) => Ok(data(product)),
        _ => Err(not_found()),
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound("product not found".to_owned())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"title": "Blue mug", "description": "Stoneware, 350 ml, dishwasher safe.", "price": 1250, "stock": 40}))]
pub struct CreateProductRequest {
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    title: String,
    /// At most 2000 characters (default empty).
    #[schema(max_length = 2000)]
    description: Option<String>,
    /// Minor units (cents) per unit.
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    price: i64,
    /// The units available at first.
    #[schema(minimum = 1, maximum = 1_000_000)]
    stock: i64,
}

/// Adds a product to the catalogue, active and orderable at once (admins only).
#[utoipa::path(post, path = "/api/v1/products", tag = "products",
    security(("bearer" = [])),
    request_body = CreateProductRequest,
    responses(
        (status = 201, description = "Added", body = Data<Product>),
        (status = 400, description = "Malformed body or an invalid field (named in `details`)", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn create_product(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Json(request): Json<CreateProductRequest>,
) -> ApiResult<(StatusCode, Json<Data<Product>>)> {
    let new = NewProduct {
        title: Title::parse(&request.title)?,
        description: Description::parse(request.description.as_deref().unwrap_or(""))?,
        price: Amount::parse("price", request.price)?,
        stock: Units::parse("stock", request.stock)?,
    };
    let product = catalogue::create(&state.db, &new).await?;
    state.listing.clear();
    tracing::info!(product_id = %product.id, admin = %admin.user_id, "product added");
    Ok((StatusCode::CREATED, data(product)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"price": 1400, "active": true}))]
pub struct UpdateProductRequest {
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    title: Option<String>,
    #[schema(max_length = 2000)]
    description: Option<String>,
    /// Minor units (cents) per unit, for orders placed from now on.
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    price: Option<i64>,
    /// false takes the product off sale (no longer listed or orderable); true puts it back.
    active: Option<bool>,
}

impl UpdateProductRequest {
    fn changes(&self) -> Result<Changes, ApiError> {
        let changes = Changes {
            title: self.title.as_deref().map(Title::parse).transpose()?,
            description: self
                .description
                .as_deref()
                .map(Description::parse)
                .transpose()?,
            price: self.price.map(|p| Amount::parse("price", p)).transpose()?,
            active: self.active,
        };
        let nothing = changes.title.is_none()
            && changes.description.is_none()
            && changes.price.is_none()
            && changes.active.is_none();
        if nothing {
            return Err(ApiError::invalid(
                "nothing to change: give at least one of title, description, price, active",
            ));
        }
        Ok(changes)
    }
}

/// Changes a product's title, description, price or whether it is on sale (admins only). A
/// new price applies to orders placed after it, never to existing ones.
#[utoipa::path(patch, path = "/api/v1/products/{id}", tag = "products",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The product's id")),
    request_body = UpdateProductRequest,
    responses(
        (status = 200, description = "The product as changed", body = Data<Product>),
        (status = 400, description = "Malformed body or id, an invalid field, or nothing to change", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody),
    ))]
pub async fn update_product(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<Uuid>,
    Json(request): Json<UpdateProductRequest>,
) -> ApiResult<Json<Data<Product>>> {
    let changes = request.changes()?;
    let product = catalogue::update(&state.db, id, &changes)
        .await?
        .ok_or_else(not_found)?;
    state.listing.clear();
    tracing::info!(product_id = %id, admin = %admin.user_id, "product changed");
    Ok(data(product))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"quantity": 25}))]
pub struct RestockRequest {
    /// Units to add.
    #[schema(minimum = 1, maximum = 1_000_000)]
    quantity: i64,
}

/// Adds units to a product (admins only). With an `Idempotency-Key`, a repeat with the same body
/// adds nothing again and answers the product as it stands.
#[utoipa::path(post, path = "/api/v1/products/{id}/restock", tag = "products",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The product's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters; makes retries safe"),
    ),
    request_body = RestockRequest,
    responses(
        (status = 200, description = "The product with its new stock", body = Data<Product>),
        (status = 400, description = "Malformed body, id or Idempotency-Key, or an invalid quantity", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 409, description = "The Idempotency-Key was used with a different request, or the product would hold more than 1000000000 units (code conflict)", body = ErrorBody),
        (status = 429, description = "Too many commands from this user: retry after `Retry-After` seconds", body = ErrorBody),
    ))]
pub async fn restock_product(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    MaybeIdempotencyKey(key): MaybeIdempotencyKey,
    Path(id): Path<Uuid>,
    Json(request): Json<RestockRequest>,
) -> ApiResult<Response> {
    state.command_limit.check(admin.user_id)?;
    let units = Units::parse("quantity", request.quantity)?;
    let print = fingerprint(&(id, &request))?;
    let key = key.as_ref().map(|key| catalogue::RestockKey {
        user_id: admin.user_id,
        key: key.as_str(),
        fingerprint: &print,
    });
    match catalogue::restock(&state.db, id, units, key).await? {
        Restocked::Done(product) => {
            state.listing.clear();
            tracing::info!(product_id = %id, admin = %admin.user_id, units = units.get(), "product restocked");
            Ok(data(product).into_response())
        }
        Restocked::Replayed(product) => Ok(idempotency::replayed(data(product).into_response())),
        Restocked::KeyReused => Err(idempotency::reused_key()),
        Restocked::NotFound => Err(not_found()),
    }
}
