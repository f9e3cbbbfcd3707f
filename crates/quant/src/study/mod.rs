//! The MiniLM INT8 study: what dynamic quantisation costs in fidelity and buys in speed, on
//! the real model, with the seed's three judgments stated as measurable quantities.
//!
//! A run is one of two parts:
//!
//! - **fidelity** — every sentence embedded in FP32 and in the configured INT8 precision
//!   (batches of 32): per-sentence cosine and L2, nearest-neighbour agreement
//!   ([`crate::fidelity`]); model bytes; and per-layer diagnostics ([`crate::diagnostics`]).
//!   Derived: the rank correlation across layers between input kurtosis (and outlier
//!   fraction) and SQNR — statement (1), "activations are well-behaved, therefore accuracy
//!   is preserved", predicts it negative; and the per-sentence rank correlation between
//!   cosine and top-5 overlap — statement (2), "nearest-neighbour agreement follows cosine",
//!   predicts it positive (the margin to the runner-up is measured beside it).
//! - **speed** — FP32 and INT8 interleaved at every batch size (the crate's `speed` module), latency
//!   percentiles at batch 1 and 32, tokenisation time. Derived: the INT8/FP32 ratio, and
//!   statement (3), "batch sizes should be powers of two (cache-line alignment)": the mean
//!   advantage in sentences/s of the batch sizes 2, 4, 8, 16, 32, 48, 64 over the mean of
//!   their two neighbours, next to the run-to-run noise.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::diagnostics::{diagnose, SiteStats};
use crate::encoder::{LinearKind, Precision};
use crate::error::{QuantError, Result};
use crate::fidelity::{compare, histogram, spearman, Fidelity};
use crate::kernels;
use crate::model::{find_model, Model};
use crate::speed::{
    fixed_length, latency, paired_ratios, parse_batches, throughput, tokenize_micros, Latency,
    SpeedPoint,
};
use bench_harness::stats::median;

mod report;
pub use report::MiniLmStudy;

/// The 512 English sentences (8-40 words) that the study, `cargo xtask bench` and the speed
/// comparisons with other engines embed, in the order the peer scripts use them.
pub const BENCH_SENTENCES: &str = include_str!("../../data/sentences.txt");

/// What a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Part {
    /// INT8 against FP32 on the sentences, and the per-layer diagnostics.
    Fidelity,
    /// Throughput per batch size, latency, tokenisation.
    Speed,
}

/// Sequence lengths of the speed part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lengths {
    /// The sentences as they are (about 29 tokens on average for the shipped set).
    Real,
    /// 128 tokens each (the speed module's `fixed_length`).
    #[serde(rename = "fixed-128")]
    Fixed128,
}

lab::choice!(Part, Lengths);

lab::params! {
    /// One run of the MiniLM INT8 study.
    #[derive(Debug, Clone, PartialEq, Serialize)]
    pub struct MiniLmConfig as "minilm-int8" {
        /// What the run measures: `fidelity` (INT8 against FP32, per-layer diagnostics) or
        /// `speed` (throughput per batch size, latency; FP32 and INT8 interleaved).
        pub part: Part = Part::Fidelity,
        /// The model: a known name (`all-minilm-l6-v2`) or a model directory.
        pub model: String = "all-minilm-l6-v2".to_string(),
        /// A text file of sentences, one per line; empty for the 512 shipped with quant
        /// (`crates/quant/data/sentences.txt`).
        pub sentences: String = String::new(),
        /// Linear layers kept in FP32, comma-separated from `qkv`, `attn-out`, `ffn-up`,
        /// `ffn-down` (empty: every linear layer in INT8).
        pub keep_fp32: String = String::new(),
        /// Store the word-embedding table in INT8 too (one scale per row).
        pub int8_embeddings: bool = true,
        /// Run attention's two products (`Q K^T`, `P V`) in INT8 too.
        pub int8_attention: bool = false,
        /// Compare BF16 (every linear layer) with FP32 instead of INT8: the run's reduced
        /// precision is BF16, so its `int8_*` metrics and speed-up measure BF16 (the INT8
        /// options `keep_fp32`, `int8_embeddings` and `int8_attention` must stay at their
        /// defaults).
        pub bf16: bool = false,
        /// Threads of the compute pool.
        pub threads: usize = 2; bounds(min = 1, max = 256),
        /// Sequence lengths for the speed part: the sentences as they are, or 128 tokens.
        pub lengths: Lengths = Lengths::Real,
        /// Batch sizes for the speed part, e.g. `1-64,96,128`.
        pub batches: String = "1-64,96,128".to_string(),
        /// Sentences per timed pass at each batch size (rounded up to whole batches).
        pub per_point: usize = 128; bounds(min = 1, max = 1_000_000),
        /// Timed passes per precision at each batch size.
        pub rounds: usize = 3; bounds(min = 1, max = 100),
        /// Calls timed for each latency percentile (batch 1; batch 32 takes a quarter).
        pub latency_calls: usize = 200; bounds(min = 4, max = 100_000),
    }
}

