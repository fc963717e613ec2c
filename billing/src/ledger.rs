//! Accounts and the ledger. Every balance change is one conditional `UPDATE` in the same
//! transaction as its ledger row, so the balance never goes negative and always equals the
//! ledger's sum, whatever runs concurrently.

use common::money::Amount;
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

/// A user's account as the API shows it.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
#[schema(example = json!({"id": "5b1c2a9e-7f7d-4c54-9d59-6c3c1f0b2a11", "userId": "0f8e1f7c-3a3e-4a8b-9a57-2b8f4f0e9c01", "balance": 5000}))]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub id: Uuid,
    pub user_id: Uuid,
    pub balance: i64,
}

/// Creates the user's account unless it exists; returns it and whether it was created now.
pub async fn ensure_account(
    conn: &mut PgConnection,
    user_id: Uuid,
) -> sqlx::Result<(Account, bool)> {
    let created = sqlx::query(
        "INSERT INTO accounts (id, user_id) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(Uuid::new_v4())
    .bind(user_id)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    let account = sqlx::query_as("SELECT id, user_id, balance FROM accounts WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok((account, created))
}

/// Adds `amount` to the user's balance with its ledger row (caller owns the transaction).
pub async fn deposit(
    conn: &mut PgConnection,
    user_id: Uuid,
    amount: Amount,
) -> sqlx::Result<Account> {
    ensure_account(conn, user_id).await?;
    let account: Account = sqlx::query_as(
        "UPDATE accounts SET balance = balance + $2, updated_at = now() WHERE user_id = $1 \
         RETURNING id, user_id, balance",
    )
    .bind(user_id)
    .bind(amount.minor_units())
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO ledger_entries (id, account_id, kind, amount) VALUES ($1, $2, 'deposit', $3)",
    )
    .bind(Uuid::new_v4())
    .bind(account.id)
    .bind(amount.minor_units())
    .execute(&mut *conn)
    .await?;
    Ok(account)
}

/// The stored response of an earlier deposit with the same idempotency key.
pub struct StoredResponse {
    pub fingerprint: Vec<u8>,
    pub status: i16,
    pub body: Value,
}

/// The response first given for `(user, key)`, if any.
pub async fn stored_response(
    conn: &mut PgConnection,
    user_id: Uuid,
    key: &str,
) -> sqlx::Result<Option<StoredResponse>> {
    let row: Option<(Vec<u8>, i16, Value)> = sqlx::query_as(
        "SELECT fingerprint, status, body FROM idempotency_keys WHERE user_id = $1 AND key = $2",
    )
    .bind(user_id)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|(fingerprint, status, body)| StoredResponse {
        fingerprint,
        status,
        body,
    }))
}

/// Records the response for `(user, key)`; false when another request recorded one first,
/// in which case the caller must roll back and replay that one.
pub async fn store_response(
    conn: &mut PgConnection,
    user_id: Uuid,
    key: &str,
    response: &StoredResponse,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, fingerprint, status, body) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, key) DO NOTHING",
    )
    .bind(user_id)
    .bind(key)
    .bind(&response.fingerprint)
    .bind(response.status)
    .bind(&response.body)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// The outcome of a withdrawal for an order.
#[derive(Debug)]
pub enum Withdrawal {
    /// Charged now (`first`) or earlier; the account as it was right after the charge.
    Charged { account: Account, first: bool },
    /// Not enough money, now or when this order was first tried.
    InsufficientFunds,
    /// The order id was already used with another user or amount.
    Mismatch,
}

#[derive(FromRow)]
struct WithdrawalRow {
    user_id: Uuid,
    account_id: Uuid,
    amount: i64,
    outcome: String,
    balance_after: i64,
}

impl WithdrawalRow {
    fn replay(self, user_id: Uuid, amount: Amount) -> Withdrawal {
        if self.user_id != user_id || self.amount != amount.minor_units() {
            Withdrawal::Mismatch
        } else if self.outcome == "charged" {
            Withdrawal::Charged {
                account: Account {
                    id: self.account_id,
                    user_id: self.user_id,
                    balance: self.balance_after,
                },
                first: false,
            }
        } else {
            Withdrawal::InsufficientFunds
        }
    }
}

async fn find_withdrawal(
    conn: &mut PgConnection,
    order_id: Uuid,
) -> sqlx::Result<Option<WithdrawalRow>> {
    sqlx::query_as(
        "SELECT user_id, account_id, amount, outcome, balance_after FROM withdrawals WHERE order_id = $1",
    )
    .bind(order_id)
    .fetch_optional(conn)
    .await
}

/// Charges `amount` for `order_id` at most once; a repeat returns the first outcome.
pub async fn withdraw(
    pool: &PgPool,
    user_id: Uuid,
    order_id: Uuid,
    amount: Amount,
) -> sqlx::Result<Withdrawal> {
    let mut tx = pool.begin().await?;
    if let Some(earlier) = find_withdrawal(&mut tx, order_id).await? {
        return Ok(earlier.replay(user_id, amount));
    }
    let (account, _) = ensure_account(&mut tx, user_id).await?;
    let charged: Option<Account> = sqlx::query_as(
        "UPDATE accounts SET balance = balance - $2, updated_at = now() \
         WHERE user_id = $1 AND balance >= $2 RETURNING id, user_id, balance",
    )
    .bind(user_id)
    .bind(amount.minor_units())
    .fetch_optional(&mut *tx)
    .await?;
    let (outcome, balance_after) = match &charged {
        Some(after) => ("charged", after.balance),
        None => ("insufficient_funds", account.balance),
    };
    let recorded = sqlx::query(
        "INSERT INTO withdrawals (order_id, user_id, account_id, amount, outcome, balance_after) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(order_id)
    .bind(user_id)
    .bind(account.id)
    .bind(amount.minor_units())
    .bind(outcome)
    .bind(balance_after)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !recorded {
        // A concurrent request for the same order committed first: undo ours, replay theirs.
        tx.rollback().await?;
        let mut conn = pool.acquire().await?;
        let earlier = find_withdrawal(&mut conn, order_id).await?;
        return Ok(earlier.map_or(Withdrawal::Mismatch, |row| row.replay(user_id, amount)));
    }
    let Some(account) = charged else {
        tx.commit().await?;
        return Ok(Withdrawal::InsufficientFunds);
    };
    sqlx::query(
        "INSERT INTO ledger_entries (id, account_id, kind, amount, order_id) \
         VALUES ($1, $2, 'withdrawal', $3, $4)",
    )
    .bind(Uuid::new_v4())
    .bind(account.id)
    .bind(-amount.minor_units())
    .bind(order_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Withdrawal::Charged {
        account,
        first: true,
    })
}
