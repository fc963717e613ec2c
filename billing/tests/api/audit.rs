//! The books' invariants as the cross-service tests and the fault suite read them
//! (`billing::audit`): what each order keeps, and the accounts whose balance is not their
//! ledger's sum.

use std::collections::HashMap;

use billing::audit::{self, Unbalanced};
use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::{json_of, spawn_app, BillingApi};

#[tokio::test]
async fn the_audit_reads_what_each_order_keeps_and_finds_a_balance_off_its_ledger() {
    let app = spawn_app().await;
    let (user, token) = app.user();
    let (other, other_token) = app.user();
    json_of(app.deposit(&token, 1_000, None).await, StatusCode::OK).await;
    json_of(app.deposit(&other_token, 50, None).await, StatusCode::OK).await;
    let (kept, refunded, never_charged) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    json_of(app.withdraw(user, kept, 300).await, StatusCode::OK).await;
    json_of(app.withdraw(user, refunded, 200).await, StatusCode::OK).await;
    json_of(app.refund(user, refunded).await, StatusCode::OK).await;

    let by_order = audit::kept_by_order(&app.db, &[user, other])
        .await
        .expect("ledger");
    assert_eq!(by_order, HashMap::from([(kept, 300), (refunded, 0)]));
    assert!(audit::kept_by_order(&app.db, &[other])
        .await
        .expect("ledger")
        .is_empty());
    for (order, withdrawals) in [(kept, 1), (refunded, 1), (never_charged, 0)] {
        let entries = audit::withdrawal_entries(&app.db, order).await;
        assert_eq!(entries.expect("ledger"), withdrawals, "order {order}");
    }
    let balanced = audit::unbalanced_accounts(&app.db, &[user, other]).await;
    assert!(balanced.expect("books").is_empty());

    sqlx::query!(
        "UPDATE accounts SET balance = balance + 1 WHERE user_id = $1",
        user
    )
    .execute(&app.db)
    .await
    .expect("skew the balance");
    let unbalanced = audit::unbalanced_accounts(&app.db, &[user, other]).await;
    assert_eq!(
        unbalanced.expect("books"),
        [Unbalanced {
            user_id: user,
            balance: 701,
            ledger_sum: 700,
        }]
    );
}
