use common::metrics::Metrics;
use prometheus::{IntCounter, IntCounterVec, Opts};

/// Business metrics of the user service.
pub struct UserMetrics {
    /// The shared `db_query_duration_seconds` histogram.
    pub db_query: common::metrics::QueryTimes,
    pub registrations: IntCounterVec,
    pub logins: IntCounterVec,
    /// argon2id hashes computed for registrations (19 MiB and tens of milliseconds each).
    pub registration_hashes: IntCounter,
}

impl UserMetrics {
    pub fn new(metrics: &Metrics) -> Self {
        let this = Self {
            db_query: metrics.query_times(),
            registrations: IntCounterVec::new(
                Opts::new(
                    "user_registrations_total",
                    "Registration attempts by outcome",
                ),
                &["outcome"],
            )
            .expect("static metric"),
            logins: IntCounterVec::new(
                Opts::new("user_logins_total", "Login attempts by outcome"),
                &["outcome"],
            )
            .expect("static metric"),
            registration_hashes: IntCounter::new(
                "user_registration_hashes_total",
                "argon2id hashes computed for registrations",
            )
            .expect("static metric"),
        };
        // Every outcome exists from the start at 0, so increase() sees the first one.
        for outcome in ["created", "rejected"] {
            this.registrations.with_label_values(&[outcome]);
        }
        for outcome in ["succeeded", "failed"] {
            this.logins.with_label_values(&[outcome]);
        }
        metrics.register(Box::new(this.registrations.clone()));
        metrics.register(Box::new(this.logins.clone()));
        metrics.register(Box::new(this.registration_hashes.clone()));
        this
    }
}
