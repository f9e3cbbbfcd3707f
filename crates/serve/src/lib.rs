//! # serve
//!
//! Sentence embeddings over HTTP: groundwork's encoder (`quant`, FP32 or INT8) behind a
//! dynamic batcher, with the two APIs embedding clients already speak.
//!
//! * `POST /v1/embeddings` — OpenAI's embeddings API: `{"input": "text" | ["text", ...],
//!   "model"?: "...", "encoding_format"?: "float" | "base64"}` → `{"object": "list",
//!   "data": [{"object": "embedding", "index": i, "embedding": [...]}], "model": "...",
//!   "usage": {"prompt_tokens": n, "total_tokens": n}}`. Texts longer than the model takes
//!   are truncated.
//! * `POST /embed` — text-embeddings-inference's: `{"inputs": "text" | [...], "normalize"?:
//!   true, "truncate"?: false}` → `[[...], ...]`; a text too long without `truncate` is an
//!   error, as there.
//! * `GET /health`, `GET /metrics` (Prometheus text: requests, errors by kind, queue depth,
//!   batch-size, batch-time and latency histograms).
//!
//! Bad requests get a 4xx whose JSON says what is wrong and the limit that applies (400
//! malformed JSON or a wrong field, 413 too many inputs or bytes, 429 with `Retry-After`
//! when the queue is full, 503 while shutting down). [`serve`] stops accepting when its
//! shutdown future completes, answers everything accepted, then returns. The batching
//! policies and their guarantees are in [`batcher`].
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
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Value};

pub mod batcher;
pub mod cli;
pub mod load;
pub mod metrics;
pub mod study;

pub use batcher::{BatchConfig, Batcher, Engine, Policy, Refused};
pub use metrics::Metrics;

/// Where the OpenAI-compatible endpoint is served.
pub const OPENAI_PATH: &str = "/v1/embeddings";
/// Where the text-embeddings-inference-compatible endpoint is served.
pub const TEI_PATH: &str = "/embed";

/// The server's limits and names.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// The model name requests are answered with.
    pub model_name: String,
    /// The batcher.
    pub batch: BatchConfig,
    /// Texts per request at most.
    pub max_inputs: usize,
    /// Bytes of request body at most.
    pub max_request_bytes: usize,
}