impl MiniLmConfig {
    /// The reduced precision this run configures: INT8 as the INT8 options say, or BF16.
    ///
    /// # Errors
    /// `(field, message)` for an unknown layer name, or INT8 options beside `bf16`.
    pub fn precision(&self) -> std::result::Result<Precision, (&'static str, String)> {
        if self.bf16 {
            if !self.keep_fp32.trim().is_empty() || !self.int8_embeddings || self.int8_attention {
                return Err((
                    "bf16",
                    "BF16 runs every linear layer in BF16: keep_fp32, int8_embeddings and \
                     int8_attention are INT8 options and must keep their defaults"
                        .to_string(),
                ));
            }
            return Ok(Precision::bf16());
        }
        let mut keep = Vec::new();
        for name in self
            .keep_fp32
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let kind = LinearKind::ALL
                .into_iter()
                .find(|k| k.name() == name)
                .ok_or_else(|| {
                    (
                        "keep_fp32",
                        format!(
                            "unknown linear layer `{name}` (expected some of {})",
                            LinearKind::ALL.map(LinearKind::name).join(", ")
                        ),
                    )
                })?;
            keep.push(kind);
        }
        Ok(Precision {
            int8: true,
            keep_fp32: keep,
            bf16: false,
            int8_embeddings: self.int8_embeddings,
            int8_attention: self.int8_attention,
        })
    }

    /// Checks what the types cannot: the layer names and the batch sizes.
    ///
    /// # Errors
    /// `(field, message)`.
    pub fn validate(&self) -> std::result::Result<(), (&'static str, String)> {
        self.precision()?;
        parse_batches(&self.batches).map_err(|m| ("batches", m))?;
        Ok(())
    }
}

/// Fidelity summaries and per-sentence values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FidelityPart {
    /// Per-sentence comparisons of INT8 against FP32.
    pub fidelity: Fidelity,
    /// Per-layer diagnostics (every linear layer in INT8 against FP32).
    pub sites: Vec<SiteStats>,
}

/// Speed measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeedPart {
    /// Sentences/s per batch size.
    pub points: Vec<SpeedPoint>,
    /// Latency at batch 1 and 32, both precisions.
    pub latency: Vec<Latency>,
    /// INT8/FP32 at batch 32, one ratio per adjacent pair of passes over every sentence
    /// (the speed module's `paired_ratios`).
    pub pairs_b32: Vec<f64>,
    /// Tokenisation, microseconds per sentence (not in the throughput).
    pub tokenize_us: f64,
    /// Mean tokens per sequence.
    pub mean_tokens: f64,
}

/// What one run produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MiniLmRun {
    /// The kernel family of the reduced precision that ran (INT8: `amx-int8-32x32`,
    /// `avx512vnni-12x32`, `avxvnni-6x16`, `avx2-6x16`, `scalar-4x16`; BF16:
    /// `amx-bf16-32x32`, `avx512bf16-12x32`, `bf16-avx2-4x16`, `bf16-scalar-4x16`).
    pub kernel: String,
    /// The f32 element-wise level (`Avx512`, `Avx2`, `Generic`).
    pub simd: String,
    /// Threads.
    pub threads: usize,
    /// Sentences used.
    pub sentences: usize,
    /// Bytes of weights held in FP32.
    pub fp32_bytes: usize,
    /// Bytes of weights held in the configured INT8 precision.
    pub int8_bytes: usize,
    /// The fidelity part.
    pub fidelity: Option<FidelityPart>,
    /// The speed part.
    pub speed: Option<SpeedPart>,
}

