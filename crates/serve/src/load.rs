//! An open-loop load generator: requests at Poisson arrival times at a fixed offered rate,
//! one sentence each (or a mix of sizes, [`Mix`]), every one timed from its **scheduled**
//! send time — a server that falls behind is charged for the requests it made wait, not
//! only for the ones it served (no coordinated omission). Latencies go into an HDR histogram (microseconds, three
//! significant digits). Bounded in duration and count; loopback addresses only.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;

/// Which API the requests speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `POST /v1/embeddings` with `{"input": text}`.
    OpenAi,
    /// `POST /embed` with `{"inputs": text}`.
    Tei,
}

/// How many texts each request sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mix {
    /// One sentence per request.
    #[default]
    One,
    /// 70% of requests send one sentence, 20% eight, 10% thirty-two (4.5 on average): many
    /// small requests with large ones among them.
    Mixed,
}

impl Mix {
    /// Texts in the next request, from a uniform draw `u` in [0, 1).
    fn size(self, u: f64) -> usize {
        match self {
            Mix::One => 1,
            Mix::Mixed if u < 0.7 => 1,
            Mix::Mixed if u < 0.9 => 8,
            Mix::Mixed => 32,
        }
    }
}

/// One load level.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The endpoint's full URL (loopback only).
    pub url: String,
    /// Request body shape.
    pub api: Api,
    /// Offered requests per second (the Poisson process's rate).
    pub rate: f64,
    /// How long requests are sent for.
    pub seconds: f64,
    /// Requests at most (bounds a mistaken rate).
    pub max_requests: usize,
    /// Seed of the arrival times and of which sentence each request sends.
    pub seed: u64,
    /// A request not answered within this counts as failed.
    pub timeout: Duration,
    /// Texts per request.
    pub mix: Mix,
}

/// What one load level measured.
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// Offered rate (requests / s).
    pub offered: f64,
    /// Requests sent.
    pub sent: u64,
    /// Answered 200.
    pub ok: u64,
    /// Answered 429 (the queue was full).
    pub rejected: u64,
    /// Any other answer, a transport error or a timeout.
    pub failed: u64,
    /// Seconds from the first scheduled send to the last answer.
    pub span_s: f64,
    /// Latencies of the 200 answers, in microseconds from the scheduled send time.
    pub latency_us: Histogram<u64>,
    /// The same for the requests of one text only (with [`Mix::Mixed`]: how the small
    /// requests fare beside the large ones).
    pub single_latency_us: Histogram<u64>,
}

impl LoadResult {
    /// Answered-OK requests per second over the span.
    pub fn achieved(&self) -> f64 {
        if self.span_s > 0.0 {
            self.ok as f64 / self.span_s
        } else {
            0.0
        }
    }

    /// The `q`-quantile (0..=1) of the OK latencies in milliseconds (NaN with none).
    pub fn percentile_ms(&self, q: f64) -> f64 {
        quantile_ms(&self.latency_us, q)
    }

    /// The `q`-quantile of the one-text requests' OK latencies in milliseconds.
    pub fn single_percentile_ms(&self, q: f64) -> f64 {
        quantile_ms(&self.single_latency_us, q)
    }
}

fn quantile_ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        f64::NAN
    } else {
        h.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Whether `url` names a loopback host.
pub fn is_loopback(url: &str) -> bool {
    [
        "http://127.",
        "http://localhost:",
        "http://localhost/",
        "http://[::1]",
    ]
    .iter()
    .any(|p| url.starts_with(p))
}

/// Runs one load level against `spec.url` with `texts` (request `i` sends text `k`, `k`
/// drawn from the seed), on the current tokio runtime.
///
/// # Errors
/// A URL that is not loopback, an empty text list, or a rate that is not positive.
pub async fn run(spec: &LoadSpec, texts: &[String]) -> Result<LoadResult, String> {
    if !is_loopback(&spec.url) {
        return Err(format!(
            "{}: the load generator only targets loopback addresses",
            spec.url
        ));
    }
    if texts.is_empty() {
        return Err("no texts to send".into());
    }
    if !(spec.rate.is_finite() && spec.rate > 0.0 && spec.seconds > 0.0) {
        return Err(format!(
            "rate {} req/s for {} s: both must be positive",
            spec.rate, spec.seconds
        ));
    }
    let client = reqwest::Client::builder()
        .timeout(spec.timeout)
        .pool_max_idle_per_host(4096)
        .build()
        .map_err(|e| e.to_string())?;
    // Arrival times: exponential gaps of mean 1 / rate.
    let mut rng = core_tensor::Rng::seed(spec.seed);
    let mut schedule = Vec::new();
    let mut t = 0.0;
    loop {
        t += -(1.0 - rng.next_f64()).ln() / spec.rate;
        if t > spec.seconds || schedule.len() >= spec.max_requests {
            break;
        }
        // (One draws nothing: its schedule is the same as before mixes existed.)
        let n = match spec.mix {
            Mix::One => 1,
            mix => mix.size(rng.next_f64()),
        };
        let picked: Vec<usize> = (0..n).map(|_| rng.below(texts.len())).collect();
        schedule.push((t, picked));
    }
    let empty =
        Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).map_err(|e| e.to_string())?;
    let hist = Arc::new(Mutex::new((empty.clone(), empty)));
    let counts = Arc::new(Mutex::new((0u64, 0u64, 0u64)));
    let start = Instant::now() + Duration::from_millis(20);
    let mut tasks = Vec::with_capacity(schedule.len());
    for (at, picked) in &schedule {
        let due = start + Duration::from_secs_f64(*at);
        tokio::time::sleep_until(due.into()).await;
        let input = match picked.as_slice() {
            [k] => json!(texts[*k]),
            many => json!(many.iter().map(|&k| &texts[k]).collect::<Vec<_>>()),
        };
        let body = match spec.api {
            Api::OpenAi => json!({ "input": input }),
            Api::Tei => json!({ "inputs": input }),
        };
        let single = picked.len() == 1;
        let (client, url, hist, counts) = (
            client.clone(),
            spec.url.clone(),
            hist.clone(),
            counts.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let r = client.post(&url).json(&body).send().await;
            let status = match r {
                Ok(r) => {
                    let s = r.status().as_u16();
                    // Read the whole answer: the latency includes receiving it.
                    match r.bytes().await {
                        Ok(_) => s,
                        Err(_) => 0,
                    }
                }
                Err(_) => 0,
            };
            let us = due.elapsed().as_micros().max(1) as u64;
            let mut c = counts.lock().unwrap();
            match status {
                200 => {
                    c.0 += 1;
                    let mut h = hist.lock().unwrap();
                    let _ = h.0.record(us.min(3_600_000_000));
                    if single {
                        let _ = h.1.record(us.min(3_600_000_000));
                    }
                }
                429 => c.1 += 1,
                _ => c.2 += 1,
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let span_s = start.elapsed().as_secs_f64();
    let (ok, rejected, failed) = *counts.lock().unwrap();
    let (latency_us, single_latency_us) = hist.lock().unwrap().clone();
    Ok(LoadResult {
        offered: spec.rate,
        sent: schedule.len() as u64,
        ok,
        rejected,
        failed,
        span_s,
        latency_us,
        single_latency_us,
    })
}
