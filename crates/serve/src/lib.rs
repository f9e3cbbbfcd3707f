//! # serve
//!
//! Sentence embeddings over HTTP: groundwork's encoder (`quant`, FP32, BF16 or INT8) behind a
//! dynamic batcher, with the two APIs embedding clients already speak.
//!
//! * `POST /v1/embeddings` — OpenAI's embeddings API: `{"input": "text" | ["text", ...] |
//!   [id, ...] | [[id, ...], ...], "model"?: "...", "encoding_format"?: "float" | "base64",
//!   "dimensions"?: n}` → `{"object": "list", "data": [{"object": "embedding", "index": i,
//!   "embedding": [...]}], "model": "...", "usage": {"prompt_tokens": n, "total_tokens": n}}`.
//!   Texts longer than the model takes are truncated. Token ids are this model's vocabulary
//!   ids, the whole sequence the encoder sees (`[CLS] ... [SEP]`, as a Hugging Face tokenizer
//!   returns them). A `model` other than the served name is refused (404), as OpenAI does.
//! * `GET /v1/models`, `GET /v1/models/{id}` — the served model, in OpenAI's shape.
//! * `POST /embed` — text-embeddings-inference's: `{"inputs": "text" | [...], "normalize"?:
//!   true, "truncate"?: false, "truncation_direction"?: "Right" | "Left"}` → `[[...], ...]`;
//!   a text too long without `truncate` is an error, as there.
//! * `GET /info` — text-embeddings-inference's description of the model and the limits.
//! * `GET /health`, `GET /metrics` (Prometheus text: requests, errors by kind, queue depth,
//!   connections, batch-size, batch-time and latency histograms).
//!
//! **Before any work.** A connection waits at most the header timeout for each request head
//! (which also closes idle keep-alive connections), and beyond
//! [`ServerConfig::max_connections`] new connections wait in the kernel's backlog. An
//! embedding request is then checked in this order, each refusal costing the server
//! nothing it has not yet done: API key (401), concurrent requests (429), `Content-Type:
//! application/json` (415), the body within its byte limit (413) and its time limit (408),
//! the JSON and its fields (400, 404 for another model), a token budget reserved from the
//! text's size before tokenising (429). Tokenising runs on a bounded pool of its own, never
//! on the async threads; the whole request has a deadline (503 after it, and its queued
//! sentences are dropped). Every error has a JSON body in its API's shape, 404 and 405
//! included.
//!
//! [`serve`] stops accepting when its shutdown future completes, answers everything
//! accepted, closes idle connections, cuts what is still open after the grace period, then
//! returns (an error if it had to cut). The batching policies and their guarantees are in
//! [`batcher`]. Access and error logs go through `tracing` (see `groundwork-serve
//! --json-logs`).
//!
//! With the `loadgen` feature (off by default, so that the server does not compile an HTTP
//! client): `load`, the open-loop Poisson load generator, `cli::LoadArgs` (`cargo xtask
//! loadtest`) and `study`, the `serving` study that drives the server with it.
//!
//! ## Example
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use std::sync::Arc;
//! let model = quant::load_model("all-minilm-l6-v2", quant::Precision::int8())
//!     .map_err(std::io::Error::other)?;
//! let engine = Arc::new(serve::ModelEngine::new(model));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let config = serve::ServerConfig::new("all-minilm-l6-v2");
//! serve::serve(listener, engine, config, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```

#![deny(unsafe_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::sync::oneshot;

mod admission;
pub mod batcher;
pub mod cli;
mod listen;
#[cfg(feature = "loadgen")]
pub mod load;
pub mod metrics;
#[cfg(feature = "loadgen")]
pub mod study;

pub use batcher::{BatchConfig, Batcher, Batching, Engine, Policy, Refused, Truncation};
pub use metrics::Metrics;

use admission::{Admission, Full};

