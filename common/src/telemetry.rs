//! Tracing setup: logs (human-readable locally, JSON lines when `LOG_FORMAT=json`) and W3C trace
//! context. Every span is also an OpenTelemetry span, so a request's trace is continued from its
//! `traceparent`, its `trace_id` is on its log lines, and it is passed on to billing and in
//! Kafka headers. With `OTEL_EXPORTER_OTLP_ENDPOINT` set the spans are exported over OTLP/HTTP
//! in batches; unset, they are dropped when they end and nothing leaves the process.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::{Injector, TextMapPropagator};
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The W3C trace context header, on HTTP requests and Kafka messages alike.
pub const TRACEPARENT: &str = "traceparent";

/// Whether spans are exported: what only an exported span needs (its attributes) is skipped
/// otherwise.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// True when this process exports its spans.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// The HTTP attributes of a server span (OpenTelemetry's semantic conventions).
pub fn describe_request(span: &tracing::Span, method: &str, route: &str, status: u16) {
    span.set_attribute("http.request.method", method.to_owned());
    span.set_attribute("http.route", route.to_owned());
    span.set_attribute("http.response.status_code", i64::from(status));
}

/// Keeps the span exporter of a process; [`Telemetry::shutdown`] sends what is still queued.
#[must_use = "dropping it does not flush the spans still queued: call shutdown"]
pub struct Telemetry(Option<SdkTracerProvider>);

impl Telemetry {
    /// Exports the spans still queued (when exporting) and stops the exporter.
    pub fn shutdown(self) {
        if let Some(provider) = self.0 {
            if let Err(e) = provider.shutdown() {
                tracing::warn!(error = %e, "flushing the last spans failed");
            }
        }
    }
}

/// Installs the global subscriber once: log lines and spans, both filtered by `RUST_LOG`
/// (default `info`: the spans that carry the trace context are at info, so a level above it
/// also ends the service's part in traces). `service` names the exported spans
/// (`service.name`).
pub fn init(service: &'static str) -> Telemetry {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn,reqwest=warn"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal());
    let fmt = if json {
        fmt.json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed()
    } else {
        fmt.compact().boxed()
    };
    let (spans, telemetry) = traces(service);
    // One filter for both layers: a per-layer filter costs every span and event a lookup per
    // layer. A second init (tests spawning several apps) is harmless: its error is ignored.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(spans)
        .try_init();
    if telemetry.0.is_some() {
        tracing::info!("exporting spans over OTLP (OTEL_EXPORTER_OTLP_ENDPOINT)");
    }
    telemetry
}

/// The layer that makes spans OpenTelemetry spans (exported when `OTEL_EXPORTER_OTLP_ENDPOINT`
/// is set), for a subscriber to put beside its log layer.
pub fn traces<S>(service: &'static str) -> (Box<dyn Layer<S> + Send + Sync>, Telemetry)
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a> + Send + Sync,
{
    let (provider, exporting) = tracer_provider(service);
    EXPORTING.store(exporting, Ordering::Relaxed);
    // Only what the spans are: no per-poll bookkeeping (inactivity timings, an OpenTelemetry
    // context attached on every enter), no thread or source attributes.
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(service))
        .with_tracked_inactivity(false)
        .with_context_activation(false)
        .with_threads(false)
        .with_location(false)
        .with_target(false);
    (layer.boxed(), Telemetry(exporting.then_some(provider)))
}

/// A provider exporting over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; else one
/// with no exporter, whose spans still get their ids (and so propagate) but go nowhere.
fn tracer_provider(service: &'static str) -> (SdkTracerProvider, bool) {
    let builder = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service).build());
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_default();
    if endpoint.trim().is_empty() {
        return (builder.build(), false);
    }
    // The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (adding /v1/traces), _HEADERS and
    // _TIMEOUT itself; the batch processor OTEL_BSP_* (queue, batch size, delay).
    match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
    {
        Ok(exporter) => (builder.with_batch_exporter(exporter).build(), true),
        Err(e) => {
            eprintln!("OTEL_EXPORTER_OTLP_ENDPOINT is set but the exporter cannot be built ({e}); spans are not exported");
            (builder.build(), false)
        }
    }
}

/// Opens an info span that continues the trace of a `traceparent` header value (a [`Parent`];
/// a new trace when there is none or it is malformed), with a `trace_id` field beside the
/// given ones:
/// `common::traced_span!("request", Parent::of(header), request_id = %id)`.
#[macro_export]
macro_rules! traced_span {
    ($name:literal, $parent:expr, $($fields:tt)*) => {{
        let parent: $crate::telemetry::Parent<'_> = $parent;
        let span = match parent.trace_id() {
            Some(trace_id) => ::tracing::info_span!($name, $($fields)*, trace_id = %trace_id),
            None => ::tracing::info_span!($name, $($fields)*, trace_id = ::tracing::field::Empty),
        };
        $crate::telemetry::adopt(&span, parent);
        span
    }};
}