/// The batch sizes statement (3) tests: powers of two and multiples of 16 up to 64.
pub const ALIGNED_BATCHES: [usize; 7] = [2, 4, 8, 16, 32, 48, 64];

impl MiniLmRun {
    /// INT8 weight bytes as a fraction of FP32.
    pub fn bytes_ratio(&self) -> f64 {
        self.int8_bytes as f64 / self.fp32_bytes as f64
    }

    /// The speed point at `batch`.
    pub fn point(&self, batch: usize) -> Option<&SpeedPoint> {
        self.speed
            .as_ref()?
            .points
            .iter()
            .find(|p| p.batch == batch)
    }

    /// INT8 over FP32 sentences/s at `batch` (medians of the passes).
    pub fn speedup(&self, batch: usize) -> Option<f64> {
        self.point(batch).map(|p| p.int8_median() / p.fp32_median())
    }

    /// INT8 over FP32 at batch 32: the median of the paired passes over every sentence.
    pub fn speedup_b32(&self) -> Option<f64> {
        self.speed
            .as_ref()
            .filter(|s| !s.pairs_b32.is_empty())
            .map(|s| median(&s.pairs_b32))
    }

    /// The INT8/FP32 ratio the study expects at batch 32 for the kernel that ran: 2.5 with
    /// `vpdpbusd` (four times the multiply-adds of an f32 FMA per instruction, less what
    /// attention, LayerNorm and quantisation keep in f32) or AMX's `tdpbusd` (more again),
    /// 1.5 otherwise.
    pub fn speedup_goal(&self) -> f64 {
        let fast = self.kernel.contains("vnni") || self.kernel.starts_with("amx-int8");
        if fast && !self.kernel.starts_with("emulated") {
            2.5
        } else {
            1.5
        }
    }

