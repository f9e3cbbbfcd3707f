//! The serving study: one server setting per run, a ramp of offered loads against it.
//!
//! A run starts `groundwork-serve`'s server in this process on a free loopback port (its
//! own async runtime and compute pool, as the binary runs), measures the library's own
//! throughput on the same sentences for reference, then drives the server with the
//! open-loop generator ([`crate::load`]) at each offered rate in turn — one sentence per
//! request, Poisson arrivals, latency from the scheduled send time — until the server has
//! been saturated for `past_saturation` levels. The generator runs in this process on its
//! own thread: it shares the machine's cores with the server, as a generator on the same
//! host does for any server measured this way.
//!
//! Per level: sent, answered OK, refused (429), failed, achieved rate, p50/p95/p99/p99.9,
//! the server's own count of requests and sentences (exactly-once bookkeeping), and the mean
//! batch size it ran. Derived per run:
//!
//! - **saturated** level: p99 > 1 s (the queue grows faster than it drains), or more than 1%
//!   of the requests refused or failed;
//! - **knee**: the highest offered rate below the first saturated level;
//! - **sustained(L)**: the highest offered rate with p99 < L ms and nothing refused or failed
//!   (L = 50 and 200).
//!
//! (Achieved rate is reported, not used to judge: over a few seconds a Poisson process sends
//! a few percent more or fewer requests than its rate, so "achieved < 90% of offered" would
//! mark healthy low-rate levels saturated by chance.)
//! - **errors below the knee**: refused + failed at rates up to the knee;
//! - **count mismatch**: over all levels, |server requests - sent| + |server sentences - OK|.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::load::{self, Api, LoadSpec};
use crate::{BatchConfig, Batching, Metrics, ModelEngine, ServerConfig};

mod report;
pub use report::ServingStudy;

lab::choice!(Batching);

lab::params! {
    /// One run of the serving study: one server setting, a ramp of offered loads.
    #[derive(Debug, Clone, PartialEq, Serialize)]
    pub struct ServingConfig as "serving" {
        /// The model: a known name (`all-minilm-l6-v2`) or a model directory.
        pub model: String = "all-minilm-l6-v2".to_string(),
        /// Run the linear layers in INT8 (else FP32).
        pub int8: bool = true,
        /// `none` (batches of one), `idle` (whatever is queued when the engine is free) or
        /// `timer` (wait up to `max_wait_ms` for `max_batch`).
        pub batching: Batching = Batching::Timer,
        /// Sentences per batch at most (`none` uses 1).
        pub max_batch: usize = 32; bounds(min = 1, max = 4096),
        /// The timer's wait after the oldest queued sentence, in ms.
        pub max_wait_ms: f64 = 5.0; bounds(min = 0, max = 10_000),
        /// Offered loads, requests per second, ascending and comma-separated.
        pub rates: String = "25,50,100,150,200,300,400,500,600,700,800,1000,1200".to_string(),
        /// Seconds of load at each rate.
        pub seconds: f64 = 4.0; bounds(gt = 0, max = 600),
        /// Levels still run after the first saturated one (then the ramp stops).
        pub past_saturation: usize = 1; bounds(min = 0, max = 100),
        /// Compute threads of the server.
        pub threads: usize = 2; bounds(min = 1, max = 256),
        /// A file of sentences, one per line; empty for the 512 shipped with quant.
        pub sentences: String = String::new(),
    }
}

/// The offered rates of a `rates` list.
///
/// # Errors
/// A message for a value that is not a positive number, or a list that does not ascend.
pub fn parse_rates(s: &str) -> Result<Vec<f64>, String> {
    let rates = s
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r > 0.0 && *r <= 1e6)
                .ok_or_else(|| format!("`{t}` is not a rate in (0, 1e6] requests/s"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if rates.is_empty() {
        return Err("no rates".into());
    }
    if rates.windows(2).any(|w| w[1] <= w[0]) {
        return Err(format!("{s}: rates must ascend"));
    }
    Ok(rates)
}

impl ServingConfig {
    /// Checks what the types cannot.
    ///
    /// # Errors
    /// `(field, message)`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        parse_rates(&self.rates).map_err(|m| ("rates", m))?;
        Ok(())
    }

    /// The batcher this setting configures.
    pub fn batch_config(&self) -> BatchConfig {
        let (policy, max_batch) = self.batching.policy(
            Duration::from_secs_f64(self.max_wait_ms / 1000.0),
            self.max_batch,
        );
        BatchConfig {
            policy,
            max_batch,
            threads: self.threads,
            ..BatchConfig::default()
        }
    }
}