/// The server's defaults, one definition each: [`BatchConfig::default`], [`Timeouts::default`],
/// [`ServerConfig::new`] and `groundwork-serve`'s flags all read them.
pub mod defaults {
    /// With the timer policy, ms to wait for a full batch after the oldest sentence.
    pub const MAX_WAIT_MS: f64 = 5.0;
    /// Sentences per batch.
    pub const MAX_BATCH: u32 = 32;
    /// Tokens per batch.
    pub const MAX_BATCH_TOKENS: u32 = 8192;
    /// Sentences queued.
    pub const MAX_QUEUE: u32 = 1024;
    /// Texts per request.
    pub const MAX_INPUTS: u32 = 256;
    /// Bytes of request body.
    pub const MAX_REQUEST_BYTES: usize = 1 << 20;
    /// Connections open at once.
    pub const MAX_CONNECTIONS: u32 = 512;
    /// Embedding requests in the server at once.
    pub const MAX_CONCURRENT_REQUESTS: u32 = 64;
    /// Tokens the admitted requests may hold.
    pub const MAX_QUEUED_TOKENS: u32 = 131_072;
    /// Seconds to a request's complete headers (and of keep-alive idleness).
    pub const HEADER_TIMEOUT_S: f64 = 10.0;
    /// Seconds to a request's complete body.
    pub const BODY_TIMEOUT_S: f64 = 30.0;
    /// Seconds from a request's headers to its answer.
    pub const REQUEST_TIMEOUT_S: f64 = 60.0;
    /// Seconds open connections may finish after shutdown begins.
    pub const SHUTDOWN_GRACE_S: f64 = 30.0;
}

/// Where the OpenAI-compatible endpoint is served.
pub const OPENAI_PATH: &str = "/v1/embeddings";
/// Where the text-embeddings-inference-compatible endpoint is served.
pub const TEI_PATH: &str = "/embed";

/// How long the server waits, for what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From the moment a connection waits for a request until the request's headers are
    /// in; also how long an idle keep-alive connection stays open.
    pub header: Duration,
    /// To receive a request's whole body once its headers are in (then 408).
    pub body: Duration,
    /// From a request's headers to its answer, queue included (then 503, and its queued
    /// sentences are dropped).
    pub request: Duration,
    /// After shutdown begins, how long open connections may finish before they are cut.
    pub shutdown_grace: Duration,
}

impl Default for Timeouts {
    /// Headers 10 s, body 30 s, request 60 s, shutdown grace 30 s.
    fn default() -> Timeouts {
        Timeouts {
            header: Duration::from_secs_f64(defaults::HEADER_TIMEOUT_S),
            body: Duration::from_secs_f64(defaults::BODY_TIMEOUT_S),
            request: Duration::from_secs_f64(defaults::REQUEST_TIMEOUT_S),
            shutdown_grace: Duration::from_secs_f64(defaults::SHUTDOWN_GRACE_S),
        }
    }
}

/// The server's limits and names.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// The model name requests are answered with, and the only `model` a request may name.
    pub model_name: String,
    /// The batcher.
    pub batch: BatchConfig,
    /// Texts per request at most.
    pub max_inputs: usize,
    /// Bytes of request body at most.
    pub max_request_bytes: usize,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Connections open at once at most; beyond, new ones wait in the kernel's backlog
    /// until one closes.
    pub max_connections: usize,
    /// Embedding requests in the server at once at most; beyond, 429 before the body is
    /// read.
    pub max_concurrent_requests: usize,
    /// Tokens the admitted requests may hold at most, reserved before tokenising from each
    /// text's size; beyond, 429.
    pub max_queued_tokens: usize,
    /// Threads that tokenise (a pool of their own, never the async runtime's).
    pub tokenization_workers: usize,
    /// When set, every route but `/health` wants `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
    /// Origins a browser may call from (CORS); empty: no cross-origin access.
    pub cors_allow_origins: Vec<String>,
}

