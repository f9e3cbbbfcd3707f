//! What the loopback tests share: a small deterministic engine, a server on a free port,
//! and request helpers.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use serve::{serve, BatchConfig, Engine, Policy, ServerConfig, Truncation};
use tokio::sync::oneshot;

/// Embedding of a text: `[tokens, sum of ids, first id, last id]` (ids: 1, then bytes + 1,
/// at most 16, cut at either end), each batch taking `delay`; records batch sizes and the
/// threads that tokenised.
pub struct Fake {
    delay: Duration,
    pub batches: Mutex<Vec<usize>>,
    pub tokenized_on: Mutex<Vec<String>>,
}

impl Fake {
    pub fn new(delay_ms: u64) -> Arc<Fake> {
        Arc::new(Fake {
            delay: Duration::from_millis(delay_ms),
            batches: Mutex::new(Vec::new()),
            tokenized_on: Mutex::new(Vec::new()),
        })
    }

    /// The pooled vector of one token sequence.
    pub fn vector(ids: &[u32]) -> [f32; 4] {
        [
            ids.len() as f32,
            ids.iter().sum::<u32>() as f32,
            ids[0] as f32,
            *ids.last().unwrap() as f32,
        ]
    }

    pub fn expected(text: &str, normalize: bool) -> Vec<f32> {
        Fake::expected_ids(&Fake::ids(text, Truncation::Right).0, normalize)
    }

    pub fn expected_ids(ids: &[u32], normalize: bool) -> Vec<f32> {
        let mut v = Fake::vector(ids).to_vec();
        if normalize {
            quant::l2_normalize(&mut v);
        }
        v
    }

    pub fn ids(text: &str, cut: Truncation) -> (Vec<u32>, bool) {
        let body: Vec<u32> = text.bytes().map(|b| b as u32 + 1).collect();
        let was_cut = body.len() > 15;
        let keep = body.len().min(15);
        let body = match cut {
            Truncation::Right => &body[..keep],
            Truncation::Left => &body[body.len() - keep..],
        };
        (
            std::iter::once(1).chain(body.iter().copied()).collect(),
            was_cut,
        )
    }
}

impl Engine for Fake {
    fn dim(&self) -> usize {
        4
    }
    fn tokenize(&self, text: &str, cut: Truncation) -> Result<(Vec<u32>, bool), String> {
        let name = std::thread::current().name().unwrap_or("").to_string();
        self.tokenized_on.lock().unwrap().push(name);
        Ok(Fake::ids(text, cut))
    }
    fn pool(&self, batch: &[&[u32]]) -> Result<Vec<f32>, String> {
        std::thread::sleep(self.delay);
        self.batches.lock().unwrap().push(batch.len());
        Ok(batch.iter().flat_map(|ids| Fake::vector(ids)).collect())
    }
    fn normalizes(&self) -> bool {
        true
    }
    fn max_tokens(&self) -> usize {
        16
    }
    fn vocab_size(&self) -> usize {
        257
    }
}

pub struct Running {
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    pub async fn stop(self) {
        self.stop_result().await.unwrap();
    }

    /// Signals shutdown and returns what `serve` returned.
    pub async fn stop_result(mut self) -> std::io::Result<()> {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap()
    }
}

pub async fn start(engine: Arc<dyn Engine>, config: ServerConfig) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, engine, config, async {
        let _ = rx.await;
    }));
    Running {
        base,
        stop: Some(tx),
        task,
    }
}

pub fn config(policy: Policy, max_batch: usize, max_queue: usize) -> ServerConfig {
    ServerConfig {
        batch: BatchConfig {
            policy,
            max_batch,
            max_batch_tokens: 4096,
            max_queue,
            threads: 1,
        },
        max_inputs: 4,
        max_request_bytes: 1000,
        ..ServerConfig::new("fake")
    }
}

pub async fn post(base: &str, path: &str, body: &str) -> (u16, Value, reqwest::header::HeaderMap) {
    let r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, v, headers)
}

pub async fn metrics(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}
