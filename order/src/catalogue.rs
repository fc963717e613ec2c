//! The catalogue: products with their price and the units that can be ordered now. Placing an
//! order takes units from it (`orders`), a rejected or cancelled order gives them back, and an
//! admin adds products, changes them and restocks them here.

use chrono::{DateTime, Utc};
use common::error::OnConstraint;
use common::money::Amount;
use common::pagination::{Cursor, Listed, PageRequest};
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgTypeInfo, PgValueRef};
use sqlx::{PgPool, Postgres};
use uuid::Uuid;

/// The most units one product may hold, and that one restock or initial stock may add.
pub const MAX_AVAILABLE: i32 = 1_000_000_000;
pub const MAX_STOCK_CHANGE: i32 = 1_000_000;

/// A product as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "5b1f4f4e-8a0c-4c55-9d0c-6a1d2f3e4b5c", "title": "Blue mug", "description": "Stoneware, 350 ml, dishwasher safe.", "price": 1250, "available": 40, "active": true}))]
pub struct Product {
    pub id: Uuid,
    #[schema(value_type = String)]
    pub title: Title,
    pub description: String,
    /// Minor units (cents) per unit, for orders placed from now on.
    pub price: i64,
    /// How many units can be ordered now.
    pub available: i32,
    /// Listed and orderable; an inactive product is shown to admins only.
    pub active: bool,
    #[serde(skip)]
    pub created_at: DateTime<Utc>,
}

impl Listed for Product {
    fn position(&self) -> Cursor {
        Cursor {
            created_at: self.created_at,
            id: self.id,
        }
    }
}

/// A product's title: 1 to 200 characters, trimmed, no control characters. Every way to make
/// one checks that: from a client or a file (`parse`), and read back from the database or
/// from an order's stored lines (which hold only titles checked so, unchanged). A JSON string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct Title(String);

