//! Paying a pending order, and refunding a cancelled one: the paths both a request and the
//! settler take.

use common::http::RequestId;
use common::money::Amount;

use crate::clients::billing::{BillingError, Payment};
use crate::orders::{self, Order};
use crate::AppState;

/// Asks billing to charge a pending order (idempotent by order id) and records the answer with
/// its event. Returns the order as it now stands: created or rejected, or still pending when
/// billing gave no definite answer or recording it failed, for the settler to try again. Never
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
        Err(e @ BillingError::Rejected { .. }) => {
            // Not retried into oblivion quietly: an alert fires on this counter.
            state.metrics.payment_refusals.inc();
            tracing::error!(order_id = %order.id, error = %e, "billing refused the charge, order left pending");
            return order;
        }
        Err(e @ BillingError::Unavailable(_)) => {
            tracing::warn!(order_id = %order.id, error = %e, "billing unavailable, nothing charged, order left pending");
            return order;
        }
        Err(e @ BillingError::Unknown(_)) => {
            tracing::warn!(order_id = %order.id, error = %e, "payment outcome unknown, order left pending");
            return order;
        }
    };
    if payment == Payment::Voided {
        // Cancelled meanwhile, and its refund reached billing first: nothing was charged.
        tracing::info!(order_id = %order.id, "order cancelled before its charge, nothing charged");
        return current(state, order).await;
    }
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
        // Someone else recorded the outcome first, or the order was cancelled meanwhile (its
        // refund gives back what this charge took); show how it stands.
        Ok(None) => current(state, order).await,
        Err(e) => {
            tracing::error!(order_id = %order.id, error = %e, "recording the payment failed, order left pending");
            order
        }
    }
}

/// Asks billing to give back what a cancelled order was charged (idempotent by order id: it
/// voids an order never charged, so a charge still in flight cannot land), and records the
/// refund with the OrderCancelled event. Returns the order as it now stands: its refund done,
/// or still due when billing gave no definite answer or recording it failed, for the settler
/// to try again.
pub async fn refund(state: &AppState, order: Order) -> Order {
    let request_id = RequestId(order.request_id.clone());
    let refunded = match state
        .billing
        .refund(order.user_id, order.id, &request_id)
        .await
    {
        Ok(refunded) => refunded,
        Err(e @ BillingError::Rejected { .. }) => {
            state.metrics.refund_refusals.inc();
            tracing::error!(order_id = %order.id, error = %e, "billing refused the refund, refund left due");
            return order;
        }
        Err(e @ BillingError::Unavailable(_)) => {
            tracing::warn!(order_id = %order.id, error = %e, "billing unavailable, nothing refunded, refund left due");
            return order;
        }
        Err(e @ BillingError::Unknown(_)) => {
            tracing::warn!(order_id = %order.id, error = %e, "refund outcome unknown, refund left due");
            return order;
        }
    };
    let recorded = {
        let _timer = state.metrics.db_query.start("record_refund");
        orders::record_refund(&state.db, &order, refunded, &state.topic).await
    };
    match recorded {
        Ok(Some(done)) => {
            tracing::info!(order_id = %done.id, refunded, "refund recorded");
            done
        }
        Ok(None) => current(state, order).await,
        Err(e) => {
            tracing::error!(order_id = %order.id, error = %e, "recording the refund failed, refund left due");
            order
        }
    }
}

/// The order as stored now, or as given when it cannot be read.
async fn current(state: &AppState, order: Order) -> Order {
    orders::find(&state.db, order.id)
        .await
        .ok()
        .flatten()
        .unwrap_or(order)
}
