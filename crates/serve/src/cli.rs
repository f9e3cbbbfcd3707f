//! `groundwork-serve` (and `cargo xtask serve`): the command line.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::{defaults, BatchConfig, Batching, ModelEngine, ServerConfig, Timeouts};

/// Serve a sentence-embedding model over HTTP (OpenAI `/v1/embeddings`, text-embeddings-
/// inference `/embed`, `/health`, `/metrics`) with a dynamic batcher.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A known model name (all-minilm-l6-v2) or a model directory.
    #[arg(long, default_value = "all-minilm-l6-v2")]
    pub model: String,
    /// Run the linear layers in INT8.
    #[arg(long)]
    pub int8: bool,
    /// Run the linear layers in BF16 (faster than FP32 where the CPU has AMX, not with
    /// AVX512-BF16 alone).
    #[arg(long, conflicts_with = "int8")]
    pub bf16: bool,
    /// Address to bind (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port (0: any free one, printed at start).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Batching policy: `timer` (wait up to --max-wait-ms for a full batch), `idle` (run
    /// whatever is queued as soon as the engine is free) or `none` (batches of one).
    #[arg(long, value_enum, default_value_t = Batching::Timer)]
    pub policy: Batching,
    /// Sentences per batch at most.
    #[arg(long, default_value_t = defaults::MAX_BATCH, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_batch: u32,
    /// With `--policy timer`: how long to wait for a full batch after the oldest sentence.
    #[arg(long, default_value_t = defaults::MAX_WAIT_MS)]
    pub max_wait_ms: f64,
    /// Tokens per batch at most.
    #[arg(long, default_value_t = defaults::MAX_BATCH_TOKENS, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_batch_tokens: u32,
    /// Sentences queued at most (beyond: HTTP 429).
    #[arg(long, default_value_t = defaults::MAX_QUEUE, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_queue: u32,
    /// Texts per request at most.
    #[arg(long, default_value_t = defaults::MAX_INPUTS, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_inputs: u32,
    /// Bytes per request body at most.
    #[arg(long, default_value_t = defaults::MAX_REQUEST_BYTES)]
    pub max_request_bytes: usize,
    /// Compute threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Tokenising threads, a pool of their own (default: one per core).
    #[arg(long)]
    pub tokenization_workers: Option<usize>,
    /// Embedding requests in the server at once at most; beyond, HTTP 429 before the body
    /// is read.
    #[arg(long, default_value_t = defaults::MAX_CONCURRENT_REQUESTS, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_requests: u32,
    /// Tokens the admitted requests may hold at most (reserved from each text's size
    /// before tokenising); beyond, HTTP 429.
    #[arg(long, default_value_t = defaults::MAX_QUEUED_TOKENS, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_queued_tokens: u32,
    /// Connections open at once at most; beyond, new ones wait until one closes.
    #[arg(long, default_value_t = defaults::MAX_CONNECTIONS, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Seconds a connection may take to send a request's headers, counted from when it
    /// is ready for one (so also how long an idle keep-alive connection stays open).
    #[arg(long, default_value_t = defaults::HEADER_TIMEOUT_S)]
    pub header_timeout: f64,
    /// Seconds to receive a request's body once its headers are in (then HTTP 408).
    #[arg(long, default_value_t = defaults::BODY_TIMEOUT_S)]
    pub body_timeout: f64,
    /// Seconds from a request's headers to its answer, queue included (then HTTP 503 and
    /// its queued work is dropped).
    #[arg(long, default_value_t = defaults::REQUEST_TIMEOUT_S)]
    pub request_timeout: f64,
    /// Seconds open connections may finish after Ctrl-C/SIGTERM; then they are cut and
    /// the process exits with status 3.
    #[arg(long, default_value_t = defaults::SHUTDOWN_GRACE_S)]
    pub shutdown_grace: f64,
    /// Require `Authorization: Bearer KEY` on every route but /health (default: the
    /// GROUNDWORK_API_KEY environment variable, if set).
    #[arg(long, env = "GROUNDWORK_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// An origin browsers may call from (CORS), e.g. `https://app.example`; repeatable.
    /// None by default: no cross-origin access.
    #[arg(long = "cors-allow-origin", value_name = "ORIGIN")]
    pub cors_allow_origins: Vec<String>,
    /// The model name the API shows and requests must use (default: the model's
    /// directory name).
    #[arg(long)]
    pub served_model_name: Option<String>,
    /// Logs as JSON lines (one object per event) instead of text.
    #[arg(long)]
    pub json_logs: bool,
}

