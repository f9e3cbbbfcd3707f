//! The `minilm-int8` study as `lab` runs it ([`MiniLmStudy`]): INT8 against FP32 on
//! all-MiniLM-L6-v2 (the measurements are the parent module's), recorded as metrics and drawn as fidelity tables, a cosine histogram, per-layer SQNR and activation
//! statistics, throughput against batch size, latency percentiles and the batch-alignment
//! table.

use super::{run_minilm, Lengths, MiniLmConfig, MiniLmRun, Part};
use lab::report::{fixed, header, BarPlot, Bars, Line, LinePlot, Plot, Section, TableData};
use lab::study::{Progress, Record, Run, Study};

/// The MiniLM INT8 study.
pub struct MiniLmStudy;

const HIST_BINS: usize = 12;

/// The histogram's lower end: the smallest cosine rounded down to a multiple of 0.001.
fn hist_lo(fid: &[(&Run<MiniLmStudy>, &MiniLmRun)]) -> f64 {
    let min = fid
        .iter()
        .filter_map(|(_, o)| o.fidelity.as_ref())
        .map(|f| f.fidelity.min_cosine())
        .fold(1.0, f64::min);
    ((min * 1000.0).floor() / 1000.0).clamp(0.0, 0.999)
}

fn variant(c: &MiniLmConfig) -> String {
    if c.bf16 {
        return "all linear BF16".to_string();
    }
    let mut v = if c.keep_fp32.trim().is_empty() {
        "all linear INT8".to_string()
    } else {
        format!("FP32 kept: {}", c.keep_fp32)
    };
    if !c.int8_embeddings {
        v.push_str(", FP32 word embeddings");
    }
    if c.int8_attention {
        v.push_str(", attention INT8");
    }
    v
}

fn speed_label(c: &MiniLmConfig) -> String {
    let variant =
        if c.keep_fp32.trim().is_empty() && c.int8_embeddings && !c.int8_attention && !c.bf16 {
            String::new()
        } else {
            format!(" ({})", variant(c))
        };
    format!(
        "{} thread{}, {}{variant}",
        c.threads,
        if c.threads == 1 { "" } else { "s" },
        match c.lengths {
            Lengths::Real => "real lengths",
            Lengths::Fixed128 => "128 tokens",
        }
    )
}

