//! Paying a pending order: the one path both a new order's request and the settler take.

use common::http::RequestId;
use common::money::Amount;

use crate::clients::billing::Refused;
use crate::orders::{self, Order};
use crate::AppState;

/// Asks billing to charge a pending order (idempotent by order id) and records the answer with
/// its event. Returns the order as it now stands: created or rejected, or still pending when
/// billing's answer is unknown or recording it failed, for the settler to try again. Never
/// reports "nothing happened" when billing may have charged: a retry without a key would buy
/// twice.
pub async fn pay(state: &AppState, order: Order) -> Order {
    let amount = match Amount::parse("price", order.price) {
        Ok(amount) => amount,
        Err(_) => {
            tracing::error!(order_id = %order.id, price = order.price, "stored order has an invalid price");
            return order;
        }
    };
    let request_id = RequestId(order.request_id.clone());
    let payment = match state
        .billing
        .withdraw(order.user_id, order.id, amount, &request_id)
        .await
    {
        Ok(payment) => payment,
        Err(e) if e.downcast_ref::<Refused>().is_some() => {
            // Not retried into oblivion quietly: an alert fires on this counter.
            state.metrics.payment_refusals.inc();
            tracing::error!(order_id = %order.id, error = format!("{e:#}"), "billing refused the charge, order left pending");
            return order;
        }
        Err(e) => {
            tracing::warn!(order_id = %order.id, error = format!("{e:#}"), "payment outcome unknown, order left pending");
            return order;
        }
    };
    let settled = {
        let _timer = state.metrics.db_query.start("settle_order");
        state.orders.settle(&order, payment).await
    };
    match settled {
        Ok(Some(settled)) => {
            state
                .metrics
                .orders
                .with_label_values(&[settled.status.as_str()])
                .inc();
            tracing::info!(order_id = %settled.id, status = settled.status.as_str(), "payment recorded");
            settled
        }
        // Someone else recorded the outcome first; show what they recorded.
        Ok(None) => orders::find(&state.db, order.id)
            .await
            .ok()
            .flatten()
            .unwrap_or(order),
        Err(e) => {
            tracing::error!(order_id = %order.id, error = %e, "recording the payment failed, order left pending");
            order
        }
    }
}
