use crate::orders::Backlog;
use common::metrics::Metrics;
use prometheus::{Gauge, IntCounter, IntCounterVec, IntGauge, Opts};

/// Business metrics of the order service.
pub struct OrderMetrics {
    /// The shared `db_query_duration_seconds` histogram.
    pub db_query: common::metrics::QueryTimes,
    pub orders: IntCounterVec,
    pub events_published: IntCounter,
    pub pending_orders: IntGauge,
    pub pending_oldest_age: Gauge,
    /// Billing's definite refusals to charge (401, 409 …): the order stays pending.
    pub payment_refusals: IntCounter,
    pub outbox_unsent: IntGauge,
    pub outbox_oldest_age: Gauge,
    pub outbox_parked: IntGauge,
    /// Cancelled orders whose refund billing has not confirmed yet, and the oldest one's age.
    pub refunds_due: IntGauge,
    pub refund_due_oldest_age: Gauge,
    /// Billing's definite refusals to refund (401, 409 …): the refund stays due.
    pub refund_refusals: IntCounter,
    /// Orders not placed, by why: `out_of_stock`, `not_for_sale`, `over_limit`.
    pub refused_orders: IntCounterVec,
}

impl OrderMetrics {
    pub fn new(metrics: &Metrics) -> Self {
        let this = Self {
            db_query: metrics.query_times(),
            orders: IntCounterVec::new(
                Opts::new("order_orders_total", "Orders by the status they reached"),
                &["status"],
            )
            .expect("static metric"),
            events_published: IntCounter::new(
                "order_events_published_total",
                "Outbox events acknowledged by Kafka",
            )
            .expect("static metric"),
            pending_orders: IntGauge::new("order_pending_orders", "Orders awaiting settlement")
                .expect("static metric"),
            pending_oldest_age: Gauge::new(
                "order_pending_oldest_age_seconds",
                "Age of the oldest order awaiting settlement",
            )
            .expect("static metric"),
            payment_refusals: IntCounter::new(
                "order_payment_refusals_total",
                "Billing's answers to a charge that are neither a charge nor insufficient funds",
            )
            .expect("static metric"),
            outbox_unsent: IntGauge::new(
                "order_outbox_unsent_events",
                "Outbox events not yet published",
            )
            .expect("static metric"),
            outbox_oldest_age: Gauge::new(
                "order_outbox_oldest_unsent_age_seconds",
                "Age of the oldest unpublished outbox event",
            )
            .expect("static metric"),
            outbox_parked: IntGauge::new(
                "order_outbox_parked_events",
                "Outbox events the broker refused for good, set aside for an operator",
            )
            .expect("static metric"),
            refunds_due: IntGauge::new(
                "order_refunds_due",
                "Cancelled orders whose refund billing has not confirmed yet",
            )
            .expect("static metric"),
            refund_due_oldest_age: Gauge::new(
                "order_refund_due_oldest_age_seconds",
                "Time since the cancel of the oldest order whose refund is not confirmed yet",
            )
            .expect("static metric"),
            refund_refusals: IntCounter::new(
                "order_refund_refusals_total",
                "Billing's answers to a refund that are not a refund (a wrong credential, another user's order)",
            )
            .expect("static metric"),
            refused_orders: IntCounterVec::new(
                Opts::new(
                    "order_refused_orders_total",
                    "Orders not placed (nothing stored or charged), by why",
                ),
                &["reason"],
            )
            .expect("static metric"),
        };
        // Every status exists from the start at 0, so increase() sees the first one.
        for status in ["created", "rejected", "cancelled"] {
            this.orders.with_label_values(&[status]);
        }
        for reason in ["out_of_stock", "not_for_sale", "over_limit"] {
            this.refused_orders.with_label_values(&[reason]);
        }
        metrics.register(Box::new(this.orders.clone()));
        metrics.register(Box::new(this.events_published.clone()));
        metrics.register(Box::new(this.pending_orders.clone()));
        metrics.register(Box::new(this.outbox_unsent.clone()));
        metrics.register(Box::new(this.outbox_oldest_age.clone()));
        metrics.register(Box::new(this.pending_oldest_age.clone()));
        metrics.register(Box::new(this.payment_refusals.clone()));
        metrics.register(Box::new(this.outbox_parked.clone()));
        metrics.register(Box::new(this.refunds_due.clone()));
        metrics.register(Box::new(this.refund_due_oldest_age.clone()));
        metrics.register(Box::new(this.refund_refusals.clone()));
        metrics.register(Box::new(this.refused_orders.clone()));
        this
    }

    pub fn record_backlog(&self, backlog: &Backlog) {
        self.pending_orders.set(backlog.pending);
        self.pending_oldest_age.set(backlog.oldest_pending);
        self.outbox_unsent.set(backlog.unsent);
        self.outbox_oldest_age.set(backlog.oldest_unsent);
        self.outbox_parked.set(backlog.parked);
        self.refunds_due.set(backlog.refunds_due);
        self.refund_due_oldest_age.set(backlog.oldest_refund_due);
    }
}
