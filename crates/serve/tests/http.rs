//! The server over real HTTP on the loopback: both APIs' shapes, every error case, the
//! queue bound, many concurrent clients each getting its own answer exactly once, a client
//! that leaves, shutdown that drains — on a small deterministic engine, so they run
//! without the model; and the real model's embeddings equal to the library's.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use serve::{Policy, ServerConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_apis_answer_in_their_shapes() {
    let s = start(Fake::new(0), config(Policy::Idle, 8, 64)).await;
    let (status, v, _) = post(
        &s.base,
        "/v1/embeddings",
        r#"{"input": "hello", "model": "fake"}"#,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "fake");
    assert_eq!(v["data"][0]["object"], "embedding");
    assert_eq!(v["data"][0]["index"], 0);
    assert_eq!(
        floats(&v["data"][0]["embedding"]),
        Fake::expected("hello", true)
    );
    assert_eq!(v["usage"]["prompt_tokens"], 6);
    assert_eq!(v["usage"]["total_tokens"], 6);

    let texts = ["a", "bb", "ccc"];
    let body = json!({"input": texts}).to_string();
    let (_, v, _) = post(&s.base, "/v1/embeddings", &body).await;
    for (i, t) in texts.iter().enumerate() {
        assert_eq!(v["data"][i]["index"], i);
        assert_eq!(floats(&v["data"][i]["embedding"]), Fake::expected(t, true));
    }
    assert_eq!(v["usage"]["prompt_tokens"], 2 + 3 + 4);

    // base64: little-endian f32 bytes (what OpenAI's Python client asks for by default).
    let body = json!({"input": texts, "encoding_format": "base64"}).to_string();
    let (_, v, _) = post(&s.base, "/v1/embeddings", &body).await;
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v["data"][2]["embedding"].as_str().unwrap())
        .unwrap();
    let got: Vec<f32> = bytes
        .chunks(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(got, Fake::expected("ccc", true));

    // text-embeddings-inference: a list of vectors; normalize defaults to true.
    let (status, v, _) = post(&s.base, "/embed", r#"{"inputs": ["a", "bb"]}"#).await;
    assert_eq!(status, 200);
    assert_eq!(floats(&v[1]), Fake::expected("bb", true));
    let (_, v, _) = post(&s.base, "/embed", r#"{"inputs": "bb", "normalize": false}"#).await;
    assert_eq!(floats(&v[0]), Fake::expected("bb", false));
    // Too long: an error unless truncate says to cut.
    let long = "x".repeat(40);
    let (_, v, _) = post(
        &s.base,
        "/embed",
        &json!({"inputs": long, "truncate": true}).to_string(),
    )
    .await;
    assert_eq!(floats(&v[0]), Fake::expected(&long, true));

    let r = reqwest::get(format!("{}/health", s.base)).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let m = metrics(&s.base).await;
    assert!(
        m.contains("groundwork_requests_total{endpoint=\"/v1/embeddings\"} 3"),
        "{m}"
    );
    assert!(
        m.contains("groundwork_requests_total{endpoint=\"/embed\"} 3"),
        "{m}"
    );
    assert!(m.contains("groundwork_sentences_total 11"), "{m}");
    assert!(m.contains("groundwork_batch_size_count"), "{m}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_gets_a_4xx_that_says_why() {
    let s = start(Fake::new(0), config(Policy::Idle, 8, 64)).await;
    let big = format!(r#"{{"input": "{}"}}"#, "y".repeat(2000));
    let cases: &[(&str, &str, u16, &str, &str)] = &[
        (
            "/v1/embeddings",
            r#"{"input": "#,
            400,
            "malformed_json",
            "not valid JSON",
        ),
        (
            "/v1/embeddings",
            "",
            400,
            "malformed_json",
            "not valid JSON",
        ),
        (
            "/v1/embeddings",
            "[1, 2]",
            400,
            "invalid_field",
            "JSON object",
        ),
        (
            "/v1/embeddings",
            r#"{"model": "fake"}"#,
            400,
            "invalid_field",
            "`input` is missing",
        ),
        (
            "/v1/embeddings",
            r#"{"input": 5}"#,
            400,
            "invalid_field",
            "`input` is a number",
        ),
        (
            "/v1/embeddings",
            r#"{"input": []}"#,
            400,
            "invalid_field",
            "empty list",
        ),
        (
            "/v1/embeddings",
            r#"{"input": [1, 300]}"#,
            400,
            "invalid_field",
            "`input[1]` is 300: a token id must be an integer from 0 to 256",
        ),
        (
            "/v1/embeddings",
            r#"{"input": [[1, 2], "a"]}"#,
            400,
            "invalid_field",
            "`input[1]` is a string; expected a list of token ids",
        ),
        (
            "/v1/embeddings",
            r#"{"input": "a", "model": "text-embedding-3-large"}"#,
            404,
            "model_not_found",
            "`text-embedding-3-large` does not exist here",
        ),
        (
            "/embed",
            r#"{"inputs": [[1, 2]]}"#,
            400,
            "invalid_field",
            "token ids are not accepted here",
        ),
        (
            "/embed",
            r#"{"inputs": "a", "truncation_direction": "Middle"}"#,
            400,
            "invalid_field",
            "truncation_direction",
        ),
        (
            "/v1/embeddings",
            r#"{"input": ["a", null]}"#,
            400,
            "invalid_field",
            "`input[1]` is null",
        ),
        (
            "/v1/embeddings",
            r#"{"input": ["a","b","c","d","e"]}"#,
            413,
            "too_many_inputs",
            "limit is 4",
        ),
        ("/v1/embeddings", &big, 413, "too_large", "1000 bytes"),
        (
            "/v1/embeddings",
            r#"{"input": "a", "encoding_format": "int8"}"#,
            400,
            "invalid_field",
            "encoding_format",
        ),
        (
            "/v1/embeddings",
            r#"{"input": "a", "dimensions": 3}"#,
            400,
            "invalid_field",
            "have 4",
        ),
        (
            "/embed",
            r#"{"inputs": {"a": 1}}"#,
            400,
            "invalid_field",
            "`inputs` is an object",
        ),
        (
            "/embed",
            r#"{"inputs": "a", "normalize": "yes"}"#,
            400,
            "invalid_field",
            "true or false",
        ),
        (
            "/embed",
            &json!({"inputs": ["ok", "z".repeat(30)]}).to_string(),
            413,
            "too_long",
            "`inputs[1]` is longer than the 16 tokens",
        ),
    ];
    for &(path, body, status, kind, says) in cases {
        let (got, v, _) = post(&s.base, path, body).await;
        assert_eq!(got, status, "{path} {body}: {v}");
        let (message, code) = if path == "/embed" {
            (v["error"].as_str(), v["error_type"].as_str())
        } else {
            (v["error"]["message"].as_str(), v["error"]["code"].as_str())
        };
        assert!(message.unwrap().contains(says), "{path} {body}: {v}");
        assert_eq!(code, Some(kind), "{path} {body}: {v}");
    }
    let m = metrics(&s.base).await;
    assert!(
        m.contains("groundwork_errors_total{kind=\"malformed_json\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("groundwork_errors_total{kind=\"too_many_inputs\"} 1"),
        "{m}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_429_with_retry_after() {
    // The engine is busy for 400 ms with the first request; the queue holds 2 sentences.
    let s = start(Fake::new(400), config(Policy::Idle, 1, 2)).await;
    let base = s.base.clone();
    let first =
        tokio::spawn(async move { post(&base, "/v1/embeddings", r#"{"input": "a"}"#).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, v, headers) =
        post(&s.base, "/v1/embeddings", r#"{"input": ["b", "c", "d"]}"#).await;
    assert_eq!(status, 429, "{v}");
    assert_eq!(headers["retry-after"], "1");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("of its 2 sentences"),
        "{v}"
    );
    assert_eq!(first.await.unwrap().0, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_each_get_their_own_answer_exactly_once() {
    let fake = Fake::new(2);
    // 200 requests at once: above the default 64 concurrent, which would refuse some.
    let s = start(
        fake.clone(),
        ServerConfig {
            max_concurrent_requests: 256,
            ..config(Policy::Timer(Duration::from_millis(2)), 8, 1024)
        },
    )
    .await;
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (client, base) = (client.clone(), s.base.clone());
            tokio::spawn(async move {
                let text = format!("s{i}");
                let (path, body) = if i % 2 == 0 {
                    ("/v1/embeddings", json!({"input": text}))
                } else {
                    ("/embed", json!({"inputs": [text]}))
                };
                let r = client
                    .post(format!("{base}{path}"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 200);
                let v: Value = r.json().await.unwrap();
                let got = if i % 2 == 0 {
                    floats(&v["data"][0]["embedding"])
                } else {
                    floats(&v[0])
                };
                assert_eq!(got, Fake::expected(&text, true), "request {i}");
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let batches = fake.batches.lock().unwrap().clone();
    assert_eq!(
        batches.iter().sum::<usize>(),
        200,
        "every sentence ran exactly once"
    );
    assert!(batches.iter().all(|&b| b <= 8), "{batches:?}");
    assert!(batches.len() < 200, "no batching happened: {batches:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_everything_accepted() {
    let fake = Fake::new(30);
    let s = start(fake.clone(), config(Policy::Idle, 2, 1024)).await;
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let base = s.base.clone();
            tokio::spawn(async move {
                post(
                    &base,
                    "/v1/embeddings",
                    &json!({"input": format!("t{i}")}).to_string(),
                )
                .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let base = s.base.clone();
    s.stop().await;
    for (i, t) in tasks.into_iter().enumerate() {
        let (status, v, _) = t.await.unwrap();
        assert_eq!(status, 200, "request {i}: {v}");
        assert_eq!(
            floats(&v["data"][0]["embedding"]),
            Fake::expected(&format!("t{i}"), true)
        );
    }
    assert_eq!(fake.batches.lock().unwrap().iter().sum::<usize>(), 12);
    // And nothing listens any more.
    assert!(reqwest::get(format!("{base}/health")).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_is_dropped_from_the_queue() {
    let fake = Fake::new(300);
    let s = start(fake.clone(), config(Policy::Idle, 1, 64)).await;
    let base = s.base.clone();
    let first =
        tokio::spawn(async move { post(&base, "/v1/embeddings", r#"{"input": "a"}"#).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Queued behind the first, then abandoned.
    let gone = reqwest::Client::new()
        .post(format!("{}/v1/embeddings", s.base))
        .timeout(Duration::from_millis(100))
        .json(&json!({"input": ["b", "c"]}))
        .send()
        .await;
    assert!(gone.is_err());
    assert_eq!(first.await.unwrap().0, 200);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let m = metrics(&s.base).await;
    assert!(m.contains("groundwork_cancelled_sentences_total 2"), "{m}");
    assert_eq!(*fake.batches.lock().unwrap(), vec![1]);
    s.stop().await;
}

/// The real model: the server's embeddings are the library's, bit for bit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_served_gives_the_library_embeddings() {
    let Some(dir) = quant::model_for_tests("all-minilm-l6-v2") else {
        return;
    };
    let texts = [
        "A cat sits on the mat.",
        "Stocks fell sharply on Monday.",
        "x",
    ];
    let want = quant::Model::load(&dir).unwrap().embed(&texts, 8).unwrap();
    let engine = Arc::new(serve::ModelEngine::new(quant::Model::load(&dir).unwrap()));
    let s = start(engine, ServerConfig::new("all-minilm-l6-v2")).await;
    let (status, v, _) = post(
        &s.base,
        "/v1/embeddings",
        &json!({"input": texts}).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    for (i, w) in want.iter().enumerate() {
        assert_eq!(&floats(&v["data"][i]["embedding"]), w, "text {i}");
    }
    let (_, v, _) = post(&s.base, "/embed", &json!({"inputs": texts}).to_string()).await;
    assert_eq!(&floats(&v[1]), &want[1]);
    s.stop().await;
}
