//! The server as a hostile client and a deployer meet it, on the loopback with the small
//! deterministic engine: timeouts (slow headers, idle keep-alive, a body that never ends, a
//! request past its deadline, a shutdown held up by a half-sent request), the connection
//! cap, admission before any work (concurrent requests, the token budget, tokenising on its
//! own pool), the API key, CORS, JSON-only bodies, `/v1/models` and `/info`, JSON on 404 and
//! 405, left truncation and token-id inputs.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use serve::{Policy, ServerConfig, Timeouts, Truncation};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn with_timeouts(header_ms: u64, body_ms: u64, request_ms: u64, grace_ms: u64) -> ServerConfig {
    ServerConfig {
        timeouts: Timeouts {
            header: Duration::from_millis(header_ms),
            body: Duration::from_millis(body_ms),
            request: Duration::from_millis(request_ms),
            shutdown_grace: Duration::from_millis(grace_ms),
        },
        ..config(Policy::Idle, 8, 64)
    }
}

async fn connect(base: &str) -> TcpStream {
    TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection (or `limit` passes: then panics); returns
/// what it sent.
async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> String {
    let mut buf = Vec::new();
    match tokio::time::timeout(limit, stream.read_to_end(&mut buf)).await {
        Ok(_) => String::from_utf8_lossy(&buf).into_owned(),
        Err(_) => panic!("the server kept the connection open for {limit:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_slow_to_send_its_headers_or_idle_is_disconnected() {
    let s = start(Fake::new(0), with_timeouts(300, 5_000, 5_000, 1_000)).await;
    // Slowloris: one header byte every 50 ms, forever.
    let mut slow = connect(&s.base).await;
    let t0 = Instant::now();
    let dripping = tokio::spawn(async move {
        let head = b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        for b in head.iter().chain(std::iter::repeat(&b'a')) {
            if slow.write_all(&[*b]).await.is_err() {
                return slow;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        slow
    });
    let mut slow = tokio::time::timeout(Duration::from_secs(5), dripping)
        .await
        .expect("the slow client was never cut off")
        .unwrap();
    let _ = read_to_close(&mut slow, Duration::from_secs(2)).await;
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    // Keep-alive: after one answered request, an idle connection is closed too.
    let mut idle = connect(&s.base).await;
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let t0 = Instant::now();
    let got = read_to_close(&mut idle, Duration::from_secs(3)).await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t0.elapsed()
    );
    // And the server still answers.
    let (status, _, _) = post(&s.base, "/v1/embeddings", r#"{"input": "a"}"#).await;
    assert_eq!(status, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_ends_gets_408() {
    let s = start(Fake::new(0), with_timeouts(5_000, 300, 5_000, 1_000)).await;
    for head in [
        // Content-Length promises 100 bytes; 10 come.
        "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"input\": ",
        // Chunked, without the final chunk.
        "POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"inp\r\n",
    ] {
        let mut c = connect(&s.base).await;
        c.write_all(head.as_bytes()).await.unwrap();
        let t0 = Instant::now();
        let got = read_to_close(&mut c, Duration::from_secs(3)).await;
        assert!(got.starts_with("HTTP/1.1 408"), "{got}");
        assert!(got.contains("did not arrive within 300 ms"), "{got}");
        assert!(t0.elapsed() >= Duration::from_millis(250));
    }
    assert!(metrics(&s.base)
        .await
        .contains("groundwork_errors_total{kind=\"body_timeout\"} 2"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_deadline_gets_503_and_its_queued_work_is_dropped() {
    let fake = Fake::new(400);
    let s = start(
        fake.clone(),
        ServerConfig {
            batch: serve::BatchConfig {
                max_batch: 1,
                ..config(Policy::Idle, 1, 64).batch
            },
            ..with_timeouts(5_000, 5_000, 250, 1_000)
        },
    )
    .await;
    // The first request holds the engine for 400 ms, past its own 250 ms deadline too;
    // the second waits in the queue behind it and is dropped from it.
    let base = s.base.clone();
    let first =
        tokio::spawn(async move { post(&base, "/v1/embeddings", r#"{"input": "a"}"#).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (status, v, headers) = post(&s.base, "/v1/embeddings", r#"{"input": ["b", "c"]}"#).await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["error"]["code"], "deadline");
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(first.await.unwrap().0, 503);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let m = metrics(&s.base).await;
    assert!(m.contains("groundwork_cancelled_sentences_total 2"), "{m}");
    assert_eq!(*fake.batches.lock().unwrap(), vec![1]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cuts_a_half_sent_request_after_the_grace_period() {
    // Long header and body timeouts: only the grace period can end these connections.
    let s = start(Fake::new(0), with_timeouts(60_000, 60_000, 60_000, 300)).await;
    let mut half_head = connect(&s.base).await;
    half_head
        .write_all(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut half_body = connect(&s.base).await;
    half_body
        .write_all(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t0 = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(5), s.stop_result())
        .await
        .expect("shutdown waited for the half-sent requests");
    let e = r.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    assert!(e.to_string().contains("2 connection(s)"), "{e}");
    assert!(t0.elapsed() >= Duration::from_millis(250));
    let _ = read_to_close(&mut half_head, Duration::from_secs(1)).await;
    let _ = read_to_close(&mut half_body, Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_only_idle_connections_is_clean() {
    let s = start(Fake::new(0), with_timeouts(60_000, 60_000, 60_000, 2_000)).await;
    let mut idle = connect(&s.base).await;
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let t0 = Instant::now();
    s.stop().await;
    assert!(
        t0.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_new_connections_wait_until_one_closes() {
    let s = start(
        Fake::new(0),
        ServerConfig {
            max_connections: 3,
            ..with_timeouts(60_000, 5_000, 5_000, 500)
        },
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect(&s.base).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The fourth connects (the kernel's backlog) but is not served while three are open.
    let mut extra = connect(&s.base).await;
    extra
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    assert!(
        tokio::time::timeout(Duration::from_millis(300), extra.read(&mut buf))
            .await
            .is_err(),
        "served beyond the cap"
    );
    // A held connection is served.
    held[0]
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let n = held[0].read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // One closes: the waiting one is served.
    drop(held.pop());
    let n = tokio::time::timeout(Duration::from_secs(2), extra.read(&mut buf))
        .await
        .expect("the waiting connection was not served after a slot freed")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    drop(held);
    drop(extra);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let m = metrics(&s.base).await;
    assert!(
        m.contains("groundwork_connection_limit_pauses_total"),
        "{m}"
    );
    assert!(
        !m.contains("groundwork_connection_limit_pauses_total 0"),
        "{m}"
    );
    let _ = s.stop_result().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_concurrency_limit_a_request_is_refused_before_its_body_is_read() {
    let fake = Fake::new(400);
    let s = start(
        fake.clone(),
        ServerConfig {
            max_concurrent_requests: 1,
            ..with_timeouts(5_000, 5_000, 5_000, 1_000)
        },
    )
    .await;
    let base = s.base.clone();
    let first =
        tokio::spawn(async move { post(&base, "/v1/embeddings", r#"{"input": "a"}"#).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Headers promising a body that never comes: the 429 does not wait for it.
    let mut c = connect(&s.base).await;
    c.write_all(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_millis(300), c.read(&mut buf))
        .await
        .expect("the refusal waited for the body")
        .unwrap();
    let got = String::from_utf8_lossy(&buf[..n]);
    assert!(got.starts_with("HTTP/1.1 429"), "{got}");
    assert!(got.contains("limit of 1 concurrent requests"), "{got}");
    assert_eq!(first.await.unwrap().0, 200);
    // The permit came back with the answer.
    let (status, _, _) = post(&s.base, "/v1/embeddings", r#"{"input": "b"}"#).await;
    assert_eq!(status, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_budget_refuses_large_texts_before_tokenising_and_tokenising_has_its_own_pool() {
    let fake = Fake::new(0);
    let s = start(
        fake.clone(),
        ServerConfig {
            max_queued_tokens: 20,
            tokenization_workers: 1,
            ..with_timeouts(5_000, 5_000, 5_000, 1_000)
        },
    )
    .await;
    // Two texts of 30 bytes may hold 16 tokens each: 32 > 20, refused untokenised.
    let body = json!({"inputs": ["x".repeat(30), "y".repeat(30)], "truncate": true}).to_string();
    let (status, v, _) = post(&s.base, "/embed", &body).await;
    assert_eq!(status, 429, "{v}");
    assert_eq!(v["error_type"], "overloaded");
    assert!(
        v["error"].as_str().unwrap().contains("up to 32 tokens"),
        "{v}"
    );
    assert!(fake.tokenized_on.lock().unwrap().is_empty());
    // Small ones pass, tokenised on the pool's thread, never on the runtime's.
    let (status, _, _) = post(&s.base, "/embed", r#"{"inputs": ["ab", "cd"]}"#).await;
    assert_eq!(status, 200);
    let on = fake.tokenized_on.lock().unwrap().clone();
    assert_eq!(on, vec!["tokenize-0", "tokenize-0"]);
    // After the answer nothing is held.
    let h: Value = reqwest::get(format!("{}/health", s.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (h["requests"].as_u64(), h["tokens_held"].as_u64()),
        (Some(0), Some(0))
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_guards_every_route_but_health() {
    let s = start(
        Fake::new(0),
        ServerConfig {
            api_key: Some("s3cret".into()),
            ..with_timeouts(5_000, 5_000, 5_000, 1_000)
        },
    )
    .await;
    let client = reqwest::Client::new();
    let send = |path: &str, key: Option<&str>| {
        let mut r = client
            .post(format!("{}{path}", s.base))
            .header("content-type", "application/json")
            .body(r#"{"input": "a", "inputs": "a"}"#);
        if let Some(k) = key {
            r = r.header("authorization", format!("Bearer {k}"));
        }
        r.send()
    };
    let r = send("/v1/embeddings", None).await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_api_key");
    assert!(v["error"]["message"].as_str().unwrap().contains("required"));
    let r = send("/v1/embeddings", Some("s3creT")).await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = send("/embed", Some("wrong")).await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["error_type"], "invalid_api_key",
        "TEI's shape on TEI's route"
    );
    assert_eq!(
        send("/v1/embeddings", Some("s3cret"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(send("/embed", Some("s3cret")).await.unwrap().status(), 200);
    for path in ["/v1/models", "/info", "/metrics"] {
        let r = client
            .get(format!("{}{path}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
    }
    let r = reqwest::get(format!("{}/health", s.base)).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_answers_only_the_allowed_origin_and_only_json_runs_the_model() {
    let fake = Fake::new(0);
    let s = start(
        fake.clone(),
        ServerConfig {
            cors_allow_origins: vec!["https://app.example".into()],
            ..with_timeouts(5_000, 5_000, 5_000, 1_000)
        },
    )
    .await;
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/v1/embeddings", s.base),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,authorization",
            )
            .send()
    };
    let r = preflight("https://app.example").await.unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let r = preflight("https://evil.example").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // A cross-site form can send text/plain: refused with 415, the model never runs.
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut req = client
            .post(format!("{}/v1/embeddings", s.base))
            .body(r#"{"input": "a"}"#);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 415, "{ct:?}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "unsupported_media_type");
    }
    assert!(fake.batches.lock().unwrap().is_empty());
    let r = client
        .post(format!("{}/v1/embeddings", s.base))
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"input": "a"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    s.stop().await;

    // Without the flag no origin is allowed.
    let s = start(Fake::new(0), with_timeouts(5_000, 5_000, 5_000, 1_000)).await;
    let r = client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/embeddings", s.base),
        )
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_info_and_json_on_every_error() {
    let s = start(Fake::new(0), with_timeouts(5_000, 5_000, 5_000, 1_000)).await;
    let get = |path: &str| {
        let url = format!("{}{path}", s.base);
        async move {
            let r = reqwest::get(url).await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let (status, v) = get("/v1/models").await;
    assert_eq!(status, 200);
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["id"], "fake");
    assert_eq!(v["data"][0]["object"], "model");
    assert_eq!(get("/v1/models/fake").await.1["id"], "fake");
    let (status, v) = get("/v1/models/gpt-4").await;
    assert_eq!(status, 404);
    assert_eq!(v["error"]["code"], "model_not_found");
    let (status, v) = get("/info").await;
    assert_eq!(status, 200);
    assert_eq!(v["model_id"], "fake");
    assert_eq!(v["max_input_length"], 16);
    assert_eq!(v["max_client_batch_size"], 4);
    assert_eq!(v["max_batch_requests"], 8);
    let (status, v) = get("/nowhere").await;
    assert_eq!(status, 404);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no route GET /nowhere"));
    let (status, v) = get("/v1/embeddings").await;
    assert_eq!(status, 405);
    assert_eq!(v["error"]["code"], "method_not_allowed");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn left_truncation_and_token_id_inputs() {
    let s = start(Fake::new(0), with_timeouts(5_000, 5_000, 5_000, 1_000)).await;
    let long = "abcdefghijklmnopqrstuvwxyz";
    for (direction, cut) in [("Left", Truncation::Left), ("right", Truncation::Right)] {
        let body = json!({"inputs": long, "truncate": true, "truncation_direction": direction});
        let (status, v, _) = post(&s.base, "/embed", &body.to_string()).await;
        assert_eq!(status, 200, "{v}");
        let want = Fake::expected_ids(&Fake::ids(long, cut).0, true);
        assert_eq!(floats(&v[0]), want, "{direction}");
    }
    // Token ids: one sequence, or a list of them; answered as the ids' embeddings.
    let (status, v, _) = post(&s.base, "/v1/embeddings", r#"{"input": [1, 98, 99]}"#).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        floats(&v["data"][0]["embedding"]),
        Fake::expected("ab", true)
    );
    assert_eq!(v["usage"]["prompt_tokens"], 3);
    let (_, v, _) = post(
        &s.base,
        "/v1/embeddings",
        r#"{"input": [[1, 98], [1, 99, 100]]}"#,
    )
    .await;
    assert_eq!(
        floats(&v["data"][1]["embedding"]),
        Fake::expected("bc", true)
    );
    let too_long = json!({"input": vec![5; 17]}).to_string();
    let (status, v, _) = post(&s.base, "/v1/embeddings", &too_long).await;
    assert_eq!(status, 413, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("the model takes 16"));
    s.stop().await;
}

/// The server keeps itself usable when one client sends many large requests: a
/// one-sentence request behind them is answered within a few batches, not after all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_clients_large_requests_do_not_starve_a_small_one() {
    let fake = Fake::new(40);
    let s = start(
        fake.clone(),
        ServerConfig {
            batch: serve::BatchConfig {
                max_batch: 2,
                max_queue: 1024,
                ..config(Policy::Idle, 2, 1024).batch
            },
            max_inputs: 64,
            ..with_timeouts(5_000, 5_000, 30_000, 1_000)
        },
    )
    .await;
    let big = json!({"input": vec!["some text"; 64]}).to_string();
    let larges: Vec<_> = (0..3)
        .map(|_| {
            let (base, big) = (s.base.clone(), big.clone());
            tokio::spawn(async move { post(&base, "/v1/embeddings", &big).await.0 })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = fake.batches.lock().unwrap().len();
    let (status, _, _) = post(&s.base, "/v1/embeddings", r#"{"input": "small"}"#).await;
    assert_eq!(status, 200);
    // 192 sentences in batches of 2 are 96 batches; the small one waits for the batch
    // running when it came and runs in the next (one more for timing slack).
    let ran = fake.batches.lock().unwrap().len() - before;
    assert!(
        ran <= 3,
        "{ran} batches ran before the small request was answered"
    );
    for l in larges {
        assert_eq!(l.await.unwrap(), 200);
    }
    s.stop().await;
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_gets_a_json_access_line() {
    let buf = Captured::default();
    let writer = buf.clone();
    // As `groundwork-serve --json-logs` sets it up, into a buffer (the only subscriber this
    // test binary installs).
    tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .try_init()
        .unwrap();
    let s = start(Fake::new(0), with_timeouts(5_000, 5_000, 5_000, 1_000)).await;
    let (status, _, _) = post(&s.base, "/v1/embeddings", r#"{"input": "a"}"#).await;
    assert_eq!(status, 200);
    let _ = reqwest::get(format!("{}/nowhere", s.base)).await.unwrap();
    s.stop().await;
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let access = |path: &str| {
        lines
            .iter()
            .find(|l| l["target"] == "access" && l["fields"]["path"] == path)
            .unwrap_or_else(|| panic!("no access line for {path}: {text}"))
            .clone()
    };
    let ok = access("/v1/embeddings");
    assert_eq!(ok["fields"]["method"], "POST");
    assert_eq!(ok["fields"]["status"], 200);
    assert!(ok["fields"]["ms"].as_f64().is_some());
    assert!(ok["fields"]["peer"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert_eq!(access("/nowhere")["fields"]["status"], 404);
}
