//! Accounts and the ledger. Every balance change is one conditional `UPDATE` in the same
//! transaction as its ledger row, so the balance never goes negative and always equals the
//! ledger's sum, whatever runs concurrently.

use common::money::Amount;
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A user's account as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
    let created = sqlx::query!(
        "INSERT INTO accounts (id, user_id) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING",
        Uuid::new_v4(),
        user_id,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    let account = sqlx::query_as!(
        Account,
        "SELECT id, user_id, balance FROM accounts WHERE user_id = $1",
        user_id,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((account, created))
}

/// The user's account, created with balance 0 when it does not exist yet. One query when it
/// exists, which is every time but the first.
pub async fn account(pool: &PgPool, user_id: Uuid) -> sqlx::Result<Account> {
    let found = sqlx::query_as!(
        Account,
        "SELECT id, user_id, balance FROM accounts WHERE user_id = $1",
        user_id,
    )
    .fetch_optional(pool)
    .await?;
    match found {
        Some(account) => Ok(account),
        None => Ok(ensure_account(&mut *pool.acquire().await?, user_id)
            .await?
            .0),
    }
}

/// Adds `amount` to the user's balance with its ledger row, in one statement (caller owns the
/// transaction); creates the account first if the user has none yet.
pub async fn deposit(
    conn: &mut PgConnection,
    user_id: Uuid,
    amount: Amount,
) -> sqlx::Result<Account> {
    async fn apply(
        conn: &mut PgConnection,
        user_id: Uuid,
        amount: Amount,
    ) -> sqlx::Result<Option<Account>> {
        sqlx::query_as!(
            Account,
            "WITH updated AS ( \
                 UPDATE accounts SET balance = balance + $2, updated_at = now() \
                 WHERE user_id = $1 RETURNING id, user_id, balance), \
             entry AS ( \
                 INSERT INTO ledger_entries (id, account_id, kind, amount) \
                 SELECT $3, id, 'deposit', $2 FROM updated) \
             SELECT id, user_id, balance FROM updated",
            user_id,
            amount.minor_units(),
            Uuid::new_v4(),
        )
        .fetch_optional(conn)
        .await
    }
    if let Some(account) = apply(conn, user_id, amount).await? {
        return Ok(account);
    }
    ensure_account(conn, user_id).await?;
    apply(conn, user_id, amount)
        .await?
        .ok_or_else(|| sqlx::Error::RowNotFound)
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
    sqlx::query_as!(
        StoredResponse,
        r#"SELECT fingerprint, status, body AS "body: Value" FROM idempotency_keys WHERE user_id = $1 AND key = $2"#,
        user_id,
        key,
    )
    .fetch_optional(&mut *conn)
    .await
}

/// Records the response for `(user, key)`; false when another request recorded one first,
/// in which case the caller must roll back and replay that one.
pub async fn store_response(
    conn: &mut PgConnection,
    user_id: Uuid,
    key: &str,
    response: &StoredResponse,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query!(
        "INSERT INTO idempotency_keys (user_id, key, fingerprint, status, body) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, key) DO NOTHING",
        user_id,
        key,
        &response.fingerprint,
        response.status,
        &response.body as _,
    )
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
    /// The order was refunded before it was ever charged (cancelled): it is never charged.
    Voided,
    /// The order id was already used with another user or amount.
    Mismatch,
}

struct WithdrawalRow {
    user_id: Uuid,
    account_id: Uuid,
    amount: i64,
    outcome: String,
    balance_after: i64,
}

impl WithdrawalRow {
    fn replay(self, user_id: Uuid, amount: Amount) -> Withdrawal {
        if self.user_id != user_id {
            Withdrawal::Mismatch
        } else if self.outcome == "voided" {
            Withdrawal::Voided
        } else if self.amount != amount.minor_units() {
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

async fn find_withdrawal(pool: &PgPool, order_id: Uuid) -> sqlx::Result<Option<WithdrawalRow>> {
    sqlx::query_as!(
        WithdrawalRow,
        "SELECT user_id, account_id, amount, outcome, balance_after FROM withdrawals WHERE order_id = $1",
        order_id,
    )
    .fetch_optional(pool)
    .await
}

/// What the one statement of a withdrawal found and did.
struct Attempt {
    /// The outcome recorded earlier for this order, if any (then nothing was done now).
    prior_user_id: Option<Uuid>,
    prior_account_id: Option<Uuid>,
    prior_amount: Option<i64>,
    prior_outcome: Option<String>,
    prior_balance_after: Option<i64>,
    /// Whether the user has an account at all.
    has_account: bool,
    /// The account after the charge, when it was charged now.
    charged_account_id: Option<Uuid>,
    charged_balance: Option<i64>,
}

/// Charges `amount` for `order_id` at most once; a repeat returns the first outcome.
///
/// One statement, so one transaction, does it all: find an earlier outcome, charge if the
/// balance allows, record the outcome, write the ledger row. When a concurrent attempt for the
/// same order commits its outcome first, recording ours violates the order's primary key and
/// the whole statement, charge included, is undone; it then answers with the winner's outcome.
pub async fn withdraw(
    pool: &PgPool,
    user_id: Uuid,
    order_id: Uuid,
    amount: Amount,
) -> sqlx::Result<Withdrawal> {
    for _ in 0..2 {
        let attempt: Attempt = match sqlx::query_as!(
            Attempt,
            "WITH prior AS ( \
                 SELECT user_id, account_id, amount, outcome, balance_after \
                 FROM withdrawals WHERE order_id = $2), \
             account AS (SELECT id, balance FROM accounts WHERE user_id = $1), \
             charged AS ( \
                 UPDATE accounts SET balance = balance - $3, updated_at = now() \
                 WHERE user_id = $1 AND balance >= $3 AND NOT EXISTS (SELECT 1 FROM prior) \
                 RETURNING id, balance), \
             recorded AS ( \
                 INSERT INTO withdrawals (order_id, user_id, account_id, amount, outcome, balance_after) \
                 SELECT $2, $1, account.id, $3, \
                        CASE WHEN charged.id IS NULL THEN 'insufficient_funds' ELSE 'charged' END, \
                        COALESCE(charged.balance, account.balance) \
                 FROM account LEFT JOIN charged ON true \
                 WHERE NOT EXISTS (SELECT 1 FROM prior)), \
             entry AS ( \
                 INSERT INTO ledger_entries (id, account_id, kind, amount, order_id) \
                 SELECT $4, charged.id, 'withdrawal', -$3, $2 FROM charged) \
             SELECT prior.user_id AS prior_user_id, prior.account_id AS prior_account_id, \
                    prior.amount AS prior_amount, prior.outcome AS prior_outcome, \
                    prior.balance_after AS prior_balance_after, \
                    EXISTS (SELECT 1 FROM account) AS \"has_account!\", \
                    charged.id AS charged_account_id, charged.balance AS charged_balance \
             FROM (SELECT 1) one LEFT JOIN prior ON true LEFT JOIN charged ON true",
            user_id,
            order_id,
            amount.minor_units(),
            Uuid::new_v4(),
        )
        .fetch_one(pool)
        .await
        {
            Ok(attempt) => attempt,
            Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => {
                // A concurrent request for the same order committed first and ours was undone.
                let earlier = find_withdrawal(pool, order_id).await?;
                return Ok(earlier.map_or(Withdrawal::Mismatch, |row| row.replay(user_id, amount)));
            }
            Err(e) => return Err(e),
        };
        if let (
            Some(user_id_then),
            Some(account_id),
            Some(amount_then),
            Some(outcome),
            Some(balance_after),
        ) = (
            attempt.prior_user_id,
            attempt.prior_account_id,
            attempt.prior_amount,
            attempt.prior_outcome,
            attempt.prior_balance_after,
        ) {
            let earlier = WithdrawalRow {
                user_id: user_id_then,
                account_id,
                amount: amount_then,
                outcome,
                balance_after,
            };
            return Ok(earlier.replay(user_id, amount));
        }
        if !attempt.has_account {
            // Accounts are made at registration; one that is missing yet is made now.
            ensure_account(&mut *pool.acquire().await?, user_id).await?;
            continue;
        }
        return Ok(
            match (attempt.charged_account_id, attempt.charged_balance) {
                (Some(id), Some(balance)) => Withdrawal::Charged {
                    account: Account {
                        id,
                        user_id,
                        balance,
                    },
                    first: true,
                },
                _ => Withdrawal::InsufficientFunds,
            },
        );
    }
    Err(sqlx::Error::Protocol(
        "the account vanished while withdrawing".to_owned(),
    ))
}

/// The outcome of a refund for an order.
#[derive(Debug)]
pub enum Refund {
    /// Given back now (`first`) or earlier: `refunded` is what the order's withdrawal had
    /// charged (0 when it was never charged, and then the order is voided); the account as it
    /// was right after.
    Done {
        account: Account,
        refunded: i64,
        first: bool,
    },
    /// The order id belongs to another user's withdrawal or refund.
    Mismatch,
}

/// What the one statement of a refund found and did.
struct RefundAttempt {
    prior_user_id: Option<Uuid>,
    prior_account_id: Option<Uuid>,
    prior_refunded: Option<i64>,
    prior_balance_after: Option<i64>,
    has_account: bool,
    other_user: bool,
    account_id: Option<Uuid>,
    balance_after: Option<i64>,
    refunded: Option<i64>,
}

/// Gives back what `order_id` was charged, at most once; a repeat returns the first outcome.
/// An order that was never charged is voided: a withdrawal for it that comes later (a retry sent
/// before the cancel) charges nothing.
///
/// One statement does it all, like [`withdraw`]. The void is a row under the withdrawal's own
/// primary key, so a void and a withdrawal of one order racing each other cannot both win: the
/// statement that commits second violates the key, is undone, and runs again (a refund then sees
/// the charge and gives it back; a withdrawal sees the void and charges nothing). Two refunds
/// racing collide on the refund's primary key the same way.
pub async fn refund(pool: &PgPool, user_id: Uuid, order_id: Uuid) -> sqlx::Result<Refund> {
    // Each pass that does not answer was undone by a change that stays: the account made, a
    // concurrent withdrawal committed, a concurrent refund committed. Four passes cover all.
    for _ in 0..4 {
        let attempt: RefundAttempt = match sqlx::query_as!(
            RefundAttempt,
            "WITH prior AS ( \
                 SELECT user_id, account_id, refunded, balance_after \
                 FROM refunds WHERE order_id = $2), \
             account AS (SELECT id, balance FROM accounts WHERE user_id = $1), \
             withdrawal AS (SELECT user_id, amount, outcome FROM withdrawals WHERE order_id = $2), \
             other AS ( \
                 SELECT 1 FROM withdrawal WHERE user_id <> $1 \
                 UNION ALL SELECT 1 FROM prior WHERE user_id <> $1), \
             charge AS (SELECT amount FROM withdrawal WHERE outcome = 'charged'), \
             go AS ( \
                 SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM prior) \
                          AND NOT EXISTS (SELECT 1 FROM other)), \
             credited AS ( \
                 UPDATE accounts SET balance = balance + (SELECT amount FROM charge), \
                        updated_at = now() \
                 WHERE user_id = $1 AND EXISTS (SELECT 1 FROM charge) AND EXISTS (SELECT 1 FROM go) \
                 RETURNING id, balance), \
             voided AS ( \
                 INSERT INTO withdrawals (order_id, user_id, account_id, amount, outcome, balance_after) \
                 SELECT $2, $1, account.id, 0, 'voided', account.balance FROM account \
                 WHERE NOT EXISTS (SELECT 1 FROM withdrawal) AND EXISTS (SELECT 1 FROM go)), \
             outcome AS ( \
                 SELECT account.id AS account_id, \
                        COALESCE(credited.balance, account.balance) AS balance_after, \
                        CASE WHEN credited.id IS NULL THEN 0 ELSE (SELECT amount FROM charge) END AS refunded \
                 FROM account LEFT JOIN credited ON true WHERE EXISTS (SELECT 1 FROM go)), \
             recorded AS ( \
                 INSERT INTO refunds (order_id, user_id, account_id, refunded, balance_after) \
                 SELECT $2, $1, account_id, refunded, balance_after FROM outcome), \
             entry AS ( \
                 INSERT INTO ledger_entries (id, account_id, kind, amount, order_id) \
                 SELECT $3, credited.id, 'refund', (SELECT amount FROM charge), $2 FROM credited) \
             SELECT prior.user_id AS prior_user_id, prior.account_id AS prior_account_id, \
                    prior.refunded AS prior_refunded, prior.balance_after AS prior_balance_after, \
                    EXISTS (SELECT 1 FROM account) AS \"has_account!\", \
                    EXISTS (SELECT 1 FROM other) AS \"other_user!\", \
                    outcome.account_id, outcome.balance_after, outcome.refunded \
             FROM (SELECT 1) one LEFT JOIN prior ON true LEFT JOIN outcome ON true",
            user_id,
            order_id,
            Uuid::new_v4(),
        )
        .fetch_one(pool)
        .await
        {
            Ok(attempt) => attempt,
            // A concurrent withdrawal or refund of this order committed first and ours was
            // undone: run again against what it did.
            Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => continue,
            Err(e) => return Err(e),
        };
        if attempt.other_user {
            return Ok(Refund::Mismatch);
        }
        if let (Some(account_id), Some(refunded), Some(balance)) = (
            attempt.prior_account_id,
            attempt.prior_refunded,
            attempt.prior_balance_after,
        ) {
            debug_assert_eq!(attempt.prior_user_id, Some(user_id));
            return Ok(Refund::Done {
                account: Account {
                    id: account_id,
                    user_id,
                    balance,
                },
                refunded,
                first: false,
            });
        }
        if !attempt.has_account {
            ensure_account(&mut *pool.acquire().await?, user_id).await?;
            continue;
        }
        if let (Some(id), Some(balance), Some(refunded)) =
            (attempt.account_id, attempt.balance_after, attempt.refunded)
        {
            return Ok(Refund::Done {
                account: Account {
                    id,
                    user_id,
                    balance,
                },
                refunded,
                first: true,
            });
        }
    }
    Err(sqlx::Error::Protocol(
        "a refund kept colliding with concurrent changes of its order".to_owned(),
    ))
}

/// Deletes the deposits' stored answers older than `common::idempotency::RETENTION` (the
/// retention sweep).
pub async fn sweep_idempotency_keys(pool: &PgPool) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)",
        common::idempotency::RETENTION.as_secs_f64(),
    )
    .execute(pool)
    .await?
    .rows_affected())
}