impl ServerConfig {
    /// The defaults — [`BatchConfig::default`], 256 texts and 1 MiB per request — for a
    /// model called `model_name`.
    pub fn new(model_name: impl Into<String>) -> ServerConfig {
        ServerConfig {
            model_name: model_name.into(),
            batch: BatchConfig::default(),
            max_inputs: 256,
            max_request_bytes: 1 << 20,
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

    fn tokenize(&self, text: &str) -> Result<(Vec<u32>, bool), String> {
        self.model
            .tokenize(text)
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
}

#[derive(Clone)]
struct App {
    engine: Arc<dyn Engine>,
    batcher: Arc<Batcher>,
    metrics: Arc<Metrics>,
    config: Arc<ServerConfig>,
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

fn bad(kind: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        kind,
        message: message.into(),
    }
}

fn too_large(kind: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        kind,
        message: message.into(),
    }
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
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

/// The router over a running batcher (what [`serve`] serves; for embedding the endpoints
/// in a larger axum application).
pub fn router(
    engine: Arc<dyn Engine>,
    batcher: Arc<Batcher>,
    metrics: Arc<Metrics>,
    config: ServerConfig,
) -> Router {
    let app = App {
        engine,
        batcher,
        metrics,
        config: Arc::new(config),
    };
    Router::new()
        .route(OPENAI_PATH, post(openai))
        .route(TEI_PATH, post(tei))
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .with_state(app)
}

/// Serves `engine` on `listener` until `shutdown` completes; then stops accepting, answers
/// every request already accepted (queued sentences included), stops the batcher and
/// returns.
///
/// # Errors
/// The listener's I/O errors.
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
/// The listener's I/O errors.
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
    let app = router(engine, batcher.clone(), metrics, config);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    // Every connection has closed: whatever is still queued belongs to clients that left;
    // the batcher drains it all the same, then stops.
    tokio::task::spawn_blocking(move || batcher.close())
        .await
        .map_err(std::io::Error::other)
}

async fn health(State(app): State<App>) -> Response {
    axum::Json(json!({"status": "ok", "queued": app.batcher.queued()})).into_response()
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

/// The body, at most `limit` bytes, as JSON.
async fn read_json(body: Body, limit: usize) -> Result<Value, ApiError> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        too_large(
            "too_large",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| bad("malformed_json", format!("the body is not valid JSON: {e}")))
}

/// `field` as a list of texts — a string or a non-empty array of strings, at most `max` —
/// moved out of the body (no copy of the texts).
fn texts(v: &mut Value, field: &str, max: usize) -> Result<Vec<String>, ApiError> {
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    let list = match v.get_mut(field).map(Value::take) {
        None => return Err(bad("invalid_field", format!("`{field}` is missing"))),
        Some(Value::String(s)) => return Ok(vec![s]),
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
    if list.len() > max {
        return Err(too_large(
            "too_many_inputs",
            format!(
                "`{field}` has {} texts; the limit is {max} per request",
                list.len()
            ),
        ));
    }
    list.into_iter()
        .enumerate()
        .map(|(i, x)| match x {
            Value::String(s) => Ok(s),
            Value::Number(_) | Value::Array(_) => Err(bad(
                "invalid_field",
                format!(
                    "`{field}[{i}]` is {}: token ids are not accepted, send text",
                    kind(&x)
                ),
            )),
            other => Err(bad(
                "invalid_field",
                format!("`{field}[{i}]` is {}; expected a string", kind(&other)),
            )),
        })
        .collect()
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

/// Tokenizes (off the async threads when there are many texts), queues, and waits for the
/// pooled vectors. `truncate: false` refuses texts longer than the model takes.
async fn embed(
    app: &App,
    texts: Vec<String>,
    truncate: bool,
) -> Result<(Vec<Vec<f32>>, usize), ApiError> {
    let engine = app.engine.clone();
    let many = texts.len() > 8;
    let tokenize = move || {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let (ids, cut) = engine.tokenize(t).map_err(|e| bad("tokenizer", e))?;
                if cut && !truncate {
                    return Err(too_large(
                        "too_long",
                        format!(
                            "`inputs[{i}]` is longer than the {} tokens the model takes; send `\"truncate\": true` to cut it",
                            engine.max_tokens()
                        ),
                    ));
                }
                Ok(ids)
            })
            .collect::<Result<Vec<_>, ApiError>>()
    };
    let ids = if many {
        tokio::task::spawn_blocking(tokenize)
            .await
            .map_err(|e| ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                kind: "internal",
                message: e.to_string(),
            })??
    } else {
        tokenize()?
    };
    let tokens = ids.iter().map(Vec::len).sum();
    let sentences = ids.len();
    let rx = app.batcher.submit(ids).map_err(|r| match r {
        Refused::Full { queued, capacity } => ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            kind: "queue_full",
            message: format!("the queue holds {queued} of its {capacity} sentences; retry later"),
        },
        Refused::Closed => ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: "shutting_down",
            message: "the server is shutting down".into(),
        },
    })?;
    let out = rx
        .await
        .map_err(|_| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "internal",
            message: "the batcher stopped before answering".into(),
        })?
        .map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "engine",
            message: e,
        })?;
    app.metrics.sentences.inc_by(sentences as u64);
    Ok((out, tokens))
}

/// Runs one request, timing and counting it.
async fn handle<F: Future<Output = Result<Response, ApiError>>>(
    app: &App,
    endpoint: &str,
    api: Api,
    work: F,
) -> Response {
    let t0 = Instant::now();
    app.metrics.request(endpoint);
    match work.await {
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

async fn openai(State(app): State<App>, body: Body) -> Response {
    let work = async {
        let mut v = read_json(body, app.config.max_request_bytes).await?;
        if !v.is_object() {
            return Err(bad("invalid_field", "the body must be a JSON object"));
        }
        let inputs = texts(&mut v, "input", app.config.max_inputs)?;
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
        let (mut vecs, tokens) = embed(&app, inputs, true).await?;
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
            model: &app.config.model_name,
            usage: Usage {
                prompt_tokens: tokens,
                total_tokens: tokens,
            },
        })
        .into_response())
    };
    handle(&app, OPENAI_PATH, Api::OpenAi, work).await
}

async fn tei(State(app): State<App>, body: Body) -> Response {
    let work = async {
        let mut v = read_json(body, app.config.max_request_bytes).await?;
        if !v.is_object() {
            return Err(bad("invalid_field", "the body must be a JSON object"));
        }
        let inputs = texts(&mut v, "inputs", app.config.max_inputs)?;
        let normalize = flag(&v, "normalize", true)?;
        let truncate = flag(&v, "truncate", false)?;
        let (mut vecs, _) = embed(&app, inputs, truncate).await?;
        if normalize {
            vecs.iter_mut().for_each(|v| quant::l2_normalize(v));
        }
        Ok(axum::Json(vecs).into_response())
    };
    handle(&app, TEI_PATH, Api::Tei, work).await
}
