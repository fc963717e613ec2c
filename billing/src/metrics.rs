use common::error::code;
use common::metrics::Metrics;
use prometheus::{IntCounter, IntCounterVec, Opts};

/// Business metrics of billing.
pub struct BillingMetrics {
    /// The shared `db_query_duration_seconds` histogram.
    pub db_query: common::metrics::QueryTimes,
    pub deposits: IntCounter,
    pub deposited_amount: IntCounter,
    pub withdrawals: IntCounterVec,
    pub withdrawn_amount: IntCounter,
    pub refunds: IntCounterVec,
    pub refunded_amount: IntCounter,
}

impl BillingMetrics {
    pub fn new(metrics: &Metrics) -> Self {
        let this = Self {
            db_query: metrics.query_times(),
            deposits: IntCounter::new("billing_deposits_total", "Deposits applied")
                .expect("static metric"),
            deposited_amount: IntCounter::new(
                "billing_deposited_minor_units_total",
                "Money deposited, in minor units",
            )
            .expect("static metric"),
            withdrawals: IntCounterVec::new(
                Opts::new(
                    "billing_withdrawals_total",
                    "Withdrawal requests by outcome: charged, replayed, insufficient_funds, voided, mismatch",
                ),
                &["outcome"],
            )
            .expect("static metric"),
            withdrawn_amount: IntCounter::new(
                "billing_withdrawn_minor_units_total",
                "Money withdrawn for orders, in minor units",
            )
            .expect("static metric"),
            refunds: IntCounterVec::new(
                Opts::new(
                    "billing_refunds_total",
                    "Refund requests by outcome: refunded, voided (never charged), replayed, mismatch",
                ),
                &["outcome"],
            )
            .expect("static metric"),
            refunded_amount: IntCounter::new(
                "billing_refunded_minor_units_total",
                "Money given back for cancelled orders, in minor units",
            )
            .expect("static metric"),
        };
        metrics.register(Box::new(this.deposits.clone()));
        metrics.register(Box::new(this.deposited_amount.clone()));
        // Every outcome exists from the start at 0, so increase() sees the first one.
        for outcome in [
            "charged",
            "replayed",
            code::INSUFFICIENT_FUNDS,
            "voided",
            "mismatch",
        ] {
            this.withdrawals.with_label_values(&[outcome]);
        }
        metrics.register(Box::new(this.withdrawals.clone()));
        metrics.register(Box::new(this.withdrawn_amount.clone()));
        for outcome in ["refunded", "voided", "replayed", "mismatch"] {
            this.refunds.with_label_values(&[outcome]);
        }
        metrics.register(Box::new(this.refunds.clone()));
        metrics.register(Box::new(this.refunded_amount.clone()));
        this
    }
}