impl ServerConfig {
    /// The defaults — [`BatchConfig::default`], 256 texts and 1 MiB per request,
    /// [`Timeouts::default`], 512 connections, 64 concurrent requests, 131,072 tokens
    /// held, one tokenising thread per core, no API key, no CORS — for a model called
    /// `model_name`.
    pub fn new(model_name: impl Into<String>) -> ServerConfig {
        ServerConfig {
            model_name: model_name.into(),
            batch: BatchConfig::default(),
            max_inputs: defaults::MAX_INPUTS as usize,
            max_request_bytes: defaults::MAX_REQUEST_BYTES,
            timeouts: Timeouts::default(),
            max_connections: defaults::MAX_CONNECTIONS as usize,
            max_concurrent_requests: defaults::MAX_CONCURRENT_REQUESTS as usize,
            max_queued_tokens: defaults::MAX_QUEUED_TOKENS as usize,
            tokenization_workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            api_key: None,
            cors_allow_origins: Vec::new(),
        }
    }
}

/// A `quant` model as the server's engine (one workspace, used by the batching thread).
pub struct ModelEngine {
    model: quant::Model,
    ws: Mutex<quant::Workspace>,
}

impl ModelEngine {
    /// Wraps a loaded model.
    pub fn new(model: quant::Model) -> ModelEngine {
        ModelEngine {
            model,
            ws: Mutex::new(quant::Workspace::default()),
        }
    }

    /// The model.
    pub fn model(&self) -> &quant::Model {
        &self.model
    }
}

impl Engine for ModelEngine {
    fn dim(&self) -> usize {
        self.model.dim()
    }

    fn tokenize(&self, text: &str, cut: Truncation) -> Result<(Vec<u32>, bool), String> {
        match cut {
            Truncation::Right => self.model.tokenize(text),
            Truncation::Left => self.model.tokenize_left(text),
        }
        .map(|t| (t.ids, t.truncated))
        .map_err(|e| e.to_string())
    }

    fn pool(&self, batch: &[&[u32]]) -> Result<Vec<f32>, String> {
        let mut ws = self.ws.lock().unwrap_or_else(|p| p.into_inner());
        self.model
            .pool_tokens(batch, &mut ws)
            .map_err(|e| e.to_string())
    }

    fn normalizes(&self) -> bool {
        self.model.normalizes()
    }

    fn max_tokens(&self) -> usize {
        self.model.max_seq_length()
    }

    fn vocab_size(&self) -> usize {
        self.model.files().config.vocab_size
    }
}

#[derive(Clone)]
struct App {
    engine: Arc<dyn Engine>,
    batcher: Arc<Batcher>,
    metrics: Arc<Metrics>,
    config: Arc<ServerConfig>,
    admission: Arc<Admission>,
    tokenizers: Arc<rayon::ThreadPool>,
}

/// Which API's error shape to answer with.
#[derive(Clone, Copy, PartialEq)]
enum Api {
    OpenAi,
    Tei,
}

/// A request that cannot be served, and why.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

fn error(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        kind,
        message: message.into(),
    }
}

fn bad(kind: &'static str, message: impl Into<String>) -> ApiError {
    error(StatusCode::BAD_REQUEST, kind, message)
}

fn too_large(kind: &'static str, message: impl Into<String>) -> ApiError {
    error(StatusCode::PAYLOAD_TOO_LARGE, kind, message)
}

