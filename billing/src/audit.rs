//! The books' invariants, read straight from the ledger: what each order's charge took and its
//! refund gave back, and whether each balance is the sum of its account's ledger. Read by
//! billing's tests, the cross-service tests and the fault suite, so that the queries they check
//! the money with are checked against the schema with the service's own.

use std::collections::HashMap;

use sqlx::PgPool;
use uuid::Uuid;

/// What one order's ledger entries moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderMoney {
    /// What its withdrawal took (0 when it was never charged).
    pub charged: i64,
    /// What its refund gave back.
    pub refunded: i64,
}

/// What order `order_id`'s entries moved.
pub async fn order_money(pool: &PgPool, order_id: Uuid) -> sqlx::Result<OrderMoney> {
    sqlx::query_as!(
        OrderMoney,
        r#"SELECT COALESCE(-SUM(amount) FILTER (WHERE kind = 'withdrawal'), 0)::bigint AS "charged!",
                  COALESCE(SUM(amount) FILTER (WHERE kind = 'refund'), 0)::bigint AS "refunded!"
           FROM ledger_entries WHERE order_id = $1"#,
        order_id,
    )
    .fetch_one(pool)
    .await
}

/// One account's balance beside its ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Books {
    pub balance: i64,
    /// The sum of the account's ledger entries, which the balance must equal.
    pub ledger_sum: i64,
    pub entries: i64,
}

/// The books of `user_id`'s account; `None` when the user has none.
pub async fn books(pool: &PgPool, user_id: Uuid) -> sqlx::Result<Option<Books>> {
    sqlx::query_as!(
        Books,
        r#"SELECT a.balance, COALESCE(SUM(l.amount), 0)::bigint AS "ledger_sum!",
                  COUNT(l.id) AS "entries!"
           FROM accounts a LEFT JOIN ledger_entries l ON l.account_id = a.id
           WHERE a.user_id = $1 GROUP BY a.balance"#,
        user_id,
    )
    .fetch_optional(pool)
    .await
}

/// The withdrawal entries of one order: 1 once it is charged, never more.
pub async fn withdrawal_entries(pool: &PgPool, order_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM ledger_entries
           WHERE order_id = $1 AND kind = 'withdrawal'"#,
        order_id,
    )
    .fetch_one(pool)
    .await
}

/// Every order the ledger holds a withdrawal of.
pub async fn charged_orders(pool: &PgPool) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        r#"SELECT order_id AS "order_id!" FROM ledger_entries WHERE kind = 'withdrawal'"#
    )
    .fetch_all(pool)
    .await
}

/// What each order of these users keeps of their money (its charge minus its refund), for
/// every order the ledger has an entry of.
pub async fn kept_by_order(pool: &PgPool, users: &[Uuid]) -> sqlx::Result<HashMap<Uuid, i64>> {
    let rows = sqlx::query!(
        r#"SELECT l.order_id AS "order_id!", (-SUM(l.amount))::bigint AS "kept!"
           FROM ledger_entries l JOIN accounts a ON a.id = l.account_id
           WHERE a.user_id = ANY($1) AND l.kind IN ('withdrawal', 'refund')
           GROUP BY l.order_id"#,
        users,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.order_id, r.kept)).collect())
}

/// An account whose balance is not the sum of its ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unbalanced {
    pub user_id: Uuid,
    pub balance: i64,
    pub ledger_sum: i64,
}

/// The accounts of these users whose balance differs from the sum of their ledger.
pub async fn unbalanced_accounts(pool: &PgPool, users: &[Uuid]) -> sqlx::Result<Vec<Unbalanced>> {
    sqlx::query_as!(
        Unbalanced,
        r#"SELECT a.user_id, a.balance, COALESCE(SUM(l.amount), 0)::bigint AS "ledger_sum!"
           FROM accounts a LEFT JOIN ledger_entries l ON l.account_id = a.id
           WHERE a.user_id = ANY($1) GROUP BY a.user_id, a.balance
           HAVING a.balance <> COALESCE(SUM(l.amount), 0)"#,
        users,
    )
    .fetch_all(pool)
    .await
}
