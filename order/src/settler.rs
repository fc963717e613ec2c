//! Settles orders left `pending` because billing could not be reached or timed out: retries
//! the idempotent withdraw with backoff, then records the outcome and its event. Likewise for
//! cancelled orders whose refund is still due.

use std::time::Duration;

use common::telemetry::Parent;
use tracing::Instrument;

use crate::AppState;
use crate::{orders, payment};

pub async fn run(state: AppState, interval: Duration) {
    loop {
        if let Err(e) = settle_due(&state).await {
            tracing::warn!(error = format!("{e:#}"), "settling pending orders failed");
        }
        if let Ok(backlog) = orders::backlog(&state.db).await {
            state.metrics.record_backlog(&backlog);
        }
        tokio::time::sleep(interval).await;
    }
}

async fn settle_due(state: &AppState) -> anyhow::Result<()> {
    for order in orders::claim_due(&state.db, 50).await? {
        // Part of the trace of the request that placed the order.
        let parent = Parent::of(order.traceparent.as_deref());
        let span = common::traced_span!("settle", parent, request_id = %order.request_id,
            order_id = %order.id);
        payment::pay(state, order).instrument(span).await;
    }
    for order in orders::claim_due_refunds(&state.db, 50).await? {
        // Part of the trace of the request that cancelled the order.
        let parent = Parent::of(order.traceparent.as_deref());
        let span = common::traced_span!("refund", parent, request_id = %order.request_id,
            order_id = %order.id);
        payment::refund(state, order).instrument(span).await;
    }
    Ok(())
}