fn internal(message: impl Into<String>) -> ApiError {
    error(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
}

impl ApiError {
    fn render(self, api: Api) -> Response {
        let body = match api {
            Api::OpenAi => json!({"error": {
                "message": self.message,
                "type": if self.status.is_server_error() { "server_error" } else { "invalid_request_error" },
                "param": null,
                "code": self.kind,
            }}),
            Api::Tei => json!({"error": self.message, "error_type": self.kind}),
        };
        let mut r = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS
            || self.status == StatusCode::SERVICE_UNAVAILABLE
        {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// The router over a running batcher (what [`serve`] serves; for embedding the endpoints
/// in a larger axum application). Its tokenising pool has `config.tokenization_workers`
/// threads.
///
/// # Panics
/// When the tokenising pool cannot be built (the OS refuses threads).
pub fn router(
    engine: Arc<dyn Engine>,
    batcher: Arc<Batcher>,
    metrics: Arc<Metrics>,
    config: ServerConfig,
) -> Router {
    let tokenizers = rayon::ThreadPoolBuilder::new()
        .num_threads(config.tokenization_workers.max(1))
        .thread_name(|i| format!("tokenize-{i}"))
        .build()
        .expect("the tokenising pool");
    let cors = (!config.cors_allow_origins.is_empty()).then(|| {
        let origins: Vec<HeaderValue> = config
            .cors_allow_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        tower_http::cors::CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
            .max_age(Duration::from_secs(600))
    });
    let app = App {
        engine,
        batcher,
        metrics,
        admission: Admission::new(config.max_concurrent_requests, config.max_queued_tokens),
        config: Arc::new(config),
        tokenizers: Arc::new(tokenizers),
    };
    let guarded = Router::new()
        .route(OPENAI_PATH, post(openai))
        .route(TEI_PATH, post(tei))
        .route("/v1/models", get(models))
        .route("/v1/models/{id}", get(model))
        .route("/info", get(info))
        .route("/metrics", get(metrics_text))
        .route_layer(axum::middleware::from_fn_with_state(app.clone(), authorize));
    let router = Router::new()
        .route("/health", get(health))
        .merge(guarded)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app);
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router.layer(axum::middleware::from_fn(access_log))
}

/// Serves `engine` on `listener` until `shutdown` completes; then stops accepting, answers
/// every request already accepted (queued sentences included), stops the batcher and
/// returns.
///
/// # Errors
/// The listener's I/O errors, and [`std::io::ErrorKind::TimedOut`] when connections were
/// still open at the end of the shutdown grace period and had to be cut.
pub async fn serve(
    listener: tokio::net::TcpListener,
    engine: Arc<dyn Engine>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, engine, config, Arc::new(Metrics::new()), shutdown).await
}

/// [`serve`], counting into `metrics` (which the caller can read while it runs).
///
/// # Errors
/// As [`serve`].
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    engine: Arc<dyn Engine>,
    config: ServerConfig,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let batcher = Arc::new(Batcher::start(
        engine.clone(),
        config.batch.clone(),
        metrics.clone(),
    ));
    let limits = listen::Limits {
        header_timeout: config.timeouts.header,
        max_connections: config.max_connections,
        grace: config.timeouts.shutdown_grace,
    };
    let app = router(engine, batcher.clone(), metrics.clone(), config);
    let cut = listen::accept_loop(listener, app, limits, metrics, shutdown).await;
    // Every connection has closed: whatever is still queued belongs to clients that left;
    // the batcher drains it all the same, then stops.
    tokio::task::spawn_blocking(move || batcher.close())
        .await
        .map_err(std::io::Error::other)?;
    if cut > 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "{cut} connection(s) still open at the end of the shutdown grace period were cut"
            ),
        ));
    }
    Ok(())
}

/// One line per request: method, path, status, milliseconds, peer.
async fn access_log(req: Request, next: Next) -> Response {
    let t0 = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    let r = next.run(req).await;
    let status = r.status().as_u16();
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    if r.status().is_server_error() {
        tracing::error!(target: "access", %method, %path, status, ms, %peer, "request");
    } else {
        tracing::info!(target: "access", %method, %path, status, ms, %peer, "request");
    }
    r
}