impl Study for MiniLmStudy {
    type Config = MiniLmConfig;
    type Output = MiniLmRun;
    const KIND: &'static str = "minilm-int8";
    const DESCRIPTION: &'static str =
        "all-MiniLM-L6-v2 in INT8 against FP32: fidelity, per-layer diagnostics, throughput and latency";
    const METRICS: &'static [&'static str] = &[
        "mean_cosine",
        "min_cosine",
        "mean_l2",
        "max_l2",
        "cos_l2_identity_error",
        "top1_agreement",
        "top5_overlap",
        "neighbours_cosine_spearman",
        "neighbours_margin_spearman",
        "flipped_margin_median",
        "kept_margin_median",
        "kurtosis_sqnr_spearman",
        "outliers_sqnr_spearman",
        "min_sqnr_db",
        "bytes_ratio",
        "fp32_b1",
        "int8_b1",
        "fp32_b32",
        "int8_b32",
        "speedup_b32",
        "speedup_goal",
        "best_int8",
        "best_int8_batch",
        "aligned_advantage",
        "noise",
        "int8_p50_b1_ms",
        "int8_p99_b1_ms",
        "int8_p99_b32_ms",
        "tokenize_us",
        "vnni",
    ];
    const EXCLUSIVE: bool = true;

    fn check(&self, cfg: &MiniLmConfig) -> Result<(), lab::params::ParamError> {
        cfg.validate()
            .map_err(|(field, m)| lab::params::ParamError::field(field, m))
    }

    fn run(
        &self,
        cfg: &MiniLmConfig,
        _seed: u64,
        progress: &mut Progress<'_>,
    ) -> Result<MiniLmRun, lab::study::RunError> {
        run_minilm(cfg, &mut |s, t| progress.update(s, t, 0.0)).map_err(Into::into)
    }

    fn record(&self, _cfg: &MiniLmConfig, r: &MiniLmRun) -> Record {
        let fid = r.fidelity.as_ref();
        let fi = |g: fn(&crate::fidelity::Fidelity) -> f64| fid.map(|f| g(&f.fidelity));
        let min_sqnr = fid.map(|f| {
            f.sites
                .iter()
                .map(|s| s.sqnr_db)
                .fold(f64::INFINITY, f64::min)
        });
        let speed = r.speed.is_some();
        let at = |b: usize, int8: bool| {
            r.point(b).map(|p| {
                if int8 {
                    p.int8_median()
                } else {
                    p.fp32_median()
                }
            })
        };
        let lat =
            |b: usize, pick: fn(&crate::speed::Latency) -> f64| r.latency("int8", b).map(pick);
        let best = r.best_int8();
        Record::new()
            .maybe("mean_cosine", fi(|f| f.mean_cosine()))
            .maybe("min_cosine", fi(|f| f.min_cosine()))
            .maybe("mean_l2", fi(|f| f.mean_l2()))
            .maybe("max_l2", fi(|f| f.max_l2()))
            .maybe("cos_l2_identity_error", fi(|f| f.identity_error))
            .maybe("top1_agreement", fi(|f| f.top1_agreement()))
            .maybe("top5_overlap", fi(|f| f.top5_overlap()))
            .maybe(
                "neighbours_cosine_spearman",
                fid.map(|_| r.neighbours_cosine()),
            )
            .maybe(
                "neighbours_margin_spearman",
                fid.map(|_| r.neighbours_margin()),
            )
            .maybe("flipped_margin_median", r.top1_flips().map(|f| f.1))
            .maybe("kept_margin_median", r.top1_flips().map(|f| f.2))
            .maybe("kurtosis_sqnr_spearman", fid.map(|_| r.kurtosis_sqnr()))
            .maybe("outliers_sqnr_spearman", fid.map(|_| r.outliers_sqnr()))
            .maybe("min_sqnr_db", min_sqnr)
            .metric("bytes_ratio", r.bytes_ratio())
            .maybe("fp32_b1", at(1, false))
            .maybe("int8_b1", at(1, true))
            .maybe("fp32_b32", at(32, false))
            .maybe("int8_b32", at(32, true))
            .maybe("speedup_b32", r.speedup_b32())
            .maybe("speedup_goal", speed.then(|| r.speedup_goal()))
            .maybe("best_int8", best.map(|b| b.1))
            .maybe("best_int8_batch", best.map(|b| b.0 as f64))
            .maybe("aligned_advantage", speed.then(|| r.aligned_advantage()))
            .maybe("noise", speed.then(|| r.noise()))
            .maybe("int8_p50_b1_ms", lat(1, |l| l.p50_ms))
            .maybe("int8_p99_b1_ms", lat(1, |l| l.p99_ms))
            .maybe("int8_p99_b32_ms", lat(32, |l| l.p99_ms))
            .maybe("tokenize_us", r.speed.as_ref().map(|s| s.tokenize_us))
            .flag("vnni", Some(r.speedup_goal() > 2.0))
    }

    fn report(&self, runs: &[Run<Self>]) -> Vec<Section> {
        let done = |part: Part| -> Vec<(&Run<Self>, &MiniLmRun)> {
            runs.iter()
                .filter(|r| r.config.part == part)
                .filter_map(|r| r.output.as_ref().map(|o| (r, o)))
                .collect()
        };
        let (fid, speed) = (done(Part::Fidelity), done(Part::Speed));
        let mut sections = Vec::new();
        let all: Vec<_> = fid.iter().chain(&speed).collect();
        // An INT8 run for the model bytes, if there is one.
        let int8 = all.iter().find(|(r, _)| !r.config.bf16).or(all.first());
        if let Some((_, any)) = int8 {
            let mut kernels: Vec<&str> = all.iter().map(|(_, o)| o.kernel.as_str()).collect();
            kernels.sort_unstable();
            kernels.dedup();
            sections.push(Section {
                title: "Machine and kernels".into(),
                text: format!(
                    "GEMM kernels of the reduced precisions: {} (INT8: weights s8 per output channel, activations u8 per token; BF16: bfloat16 operands, f32 sums); f32 element-wise code: {}. Model bytes: FP32 {:.1} MB, INT8 {:.1} MB ({:.1}%). In a BF16 run (its label says so) the INT8 columns and metrics are BF16's.",
                    kernels.join(", "),
                    any.simd,
                    any.fp32_bytes as f64 / 1e6,
                    any.int8_bytes as f64 / 1e6,
                    100.0 * any.bytes_ratio()
                ),
                ..Section::default()
            });
        }
        if !fid.is_empty() {
            sections.extend(fidelity_sections(&fid));
        }
        if !speed.is_empty() {
            sections.extend(speed_sections(&speed));
        }
        sections
    }
}