/// Seconds as a duration, or an error naming the flag.
fn seconds(flag: &str, s: f64) -> Result<Duration, String> {
    if s.is_finite() && s > 0.0 && s < 1e9 {
        Ok(Duration::from_secs_f64(s))
    } else {
        Err(format!("--{flag} {s}: expected a number of seconds > 0"))
    }
}

impl Args {
    /// The server configuration these arguments ask for.
    ///
    /// # Errors
    /// A wait that is negative or not a number.
    pub fn config(&self, model_name: &str) -> Result<ServerConfig, String> {
        if !(self.max_wait_ms.is_finite() && self.max_wait_ms >= 0.0) {
            return Err(format!(
                "--max-wait-ms {}: expected a number of milliseconds >= 0",
                self.max_wait_ms
            ));
        }
        let (policy, max_batch) = self.policy.policy(
            Duration::from_secs_f64(self.max_wait_ms / 1000.0),
            self.max_batch as usize,
        );
        let batch_defaults = BatchConfig::default();
        let timeouts = Timeouts {
            header: seconds("header-timeout", self.header_timeout)?,
            body: seconds("body-timeout", self.body_timeout)?,
            request: seconds("request-timeout", self.request_timeout)?,
            shutdown_grace: seconds("shutdown-grace", self.shutdown_grace)?,
        };
        for o in &self.cors_allow_origins {
            if axum::http::HeaderValue::from_str(o).is_err() || !o.contains("://") {
                return Err(format!(
                    "--cors-allow-origin {o:?}: expected an origin such as https://app.example"
                ));
            }
        }
        if self.api_key.as_deref().is_some_and(|k| k.trim().is_empty()) {
            return Err("--api-key (or GROUNDWORK_API_KEY) is empty".into());
        }
        let server_defaults = ServerConfig::new("");
        Ok(ServerConfig {
            model_name: self
                .served_model_name
                .clone()
                .unwrap_or_else(|| model_name.to_string()),
            batch: BatchConfig {
                policy,
                max_batch,
                max_batch_tokens: self.max_batch_tokens as usize,
                max_queue: self.max_queue as usize,
                threads: self.threads.unwrap_or(batch_defaults.threads).max(1),
            },
            max_inputs: self.max_inputs as usize,
            max_request_bytes: self.max_request_bytes,
            timeouts,
            max_connections: self.max_connections as usize,
            max_concurrent_requests: self.max_concurrent_requests as usize,
            max_queued_tokens: self.max_queued_tokens as usize,
            tokenization_workers: self
                .tokenization_workers
                .unwrap_or(server_defaults.tokenization_workers)
                .max(1),
            api_key: self.api_key.clone(),
            cors_allow_origins: self.cors_allow_origins.clone(),
        })
    }
}

