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

/// Why a withdrawal or a refund gave up without an answer.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Nothing was applied: concurrent changes undid every pass or left it nothing to change
    /// (the reason says which). The caller may retry.
    #[error("{0}")]
    Contended(&'static str),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What one pass of a withdrawal or refund leads to.
enum Step<T> {
    Answer(T),
    /// The user has no account yet: make it, then run the statement again.
    EnsureAccount,
    /// A concurrent change undid the statement: run it again.
    Retry,
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
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

/// The outcome recorded for an order in `withdrawals.outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
enum WithdrawalOutcome {
    Charged,
    InsufficientFunds,
    Voided,
}

struct WithdrawalRow {
    user_id: Uuid,
    account_id: Uuid,
    amount: i64,
    outcome: WithdrawalOutcome,
    balance_after: i64,
}

impl WithdrawalRow {
    fn replay(self, user_id: Uuid, amount: Amount) -> Withdrawal {
        if self.user_id != user_id {
            return Withdrawal::Mismatch;
        }
        match self.outcome {
            WithdrawalOutcome::Voided => Withdrawal::Voided,
            _ if self.amount != amount.minor_units() => Withdrawal::Mismatch,
            WithdrawalOutcome::Charged => Withdrawal::Charged {
                account: Account {
                    id: self.account_id,
                    user_id: self.user_id,
                    balance: self.balance_after,
                },
                first: false,
            },
            WithdrawalOutcome::InsufficientFunds => Withdrawal::InsufficientFunds,
        }
    }
}

async fn find_withdrawal(pool: &PgPool, order_id: Uuid) -> sqlx::Result<Option<WithdrawalRow>> {
    sqlx::query_as!(
        WithdrawalRow,
        r#"SELECT user_id, account_id, amount, outcome AS "outcome: WithdrawalOutcome", balance_after FROM withdrawals WHERE order_id = $1"#,
        order_id,
    )
    .fetch_optional(pool)
    .await
}

/// What the one statement of a withdrawal found and did.
struct WithdrawalAttempt {
    /// The outcome recorded earlier for this order, if any (then nothing was done now).
    prior_user_id: Option<Uuid>,
    prior_account_id: Option<Uuid>,
    prior_amount: Option<i64>,
    prior_outcome: Option<WithdrawalOutcome>,
    prior_balance_after: Option<i64>,
    /// Whether the user has an account at all.
    has_account: bool,
    /// The account after the charge, when it was charged now.
    charged_account_id: Option<Uuid>,
    charged_balance: Option<i64>,
}

impl WithdrawalAttempt {
    fn outcome(self, user_id: Uuid, amount: Amount) -> Step<Withdrawal> {
        if let (
            Some(user_id_then),
            Some(account_id),
            Some(amount_then),
            Some(outcome),
            Some(balance_after),
        ) = (
            self.prior_user_id,
            self.prior_account_id,
            self.prior_amount,
            self.prior_outcome,
            self.prior_balance_after,
        ) {
            let earlier = WithdrawalRow {
                user_id: user_id_then,
                account_id,
                amount: amount_then,
                outcome,
                balance_after,
            };
            return Step::Answer(earlier.replay(user_id, amount));
        }
        if !self.has_account {
            // Accounts are made at registration; one that is missing yet is made now.
            return Step::EnsureAccount;
        }
        Step::Answer(match (self.charged_account_id, self.charged_balance) {
            (Some(id), Some(balance)) => Withdrawal::Charged {
                account: Account {
                    id,
                    user_id,
                    balance,
                },
                first: true,
            },
            _ => Withdrawal::InsufficientFunds,
        })
    }
}

/// The one statement of a withdrawal: find an earlier outcome, charge if the balance allows,
/// record the outcome, write the ledger row.
async fn withdrawal_statement(
    pool: &PgPool,
    user_id: Uuid,
    order_id: Uuid,
    amount: Amount,
) -> sqlx::Result<WithdrawalAttempt> {
    sqlx::query_as!(
        WithdrawalAttempt,
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
                prior.amount AS prior_amount, prior.outcome AS \"prior_outcome: WithdrawalOutcome\", \
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
) -> Result<Withdrawal, LedgerError> {
    // A pass that does not answer found no account and made one; the second then answers.
    for _ in 0..2 {
        let step = match withdrawal_statement(pool, user_id, order_id, amount).await {
            Ok(attempt) => attempt.outcome(user_id, amount),
            Err(e) if is_unique_violation(&e) => {
                // A concurrent request for the same order committed first and ours was undone.
                let earlier = find_withdrawal(pool, order_id).await?;
                Step::Answer(
                    earlier.map_or(Withdrawal::Mismatch, |row| row.replay(user_id, amount)),
                )
            }
            Err(e) => return Err(e.into()),
        };
        match step {
            Step::Answer(withdrawal) => return Ok(withdrawal),
            Step::EnsureAccount => {
                ensure_account(&mut *pool.acquire().await?, user_id).await?;
            }
            Step::Retry => {}
        }
    }
    Err(LedgerError::Contended(
        "the account vanished while withdrawing",
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

impl RefundAttempt {
    fn outcome(self, user_id: Uuid) -> Step<Refund> {
        if self.other_user {
            return Step::Answer(Refund::Mismatch);
        }
        if let (Some(account_id), Some(refunded), Some(balance)) = (
            self.prior_account_id,
            self.prior_refunded,
            self.prior_balance_after,
        ) {
            debug_assert_eq!(self.prior_user_id, Some(user_id));
            return Step::Answer(Refund::Done {
                account: Account {
                    id: account_id,
                    user_id,
                    balance,
                },
                refunded,
                first: false,
            });
        }
        if !self.has_account {
            return Step::EnsureAccount;
        }
        match (self.account_id, self.balance_after, self.refunded) {
            (Some(id), Some(balance), Some(refunded)) => Step::Answer(Refund::Done {
                account: Account {
                    id,
                    user_id,
                    balance,
                },
                refunded,
                first: true,
            }),
            _ => Step::Retry,
        }
    }
}

/// The one statement of a refund: find an earlier refund and whose the order is, give back
/// what was charged or void the order, record the refund, write the ledger row.
async fn refund_statement(
    pool: &PgPool,
    user_id: Uuid,
    order_id: Uuid,
) -> sqlx::Result<RefundAttempt> {
    sqlx::query_as!(
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
pub async fn refund(pool: &PgPool, user_id: Uuid, order_id: Uuid) -> Result<Refund, LedgerError> {
    // Each pass that does not answer was undone by a change that stays: the account made, a
    // concurrent withdrawal committed, a concurrent refund committed. Four passes cover all.
    for _ in 0..4 {
        let step = match refund_statement(pool, user_id, order_id).await {
            Ok(attempt) => attempt.outcome(user_id),
            // A concurrent withdrawal or refund of this order committed first and ours was
            // undone: run again against what it did.
            Err(e) if is_unique_violation(&e) => Step::Retry,
            Err(e) => return Err(e.into()),
        };
        match step {
            Step::Answer(refund) => return Ok(refund),
            Step::EnsureAccount => {
                ensure_account(&mut *pool.acquire().await?, user_id).await?;
            }
            Step::Retry => {}
        }
    }
    Err(LedgerError::Contended(
        "a refund kept colliding with concurrent changes of its order",
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
