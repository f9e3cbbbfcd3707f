//! Throughput and latency of two encoders (FP32 and INT8) measured in one sitting, on
//! bench-harness's alternation ([`bench_harness::ab::alternate`]) and statistics.
//!
//! At each batch size, both precisions embed the same sentences (in order, in batches of
//! that size), after one untimed batch each; the timed passes alternate FP32, INT8, INT8,
//! FP32, ... so that a slow stretch of the machine (another tenant, a frequency change)
//! lands on both sides rather than on one. Each pass gives sentences per second; the
//! points keep every pass, so the spread between passes — the run-to-run noise — is
//! reported next to the differences it must be compared with.
//!
//! Latency is the time of one call embedding one batch (tokenisation excluded: it is
//! measured apart, per sentence), over many calls, as percentiles.

use std::time::Instant;

use bench_harness::ab::alternate;
use bench_harness::stats::{median, percentile};
use serde::{Deserialize, Serialize};

use crate::encoder::Workspace;
use crate::error::Result;
use crate::model::Model;

/// Sentences per second at one batch size, every timed pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeedPoint {
    /// Batch size.
    pub batch: usize,
    /// FP32, one value per pass.
    pub fp32: Vec<f64>,
    /// INT8, one value per pass.
    pub int8: Vec<f64>,
}

impl SpeedPoint {
    /// Median FP32 sentences/s.
    pub fn fp32_median(&self) -> f64 {
        median(&self.fp32)
    }

    /// Median INT8 sentences/s.
    pub fn int8_median(&self) -> f64 {
        median(&self.int8)
    }
}

/// `per_point` sentences (at least one batch, rounded up to whole batches) taken cyclically
/// from `tokens`, as batches of `batch`.
fn batches_of(tokens: &[Vec<u32>], batch: usize, per_point: usize) -> Vec<Vec<&[u32]>> {
    let n = per_point.max(batch).div_ceil(batch) * batch;
    let all: Vec<&[u32]> = (0..n)
        .map(|i| tokens[i % tokens.len()].as_slice())
        .collect();
    all.chunks(batch).map(<[&[u32]]>::to_vec).collect()
}

