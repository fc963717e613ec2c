//! Settles orders left `pending` because billing could not be reached or timed out: retries
//! the idempotent withdraw with backoff, then records the outcome and its event.

use std::time::Duration;

use common::http::RequestId;
use common::money::Amount;
use tracing::Instrument;

use crate::orders;
use crate::AppState;

pub async fn run(state: AppState, interval: Duration) {
    loop {
        if let Err(e) = settle_due(&state).await {
            tracing::warn!(error = format!("{e:#}"), "settling pending orders failed");
        }
        if let Ok((pending, unsent, oldest)) = orders::backlog(&state.db).await {
            state.metrics.pending_orders.set(pending);
            state.metrics.outbox_unsent.set(unsent);
            state.metrics.outbox_oldest_age.set(oldest);
        }
        tokio::time::sleep(interval).await;
    }
}

async fn settle_due(state: &AppState) -> anyhow::Result<()> {
    for order in orders::claim_due(&state.db, 50).await? {
        let span =
            tracing::info_span!("settle", request_id = %order.request_id, order_id = %order.id);
        settle_one(state, order).instrument(span).await?;
    }
    Ok(())
}

async fn settle_one(state: &AppState, order: orders::Order) -> anyhow::Result<()> {
    let request_id = RequestId(order.request_id.clone());
    let amount = Amount::parse("price", order.price)?;
    match state
        .billing
        .withdraw(order.user_id, order.id, amount, &request_id)
        .await
    {
        Ok(payment) => {
            if let Some(settled) = state.orders.settle(&order, payment).await? {
                state
                    .metrics
                    .orders
                    .with_label_values(&[settled.status.as_str()])
                    .inc();
                tracing::info!(status = %settled.status, "pending order settled");
            }
        }
        Err(e) => tracing::warn!(
            error = format!("{e:#}"),
            "billing still unavailable for a pending order"
        ),
    }
    Ok(())
}