/// Equal in time that does not depend on where they differ (a key is not guessed byte by
/// byte from response times); the length is not secret.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `Authorization: Bearer <key>` when the server has a key.
async fn authorize(State(app): State<App>, req: Request, next: Next) -> Response {
    let Some(key) = app.config.api_key.as_deref() else {
        return next.run(req).await;
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if given.is_some_and(|g| same_secret(g.as_bytes(), key.as_bytes())) {
        return next.run(req).await;
    }
    app.metrics.error("unauthorized");
    let api = if req.uri().path() == TEI_PATH || req.uri().path() == "/info" {
        Api::Tei
    } else {
        Api::OpenAi
    };
    error(
        StatusCode::UNAUTHORIZED,
        "invalid_api_key",
        if given.is_some() {
            "the API key is not valid"
        } else {
            "an API key is required: send `Authorization: Bearer <key>`"
        },
    )
    .render(api)
}

async fn not_found(req: Request) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no route {} {}; this server answers POST {OPENAI_PATH}, POST {TEI_PATH}, GET /v1/models, GET /info, GET /health, GET /metrics",
            req.method(),
            req.uri().path()
        ),
    )
    .render(Api::OpenAi)
}

async fn method_not_allowed(req: Request) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
    .render(Api::OpenAi)
}

async fn health(State(app): State<App>) -> Response {
    axum::Json(json!({
        "status": "ok",
        "queued": app.batcher.queued(),
        "requests": app.admission.requests(),
        "tokens_held": app.admission.tokens(),
    }))
    .into_response()
}

async fn metrics_text(State(app): State<App>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.encode(),
    )
        .into_response()
}

fn model_object(name: &str) -> Value {
    json!({"id": name, "object": "model", "created": 0, "owned_by": "groundwork"})
}

async fn models(State(app): State<App>) -> Response {
    axum::Json(json!({"object": "list", "data": [model_object(&app.config.model_name)]}))
        .into_response()
}

async fn model(State(app): State<App>, Path(id): Path<String>) -> Response {
    if id == app.config.model_name {
        return axum::Json(model_object(&id)).into_response();
    }
    model_not_found(&app, &id).render(Api::OpenAi)
}

fn model_not_found(app: &App, asked: &str) -> ApiError {
    error(
        StatusCode::NOT_FOUND,
        "model_not_found",
        format!(
            "the model `{asked}` does not exist here; this server serves `{}`",
            app.config.model_name
        ),
    )
}

async fn info(State(app): State<App>) -> Response {
    let c = &app.config;
    axum::Json(json!({
        "model_id": c.model_name,
        "model_type": {"embedding": {"pooling": "mean"}},
        "max_concurrent_requests": c.max_concurrent_requests,
        "max_input_length": app.engine.max_tokens(),
        "max_batch_tokens": c.batch.max_batch_tokens,
        "max_batch_requests": c.batch.max_batch,
        "max_client_batch_size": c.max_inputs,
        "tokenization_workers": c.tokenization_workers,
        "version": env!("CARGO_PKG_VERSION"),
    }))
    .into_response()
}

/// JSON only: a body of another type (what a cross-site HTML form can send) is refused
/// before it is read.
fn json_content(headers: &HeaderMap) -> Result<(), ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "the body must be JSON with `Content-Type: application/json`; got {}",
                if ct.is_empty() {
                    "no Content-Type".to_string()
                } else {
                    format!("`{ct}`")
                }
            ),
        ))
    }
}