/// The trace a span continues: a well-formed W3C `traceparent` (version 00, lowercase hex,
/// neither id all zeros), or none.
pub struct Parent<'a> {
    header: &'a str,
    context: Option<SpanContext>,
}

impl<'a> Parent<'a> {
    /// Parses a `traceparent` value; anything malformed starts a new trace instead.
    pub fn of(value: Option<&'a str>) -> Self {
        let value = value.unwrap_or_default();
        Self {
            header: value,
            context: parse_traceparent(value),
        }
    }

    /// The trace id, as the header spells it, when it is continued.
    pub fn trace_id(&self) -> Option<&'a str> {
        self.context.as_ref().map(|_| &self.header[3..35])
    }
}

fn parse_traceparent(value: &str) -> Option<SpanContext> {
    let bytes = value.as_bytes();
    let hex = |range: std::ops::Range<usize>| {
        bytes[range.clone()]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            .then(|| &value[range])
    };
    if bytes.len() != 55 || !value.starts_with("00-") || bytes[35] != b'-' || bytes[52] != b'-' {
        return None;
    }
    let trace = u128::from_str_radix(hex(3..35)?, 16).ok()?;
    let span = u64::from_str_radix(hex(36..52)?, 16).ok()?;
    let flags = u8::from_str_radix(hex(53..55)?, 16).ok()?;
    (trace != 0 && span != 0).then(|| {
        SpanContext::new(
            TraceId::from(trace),
            SpanId::from(span),
            TraceFlags::new(flags),
            true,
            TraceState::NONE,
        )
    })
}

/// Makes `span` (opened by [`traced_span!`]) a child of `parent`, or records the id of the
/// trace it starts. Before the span is first entered.
pub fn adopt(span: &tracing::Span, parent: Parent<'_>) {
    match parent.context {
        Some(context) => {
            let _ = span.set_parent(Context::new().with_remote_span_context(context));
        }
        None => {
            let context = span.context();
            let trace_id = context.span().span_context().trace_id();
            span.record("trace_id", tracing::field::display(trace_id));
        }
    }
}

/// The `traceparent` header value that makes the receiver a child of `span`; `None` when
/// tracing is not set up (a test without [`init`]).
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let mut carrier = Carrier(None);
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier.0
}

/// The `traceparent` of the current span.
pub fn current_traceparent() -> Option<String> {
    traceparent_of(&tracing::Span::current())
}

/// Receives the `traceparent` value (and ignores the rest: no `tracestate` is kept).
struct Carrier(Option<String>);

impl Injector for Carrier {
    fn set(&mut self, key: &str, value: String) {
        if key == TRACEPARENT {
            self.0 = Some(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn request_span(traceparent: Option<&str>) -> tracing::Span {
        crate::traced_span!("request", Parent::of(traceparent), request_id = "r")
    }

    #[test]
    fn a_span_continues_the_callers_trace_and_passes_on_its_own_id() {
        let _telemetry = init("test");
        let span = request_span(Some(PARENT));
        let passed_on = traceparent_of(&span).expect("a traceparent");
        let parts: Vec<&str> = passed_on.split('-').collect();
        assert_eq!(parts[0], "00");
        assert_eq!(
            parts[1], "4bf92f3577b34da6a3ce929d0e0e4736",
            "the same trace"
        );
        assert_ne!(
            parts[2], "00f067aa0ba902b7",
            "this span's id, not the caller's"
        );
        assert_eq!(parts[3], "01");
        // What is passed on is continued in turn: one trace across any number of hops.
        let next = request_span(Some(&passed_on));
        let again = traceparent_of(&next).expect("a traceparent");
        assert!(again.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert_ne!(again, passed_on);
    }

    #[test]
    fn only_a_well_formed_traceparent_is_continued() {
        assert_eq!(
            Parent::of(Some(PARENT)).trace_id(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        for malformed in [
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
        ] {
            assert_eq!(Parent::of(Some(malformed)).trace_id(), None, "{malformed}");
        }
        assert_eq!(Parent::of(None).trace_id(), None);
    }

    #[test]
    fn without_a_valid_traceparent_a_new_trace_starts() {
        let _telemetry = init("test");
        let mut traces = Vec::new();
        for header in [
            None,
            Some("garbage"),
            Some("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
        ] {
            let span = request_span(header);
            let traceparent = traceparent_of(&span).expect("a traceparent");
            let trace = traceparent.split('-').nth(1).expect("trace id").to_owned();
            assert_eq!(trace.len(), 32);
            assert_ne!(trace, "0".repeat(32));
            traces.push(trace);
        }
        traces.sort();
        traces.dedup();
        assert_eq!(traces.len(), 3, "each one a trace of its own");
    }
}
