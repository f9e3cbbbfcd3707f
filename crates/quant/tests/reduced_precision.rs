//! all-MiniLM-L6-v2 in reduced precision against its FP32 self, on the 512 bench sentences:
//!
//! * INT8 — every linear layer quantized (weights per output channel, activations per token)
//!   keeps the embeddings within mean cosine 0.995 and minimum 0.985 of FP32, also with
//!   attention's products in INT8;
//! * BF16 — every linear layer on bfloat16 operands with f32 sums keeps them within mean
//!   cosine 0.99995 and minimum 0.9999;
//!
//! and both stay invariant to the batch and the thread count. Each runs on the kernel family
//! this CPU picks (`GROUNDWORK_ISA` narrows it).
//!
//! Needs the model (`cargo xtask fetch-model all-minilm-l6-v2`): a skip line without it,
//! a failure under `GROUNDWORK_REQUIRE_ASSETS=1`.

use quant::{model_for_tests, Model, Precision, Workspace};

fn models() -> Option<(Model, Model)> {
    models_with(Precision::int8())
}

/// FP32 and `precision`.
fn models_with(precision: Precision) -> Option<(Model, Model)> {
    Some((model(Precision::fp32())?, model(precision)?))
}

/// The model in `precision` (a skip line and `None` without it).
fn model(precision: Precision) -> Option<Model> {
    let dir = model_for_tests("all-minilm-l6-v2")?;
    Some(Model::load_with(&dir, precision).unwrap_or_else(|e| panic!("{e}")))
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let n = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (n(a) * n(b))
}

/// Mean and minimum cosine between the two models' embeddings of `texts`.
fn cosines(a: &Model, b: &Model, texts: &[&str]) -> (f64, f64) {
    let (a, b) = (a.embed(texts, 32).unwrap(), b.embed(texts, 32).unwrap());
    let cos: Vec<f64> = a.iter().zip(&b).map(|(x, y)| cosine(x, y)).collect();
    let mean = cos.iter().sum::<f64>() / cos.len() as f64;
    (mean, cos.iter().cloned().fold(f64::INFINITY, f64::min))
}

#[test]
fn int8_embeddings_stay_close_to_fp32() {
    let Some((fp32, int8)) = models() else { return };
    let texts: Vec<&str> = quant::study::BENCH_SENTENCES.lines().collect();
    let (mean, min) = cosines(&fp32, &int8, &texts);
    println!(
        "INT8 ({}) vs FP32 over {} sentences: mean cosine {mean:.5}, min {min:.5}",
        quant::int8::default_family().name,
        texts.len()
    );
    assert!(mean >= 0.995 && min >= 0.985, "mean {mean}, min {min}");
    let (b8, b32) = (int8.encoder().weight_bytes(), fp32.encoder().weight_bytes());
    println!(
        "weights: INT8 {b8} bytes, FP32 {b32} bytes ({:.1}%)",
        100.0 * b8 as f64 / b32 as f64
    );
    assert!(
        b8 * 10 <= b32 * 3,
        "INT8 weights are {b8} bytes against FP32's {b32}"
    );
}

/// A sentence's embedding is the same alone and in a batch of 40, on 1, 2 or 3 threads.
fn assert_batch_and_thread_invariant(model: &Model) {
    let texts: Vec<&str> = quant::study::BENCH_SENTENCES.lines().take(40).collect();
    let ids: Vec<Vec<u32>> = texts
        .iter()
        .map(|t| model.tokenize(t).unwrap().ids)
        .collect();
    let all: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
    let run = |batch: &[&[u32]], threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            model
                .embed_tokens(batch, &mut Workspace::default())
                .unwrap()
        })
    };
    let together = run(&all, 3);
    assert_eq!(together, run(&all, 1));
    for i in [0, 17, 39] {
        assert_eq!(
            &together[i * 384..(i + 1) * 384],
            &run(&all[i..i + 1], 2)[..],
            "sentence {i}"
        );
    }
}

#[test]
fn int8_embeddings_do_not_depend_on_batch_or_threads() {
    let Some(int8) = model(Precision::int8()) else {
        return;
    };
    assert_batch_and_thread_invariant(&int8);
}

#[test]
fn bf16_embeddings_stay_within_1e_5_of_fp32() {
    let Some((fp32, bf16)) = models_with(Precision::bf16()) else {
        return;
    };
    let texts: Vec<&str> = quant::study::BENCH_SENTENCES.lines().collect();
    let (mean, min) = cosines(&fp32, &bf16, &texts);
    println!(
        "BF16 ({}) vs FP32 over {} sentences: mean cosine {mean:.6}, min {min:.6}",
        quant::bf16::default_bf16_family().name,
        texts.len()
    );
    assert!(mean >= 0.99995 && min >= 0.9999, "mean {mean}, min {min}");
    // The linear layers' weights take half the bytes; the word-embedding table (about half
    // of the FP32 model) stays f32: 76.5% of FP32's bytes for MiniLM.
    let (b16, b32) = (bf16.encoder().weight_bytes(), fp32.encoder().weight_bytes());
    println!("weights: BF16 {b16} bytes, FP32 {b32} bytes");
    assert!(b16 * 5 <= b32 * 4, "BF16 {b16} bytes, FP32 {b32}");
}

#[test]
fn bf16_embeddings_do_not_depend_on_batch_or_threads() {
    let Some(bf16) = model(Precision::bf16()) else {
        return;
    };
    assert_batch_and_thread_invariant(&bf16);
}

/// With attention's two products in INT8 as well, the embeddings stay within the same
/// fidelity bounds, and a sentence's embedding is still the same alone or in a batch.
#[test]
fn int8_attention_stays_close_and_batch_invariant() {
    let precision = Precision {
        int8_attention: true,
        ..Precision::int8()
    };
    let Some((fp32, int8)) = models_with(precision) else {
        return;
    };
    let texts: Vec<&str> = quant::study::BENCH_SENTENCES.lines().take(128).collect();
    let (a, b) = (
        fp32.embed(&texts, 32).unwrap(),
        int8.embed(&texts, 32).unwrap(),
    );
    let cos: Vec<f64> = a.iter().zip(&b).map(|(x, y)| cosine(x, y)).collect();
    let mean = cos.iter().sum::<f64>() / cos.len() as f64;
    let min = cos.iter().cloned().fold(f64::INFINITY, f64::min);
    println!("INT8 with INT8 attention vs FP32: mean cosine {mean:.5}, min {min:.5}");
    assert!(mean >= 0.995 && min >= 0.985, "mean {mean}, min {min}");
    for i in [0, 77] {
        assert_eq!(
            int8.embed(&texts[i..i + 1], 1).unwrap()[0],
            b[i],
            "sentence {i}"
        );
    }
}
