use common::metrics::Metrics;
use prometheus::{IntCounterVec, Opts};

/// Business metrics of the user service.
pub struct UserMetrics {
    pub registrations: IntCounterVec,
    pub logins: IntCounterVec,
}

impl UserMetrics {
    pub fn new(metrics: &Metrics) -> Self {
        let this = Self {
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
        };
        metrics.register(Box::new(this.registrations.clone()));
        metrics.register(Box::new(this.logins.clone()));
        this
    }
}
