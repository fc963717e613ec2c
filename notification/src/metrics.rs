use common::metrics::Metrics;
use prometheus::{IntCounterVec, Opts};

/// Business metrics of the notification service.
pub struct NotificationMetrics {
    /// Events handled, by outcome: stored, duplicate, dead_lettered.
    pub events_consumed: IntCounterVec,
}

impl NotificationMetrics {
    pub fn new(metrics: &Metrics) -> Self {
        let this = Self {
            events_consumed: IntCounterVec::new(
                Opts::new(
                    "notification_events_consumed_total",
                    "Order events handled, by outcome",
                ),
                &["outcome"],
            )
            .expect("static metric"),
        };
        metrics.register(Box::new(this.events_consumed.clone()));
        this
    }
}