fn fidelity_sections(fid: &[(&Run<MiniLmStudy>, &MiniLmRun)]) -> Vec<Section> {
    let mut out = Vec::new();
    let rows = fid
        .iter()
        .filter_map(|(r, o)| {
            let fd = &o.fidelity.as_ref()?.fidelity;
            Some(vec![
                variant(&r.config),
                fixed(fd.mean_cosine(), 5),
                fixed(fd.min_cosine(), 5),
                fixed(fd.mean_l2(), 4),
                fixed(fd.max_l2(), 4),
                fixed(100.0 * fd.top1_agreement(), 1),
                fixed(100.0 * fd.top5_overlap(), 1),
                fixed(100.0 * o.bytes_ratio(), 1),
            ])
        })
        .collect();
    let first = fid.iter().find_map(|(_, o)| o.fidelity.as_ref());
    let identity = fid
        .iter()
        .filter_map(|(_, o)| o.fidelity.as_ref().map(|f| f.fidelity.identity_error))
        .fold(0.0, f64::max);
    let cos_l2 = first.map_or(String::new(), |f| {
        let i = (0..f.fidelity.cosine.len())
            .min_by(|&a, &b| f.fidelity.cosine[a].total_cmp(&f.fidelity.cosine[b]))
            .unwrap_or(0);
        format!(
            " The embeddings are unit vectors, so |a - b| = sqrt(2 - 2 cos): the largest departure from that identity over every sentence here is {identity:.1e}, i.e. L2 and cosine say the same thing (the worst sentence: cosine {:.5}, L2 {:.4} = sqrt(2 - 2 x {:.5})). They would disagree only for vectors of different norms — cosine ignores a scale error, L2 does not — which is why cosine is the right check for a normalised model and not a complete one for a model without its Normalize step.",
            f.fidelity.cosine[i], f.fidelity.l2[i], f.fidelity.cosine[i]
        )
    });
    let lo = hist_lo(fid);
    out.push(Section {
        title: "Fidelity: INT8 against FP32".into(),
        text: format!(
            "Every sentence embedded in FP32 and INT8 (batches of 32); cosine and L2 per sentence; nearest neighbours by cosine over the whole set (top-1: same nearest neighbour; top-5: shared fraction of the five nearest).{cos_l2}"
        ),
        table: Some(TableData {
            header: header(&[
                "variant",
                "mean cosine",
                "min cosine",
                "mean L2",
                "max L2",
                "top-1 agree %",
                "top-5 overlap %",
                "bytes % of FP32",
            ]),
            rows,
        }),
        plots: vec![Plot::Bars(BarPlot {
            title: "per-sentence cosine, INT8 vs FP32".into(),
            x_label: "cosine (bin start)".into(),
            y_label: "sentences".into(),
            categories: (0..HIST_BINS)
                .map(|b| format!("{:.4}", lo + (1.0 - lo) * b as f64 / HIST_BINS as f64))
                .collect(),
            series: fid
                .iter()
                .enumerate()
                .map(|(i, (r, o))| Bars {
                    label: variant(&r.config),
                    values: o
                        .cosine_histogram(lo, HIST_BINS)
                        .iter()
                        .map(|&c| c as f64)
                        .collect(),
                    color: i,
                })
                .collect(),
        })],
    });
    // Statement (2).
    let nn_rows = fid
        .iter()
        .map(|(r, o)| {
            let flips = o.top1_flips();
            let show = |g: fn(&(usize, f64, f64, f64, f64)) -> f64, d: usize| {
                flips.as_ref().map_or("-".into(), |x| fixed(g(x), d))
            };
            vec![
                variant(&r.config),
                fixed(o.neighbours_cosine(), 3),
                fixed(o.neighbours_margin(), 3),
                flips.as_ref().map_or("-".into(), |x| x.0.to_string()),
                show(|x| x.1, 4),
                show(|x| x.2, 4),
                show(|x| x.3, 5),
                show(|x| x.4, 5),
            ]
        })
        .collect();
    out.push(Section {
        title: "Does nearest-neighbour agreement follow cosine?".into(),
        text: "The seed checks quantisation by cosine and takes retrieval to follow. Per sentence, Spearman rank correlation of its cosine with its top-5 overlap, beside the same correlation with the FP32 margin between its first and second neighbour (how close the runner-up was). Then the sentences whose nearest neighbour changed against those whose did not: their median margin and their mean cosine. A neighbour flips when the quantisation error is larger than the margin, so the margin, not the cosine, is expected to tell the two groups apart.".into(),
        table: Some(TableData {
            header: header(&[
                "variant",
                "Spearman(cosine, top-5)",
                "Spearman(margin, top-5)",
                "top-1 flipped",
                "margin, flipped",
                "margin, kept",
                "cosine, flipped",
                "cosine, kept",
            ]),
            rows: nn_rows,
        }),
        plots: Vec::new(),
    });
    // Statement (1): the diagnostics of the first run (every variant's diagnostics quantize
    // every linear layer, so they are the same).
    if let Some(d) = first {
        let cats: Vec<String> = d.sites.iter().map(|s| s.label()).collect();
        let bars = |title: &str, y: &str, v: Vec<f64>| {
            Plot::Bars(BarPlot {
                title: title.into(),
                x_label: "layer".into(),
                y_label: y.into(),
                categories: cats.clone(),
                series: vec![Bars {
                    label: title.into(),
                    values: v,
                    color: 0,
                }],
            })
        };
        let o = fid[0].1;
        let worst = d
            .sites
            .iter()
            .min_by(|a, b| a.sqnr_db.total_cmp(&b.sqnr_db));
        out.push(Section {
            title: "Per-layer diagnostics: are the activations well-behaved?".into(),
            text: format!(
                "Each linear layer fed its FP32 input and run alone in FP32 and INT8: SQNR of its output, and the statistics of that input. Spearman across the {} layers: kurtosis vs SQNR {}, fraction beyond 6 sigma vs SQNR {} (the seed's reasoning predicts negative values). Lowest SQNR: {}.",
                d.sites.len(),
                fixed(o.kurtosis_sqnr(), 3),
                fixed(o.outliers_sqnr(), 3),
                worst.map_or("-".into(), |w| format!(
                    "{} at {:.1} dB (input kurtosis {:.1}, max/mean|x| {:.0})",
                    w.label(),
                    w.sqnr_db,
                    w.kurtosis,
                    w.max_over_mean_abs
                ))
            ),
            table: Some(TableData {
                header: header(&[
                    "layer",
                    "SQNR dB",
                    "kurtosis",
                    "beyond 6 sigma",
                    "max/mean |x|",
                    "max |x|",
                ]),
                rows: d
                    .sites
                    .iter()
                    .map(|s| {
                        vec![
                            s.label(),
                            fixed(s.sqnr_db, 1),
                            fixed(s.kurtosis, 1),
                            format!("{:.1e}", s.beyond_6_sigma),
                            fixed(s.max_over_mean_abs, 0),
                            fixed(s.max_abs, 1),
                        ]
                    })
                    .collect(),
            }),
            plots: vec![
                bars(
                    "SQNR of each linear layer's output",
                    "dB",
                    d.sites.iter().map(|s| s.sqnr_db).collect(),
                ),
                bars(
                    "kurtosis of each linear layer's input",
                    "kurtosis (Gaussian: 3)",
                    d.sites.iter().map(|s| s.kurtosis).collect(),
                ),
                bars(
                    "fraction of inputs beyond 6 sigma",
                    "fraction",
                    d.sites.iter().map(|s| s.beyond_6_sigma).collect(),
                ),
                bars(
                    "max |x| / mean |x| of each input",
                    "ratio",
                    d.sites.iter().map(|s| s.max_over_mean_abs).collect(),
                ),
            ],
        });
    }
    out
}