/// The body, at most `limit` bytes within `timeout`, as a JSON object.
async fn read_json(body: Body, limit: usize, timeout: Duration) -> Result<Value, ApiError> {
    let bytes = tokio::time::timeout(timeout, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| {
            error(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the request body did not arrive within {} ms",
                    timeout.as_millis()
                ),
            )
        })?
        .map_err(|_| {
            too_large(
                "too_large",
                format!("the request body is larger than the limit of {limit} bytes"),
            )
        })?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| bad("malformed_json", format!("the body is not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(bad("invalid_field", "the body must be a JSON object"));
    }
    Ok(v)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// What a request asks to embed.
enum Inputs {
    Texts(Vec<String>),
    /// Token id sequences (OpenAI's API only).
    Ids(Vec<Vec<u32>>),
}

/// One sequence of token ids: integers below `vocab`, at most `max_tokens`.
fn id_sequence(
    v: &[Value],
    at: &str,
    vocab: usize,
    max_tokens: usize,
) -> Result<Vec<u32>, ApiError> {
    if v.is_empty() {
        return Err(bad(
            "invalid_field",
            format!("`{at}` is an empty list of token ids"),
        ));
    }
    if v.len() > max_tokens {
        return Err(too_large(
            "too_long",
            format!(
                "`{at}` has {} token ids; the model takes {max_tokens}",
                v.len()
            ),
        ));
    }
    v.iter()
        .enumerate()
        .map(|(j, x)| match x.as_u64() {
            Some(id) if (id as usize) < vocab => Ok(id as u32),
            _ => Err(bad(
                "invalid_field",
                format!(
                    "`{at}[{j}]` is {x}: a token id must be an integer from 0 to {}",
                    vocab - 1
                ),
            )),
        })
        .collect()
}

/// `field` as texts — a string or a non-empty list of strings, at most `max` — moved out
/// of the body; with `ids` (OpenAI) also a list of token ids or a list of such lists.
fn inputs(
    v: &mut Value,
    field: &str,
    max: usize,
    ids: Option<(usize, usize)>,
) -> Result<Inputs, ApiError> {
    let list = match v.get_mut(field).map(Value::take) {
        None => return Err(bad("invalid_field", format!("`{field}` is missing"))),
        Some(Value::String(s)) => return Ok(Inputs::Texts(vec![s])),
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(bad(
                "invalid_field",
                format!(
                    "`{field}` is {}; expected a string or a list of strings",
                    kind(&other)
                ),
            ))
        }
    };
    if list.is_empty() {
        return Err(bad("invalid_field", format!("`{field}` is an empty list")));
    }
    let limit = |n: usize| {
        too_large(
            "too_many_inputs",
            format!("`{field}` has {n} texts; the limit is {max} per request"),
        )
    };
    match (&list[0], ids) {
        (Value::Number(_), Some((vocab, max_tokens))) => {
            return id_sequence(&list, field, vocab, max_tokens).map(|s| Inputs::Ids(vec![s]));
        }
        (Value::Array(_), Some((vocab, max_tokens))) => {
            if list.len() > max {
                return Err(limit(list.len()));
            }
            return list
                .iter()
                .enumerate()
                .map(|(i, x)| match x {
                    Value::Array(a) => id_sequence(a, &format!("{field}[{i}]"), vocab, max_tokens),
                    other => Err(bad(
                        "invalid_field",
                        format!(
                            "`{field}[{i}]` is {}; expected a list of token ids",
                            kind(other)
                        ),
                    )),
                })
                .collect::<Result<_, _>>()
                .map(Inputs::Ids);
        }
        _ => {}
    }
    if list.len() > max {
        return Err(limit(list.len()));
    }
    list.into_iter()
        .enumerate()
        .map(|(i, x)| match x {
            Value::String(s) => Ok(s),
            Value::Number(_) | Value::Array(_) if ids.is_none() => Err(bad(
                "invalid_field",
                format!(
                    "`{field}[{i}]` is {}: token ids are not accepted here, send text",
                    kind(&x)
                ),
            )),
            other => Err(bad(
                "invalid_field",
                format!("`{field}[{i}]` is {}; expected a string", kind(&other)),
            )),
        })
        .collect::<Result<_, _>>()
        .map(Inputs::Texts)
}

fn flag(v: &Value, field: &str, default: bool) -> Result<bool, ApiError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad(
            "invalid_field",
            format!("`{field}` must be true or false"),
        )),
    }
}

fn refused(full: Full) -> ApiError {
    let message = match full {
        Full::Requests { limit } => {
            format!("the server is handling its limit of {limit} concurrent requests; retry later")
        }
        Full::Tokens { held, asked, limit } => format!(
            "this request may hold up to {asked} tokens and the server holds {held} of its {limit}; retry later"
        ),
    };
    error(StatusCode::TOO_MANY_REQUESTS, "overloaded", message)
}

