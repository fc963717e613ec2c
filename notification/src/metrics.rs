use common::metrics::Metrics;
use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts};

/// Business metrics of the notification service.
pub struct NotificationMetrics {
    /// The shared `db_query_duration_seconds` histogram.
    pub db_query: common::metrics::QueryTimes,
    /// Events handled, by outcome: stored, duplicate, dead_lettered.
    pub events_consumed: IntCounterVec,
    /// Redriven events (`notification redrive`) handled, by the same outcomes.
    pub redriven_events: IntCounterVec,
    /// Time from the event's occurrence (the order's outcome) to its notification being stored.
    pub event_delay: Histogram,
    /// Messages not yet consumed, per partition, from the Kafka client's statistics.
    pub consumer_lag: IntGaugeVec,
    /// Partitions this consumer holds now.
    pub assigned_partitions: IntGauge,
}

impl NotificationMetrics {
    pub fn new(metrics: &Metrics) -> Self {
        let this = Self {
            db_query: metrics.query_times(),
            events_consumed: IntCounterVec::new(
                Opts::new(
                    "notification_events_consumed_total",
                    "Order events handled, by outcome",
                ),
                &["outcome"],
            )
            .expect("static metric"),
            redriven_events: IntCounterVec::new(
                Opts::new(
                    "notification_redriven_events_total",
                    "Events republished from the dead-letter topic and handled again, by outcome",
                ),
                &["outcome"],
            )
            .expect("static metric"),
            event_delay: Histogram::with_opts(
                HistogramOpts::new(
                    "notification_event_delay_seconds",
                    "From an order's outcome to its notification being stored (end to end)",
                )
                .buckets(vec![
                    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
                ]),
            )
            .expect("static metric"),
            consumer_lag: IntGaugeVec::new(
                Opts::new(
                    "notification_consumer_lag_messages",
                    "Messages behind the end of each partition",
                ),
                &["topic", "partition"],
            )
            .expect("static metric"),
            assigned_partitions: IntGauge::new(
                "notification_consumer_assigned_partitions",
                "Partitions of order-events this consumer holds now",
            )
            .expect("static metric"),
        };
        // Every outcome exists from the start at 0, so increase() sees the first one.
        for outcome in ["stored", "duplicate", "dead_lettered"] {
            this.events_consumed.with_label_values(&[outcome]);
            this.redriven_events.with_label_values(&[outcome]);
        }
        metrics.register(Box::new(this.events_consumed.clone()));
        metrics.register(Box::new(this.redriven_events.clone()));
        metrics.register(Box::new(this.event_delay.clone()));
        metrics.register(Box::new(this.consumer_lag.clone()));
        metrics.register(Box::new(this.assigned_partitions.clone()));
        this
    }
}