    /// The best INT8 sentences/s and its batch size.
    pub fn best_int8(&self) -> Option<(usize, f64)> {
        self.speed
            .as_ref()?
            .points
            .iter()
            .map(|p| (p.batch, p.int8_median()))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// Statement (3): per aligned batch size `b` with both neighbours measured and each
    /// precision, `t(b) / mean(t(b - 1), t(b + 1)) - 1` (medians of the passes).
    pub fn aligned_advantages(&self) -> Vec<(usize, &'static str, f64)> {
        let mut out = Vec::new();
        for b in ALIGNED_BATCHES {
            let (Some(p), Some(lo), Some(hi)) =
                (self.point(b), self.point(b - 1), self.point(b + 1))
            else {
                continue;
            };
            out.push((
                b,
                "fp32",
                p.fp32_median() / ((lo.fp32_median() + hi.fp32_median()) / 2.0) - 1.0,
            ));
            out.push((
                b,
                "int8",
                p.int8_median() / ((lo.int8_median() + hi.int8_median()) / 2.0) - 1.0,
            ));
        }
        out
    }

    /// The mean of [`MiniLmRun::aligned_advantages`] (NaN when none was measured).
    pub fn aligned_advantage(&self) -> f64 {
        let a = self.aligned_advantages();
        if a.is_empty() {
            return f64::NAN;
        }
        a.iter().map(|x| x.2).sum::<f64>() / a.len() as f64
    }

    /// Run-to-run noise: the median over batch sizes and precisions of the passes' range
    /// relative to their median (NaN with a single pass).
    pub fn noise(&self) -> f64 {
        let Some(s) = &self.speed else {
            return f64::NAN;
        };
        let spreads: Vec<f64> = s
            .points
            .iter()
            .flat_map(|p| [&p.fp32, &p.int8])
            .filter(|v| v.len() > 1)
            .map(|v| {
                let (lo, hi) = v
                    .iter()
                    .fold((f64::INFINITY, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
                (hi - lo) / median(v)
            })
            .collect();
        median(&spreads)
    }

    /// Latency of `precision` at `batch`.
    pub fn latency(&self, precision: &str, batch: usize) -> Option<&Latency> {
        self.speed
            .as_ref()?
            .latency
            .iter()
            .find(|l| l.precision == precision && l.batch == batch)
    }

    /// Statement (1): Spearman correlation across layers of input kurtosis with SQNR.
    pub fn kurtosis_sqnr(&self) -> f64 {
        self.fidelity.as_ref().map_or(f64::NAN, |f| {
            let k: Vec<f64> = f.sites.iter().map(|s| s.kurtosis).collect();
            let q: Vec<f64> = f.sites.iter().map(|s| s.sqnr_db).collect();
            spearman(&k, &q)
        })
    }

    /// Statement (1), second measure: outlier fraction (beyond 6 sigma) against SQNR.
    pub fn outliers_sqnr(&self) -> f64 {
        self.fidelity.as_ref().map_or(f64::NAN, |f| {
            let o: Vec<f64> = f.sites.iter().map(|s| s.beyond_6_sigma).collect();
            let q: Vec<f64> = f.sites.iter().map(|s| s.sqnr_db).collect();
            spearman(&o, &q)
        })
    }

    /// Statement (2): per-sentence Spearman correlation of cosine with top-5 overlap.
    pub fn neighbours_cosine(&self) -> f64 {
        self.fidelity
            .as_ref()
            .map_or(f64::NAN, |f| spearman(&f.fidelity.cosine, &f.fidelity.top5))
    }

    /// Beside (2): per-sentence Spearman correlation of the reference margin (first minus
    /// second neighbour similarity) with top-5 overlap.
    pub fn neighbours_margin(&self) -> f64 {
        self.fidelity
            .as_ref()
            .map_or(f64::NAN, |f| spearman(&f.fidelity.margin, &f.fidelity.top5))
    }

    /// Sentences whose nearest neighbour changed, against those whose did not:
    /// `(flipped, median FP32 margin of the flipped, of the kept, mean cosine of the
    /// flipped, of the kept)` — what decides a flip, the margin or the cosine?
    pub fn top1_flips(&self) -> Option<(usize, f64, f64, f64, f64)> {
        let f = &self.fidelity.as_ref()?.fidelity;
        let pick = |flipped: bool, v: &[f64]| -> Vec<f64> {
            v.iter()
                .zip(&f.top1)
                .filter(|(_, &same)| same != flipped)
                .map(|(&x, _)| x)
                .collect()
        };
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let (mf, mk) = (pick(true, &f.margin), pick(false, &f.margin));
        let (cf, ck) = (pick(true, &f.cosine), pick(false, &f.cosine));
        Some((mf.len(), median(&mf), median(&mk), mean(&cf), mean(&ck)))
    }

    /// Cosine histogram over `[lo, 1]` in `bins` bins.
    pub fn cosine_histogram(&self, lo: f64, bins: usize) -> Vec<usize> {
        self.fidelity
            .as_ref()
            .map_or_else(Vec::new, |f| histogram(&f.fidelity.cosine, lo, 1.0, bins))
    }
}

/// Sentence files larger than this are refused before they are read (64 MiB).
pub const MAX_SENTENCES_BYTES: u64 = 1 << 26;

/// Reads the sentences a configuration names (the shipped set when empty): non-empty lines.
///
/// # Errors
/// The file cannot be read, is not a regular file, is larger than [`MAX_SENTENCES_BYTES`],
/// or holds fewer than two sentences.
pub fn load_sentences(path: &str) -> Result<Vec<String>> {
    let text = if path.is_empty() {
        BENCH_SENTENCES.to_string()
    } else {
        crate::config::read(Path::new(path), MAX_SENTENCES_BYTES)?
    };
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if lines.len() < 2 {
        return Err(QuantError::Input(format!(
            "{}: {} sentences (expected at least 2, one per line)",
            if path.is_empty() {
                "the shipped sentences"
            } else {
                path
            },
            lines.len()
        )));
    }
    Ok(lines)
}

/// Runs one configuration on a pool of `cfg.threads` threads. `progress(step, total)`.
///
/// # Errors
/// A bad configuration, a missing or damaged model, unreadable sentences.
pub fn run_minilm(cfg: &MiniLmConfig, progress: &mut dyn FnMut(u64, u64)) -> Result<MiniLmRun> {
    cfg.validate()
        .map_err(|(field, m)| QuantError::Input(format!("{field}: {m}")))?;
    let dir = find_model(&cfg.model).map_err(QuantError::Input)?;
    let texts = load_sentences(&cfg.sentences)?;
    let precision = cfg.precision().map_err(|(_, m)| QuantError::Input(m))?;
    let fp32 = Model::load_with(&dir, Precision::fp32())?;
    let int8 = Model::load_with(&dir, precision.clone())?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads)
        .build()
        .map_err(|e| QuantError::Input(format!("thread pool: {e}")))?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let tokens: Vec<Vec<u32>> = refs
        .iter()
        .map(|s| fp32.tokenize(s).map(|t| t.ids))
        .collect::<Result<_>>()?;
    let mut run = MiniLmRun {
        kernel: if precision.bf16 && !precision.int8 {
            kernels::bf16::default_bf16_family().name
        } else {
            kernels::int8::default_family().name
        }
        .to_string(),
        simd: format!("{:?}", core_tensor::cpu::level()),
        threads: cfg.threads,
        sentences: texts.len(),
        fp32_bytes: fp32.encoder().weight_bytes(),
        int8_bytes: int8.encoder().weight_bytes(),
        fidelity: None,
        speed: None,
    };
    // Each step runs on the pool; progress is reported between steps, on this thread.
    match cfg.part {
        Part::Fidelity => {
            progress(0, 3);
            let (a, b) = pool.install(|| -> Result<_> {
                Ok((fp32.embed(&refs, 32)?, int8.embed(&refs, 32)?))
            })?;
            progress(1, 3);
            let fidelity = compare(&a, &b);
            // The diagnostics reduce every linear layer, whatever this run keeps.
            let all = if precision.keep_fp32.is_empty() {
                None
            } else {
                Some(Model::load_with(&dir, Precision::int8())?)
            };
            let full = all.as_ref().unwrap_or(&int8);
            let batches: Vec<Vec<&[u32]>> = tokens
                .chunks(32)
                .map(|c| c.iter().map(Vec::as_slice).collect())
                .collect();
            let sites = pool.install(|| diagnose(fp32.encoder(), full.encoder(), &batches))?;
            progress(3, 3);
            run.fidelity = Some(FidelityPart { fidelity, sites });
        }
        Part::Speed => {
            let seqs = match cfg.lengths {
                Lengths::Real => tokens.clone(),
                Lengths::Fixed128 => fixed_length(&tokens, 128),
            };
            let sizes = parse_batches(&cfg.batches).map_err(QuantError::Input)?;
            let total = sizes.len() as u64 + 1;
            let mut points = Vec::with_capacity(sizes.len());
            for (i, &b) in sizes.iter().enumerate() {
                points.extend(pool.install(|| {
                    throughput(
                        &fp32,
                        &int8,
                        &seqs,
                        &[b],
                        cfg.per_point,
                        cfg.rounds,
                        &mut |_, _| {},
                    )
                })?);
                progress(i as u64 + 1, total);
            }
            let lat = pool.install(|| -> Result<Vec<Latency>> {
                let mut lat = Vec::new();
                for (batch, calls) in [(1, cfg.latency_calls), (32, cfg.latency_calls.div_ceil(4))]
                {
                    lat.push(latency(&fp32, "fp32", &seqs, batch, calls)?);
                    lat.push(latency(&int8, "int8", &seqs, batch, calls)?);
                }
                Ok(lat)
            })?;
            let pairs_b32 =
                pool.install(|| paired_ratios(&fp32, &int8, &seqs, 32, cfg.rounds.max(5)))?;
            progress(total, total);
            run.speed = Some(SpeedPart {
                points,
                latency: lat,
                pairs_b32,
                tokenize_us: tokenize_micros(&fp32, &refs)?,
                mean_tokens: seqs.iter().map(Vec::len).sum::<usize>() as f64 / seqs.len() as f64,
            });
        }
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::speed::SpeedPoint;

    fn with_points(points: Vec<SpeedPoint>) -> MiniLmRun {
        MiniLmRun {
            kernel: "avx512vnni-12x32".into(),
            simd: "Avx512".into(),
            threads: 2,
            sentences: 4,
            fp32_bytes: 100,
            int8_bytes: 26,
            fidelity: None,
            speed: Some(SpeedPart {
                points,
                latency: Vec::new(),
                pairs_b32: vec![2.4, 2.6, 2.5],
                tokenize_us: 1.0,
                mean_tokens: 10.0,
            }),
        }
    }

    #[test]
    fn derived_speed_quantities_by_hand() {
        let p = |batch, f: f64, i: f64| SpeedPoint {
            batch,
            fp32: vec![f * 0.95, f, f * 1.05],
            int8: vec![i, i * 1.1, i * 0.9],
        };
        // 32 is 10% faster than its neighbours in FP32, equal in INT8.
        let r = with_points(vec![
            p(31, 100.0, 250.0),
            p(32, 110.0, 250.0),
            p(33, 100.0, 250.0),
        ]);
        assert!((r.speedup(32).unwrap() - 250.0 / 110.0).abs() < 1e-12);
        assert_eq!(r.speedup_b32(), Some(2.5));
        assert_eq!(r.speedup_goal(), 2.5);
        let adv = r.aligned_advantages();
        assert_eq!(adv.len(), 2);
        assert!((adv[0].2 - 0.1).abs() < 1e-12 && adv[1].2.abs() < 1e-12);
        assert!((r.aligned_advantage() - 0.05).abs() < 1e-12);
        // Spreads: 0.1 for every FP32 point, 0.2 for every INT8 point: median 0.15.
        assert!((r.noise() - 0.15).abs() < 1e-12);
        assert_eq!(r.best_int8().unwrap().1, 250.0);
        assert!((r.bytes_ratio() - 0.26).abs() < 1e-12);
    }

    #[test]
    fn flips_are_split_by_margin_and_cosine() {
        let mut r = with_points(Vec::new());
        r.fidelity = Some(FidelityPart {
            fidelity: Fidelity {
                cosine: vec![0.99, 0.98, 0.97, 0.96],
                l2: vec![0.1; 4],
                top5: vec![1.0, 0.8, 1.0, 0.6],
                top1: vec![true, false, true, false],
                margin: vec![0.05, 0.001, 0.03, 0.003],
                identity_error: 0.0,
            },
            sites: Vec::new(),
        });
        let (n, mf, mk, cf, ck) = r.top1_flips().unwrap();
        assert_eq!(n, 2);
        assert!((mf - 0.002).abs() < 1e-12 && (mk - 0.04).abs() < 1e-12);
        assert!((cf - 0.97).abs() < 1e-12 && (ck - 0.98).abs() < 1e-12);
        // Ranks: cosine (4, 3, 2, 1), top-5 (3.5, 2, 3.5, 1): sxy 3, sxx 5, syy 4.5.
        assert!((r.neighbours_cosine() - 3.0 / 22.5f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn configuration_errors_name_the_field() {
        let mut c = MiniLmConfig {
            part: Part::Speed,
            model: "x".into(),
            sentences: String::new(),
            keep_fp32: "ffn-down, qkv".into(),
            int8_embeddings: true,
            int8_attention: false,
            bf16: false,
            threads: 1,
            lengths: Lengths::Real,
            batches: "1-4".into(),
            per_point: 8,
            rounds: 1,
            latency_calls: 4,
        };
        let p = c.precision().unwrap();
        assert_eq!(p.keep_fp32, vec![LinearKind::FfnDown, LinearKind::Qkv]);
        c.keep_fp32 = "ffn_down".into();
        let e = c.validate().unwrap_err();
        assert_eq!(e.0, "keep_fp32");
        assert!(e.1.contains("ffn-down"), "{}", e.1);
        c.keep_fp32.clear();
        c.batches = "8-1".into();
        assert_eq!(c.validate().unwrap_err().0, "batches");
        c.batches = "1-4".into();
        c.bf16 = true;
        assert_eq!(c.precision().unwrap(), Precision::bf16());
        c.int8_attention = true;
        assert_eq!(c.validate().unwrap_err().0, "bf16");
    }

    #[test]
    fn shipped_sentences_load_and_a_missing_file_is_named() {
        assert_eq!(load_sentences("").unwrap().len(), 512);
        let e = load_sentences("/nonexistent/sentences.txt").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/sentences.txt"));
        let e = load_sentences("/dev/zero").unwrap_err().to_string();
        assert!(
            e.contains("/dev/zero") && e.contains("not a regular file"),
            "{e}"
        );
    }
}