impl Title {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let title = raw.trim();
        if (1..=200).contains(&title.chars().count()) && !title.chars().any(char::is_control) {
            Ok(Self(title.to_owned()))
        } else {
            Err(ApiError::invalid_field(
                "title",
                "must be 1 to 200 characters, without control characters",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Title {
    type Error = ApiError;

    fn try_from(raw: String) -> Result<Self, ApiError> {
        Self::parse(&raw)
    }
}

// Read from `products.title` as `title AS "title: Title"`.
impl sqlx::Type<Postgres> for Title {
    fn type_info() -> PgTypeInfo {
        <&str as sqlx::Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <&str as sqlx::Type<Postgres>>::compatible(ty)
    }
}

impl sqlx::Decode<'_, Postgres> for Title {
    fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        Ok(Self::parse(<&str as sqlx::Decode<Postgres>>::decode(
            value,
        )?)?)
    }
}

/// A product's description: at most 2000 characters, trimmed; line breaks allowed, other
/// control characters not.
#[derive(Debug, Clone)]
pub struct Description(String);

impl Description {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let text = raw.trim();
        let ok = text.chars().count() <= 2000
            && !text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\r');
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(ApiError::invalid_field(
                "description",
                "must be at most 2000 characters, without control characters other than line breaks",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Units added to a product at once (its initial stock, a restock): 1 to 1 000 000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Units(i32);

impl Units {
    pub fn parse(field: &str, value: i64) -> Result<Self, ApiError> {
        match i32::try_from(value) {
            Ok(units) if (1..=MAX_STOCK_CHANGE).contains(&units) => Ok(Self(units)),
            _ => Err(ApiError::invalid_field(
                field,
                format!("must be a whole number of units from 1 to {MAX_STOCK_CHANGE}"),
            )),
        }
    }

    pub fn get(self) -> i32 {
        self.0
    }
}

/// A validated new product.
pub struct NewProduct {
    pub title: Title,
    pub description: Description,
    pub price: Amount,
    pub stock: Units,
}

/// Changes to a product; `None` leaves a field as it is.
#[derive(Default)]
pub struct Changes {
    pub title: Option<Title>,
    pub description: Option<Description>,
    pub price: Option<Amount>,
    pub active: Option<bool>,
}

fn too_many_units() -> ApiError {
    ApiError::Conflict(format!(
        "a product holds at most {MAX_AVAILABLE} units that can be ordered"
    ))
}

/// Adds a product to the catalogue, active, with its initial stock.
pub async fn create(pool: &PgPool, new: &NewProduct) -> sqlx::Result<Product> {
    sqlx::query_as!(
        Product,
        r#"INSERT INTO products (id, title, description, price, available, stocked)
           VALUES ($1, $2, $3, $4, $5::int4, $5::int4)
           RETURNING id, title AS "title: Title", description, price, available, active,
                     created_at"#,
        Uuid::new_v4(),
        new.title.as_str(),
        new.description.as_str(),
        new.price.minor_units(),
        new.stock.get(),
    )
    .fetch_one(pool)
    .await
}

/// A product, active or not.
pub async fn find(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<Product>> {
    sqlx::query_as!(
        Product,
        r#"SELECT id, title AS "title: Title", description, price, available, active, created_at
           FROM products WHERE id = $1"#,
        id,
    )
    .fetch_optional(pool)
    .await
}

/// One page of the catalogue, newest first: the active products, or all of them.
pub async fn list(
    pool: &PgPool,
    page: PageRequest,
    with_inactive: bool,
) -> sqlx::Result<Vec<Product>> {
    let (before_time, before_id) = page.before();
    sqlx::query_as!(
        Product,
        r#"SELECT id, title AS "title: Title", description, price, available, active, created_at
           FROM products
           WHERE (active OR $1) AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
           ORDER BY created_at DESC, id DESC LIMIT $4"#,
        with_inactive,
        before_time,
        before_id,
        page.fetch_limit(),
    )
    .fetch_all(pool)
    .await
}

/// Applies `changes` to a product; `None` when there is no such product.
pub async fn update(pool: &PgPool, id: Uuid, changes: &Changes) -> sqlx::Result<Option<Product>> {
    sqlx::query_as!(
        Product,
        r#"UPDATE products SET title = COALESCE($2, title),
                               description = COALESCE($3, description),
                               price = COALESCE($4, price), active = COALESCE($5, active),
                               updated_at = now()
           WHERE id = $1
           RETURNING id, title AS "title: Title", description, price, available, active,
                     created_at"#,
        id,
        changes.title.as_ref().map(Title::as_str),
        changes.description.as_ref().map(Description::as_str),
        changes.price.map(Amount::minor_units),
        changes.active,
    )
    .fetch_optional(pool)
    .await
}

/// A restock's client key and the fingerprint of its request.
pub struct RestockKey<'a> {
    pub user_id: Uuid,
    pub key: &'a str,
    pub fingerprint: &'a [u8],
}

/// How a restock went.
pub enum Restocked {
    Done(Product),
    /// The key was used before for this same request: nothing added again; the product now.
    Replayed(Product),
    /// The key was used before for another request.
    KeyReused,
    NotFound,
}

/// Adds `units` to a product, and to every unit it ever had; with a key, at most once per key.
pub async fn restock(
    pool: &PgPool,
    id: Uuid,
    units: Units,
    key: Option<RestockKey<'_>>,
) -> ApiResult<Restocked> {
    let mut tx = pool.begin().await?;
    if let Some(key) = &key {
        let first = sqlx::query_scalar!(
            "INSERT INTO restocks (user_id, idempotency_key, fingerprint, product_id, quantity) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true AS \"first!\"",
            key.user_id,
            key.key,
            key.fingerprint,
            id,
            units.get(),
        )
        .fetch_optional(&mut *tx)
        .await;
        match first {
            Ok(Some(_)) => {}
            Err(sqlx::Error::Database(e)) if e.constraint() == Some("restocks_product_id_fkey") => {
                return Ok(Restocked::NotFound)
            }
            Err(e) => return Err(e.into()),
            Ok(None) => {
                let earlier = sqlx::query_scalar!(
                    "SELECT fingerprint FROM restocks WHERE user_id = $1 AND idempotency_key = $2",
                    key.user_id,
                    key.key,
                )
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                if earlier != key.fingerprint {
                    return Ok(Restocked::KeyReused);
                }
                return Ok(find(pool, id)
                    .await?
                    .map_or(Restocked::NotFound, Restocked::Replayed));
            }
        }
    }
    let restocked = sqlx::query_as!(
        Product,
        r#"UPDATE products SET available = available + $2, stocked = stocked + $2,
                               updated_at = now()
           WHERE id = $1
           RETURNING id, title AS "title: Title", description, price, available, active,
                     created_at"#,
        id,
        units.get(),
    )
    .fetch_optional(&mut *tx)
    .await
    .on_constraint("products_available_range", too_many_units)?;
    let Some(product) = restocked else {
        return Ok(Restocked::NotFound);
    };
    tx.commit().await?;
    Ok(Restocked::Done(product))
}

/// Adds `products` (listed in this order: the first newest) if and only if the catalogue has
/// no product at all, active or not; returns how many were added (0 when it had some). The
/// table is locked meanwhile, so two loaders at once add them once.
pub async fn load_into_empty(pool: &PgPool, products: &[NewProduct]) -> sqlx::Result<usize> {
    let mut tx = pool.begin().await?;
    sqlx::query!("LOCK TABLE products IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let empty = sqlx::query_scalar!(r#"SELECT NOT EXISTS (SELECT 1 FROM products) AS "empty!""#)
        .fetch_one(&mut *tx)
        .await?;
    if !empty {
        return Ok(0);
    }
    let ids: Vec<Uuid> = products.iter().map(|_| Uuid::new_v4()).collect();
    let titles: Vec<&str> = products.iter().map(|p| p.title.as_str()).collect();
    let descriptions: Vec<&str> = products.iter().map(|p| p.description.as_str()).collect();
    let prices: Vec<i64> = products.iter().map(|p| p.price.minor_units()).collect();
    let stocks: Vec<i32> = products.iter().map(|p| p.stock.get()).collect();
    let added = sqlx::query!(
        "INSERT INTO products (id, title, description, price, available, stocked, created_at) \
         SELECT id, title, description, price, stock, stock, \
                now() - make_interval(secs => (n - 1) / 1000.0) \
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int8[], $5::int4[]) \
              WITH ORDINALITY AS p(id, title, description, price, stock, n)",
        &ids,
        &titles as &[&str],
        &descriptions as &[&str],
        &prices,
        &stocks,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(added as usize)
}

/// A product whose stock does not add up: `available` plus the units its pending and created
/// orders hold should be every unit ever added to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockMismatch {
    pub product_id: Uuid,
    pub available: i32,
    pub held: i64,
    pub stocked: i64,
}

/// The contract's stock invariant, checked over `products` (`None`: the whole catalogue): the
/// products for which available + held != stocked (an empty list when it holds).
/// `available` never being negative is the schema's CHECK.
pub async fn stock_mismatches(
    pool: &PgPool,
    products: Option<&[Uuid]>,
) -> sqlx::Result<Vec<StockMismatch>> {
    sqlx::query_as!(
        StockMismatch,
        r#"SELECT p.id AS product_id, p.available, p.stocked,
                  COALESCE(sum(i.quantity) FILTER (WHERE o.status IN ('pending', 'created')), 0)
                      AS "held!"
           FROM products p
           LEFT JOIN order_items i ON i.product_id = p.id
           LEFT JOIN orders o ON o.id = i.order_id
           WHERE $1::uuid[] IS NULL OR p.id = ANY($1)
           GROUP BY p.id
           HAVING p.available + COALESCE(sum(i.quantity)
                      FILTER (WHERE o.status IN ('pending', 'created')), 0) <> p.stocked"#,
        products,
    )
    .fetch_all(pool)
    .await
}

/// Deletes the keyed restocks older than `common::idempotency::RETENTION` (the retention
/// sweep). An order's own key stays with the order, which is kept.
pub async fn sweep_restock_keys(pool: &PgPool) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "DELETE FROM restocks WHERE created_at < now() - make_interval(secs => $1)",
        common::idempotency::RETENTION.as_secs_f64(),
    )
    .execute(pool)
    .await?
    .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_descriptions_and_units_are_checked() {
        assert_eq!(
            Title::parse("  Blue mug ").expect("title").as_str(),
            "Blue mug"
        );
        assert!(Title::parse("   ").is_err());
        assert!(Title::parse(&"x".repeat(201)).is_err());
        assert!(Title::parse("tab\there").is_err());
        assert_eq!(
            Description::parse("two\nlines").expect("lines").as_str(),
            "two\nlines"
        );
        assert!(Description::parse("").is_ok());
        assert!(Description::parse(&"x".repeat(2001)).is_err());
        assert!(Description::parse("bell\u{7}").is_err());
        for bad in [0, -1, i64::from(MAX_STOCK_CHANGE) + 1, i64::MAX] {
            assert!(Units::parse("stock", bad).is_err(), "{bad}");
        }
        assert_eq!(Units::parse("stock", 1).expect("one").get(), 1);
    }
}
