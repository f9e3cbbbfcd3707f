//! all-MiniLM-L6-v2 against PyTorch: the 16 reference sentences of
//! `tests/data/minilm-reference.json` (token ids and embeddings computed with PyTorch and
//! sentence-transformers' pooling) must give the same token ids and embeddings within
//! cosine 0.9999 — and an embedding must not depend on the batch it is computed in or on the
//! thread count.
//!
//! The model comes from `cargo xtask fetch-model all-minilm-l6-v2`; without it these tests
//! print a skip line, and fail under `GROUNDWORK_REQUIRE_ASSETS=1` (CI).

use quant::{model_for_tests, Model, Workspace};

fn model() -> Option<Model> {
    let dir = model_for_tests("all-minilm-l6-v2")?;
    Some(Model::load(&dir).unwrap_or_else(|e| panic!("{e}")))
}

struct Reference {
    sentences: Vec<String>,
    input_ids: Vec<Vec<u32>>,
    embeddings: Vec<Vec<f32>>,
}

fn reference() -> Reference {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/minilm-reference.json"
    ))
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let list = |key: &str| v[key].as_array().unwrap().clone();
    Reference {
        sentences: list("sentences")
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect(),
        input_ids: list("input_ids")
            .iter()
            .map(|a| {
                a.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as u32)
                    .collect()
            })
            .collect(),
        embeddings: list("embeddings")
            .iter()
            .map(|a| {
                a.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() as f32)
                    .collect()
            })
            .collect(),
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[test]
fn token_ids_and_embeddings_match_pytorch() {
    let Some(model) = model() else { return };
    let r = reference();
    assert_eq!(r.sentences.len(), 16);
    let texts: Vec<&str> = r.sentences.iter().map(String::as_str).collect();
    for (text, want) in texts.iter().zip(&r.input_ids) {
        let got = model.tokenize(text).unwrap();
        assert_eq!(&got.ids, want, "token ids of {text:?}");
        assert!(!got.truncated);
    }
    let got = model.embed(&texts, 4).unwrap();
    let (mut worst_cos, mut worst_abs) = (1.0f64, 0.0f32);
    for (g, w) in got.iter().zip(&r.embeddings) {
        assert_eq!(g.len(), 384);
        worst_cos = worst_cos.min(cosine(g, w));
        worst_abs = g
            .iter()
            .zip(w)
            .map(|(a, b)| (a - b).abs())
            .fold(worst_abs, f32::max);
    }
    println!(
        "MiniLM vs PyTorch over 16 sentences: min cosine {worst_cos:.9} (1 - {:.1e}), max |difference| {worst_abs:.2e} (the reference has 7 decimals)",
        1.0 - worst_cos
    );
    assert!(worst_cos >= 0.9999, "min cosine {worst_cos}");
}

#[test]
fn an_embedding_does_not_depend_on_its_batch_or_the_thread_count() {
    let Some(model) = model() else { return };
    let r = reference();
    let ids: Vec<&[u32]> = r.input_ids.iter().map(Vec::as_slice).collect();
    let alone = |i: usize, threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            model
                .embed_tokens(&[ids[i]], &mut Workspace::default())
                .unwrap()
        })
    };
    // A batch of 32 with longer neighbours: the 16 sentences, then each with a long
    // sentence appended to it again (repeated ids stay inside the vocabulary).
    let mut batch: Vec<Vec<u32>> = r.input_ids.clone();
    for s in &r.input_ids {
        let mut long = s.clone();
        long.extend_from_slice(&s[1..]);
        long.extend_from_slice(&s[1..]);
        batch.push(long);
    }
    let batch_ids: Vec<&[u32]> = batch.iter().map(Vec::as_slice).collect();
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let together = pool.install(|| {
            model
                .embed_tokens(&batch_ids, &mut Workspace::default())
                .unwrap()
        });
        for i in [0, 5, 15] {
            let single = alone(i, 1);
            assert_eq!(
                &together[i * 384..(i + 1) * 384],
                &single[..],
                "sentence {i} differs between alone (1 thread) and a batch of 32 ({threads} threads)"
            );
        }
    }
    // A reused workspace gives the same bits as a fresh one.
    let mut ws = Workspace::default();
    let first = model.embed_tokens(&batch_ids, &mut ws).unwrap();
    let small = model.embed_tokens(&ids[..3], &mut ws).unwrap();
    assert_eq!(&first[..3 * 384], &small[..]);
}

#[test]
fn long_and_empty_texts_are_handled_as_documented() {
    let Some(model) = model() else { return };
    let long = "word ".repeat(1000);
    let t = model.tokenize(&long).unwrap();
    assert!(
        t.truncated && t.ids.len() == model.max_seq_length(),
        "{}",
        t.ids.len()
    );
    assert_eq!(
        (t.ids[0], *t.ids.last().unwrap()),
        (101, 102),
        "[CLS] ... [SEP] kept"
    );
    let empty = model.tokenize("").unwrap();
    assert_eq!(empty.ids, [101, 102]);
    // A text of ~100 KB is tokenised in a window at its kept end: the same tokens as the
    // whole text's. The reference is a ~20 KB piece cut at a space (under the window
    // threshold, so tokenised whole), which holds far more than 256 tokens at either end.
    let r = reference();
    let mut huge = String::new();
    while huge.len() < 100_000 {
        for s in &r.sentences {
            huge.push_str(s);
            huge.push_str(if huge.len().is_multiple_of(3) {
                "\n"
            } else {
                " "
            });
        }
    }
    let head = &huge[..huge[20_000..].find(' ').unwrap() + 20_000];
    let tail = &huge[huge.len() - 20_000 + huge[huge.len() - 20_000..].find(' ').unwrap()..];
    assert_eq!(
        model.tokenize(&huge).unwrap(),
        model.tokenize(head).unwrap()
    );
    assert_eq!(
        model.tokenize_left(&huge).unwrap(),
        model.tokenize_left(tail).unwrap()
    );
    assert!(model.tokenize_left(&huge).unwrap().truncated);
    assert_ne!(
        model.tokenize_left(&huge).unwrap(),
        model.tokenize(&huge).unwrap()
    );
    let v = model.embed(&["", &long], 8).unwrap();
    for e in &v {
        let norm: f32 = e.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5 && e.iter().all(|x| x.is_finite()));
    }
}
