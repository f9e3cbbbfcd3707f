//! What `GET /metrics` reports, in the Prometheus text format (through `prometheus-client`,
//! the Prometheus project's Rust client).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// An endpoint, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Endpoint {
    /// `/v1/embeddings` or `/embed`.
    pub endpoint: String,
}

/// An error's kind, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorKind {
    /// e.g. `malformed_json`, `invalid_field`, `too_many_inputs`, `too_large`, `queue_full`.
    pub kind: String,
}

fn request_histogram() -> Histogram {
    // 0.25 ms .. ~4 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

/// The server's counters, gauges and histograms.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests received, per endpoint.
    pub requests: Family<Endpoint, Counter>,
    /// Requests answered with an error, per kind.
    pub errors: Family<ErrorKind, Counter>,
    /// Sentences embedded.
    pub sentences: Counter,
    /// Batches run.
    pub batches: Counter,
    /// Sentences dropped from the queue because their client went away.
    pub cancelled: Counter,
    /// Batches the engine failed (a bug or a broken model).
    pub engine_errors: Counter,
    /// Connections open now.
    pub connections: Gauge,
    /// Times accepting paused because `max_connections` were open.
    pub connection_limit_pauses: Counter,
    /// Connections cut when the shutdown grace period ended.
    pub connections_cut: Counter,
    /// Sentences queued now.
    pub queue_depth: Gauge,
    /// Sentences per batch.
    pub batch_size: Histogram,
    /// Tokens per batch.
    pub batch_tokens: Histogram,
    /// Seconds the engine spent on a batch.
    pub batch_seconds: Histogram,
    /// Seconds from a request's arrival to its answer, per endpoint.
    pub request_seconds: Family<Endpoint, Histogram>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// Every metric at zero, registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("groundwork");
        let requests = Family::<Endpoint, Counter>::default();
        let errors = Family::<ErrorKind, Counter>::default();
        let (sentences, batches, cancelled, engine_errors) = (
            Counter::default(),
            Counter::default(),
            Counter::default(),
            Counter::default(),
        );
        let queue_depth = Gauge::default();
        let connections = Gauge::default();
        let (connection_limit_pauses, connections_cut) = (Counter::default(), Counter::default());
        let batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 9));
        let batch_tokens = Histogram::new(exponential_buckets(16.0, 2.0, 11));
        let batch_seconds = request_histogram();
        let request_seconds =
            Family::<Endpoint, Histogram>::new_with_constructor(request_histogram as fn() -> _);
        registry.register("requests", "HTTP requests received", requests.clone());
        registry.register("errors", "Requests answered with an error", errors.clone());
        registry.register("sentences", "Sentences embedded", sentences.clone());
        registry.register("batches", "Batches run", batches.clone());
        registry.register(
            "cancelled_sentences",
            "Queued sentences dropped because their client went away",
            cancelled.clone(),
        );
        registry.register(
            "engine_errors",
            "Batches the engine failed",
            engine_errors.clone(),
        );
        registry.register(
            "queue_depth",
            "Sentences waiting in the queue",
            queue_depth.clone(),
        );
        registry.register("connections", "Connections open", connections.clone());
        registry.register(
            "connection_limit_pauses",
            "Times accepting paused because the connection limit was reached",
            connection_limit_pauses.clone(),
        );
        registry.register(
            "connections_cut",
            "Connections cut when the shutdown grace period ended",
            connections_cut.clone(),
        );
        registry.register("batch_size", "Sentences per batch", batch_size.clone());
        registry.register("batch_tokens", "Tokens per batch", batch_tokens.clone());
        registry.register(
            "batch_seconds",
            "Seconds the encoder spent on one batch",
            batch_seconds.clone(),
        );
        registry.register(
            "request_seconds",
            "Seconds from a request's arrival to its answer",
            request_seconds.clone(),
        );
        Metrics {
            registry,
            requests,
            errors,
            sentences,
            batches,
            cancelled,
            engine_errors,
            queue_depth,
            connections,
            connection_limit_pauses,
            connections_cut,
            batch_size,
            batch_tokens,
            batch_seconds,
            request_seconds,
        }
    }

    /// Counts one request to `endpoint`.
    pub fn request(&self, endpoint: &str) {
        self.requests
            .get_or_create(&Endpoint {
                endpoint: endpoint.to_string(),
            })
            .inc();
    }

    /// Counts one error of `kind`.
    pub fn error(&self, kind: &str) {
        self.errors
            .get_or_create(&ErrorKind {
                kind: kind.to_string(),
            })
            .inc();
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