fn speed_sections(speed: &[(&Run<MiniLmStudy>, &MiniLmRun)]) -> Vec<Section> {
    let mut out = Vec::new();
    let mut plots = Vec::new();
    for lengths in [Lengths::Real, Lengths::Fixed128] {
        let mut lines = Vec::new();
        for (i, (r, o)) in speed
            .iter()
            .filter(|(r, _)| r.config.lengths == lengths)
            .enumerate()
        {
            let Some(s) = &o.speed else { continue };
            for (int8, name) in [(false, "FP32"), (true, "INT8")] {
                let curves: Vec<Vec<(f64, f64)>> = (0..r.config.rounds)
                    .map(|k| {
                        s.points
                            .iter()
                            .map(|p| {
                                let v = if int8 { &p.int8 } else { &p.fp32 };
                                (p.batch as f64, v.get(k).copied().unwrap_or(f64::NAN))
                            })
                            .collect()
                    })
                    .collect();
                let line = Line::mean_band(
                    format!("{name}, {}", speed_label(&r.config)),
                    &curves,
                    2 * i + usize::from(int8),
                );
                // The band's meaning is in the section text; keep the legend short.
                let line = Line {
                    label: format!("{name}, {}", speed_label(&r.config)),
                    ..line
                };
                lines.push(line);
            }
        }
        if !lines.is_empty() {
            plots.push(Plot::Lines(LinePlot {
                title: format!(
                    "throughput against batch size, {}",
                    match lengths {
                        Lengths::Real => "the sentences as they are",
                        Lengths::Fixed128 => "128 tokens per sentence",
                    }
                ),
                x_label: "batch size (log)".into(),
                y_label: "sentences / s".into(),
                log_x: true,
                log_y: false,
                lines,
            }));
        }
    }
    let rows = speed
        .iter()
        .filter_map(|(r, o)| {
            let s = o.speed.as_ref()?;
            let best = o.best_int8()?;
            let b1 = o.point(1)?;
            Some(vec![
                speed_label(&r.config),
                fixed(s.mean_tokens, 1),
                fixed(b1.fp32_median(), 0),
                fixed(b1.int8_median(), 0),
                o.point(32)
                    .map_or("-".into(), |p| fixed(p.fp32_median(), 0)),
                o.point(32)
                    .map_or("-".into(), |p| fixed(p.int8_median(), 0)),
                o.speedup_b32().map_or("-".into(), |x| format!("{x:.2}x")),
                format!("{:.0} at batch {}", best.1, best.0),
                format!("{:.1}x", best.1 / b1.fp32_median()),
                fixed(100.0 * o.noise(), 1),
                fixed(s.tokenize_us, 1),
            ])
        })
        .collect();
    out.push(Section {
        title: "Throughput".into(),
        text: "Sentences per second, FP32 and INT8 measured alternately at each batch size (the line: mean of the passes; the band: their min-max; the table: medians). 'INT8/FP32 b32' is measured apart: the median ratio of adjacent FP32 and INT8 passes over every sentence at batch 32. 'best / FP32 b1' is the seed's headline measured on one engine: unbatched FP32 to INT8 at its best batch size. Tokenisation is not in the throughput; it is timed apart (microseconds per sentence).".into(),
        table: Some(TableData {
            header: header(&[
                "run",
                "tokens/sentence",
                "FP32 b1",
                "INT8 b1",
                "FP32 b32",
                "INT8 b32",
                "INT8/FP32 b32",
                "INT8 best",
                "best / FP32 b1",
                "noise %",
                "tokenise us",
            ]),
            rows,
        }),
        plots,
    });
    out.push(Section {
        title: "Latency".into(),
        text: "Time of one call embedding one batch (tokenisation excluded), over many calls."
            .into(),
        table: Some(TableData {
            header: header(&[
                "run",
                "precision",
                "batch",
                "calls",
                "p50 ms",
                "p95 ms",
                "p99 ms",
            ]),
            rows: speed
                .iter()
                .flat_map(|(r, o)| {
                    o.speed.iter().flat_map(|s| s.latency.iter()).map(|l| {
                        vec![
                            speed_label(&r.config),
                            l.precision.clone(),
                            l.batch.to_string(),
                            l.calls.to_string(),
                            fixed(l.p50_ms, 2),
                            fixed(l.p95_ms, 2),
                            fixed(l.p99_ms, 2),
                        ]
                    })
                })
                .collect(),
        }),
        plots: Vec::new(),
    });
    out.push(Section {
        title: "Are powers of two (or multiples of 16) faster per sentence?".into(),
        text: "The seed sweeps batch sizes 'based on cache-line alignment'. For each aligned batch size b with both neighbours measured: sentences/s at b over the mean of b - 1 and b + 1, minus 1, beside the run-to-run noise (the median spread of the passes at one batch size). Our encoder runs ragged batches (no padding), so nothing in it is aligned to the batch size; the GEMM tiles are over tokens, not sentences.".into(),
        table: Some(TableData {
            header: header(&["run", "batch", "precision", "advantage %", "noise %"]),
            rows: speed
                .iter()
                .flat_map(|(r, o)| {
                    let noise = o.noise();
                    o.aligned_advantages().into_iter().map(move |(b, p, a)| {
                        vec![
                            speed_label(&r.config),
                            b.to_string(),
                            p.to_string(),
                            fixed(100.0 * a, 1),
                            fixed(100.0 * noise, 1),
                        ]
                    })
                })
                .collect(),
        }),
        plots: Vec::new(),
    });
    out
}