/// One offered load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Level {
    /// Offered requests / s.
    pub offered: f64,
    /// Requests sent.
    pub sent: u64,
    /// Answered 200.
    pub ok: u64,
    /// Answered 429.
    pub rejected: u64,
    /// Other answers, transport errors, timeouts.
    pub failed: u64,
    /// OK answers per second.
    pub achieved: f64,
    /// Latency percentiles (ms, from the scheduled send time) of the OK answers.
    pub p50_ms: f64,
    /// 95th.
    pub p95_ms: f64,
    /// 99th.
    pub p99_ms: f64,
    /// 99.9th.
    pub p999_ms: f64,
    /// Requests the server counted during the level.
    pub server_requests: u64,
    /// Sentences the server embedded during the level.
    pub server_sentences: u64,
    /// Mean sentences per batch the server ran.
    pub mean_batch: f64,
}

impl Level {
    /// p99 > 1 s (or no answer at all), or more than 1% refused or failed.
    pub fn saturated(&self) -> bool {
        self.p99_ms.is_nan()
            || self.p99_ms > 1000.0
            || 100 * (self.rejected + self.failed) > self.sent
    }
}

/// What one run produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServingRun {
    /// The library's own throughput on the same sentences, in process, batches of 32, on the
    /// server's thread count (sentences / s).
    pub library_best: f64,
    /// The load levels, in order.
    pub levels: Vec<Level>,
}

impl ServingRun {
    /// The highest offered rate below the first saturated level (0 if the first saturates;
    /// the last rate if none does).
    pub fn knee(&self) -> f64 {
        let mut knee = 0.0;
        for l in &self.levels {
            if l.saturated() {
                break;
            }
            knee = l.offered;
        }
        knee
    }

    /// The highest offered rate with p99 under `limit_ms` and nothing refused or failed (0
    /// if none).
    pub fn sustained(&self, limit_ms: f64) -> f64 {
        self.levels
            .iter()
            .filter(|l| l.p99_ms < limit_ms && l.rejected + l.failed == 0)
            .map(|l| l.offered)
            .fold(0.0, f64::max)
    }

    /// Refused + failed requests at offered rates up to the knee.
    pub fn errors_below_knee(&self) -> u64 {
        let knee = self.knee();
        self.levels
            .iter()
            .filter(|l| l.offered <= knee)
            .map(|l| l.rejected + l.failed)
            .sum()
    }

    /// Over all levels, `|server requests - sent| + |server sentences - OK|`.
    pub fn count_mismatch(&self) -> u64 {
        self.levels
            .iter()
            .map(|l| l.server_requests.abs_diff(l.sent) + l.server_sentences.abs_diff(l.ok))
            .sum()
    }

    /// The highest achieved rate.
    pub fn best_achieved(&self) -> f64 {
        self.levels.iter().map(|l| l.achieved).fold(0.0, f64::max)
    }

    /// The level at the knee, if any.
    pub fn at_knee(&self) -> Option<&Level> {
        let knee = self.knee();
        self.levels.iter().find(|l| l.offered == knee)
    }
}

/// Counters read from the server between levels.
fn counters(m: &Metrics) -> (u64, u64, u64) {
    let requests = [crate::OPENAI_PATH, crate::TEI_PATH]
        .iter()
        .map(|e| {
            m.requests
                .get_or_create(&crate::metrics::Endpoint {
                    endpoint: e.to_string(),
                })
                .get()
        })
        .sum();
    (requests, m.sentences.get(), m.batches.get())
}

