//! Logs and metrics. Logs carry ids and route patterns, never names, emails, conditions, filenames
//! or link tokens.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};
use tracing_subscriber::EnvFilter;

use crate::config::LogSettings;

/// Installs the global tracing subscriber (`RUST_LOG` wins over `log.filter`).
pub fn init_tracing(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let result = if settings.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // A second init (tests) keeps the first subscriber.
    drop(result);
}

/// The service's Prometheus metrics, served at `/metrics` on `server.metrics_bind`.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    bytes_ingested: IntCounter,
    rejections: IntCounterVec,
    integrity_failures: IntCounter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("consilium".into()), None).expect("valid prefix");
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route pattern and status",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                ],
            ),
            &["method", "route"],
        )
        .expect("valid metric");
        let bytes_ingested = IntCounter::new(
            "ingested_bytes_total",
            "Plaintext bytes of documents accepted and stored",
        )
        .expect("valid metric");
        let rejections = IntCounterVec::new(
            Opts::new("rejections_total", "Requests refused, by problem code"),
            &["code"],
        )
        .expect("valid metric");
        let integrity_failures = IntCounter::new(
            "integrity_failures_total",
            "Stored blobs that failed to verify",
        )
        .expect("valid metric");
        for metric in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(bytes_ingested.clone()),
            Box::new(rejections.clone()),
            Box::new(integrity_failures.clone()),
        ] {
            registry.register(metric).expect("unique metric names");
        }
        Self {
            registry,
            requests,
            latency,
            bytes_ingested,
            rejections,
            integrity_failures,
        }
    }

    pub fn request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    pub fn bytes_ingested(&self, bytes: u64) {
        self.bytes_ingested.inc_by(bytes);
    }

    pub fn rejection(&self, code: crate::domain::ErrorCode) {
        self.rejections.with_label_values(&[code.as_str()]).inc();
    }

    pub fn integrity_failure(&self) {
        self.integrity_failures.inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding cannot fail");
        String::from_utf8(out).expect("prometheus text is UTF-8")
    }
}