/// Reserves the tokens, tokenises on the tokenising pool (`truncate: false` refuses texts
/// longer than the model takes), queues, and waits for the pooled vectors.
async fn embed(
    app: &App,
    permit: &mut admission::Permit,
    inputs: Inputs,
    truncate: bool,
    cut: Truncation,
) -> Result<(Vec<Vec<f32>>, usize), ApiError> {
    let max_tokens = app.engine.max_tokens();
    let ids = match inputs {
        Inputs::Ids(ids) => {
            // An upper bound like any other; settled to the same count below.
            permit
                .reserve(ids.iter().map(Vec::len).sum())
                .map_err(refused)?;
            ids
        }
        Inputs::Texts(texts) => {
            let bound = texts
                .iter()
                .map(|t| admission::token_bound(t, max_tokens))
                .sum();
            permit.reserve(bound).map_err(refused)?;
            let engine = app.engine.clone();
            let (tx, rx) = oneshot::channel();
            app.tokenizers.spawn(move || {
                let r = texts
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let (ids, was_cut) =
                            engine.tokenize(t, cut).map_err(|e| bad("tokenizer", e))?;
                        if was_cut && !truncate {
                            return Err(too_large(
                                "too_long",
                                format!(
                                    "`inputs[{i}]` is longer than the {max_tokens} tokens the model takes; send `\"truncate\": true` to cut it"
                                ),
                            ));
                        }
                        Ok(ids)
                    })
                    .collect::<Result<Vec<_>, ApiError>>();
                let _ = tx.send(r);
            });
            let ids = rx
                .await
                .map_err(|_| internal("the tokenising pool dropped the request"))??;
            ids
        }
    };
    let tokens = ids.iter().map(Vec::len).sum();
    permit.settle(tokens);
    let sentences = ids.len();
    let rx = app.batcher.submit(ids).map_err(|r| match r {
        Refused::Full { queued, capacity } => error(
            StatusCode::TOO_MANY_REQUESTS,
            "queue_full",
            format!("the queue holds {queued} of its {capacity} sentences; retry later"),
        ),
        Refused::Closed => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        ),
    })?;
    let out = rx
        .await
        .map_err(|_| internal("the batcher stopped before answering"))?
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, "engine", e))?;
    app.metrics.sentences.inc_by(sentences as u64);
    Ok((out, tokens))
}

/// Runs one embedding request: admission and the content type first (before the body is
/// read), then, under the request deadline, the body as a JSON object and `work` on it;
/// times and counts it.
async fn handle<F, W>(
    app: &App,
    endpoint: &str,
    api: Api,
    headers: &HeaderMap,
    body: Body,
    work: W,
) -> Response
where
    W: FnOnce(admission::Permit, Value) -> F,
    F: Future<Output = Result<Response, ApiError>>,
{
    let t0 = Instant::now();
    app.metrics.request(endpoint);
    let result = async {
        let permit = app.admission.request().map_err(refused)?;
        json_content(headers)?;
        let c = &app.config;
        let deadline = c.timeouts.request;
        let read_and_work = async {
            let v = read_json(body, c.max_request_bytes, c.timeouts.body).await?;
            work(permit, v).await
        };
        tokio::time::timeout(deadline, read_and_work)
            .await
            .map_err(|_| {
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "deadline",
                    format!(
                        "the request was not answered within its deadline of {} ms; its queued work was dropped",
                        deadline.as_millis()
                    ),
                )
            })?
    }
    .await;
    match result {
        Ok(r) => {
            app.metrics
                .request_seconds
                .get_or_create(&metrics::Endpoint {
                    endpoint: endpoint.to_string(),
                })
                .observe(t0.elapsed().as_secs_f64());
            r
        }
        Err(e) => {
            app.metrics.error(e.kind);
            if e.status.is_server_error() {
                tracing::error!(endpoint, kind = e.kind, message = %e.message, "request failed");
            }
            e.render(api)
        }
    }
}