fn timed_pass(model: &Model, batches: &[Vec<&[u32]>], ws: &mut Workspace) -> Result<f64> {
    let n: usize = batches.iter().map(Vec::len).sum();
    let t = Instant::now();
    for b in batches {
        std::hint::black_box(model.embed_tokens(b, ws)?);
    }
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

/// Sentences per second of `fp32` and `int8` at each batch size, `rounds` timed passes of
/// `per_point` sentences each, interleaved (see the module docs). Runs on the current rayon
/// pool. `progress(done, total)` after each batch size.
///
/// # Errors
/// A sequence the encoders refuse.
///
/// # Panics
/// When `tokens` is empty.
pub fn throughput(
    fp32: &Model,
    int8: &Model,
    tokens: &[Vec<u32>],
    batch_sizes: &[usize],
    per_point: usize,
    rounds: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<SpeedPoint>> {
    assert!(!tokens.is_empty(), "throughput: no sentences");
    let (mut w32, mut w8) = (Workspace::default(), Workspace::default());
    let mut points = Vec::with_capacity(batch_sizes.len());
    for (i, &batch) in batch_sizes.iter().enumerate() {
        let batches = batches_of(tokens, batch, per_point);
        // Warm-up: buffers grown, code and weights in cache.
        fp32.embed_tokens(&batches[0], &mut w32)?;
        int8.embed_tokens(&batches[0], &mut w8)?;
        let (f, q) = alternate(
            rounds,
            &mut || timed_pass(fp32, &batches, &mut w32),
            &mut || timed_pass(int8, &batches, &mut w8),
        )?;
        points.push(SpeedPoint {
            batch,
            fp32: f,
            int8: q,
        });
        progress(i + 1, batch_sizes.len());
    }
    Ok(points)
}

/// INT8 over FP32 sentences/s at one batch size, one ratio per adjacent pair of passes over
/// all of `tokens` (FP32 then INT8, INT8 then FP32, alternately): each ratio compares two
/// passes a second apart, so a slow stretch of the machine moves few ratios, and their
/// median is the robust estimate. Runs on the current rayon pool.
///
/// # Errors
/// A sequence the encoders refuse.
pub fn paired_ratios(
    fp32: &Model,
    int8: &Model,
    tokens: &[Vec<u32>],
    batch: usize,
    pairs: usize,
) -> Result<Vec<f64>> {
    let batches = batches_of(tokens, batch, tokens.len());
    let (mut w32, mut w8) = (Workspace::default(), Workspace::default());
    fp32.embed_tokens(&batches[0], &mut w32)?;
    int8.embed_tokens(&batches[0], &mut w8)?;
    let (f, i) = alternate(
        pairs,
        &mut || timed_pass(fp32, &batches, &mut w32),
        &mut || timed_pass(int8, &batches, &mut w8),
    )?;
    Ok(f.iter().zip(&i).map(|(a, b)| b / a).collect())
}

/// Latency percentiles of one call at one batch size, milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// `fp32` or `int8`.
    pub precision: String,
    /// Sentences per call.
    pub batch: usize,
    /// Calls timed.
    pub calls: usize,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
}

/// Times `calls` calls of `model` on batches of `batch` sentences taken cyclically from
/// `tokens` (one untimed call first).
///
/// # Errors
/// A sequence the encoder refuses.
///
/// # Panics
/// When `tokens` is empty.
pub fn latency(
    model: &Model,
    precision: &str,
    tokens: &[Vec<u32>],
    batch: usize,
    calls: usize,
) -> Result<Latency> {
    let batches = batches_of(tokens, batch, batch * calls);
    let mut ws = Workspace::default();
    model.embed_tokens(&batches[0], &mut ws)?;
    let mut ms = Vec::with_capacity(batches.len());
    for b in &batches {
        let t = Instant::now();
        std::hint::black_box(model.embed_tokens(b, &mut ws)?);
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(Latency {
        precision: precision.to_string(),
        batch,
        calls: ms.len(),
        p50_ms: percentile(&ms, 50.0),
        p95_ms: percentile(&ms, 95.0),
        p99_ms: percentile(&ms, 99.0),
    })
}

/// Microseconds per sentence to tokenise `texts` (the median of three passes).
///
/// # Errors
/// A text the tokenizer refuses.
pub fn tokenize_micros(model: &Model, texts: &[&str]) -> Result<f64> {
    let mut passes = Vec::with_capacity(3);
    for _ in 0..3 {
        let t = Instant::now();
        for s in texts {
            std::hint::black_box(model.tokenize(s)?);
        }
        passes.push(t.elapsed().as_secs_f64() * 1e6 / texts.len().max(1) as f64);
    }
    Ok(median(&passes))
}

/// Sequences of exactly `len` tokens: each starts with sentence `i`'s first token (`[CLS]`),
/// continues with the bodies of sentences `i, i + 1, ...` and ends with sentence `i`'s last
/// token (`[SEP]`) — real text at a fixed length, for measurements where only the length
/// should vary.
///
/// # Panics
/// When `len < 2` or no sentence has a body.
pub fn fixed_length(tokens: &[Vec<u32>], len: usize) -> Vec<Vec<u32>> {
    assert!(len >= 2, "fixed_length: at least [CLS] and [SEP]");
    let body = |t: &Vec<u32>| t.get(1..t.len().saturating_sub(1)).unwrap_or(&[]).to_vec();
    let bodies: Vec<u32> = tokens.iter().flat_map(body).collect();
    assert!(
        !bodies.is_empty(),
        "fixed_length: no tokens between [CLS] and [SEP]"
    );
    let mut start = 0;
    tokens
        .iter()
        .map(|t| {
            let mut s = Vec::with_capacity(len);
            s.push(t[0]);
            s.extend((0..len - 2).map(|k| bodies[(start + k) % bodies.len()]));
            s.push(*t.last().expect("a sequence"));
            start = (start + body(t).len()) % bodies.len();
            s
        })
        .collect()
}

/// Parses batch sizes written as `1-64,96,128` (ranges inclusive, sorted, duplicates
/// removed).
///
/// # Errors
/// A message naming the bad piece.
pub fn parse_batches(spec: &str) -> std::result::Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for piece in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let num = |s: &str| {
            s.trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| (1..=4096).contains(&n))
                .ok_or_else(|| format!("`{piece}`: batch sizes are integers from 1 to 4096"))
        };
        match piece.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("`{piece}`: the range runs backwards"));
                }
                out.extend(a..=b);
            }
            None => out.push(num(piece)?),
        }
    }
    if out.is_empty() {
        return Err("no batch sizes".into());
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_specs() {
        assert_eq!(parse_batches("1-4, 8,2").unwrap(), vec![1, 2, 3, 4, 8]);
        assert_eq!(parse_batches("1-64,96,128").unwrap().len(), 66);
        assert!(parse_batches("4-1").unwrap_err().contains("backwards"));
        assert!(parse_batches("0").unwrap_err().contains("`0`"));
        assert!(parse_batches("x").is_err());
        assert!(parse_batches("").is_err());
    }

    #[test]
    fn fixed_length_keeps_cls_and_sep_and_the_text_order() {
        let t = vec![
            vec![101, 1, 2, 102],
            vec![101, 3, 102],
            vec![101, 4, 5, 6, 102],
        ];
        let f = fixed_length(&t, 5);
        assert_eq!(f[0], vec![101, 1, 2, 3, 102]);
        assert_eq!(f[1], vec![101, 3, 4, 5, 102]);
        assert_eq!(f[2], vec![101, 4, 5, 6, 102]);
        assert!(f.iter().all(|s| s.len() == 5));
    }

    #[test]
    fn batches_cover_whole_batches_cyclically() {
        let t: Vec<Vec<u32>> = (0..3).map(|i| vec![i]).collect();
        let b = batches_of(&t, 2, 5);
        assert_eq!(b.len(), 3);
        assert_eq!(b[2], vec![&[1u32][..], &[2u32][..]]);
        assert_eq!(batches_of(&t, 8, 1).len(), 1);
    }
}