/// Runs one setting's ramp. `progress(done, total)` is called after each level.
///
/// # Errors
/// A message: a bad configuration, a missing model, a port that cannot be bound.
pub fn run_serving(
    cfg: &ServingConfig,
    seed: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ServingRun, lab::study::RunError> {
    cfg.validate().map_err(|(f, m)| format!("{f}: {m}"))?;
    let rates = parse_rates(&cfg.rates)?;
    let model = quant::load_model(&cfg.model, quant::Precision::from_flags(cfg.int8, false))?;
    let texts = quant::study::load_sentences(&cfg.sentences)?;

    // The library alone, for reference: every sentence in batches of 32, best of three.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads)
        .build()?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let library_best = (0..3)
        .map(|_| {
            let t = Instant::now();
            pool.install(|| model.embed(&refs, 32))
                .map(|_| refs.len() as f64 / t.elapsed().as_secs_f64())
        })
        .collect::<quant::Result<Vec<f64>>>()?
        .into_iter()
        .fold(0.0, f64::max);
    drop(pool);

    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let metrics = Arc::new(Metrics::new());
    let config = ServerConfig {
        batch: cfg.batch_config(),
        ..ServerConfig::new(cfg.model.clone())
    };
    let listener = server_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .map_err(|e| format!("binding a loopback port: {e}"))?;
    let url = format!("http://{}/v1/embeddings", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = server_rt.spawn(crate::serve_with(
        listener,
        Arc::new(ModelEngine::new(model)),
        config,
        metrics.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    let gen_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let level = |rate: f64, seconds: f64, seed: u64| {
        gen_rt.block_on(load::run(
            &LoadSpec {
                url: url.clone(),
                api: Api::OpenAi,
                rate,
                seconds,
                max_requests: 1_000_000,
                seed,
                timeout: Duration::from_secs(60),
                mix: crate::load::Mix::One,
            },
            &texts,
        ))
    };
    // Warm-up: connections, buffers, the first batches.
    level(50.0, 1.0, seed ^ 0xABCD)?;
    let mut levels = Vec::new();
    let mut past = 0;
    for (i, &rate) in rates.iter().enumerate() {
        std::thread::sleep(Duration::from_millis(300));
        let before = counters(&metrics);
        let r = level(rate, cfg.seconds, seed.wrapping_add(i as u64))?;
        let after = counters(&metrics);
        let batches = after.2 - before.2;
        let l = Level {
            offered: rate,
            sent: r.sent,
            ok: r.ok,
            rejected: r.rejected,
            failed: r.failed,
            achieved: r.achieved(),
            p50_ms: r.percentile_ms(0.5),
            p95_ms: r.percentile_ms(0.95),
            p99_ms: r.percentile_ms(0.99),
            p999_ms: r.percentile_ms(0.999),
            server_requests: after.0 - before.0,
            server_sentences: after.1 - before.1,
            mean_batch: if batches > 0 {
                (after.1 - before.1) as f64 / batches as f64
            } else {
                f64::NAN
            },
        };
        let saturated = l.saturated();
        levels.push(l);
        progress(i as u64 + 1, rates.len() as u64);
        if saturated {
            if past >= cfg.past_saturation {
                break;
            }
            past += 1;
        }
    }
    let _ = stop.send(());
    server_rt.block_on(server)??;
    Ok(ServingRun {
        library_best,
        levels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    fn level(offered: f64, achieved: f64, p99: f64, errors: u64) -> Level {
        Level {
            offered,
            sent: 100,
            ok: 100 - errors,
            rejected: errors,
            failed: 0,
            achieved,
            p50_ms: p99 / 2.0,
            p95_ms: p99,
            p99_ms: p99,
            p999_ms: p99,
            server_requests: 100,
            server_sentences: 100 - errors,
            mean_batch: 1.0,
        }
    }

    #[test]
    fn knee_sustained_and_errors_follow_their_definitions() {
        let run = ServingRun {
            library_best: 500.0,
            levels: vec![
                level(100.0, 100.0, 10.0, 0),
                level(200.0, 199.0, 40.0, 0),
                level(300.0, 290.0, 150.0, 1),
                level(400.0, 330.0, 2000.0, 50),
            ],
        };
        assert_eq!(run.knee(), 300.0);
        assert_eq!(run.sustained(50.0), 200.0);
        // 300 has p99 150 < 200 but refused one (not enough to saturate): not sustained.
        assert_eq!(run.sustained(200.0), 200.0);
        assert_eq!(run.errors_below_knee(), 1);
        assert_eq!(run.count_mismatch(), 0);
        assert_eq!(run.best_achieved(), 330.0);
        assert_eq!(run.at_knee().unwrap().offered, 300.0);
        let mut off = run.clone();
        off.levels[0].server_requests = 99;
        off.levels[1].server_sentences = 101;
        assert_eq!(off.count_mismatch(), 2);
        // Saturated from the start: knee 0, nothing below it.
        let first = ServingRun {
            library_best: 1.0,
            levels: vec![level(100.0, 50.0, 3000.0, 10)],
        };
        assert_eq!((first.knee(), first.errors_below_knee()), (0.0, 0));
    }

    #[test]
    fn rates_must_be_positive_and_ascend() {
        assert_eq!(parse_rates("10, 20,40").unwrap(), vec![10.0, 20.0, 40.0]);
        assert!(parse_rates("10,5").unwrap_err().contains("ascend"));
        assert!(parse_rates("10,x").unwrap_err().contains("`x`"));
        assert!(parse_rates("0").is_err());
        assert!(parse_rates("").is_err());
    }

    #[test]
    fn settings_map_to_batchers() {
        use lab::params::Params;
        let mut c = ServingConfig::from_table(&lab::params::Table::new()).unwrap();
        c.batching = Batching::None;
        assert_eq!(c.batch_config().max_batch, 1);
        assert_eq!(c.batch_config().policy, Policy::Idle);
        c.batching = Batching::Timer;
        c.max_wait_ms = 2.0;
        assert_eq!(
            c.batch_config().policy,
            Policy::Timer(Duration::from_millis(2))
        );
    }
}