/// OpenAI's response (serialised by serde so that f32 values print as f32: shortest
/// round-trip digits).
#[derive(serde::Serialize)]
struct OpenAiResponse<'a> {
    object: &'static str,
    data: Vec<OpenAiEmbedding<'a>>,
    model: &'a str,
    usage: Usage,
}

#[derive(serde::Serialize)]
struct OpenAiEmbedding<'a> {
    object: &'static str,
    index: usize,
    embedding: Vector<'a>,
}

#[derive(serde::Serialize)]
#[serde(untagged)]
enum Vector<'a> {
    Floats(&'a [f32]),
    Base64(String),
}

#[derive(serde::Serialize)]
struct Usage {
    prompt_tokens: usize,
    total_tokens: usize,
}

async fn openai(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let app_ref = &app;
    let work = move |mut permit, mut v: Value| async move {
        let app = app_ref;
        let c = &app.config;
        match v.get("model") {
            None | Some(Value::Null) => {}
            Some(Value::String(m)) if *m == c.model_name => {}
            Some(Value::String(m)) => return Err(model_not_found(app, m)),
            Some(other) => {
                return Err(bad(
                    "invalid_field",
                    format!("`model` is {}; expected a string", kind(other)),
                ))
            }
        }
        let vocab = (app.engine.vocab_size(), app.engine.max_tokens());
        let inputs = inputs(&mut v, "input", c.max_inputs, Some(vocab))?;
        let base64 = match v.get("encoding_format") {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) if s == "float" => false,
            Some(Value::String(s)) if s == "base64" => true,
            Some(_) => {
                return Err(bad(
                    "invalid_field",
                    "`encoding_format` must be \"float\" or \"base64\"",
                ))
            }
        };
        let dim = app.engine.dim();
        if let Some(d) = v.get("dimensions").filter(|d| !d.is_null()) {
            if d.as_u64() != Some(dim as u64) {
                return Err(bad(
                    "invalid_field",
                    format!("`dimensions` is {d}; this model's embeddings have {dim}"),
                ));
            }
        }
        let (mut vecs, tokens) = embed(app, &mut permit, inputs, true, Truncation::Right).await?;
        if app.engine.normalizes() {
            vecs.iter_mut().for_each(|v| quant::l2_normalize(v));
        }
        let data: Vec<OpenAiEmbedding<'_>> = vecs
            .iter()
            .enumerate()
            .map(|(index, e)| OpenAiEmbedding {
                object: "embedding",
                index,
                embedding: if base64 {
                    let bytes: Vec<u8> = e.iter().flat_map(|x| x.to_le_bytes()).collect();
                    Vector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
                } else {
                    Vector::Floats(e)
                },
            })
            .collect();
        Ok(axum::Json(OpenAiResponse {
            object: "list",
            data,
            model: &c.model_name,
            usage: Usage {
                prompt_tokens: tokens,
                total_tokens: tokens,
            },
        })
        .into_response())
    };
    handle(&app, OPENAI_PATH, Api::OpenAi, &headers, body, work).await
}

async fn tei(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let app_ref = &app;
    let work = move |mut permit, mut v: Value| async move {
        let app = app_ref;
        let inputs = inputs(&mut v, "inputs", app.config.max_inputs, None)?;
        let normalize = flag(&v, "normalize", true)?;
        let truncate = flag(&v, "truncate", false)?;
        let cut = match v.get("truncation_direction") {
            None | Some(Value::Null) => Truncation::Right,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("right") => Truncation::Right,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("left") => Truncation::Left,
            Some(other) => {
                return Err(bad(
                    "invalid_field",
                    format!("`truncation_direction` is {other}; expected \"Right\" or \"Left\""),
                ))
            }
        };
        let (mut vecs, _) = embed(app, &mut permit, inputs, truncate, cut).await?;
        if normalize {
            vecs.iter_mut().for_each(|v| quant::l2_normalize(v));
        }
        Ok(axum::Json(vecs).into_response())
    };
    handle(&app, TEI_PATH, Api::Tei, &headers, body, work).await
}