/// Sends `tracing` events (access and error logs) to standard error, as text or JSON lines.
/// Does nothing when a subscriber is already installed (a caller's own).
pub fn init_logs(json: bool) {
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_max_level(tracing::Level::INFO);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Why serving ended badly.
enum Failure {
    /// Bad arguments, a model that does not load, a port that cannot be bound.
    Setup(String),
    /// Connections were still open when the grace period ended and were cut.
    Cut(String),
}

/// Loads the model, binds, serves until Ctrl-C or SIGTERM, drains, exits: 0 when every
/// connection finished within the grace period, 3 when some had to be cut, 2 on bad
/// arguments or a model that does not load.
pub fn run(args: &Args) -> ExitCode {
    init_logs(args.json_logs);
    match serve_blocking(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Setup(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Cut(e)) => {
            eprintln!("groundwork-serve: {e}");
            ExitCode::from(3)
        }
    }
}

fn serve_blocking(args: &Args) -> Result<(), Failure> {
    let model = quant::load_model(
        &args.model,
        quant::Precision::from_flags(args.int8, args.bf16),
    )
    .map_err(Failure::Setup)?;
    let precision = model.encoder().precision().name().to_uppercase();
    let name = model
        .dir()
        .file_name()
        .map_or_else(|| args.model.clone(), |n| n.to_string_lossy().into_owned());
    let config = args.config(&name).map_err(Failure::Setup)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Setup(format!("starting the async runtime: {e}")))?;
    runtime.block_on(async move {
        let addr = format!("{}:{}", args.host, args.port);
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|e| Failure::Setup(format!("binding {addr}: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| Failure::Setup(e.to_string()))?;
        eprintln!(
            "groundwork-serve: {} ({}) on http://{local} — policy {:?}, max batch {}, queue {}, {} compute threads, {} tokenising; {} concurrent requests, {} connections; API key {}; Ctrl-C drains and stops",
            config.model_name,
            precision,
            config.batch.policy,
            config.batch.max_batch,
            config.batch.max_queue,
            config.batch.threads,
            config.tokenization_workers,
            config.max_concurrent_requests,
            config.max_connections,
            if config.api_key.is_some() { "required" } else { "not required" },
        );
        let engine = Arc::new(ModelEngine::new(model));
        match crate::serve(listener, engine, config, shutdown_signal()).await {
            Ok(()) => {
                eprintln!("groundwork-serve: every accepted request answered; stopped");
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Err(Failure::Cut(e.to_string())),
            Err(e) => Err(Failure::Setup(format!("serving on {local}: {e}"))),
        }
    })
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    eprintln!("groundwork-serve: stopping: no new connections; answering what is queued");
}

/// Drive an embedding server on the loopback with the open-loop generator: one line per
/// offered rate (sent, OK, 429, failed, achieved, p50/p95/p99/p99.9 ms), and the same as
/// JSON lines with `--json`.
#[cfg(feature = "loadgen")]
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// The endpoint, e.g. http://127.0.0.1:8080/v1/embeddings (loopback only).
    #[arg(long)]
    pub url: String,
    /// Offered loads, requests per second, ascending (e.g. 100,200,400).
    #[arg(long)]
    pub rates: String,
    /// Seconds at each rate.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Request body: `openai` ({"input": text}) or `tei` ({"inputs": text}).
    #[arg(long, default_value = "openai", value_parser = ["openai", "tei"])]
    pub api: String,
    /// A file of sentences, one per line (default: the 512 shipped with quant).
    #[arg(long, default_value = "")]
    pub sentences: String,
    /// Seed of the arrival times.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Texts per request: `one`, or `mixed` (70% one sentence, 20% eight, 10% thirty-two).
    #[arg(long, default_value = "one", value_parser = ["one", "mixed"])]
    pub mix: String,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the generator at each rate in turn.
#[cfg(feature = "loadgen")]
pub fn load(args: &LoadArgs) -> ExitCode {
    match load_inner(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(feature = "loadgen")]
fn load_inner(args: &LoadArgs) -> Result<(), String> {
    let rates = crate::study::parse_rates(&args.rates)?;
    let texts = quant::study::load_sentences(&args.sentences).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    if !args.json {
        println!(
            "{:>9} {:>7} {:>7} {:>6} {:>6} {:>9} {:>8} {:>8} {:>8} {:>8}",
            "offered",
            "sent",
            "ok",
            "429",
            "failed",
            "achieved",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "p99.9 ms"
        );
    }
    for (i, &rate) in rates.iter().enumerate() {
        let spec = crate::load::LoadSpec {
            url: args.url.clone(),
            api: if args.api == "tei" {
                crate::load::Api::Tei
            } else {
                crate::load::Api::OpenAi
            },
            rate,
            seconds: args.seconds,
            max_requests: 10_000_000,
            seed: args.seed.wrapping_add(i as u64),
            timeout: Duration::from_secs(60),
            mix: if args.mix == "mixed" {
                crate::load::Mix::Mixed
            } else {
                crate::load::Mix::One
            },
        };
        let r = rt.block_on(crate::load::run(&spec, &texts))?;
        let q = |p| r.percentile_ms(p);
        if args.json {
            println!(
                "{}",
                serde_json::json!({
                    "offered": rate, "sent": r.sent, "ok": r.ok, "rejected": r.rejected,
                    "failed": r.failed, "achieved": r.achieved(), "p50_ms": q(0.5),
                    "p95_ms": q(0.95), "p99_ms": q(0.99), "p999_ms": q(0.999),
                    "single_p50_ms": r.single_percentile_ms(0.5),
                    "single_p99_ms": r.single_percentile_ms(0.99),
                })
            );
        } else {
            println!(
                "{:>9.0} {:>7} {:>7} {:>6} {:>6} {:>9.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
                rate,
                r.sent,
                r.ok,
                r.rejected,
                r.failed,
                r.achieved(),
                q(0.5),
                q(0.95),
                q(0.99),
                q(0.999)
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn the_flags_defaults_are_the_librarys() {
        let args = Cli::try_parse_from(["groundwork-serve"]).unwrap().args;
        assert_eq!(args.config("m").unwrap(), ServerConfig::new("m"));
        let bad = Cli::try_parse_from(["groundwork-serve", "--header-timeout", "0"]).unwrap();
        assert!(bad
            .args
            .config("m")
            .unwrap_err()
            .contains("--header-timeout 0"));
    }
}
