//! `cargo xtask bench`: the harness sweeps — f32 GEMM over sizes and thread counts, one MLP
//! training step, the autodiff per-op overhead — measured against this machine's roof
//! (bench-harness peak probes), written to `results/bench/` as `results.json`, `report.md`
//! and a self-contained `report.html`. With `--peers` the GEMM figures are set beside NumPy's
//! and PyTorch's measured by another program; with `--blas` beside a CBLAS library's sgemm
//! timed in this process, the two alternating ([`bench_harness::ab`]). The timing and the
//! statistics live in bench-harness; this file chooses what to measure and reports it.

use std::path::{Path, PathBuf};

use bench_harness::ab::{compare, AbConfig};
use bench_harness::blas::Cblas;
use bench_harness::fingerprint::Fingerprint;
use bench_harness::peak::{probe, Peak, ProbeKind};
use bench_harness::peers::{peer_rows, read_peers, PeerGemm};
use bench_harness::stats::Stats;
use bench_harness::sweep::{measure, MeasureConfig, Measurement};
use core_tensor::{no_grad, Rng, Tensor};
use groundwork_benches::{autodiff_chain, pool, MlpStep, Step, VaeStep};
use lab::fsutil::write_atomic;
use lab::report::{header, write_report, Line, LinePlot, Plot, ReportMeta, Section, TableData};
use serde_json::json;

/// The command line of `bench`: what to run.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BenchOptions {
    /// Smaller sizes and shorter timings (under 2 minutes).
    #[arg(long)]
    pub quick: bool,
    /// Only measurements whose name contains this (e.g. gemm/square-1024).
    #[arg(long)]
    pub filter: Option<String>,
    /// The JSON scripts/peers_f32_gemm.py wrote in the same sitting: adds a table of our GEMM
    /// against NumPy's and PyTorch's, shape by shape.
    #[arg(long)]
    pub peers: Option<PathBuf>,
    /// A CBLAS shared library (e.g. NumPy's numpy.libs/libscipy_openblas64_*.so) to time
    /// against our GEMM in this process, the two alternating round by round (see
    /// [`bench_harness::blas`]).
    #[arg(long)]
    pub blas: Option<PathBuf>,
}

/// `cargo xtask bench`: the sweeps and their report in `results/bench/`.
pub fn bench(opts: &BenchOptions) -> std::process::ExitCode {
    let out = crate::fsutil::project_root().join("results/bench");
    match run(opts, &out) {
        Ok(()) => {
            println!("report: {}", out.join("report.html").display());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

const SQUARE: &[usize] = &[128, 256, 512, 1024, 2048];
const BERT: &[(usize, usize, usize)] = &[(4096, 384, 1536), (4096, 1536, 384), (4096, 384, 384)];

/// Runs the sweeps and writes the report into `out` (`results/bench`).
///
/// # Errors
/// I/O errors writing the results.
pub fn run(opts: &BenchOptions, out: &Path) -> std::io::Result<()> {
    let cfg = if opts.quick {
        MeasureConfig::quick()
    } else {
        MeasureConfig::standard()
    };
    let wanted = |name: &str| {
        opts.filter
            .as_ref()
            .is_none_or(|f| name.contains(f.as_str()))
    };
    let peers = opts.peers.as_deref().map(read_peers).transpose()?;
    // Load and check the library first, so that a wrong path fails before the long sweeps.
    let blas = opts.blas.as_deref().map(Cblas::open).transpose()?;
    if let Some(blas) = &blas {
        check_agrees(blas)?;
        eprintln!("against {} ({}), in this process", blas.path, blas.symbol);
    }
    let fp = Fingerprint::detect();
    eprintln!(
        "machine: {} ({} logical cores; {}); GEMM engine {}",
        fp.cpu_model,
        fp.logical_cores,
        fp.features.join(" "),
        core_tensor::gemm_kernel_name()
    );
    let peaks: Vec<Peak> = [ProbeKind::F32Fma, ProbeKind::Int8Dot]
        .iter()
        .map(|&k| pool(2).install(|| probe(k, &cfg)))
        .collect();
    for p in &peaks {
        eprintln!(
            "roof {:?} ({:?}): {:.1} G/s per core, {:.1} G/s on {} threads",
            p.kind,
            p.isa,
            p.per_core / 1e9,
            p.all_cores / 1e9,
            p.threads
        );
    }
    let mut results: Vec<Measurement> = Vec::new();
    let squares: Vec<usize> = SQUARE
        .iter()
        .copied()
        .filter(|&n| !opts.quick || n <= 1024)
        .collect();
    let shapes: Vec<(String, usize, usize, usize)> = squares
        .iter()
        .map(|&n| (format!("gemm/square-{n}"), n, n, n))
        .chain(
            BERT.iter()
                .filter(|_| !opts.quick)
                .map(|&(m, k, n)| (format!("gemm/bert-{m}x{k}x{n}"), m, k, n)),
        )
        .collect();
    let ab_cfg = if opts.quick {
        AbConfig::quick()
    } else {
        AbConfig::standard()
    };
    let mut against_blas = Vec::new();
    let mut rng = Rng::seed(0);
    for (name, m, k, n) in &shapes {
        let a = rng.normal(&[*m, *k], 0.0, 1.0);
        let b = rng.normal(&[*k, *n], 0.0, 1.0);
        for threads in [1, 2] {
            let full = format!("{name}/{threads}t");
            if !wanted(&full) {
                continue;
            }
            let p = pool(threads);
            let flop = 2.0 * (*m * *n * *k) as f64;
            // The whole timing loop runs on the pool (as a program that installs its pool
            // once would): handing each call to a sleeping pool thread costs a wake-up,
            // 80-140 us in this VM, more than a 128^3 product.
            let r =
                p.install(|| measure(&full, &cfg, 1.0, flop, threads, || no_grad(|| a.matmul(&b))));
            eprintln!(
                "{full:<36} {:>8.1} GFLOP/s  (spread {:.1}%)",
                r.flops() / 1e9,
                100.0 * r.seconds.rel_spread
            );
            results.push(r);
            // The same product against the BLAS library, in alternating rounds.
            if let Some(blas) = &blas {
                let row = p.install(|| ab_gemm(blas, &full, &a, &b, threads, &ab_cfg))?;
                eprintln!(
                    "{full:<36} ours {:>6.1}, BLAS {:>6.1} GFLOP/s: ratio {:.3} (rounds {:.2}-{:.2})",
                    row.ours, row.blas, row.ratio.median, row.ratio.min, row.ratio.max
                );
                against_blas.push(row);
            }
        }
    }
    // The INT8 GEMM (quant's kernels, weights packed once, activations quantised per call)
    // on the same shapes, against the int8 roof.
    for (name, m, k, n) in &shapes {
        let a = rng.normal(&[*m, *k], 0.0, 1.0).to_vec();
        let w = rng.normal(&[*n, *k], 0.0, 0.05).to_vec();
        let family = quant::int8::default_family();
        let packed = quant::int8::PackedI8::new(&w, *n, *k, family);
        let name = name.replacen("gemm/", "gemm-i8/", 1);
        for threads in [1, 2] {
            let full = format!("{name}/{threads}t");
            if !wanted(&full) {
                continue;
            }
            let mut q = quant::int8::QuantizedRows::default();
            let mut c = vec![0.0f32; m * n];
            let ops = 2.0 * (*m * *n * *k) as f64;
            let r = pool(threads).install(|| {
                measure(&full, &cfg, 1.0, ops, threads, || {
                    q.quantize(&a, *m, *k, *k, family);
                    quant::int8::gemm_i8(&q, *m, &packed, &mut c, *n, None, None);
                })
            });
            eprintln!(
                "{full:<36} {:>8.1} GOP/s  ({}, spread {:.1}%)",
                r.flops() / 1e9,
                family.name,
                100.0 * r.seconds.rel_spread
            );
            results.push(r);
        }
    }
    if blas.is_some() && against_blas.is_empty() {
        eprintln!("--blas: no GEMM shape matched the filter, so nothing was compared");
    }
    // One training step of each network (the CNN's and the VAEs' FLOP counts are not
    // tallied: 0). The VAE steps are the PyTorch peer's (shared/peers/vae_torch.py).
    type MakeStep = fn() -> Box<dyn Step>;
    let steps: [(&str, MakeStep, f64); 4] = [
        (
            "mlp-step-784-256-128-10-b128",
            || Box::new(MlpStep::new(128, 0)),
            MlpStep::flop(128),
        ),
        (
            "cnn-step-32-64-128-b128",
            || Box::new(MlpStep::cnn(128, 0)),
            0.0,
        ),
        (
            "vae-dsprites-mlp-step-b64",
            || Box::new(VaeStep::dsprites_mlp(64, 0)),
            0.0,
        ),
        (
            "vae-fashion-mnist-mlp-step-b64",
            || Box::new(VaeStep::fashion_mnist_mlp(64, 0)),
            0.0,
        ),
    ];
    for (name, make, flop) in steps {
        for threads in [1, 2] {
            let full = format!("{name}/{threads}t");
            if !wanted(&full) {
                continue;
            }
            let mut step = make();
            let batch = step.batch() as f64;
            let r = pool(threads)
                .install(|| measure(&full, &cfg, batch, flop, threads, || step.step()));
            let gflops = if flop > 0.0 {
                format!(", {:.1} GFLOP/s", r.flops() / 1e9)
            } else {
                String::new()
            };
            eprintln!(
                "{full:<36} {:>8.2} ms/step, {:.0} samples/s{gflops}",
                1e3 * r.seconds.median,
                r.items_per_second(),
            );
            results.push(r);
        }
    }
    // A whole epoch of the Fashion-MNIST MLP with Adam, through the study's training loop
    // (the data is read only when a row asks for it).
    let epoch_wanted = [1, 2]
        .iter()
        .any(|t| wanted(&format!("fashion-mnist-mlp-adam-epoch/{t}t")));
    let dataset = epoch_wanted.then(|| nn::data::find_dataset("fashion-mnist"));
    if let Some(Ok(dir)) = dataset {
        if let Ok((train, test)) = nn::data::load_splits(&dir) {
            let limit = if opts.quick { 12_000 } else { 0 };
            for threads in [1, 2] {
                let full = format!("fashion-mnist-mlp-adam-epoch/{threads}t");
                if !wanted(&full) {
                    continue;
                }
                let cfg = nn::study::ClassifierConfig {
                    epochs: 1,
                    train_limit: limit,
                    test_limit: 1000,
                    sharpness_every: 0,
                    ..nn::study::ClassifierConfig::new(
                        nn::study::ModelKind::Mlp,
                        optim::Method::Adam,
                        1e-3,
                    )
                };
                let run = pool(threads).install(|| {
                    nn::study::run_classifier(&cfg, 0, &train, &test, &mut |_, _, _| {})
                });
                if let Ok(run) = run {
                    let secs = run.epochs[0].seconds;
                    let n = if limit == 0 { train.len() } else { limit };
                    let stats = Stats::from_samples(&[secs]).expect("one sample");
                    let m = Measurement {
                        name: full.clone(),
                        seconds: stats,
                        items: n as f64,
                        flop: MlpStep::flop(128) * (n as f64 / 128.0),
                        threads,
                    };
                    eprintln!("{full:<36} {:.3} s for {n} samples: {:.0} samples/s = {:.2} s per 60,000-sample epoch", secs, m.items_per_second(), 60_000.0 / m.items_per_second());
                    results.push(m);
                }
            }
        }
    } else if dataset.is_some() {
        eprintln!("skip: Fashion-MNIST not installed, no epoch timing (apt-get install dataset-fashion-mnist)");
    }
    groundwork_benches::diagnose_rows(&wanted, &mut results);
    groundwork_benches::rl_rows(&cfg, &wanted, &mut results);
    groundwork_benches::minilm_rows(opts.quick, &wanted, &mut results);
    if wanted("autodiff-chain-1000") {
        let r = pool(1).install(|| {
            measure("autodiff-chain-1000/1t", &cfg, 1000.0, 0.0, 1, || {
                autodiff_chain(1000)
            })
        });
        eprintln!(
            "autodiff chain of 1000 ops: {:.2} us per op (forward + backward)",
            1e6 * r.seconds.median / 1000.0
        );
        results.push(r);
    }
    let against_blas = blas
        .as_ref()
        .filter(|_| !against_blas.is_empty())
        .map(|b| (b, against_blas));
    write(out, &fp, &peaks, &results, peers.as_deref(), against_blas)
}

fn write(
    out: &Path,
    fp: &Fingerprint,
    peaks: &[Peak],
    results: &[Measurement],
    peers: Option<&[PeerGemm]>,
    against_blas: Option<(&Cblas, Vec<AbRow>)>,
) -> std::io::Result<()> {
    let engine = core_tensor::gemm_kernel_name();
    let against_peers = peers.map(|p| peer_rows(results, p));
    let json = json!({
        "fingerprint": fp,
        "gemm_engine": engine,
        "peaks": peaks,
        "measurements": results,
        "against_peers": against_peers,
        "against_blas": against_blas.as_ref().map(|(b, rows)| json!({
            "library": b.path,
            "symbol": b.symbol,
            "rows": rows,
        })),
    });
    write_atomic(
        &out.join("results.json"),
        serde_json::to_string_pretty(&json)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    // Integer rows (the int8 GEMM, the INT8 encoder) against the int8 roof, the rest
    // against the f32 one.
    let int8_row = |name: &str| name.starts_with("gemm-i8/") || name.starts_with("minilm-int8/");
    let roof_of = |kind: ProbeKind, threads: usize| {
        peaks
            .iter()
            .find(|p| p.kind == kind)
            .map(|p| {
                if threads == 1 {
                    p.per_core
                } else {
                    p.all_cores
                }
            })
            .unwrap_or(f64::NAN)
    };
    let roof_for = |threads: usize| roof_of(ProbeKind::F32Fma, threads);
    let roof_row = |r: &Measurement| {
        let kind = if int8_row(&r.name) {
            ProbeKind::Int8Dot
        } else {
            ProbeKind::F32Fma
        };
        roof_of(kind, r.threads)
    };
    let mut rows = Vec::new();
    for r in results {
        let base = r.name.rsplit_once('/').map(|(b, _)| b).unwrap_or(&r.name);
        let one = results.iter().find(|x| x.name == format!("{base}/1t"));
        let scaling = match (one, r.threads) {
            (Some(o), t) if t > 1 => format!("{:.2}x", o.seconds.median / r.seconds.median),
            _ => "-".into(),
        };
        let gflops = r.flops() / 1e9;
        rows.push(vec![
            r.name.clone(),
            format!("{:.3}", 1e3 * r.seconds.median),
            format!("{:.1}%", 100.0 * r.seconds.rel_spread),
            if r.flop > 0.0 {
                format!("{gflops:.1}")
            } else {
                "-".into()
            },
            if r.flop > 0.0 {
                format!("{:.0}%", 100.0 * r.flops() / roof_row(r))
            } else {
                "-".into()
            },
            if r.items > 1.0 {
                format!("{:.0}", r.items_per_second())
            } else {
                "-".into()
            },
            scaling,
        ]);
    }
    let mut plots = Vec::new();
    let mut lines = Vec::new();
    for (i, threads) in [1usize, 2].iter().enumerate() {
        let pts: Vec<(f64, f64)> = results
            .iter()
            .filter(|r| r.name.starts_with("gemm/square-") && r.threads == *threads)
            .filter_map(|r| {
                r.name
                    .split('-')
                    .nth(1)
                    .and_then(|s| s.split('/').next())
                    .and_then(|n| n.parse::<f64>().ok())
                    .map(|n| (n, r.flops() / 1e9))
            })
            .collect();
        if !pts.is_empty() {
            let (lo, hi) = (pts[0].0, pts[pts.len() - 1].0);
            lines.push(Line::new(format!("matmul, {threads} thread(s)"), pts, i).markers());
            lines.push(
                Line::new(
                    format!("f32 FMA roof, {threads} thread(s)"),
                    vec![
                        (lo, roof_for(*threads) / 1e9),
                        (hi, roof_for(*threads) / 1e9),
                    ],
                    i,
                )
                .dashed(),
            );
        }
    }
    if !lines.is_empty() {
        plots.push(Plot::Lines(LinePlot {
            title: "f32 GEMM throughput against the measured roof".into(),
            x_label: "matrix size n (n x n x n, log)".into(),
            y_label: "GFLOP/s".into(),
            log_x: true,
            log_y: false,
            lines,
        }));
    }
    let peak_rows = peaks
        .iter()
        .map(|p| {
            vec![
                format!("{:?}", p.kind),
                format!("{:?}", p.isa),
                format!("{:.1}", p.per_core / 1e9),
                format!("{:.1}", p.all_cores / 1e9),
                p.threads.to_string(),
            ]
        })
        .collect();
    let mut sections = vec![
        Section {
            title: "Machine".into(),
            text: format!(
                "{} — {} logical / {} physical cores; caches {}; features {}; {}. GEMM engine: {engine}.",
                fp.cpu_model,
                fp.logical_cores,
                fp.physical_cores,
                fp.caches.iter().map(|c| format!("L{} {} {} KiB", c.level, c.kind, c.size_kib)).collect::<Vec<_>>().join(", "),
                fp.features.join(" "),
                fp.rustc
            ),
            table: Some(TableData { header: header(&["roof", "instruction set", "G/s per core", "G/s all cores", "threads"]), rows: peak_rows }),
            plots: vec![],
        },
        Section {
            title: "Kernels".into(),
            text: "Median time per call; spread is MAD/median. % of roof compares with the roof of the same thread count: the int8 dot-product roof for gemm-i8 and minilm-int8 rows (GOP/s in the GFLOP/s column), the f32 FMA roof for the rest (minilm-bf16 included). The roofs are those of the vector units: a row whose kernel ran on AMX (the machine line and the kernel lines say) can exceed them. Scaling is the 1-thread time over this one.".into(),
            table: Some(TableData { header: header(&["measurement", "ms", "spread", "GFLOP/s", "% of roof", "items/s", "scaling"]), rows }),
            plots,
        },
    ];
    if let Some(rows) = against_peers {
        sections.push(Section {
            title: "Against the peers".into(),
            text: "Our GEMM beside NumPy's and PyTorch's from `scripts/peers_f32_gemm.py`, which should have run in the same sitting (the file given with --peers). GFLOP/s; the ratio is ours over the faster peer.".into(),
            table: Some(TableData {
                header: header(&["measurement", "ours", "numpy", "torch", "ours / best peer"]),
                rows: rows
                    .iter()
                    .map(|r| {
                        let cell = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
                        vec![
                            r.name.clone(),
                            format!("{:.1}", r.ours),
                            cell(r.numpy),
                            cell(r.torch),
                            format!("{:.2}x", r.ratio),
                        ]
                    })
                    .collect(),
            }),
            plots: vec![],
        });
    }
    if let Some((blas, rows)) = &against_blas {
        sections.push(Section {
            title: "Against a BLAS library, in this process".into(),
            text: format!(
                "Our GEMM and `{}` from {} (--blas), timed in the same process in alternating rounds (one group of calls per side per round, a pause before each, both allocating a fresh output per product), so that the machine's changing speed slows both sides of a round alike. GFLOP/s are medians over the rounds; the ratio is the median of the rounds' ours / theirs, with the smallest and largest round.",
                blas.symbol, blas.path
            ),
            table: Some(TableData {
                header: header(&["measurement", "ours", "BLAS", "ours / BLAS", "rounds: min - max", "rounds"]),
                rows: rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.name.clone(),
                            format!("{:.1}", r.ours),
                            format!("{:.1}", r.blas),
                            format!("{:.3}x", r.ratio.median),
                            format!("{:.2} - {:.2}", r.ratio.min, r.ratio.max),
                            r.ratio.n.to_string(),
                        ]
                    })
                    .collect(),
            }),
            plots: vec![],
        });
    }
    let meta = ReportMeta {
        name: "bench".into(),
        description: "groundwork kernels measured against this machine's own f32 and int8 roofs (cargo xtask bench).".into(),
        kind: "bench".into(),
        counts: (results.len(), 0, 0, 0),
        environment: String::new(),
        unreadable: Vec::new(),
    };
    write_report(out, &meta, &[], &sections)?;
    lab::report::write_index(out.parent().unwrap_or(Path::new(".")))
}

/// One shape and thread count, ours against the library in alternating rounds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AbRow {
    /// Our measurement's name (`gemm/square-1024/2t`).
    pub name: String,
    /// Threads on both sides.
    pub threads: usize,
    /// Our GFLOP/s, median over the rounds.
    pub ours: f64,
    /// The library's GFLOP/s, median over the rounds.
    pub blas: f64,
    /// Each round's (our GFLOP/s / the library's): median, min, max, rounds.
    pub ratio: Stats,
}

/// Times `a.matmul(b)` on the current rayon pool (of `threads` threads) against `blas` on as
/// many threads; both allocate a fresh output per product, as NumPy's `a @ b` does.
fn ab_gemm(
    blas: &Cblas,
    name: &str,
    a: &Tensor,
    b: &Tensor,
    threads: usize,
    cfg: &AbConfig,
) -> std::io::Result<AbRow> {
    let (&[m, k], &[_, n]) = (a.shape(), b.shape()) else {
        return Err(std::io::Error::other(format!("{name}: matrices expected")));
    };
    let (av, bv) = (a.to_vec(), b.to_vec());
    blas.set_threads(threads);
    let mut ours = || -> std::io::Result<()> {
        let c = no_grad(|| a.matmul(b))
            .map_err(|e| std::io::Error::other(format!("our matmul: {e}")))?;
        std::hint::black_box(c);
        Ok(())
    };
    let mut theirs = || -> std::io::Result<()> {
        std::hint::black_box(blas.matmul(&av, &bv, m, k, n));
        Ok(())
    };
    let flop = 2.0 * (m * k * n) as f64;
    let r = compare(cfg, flop, &mut ours, &mut theirs)?
        .ok_or_else(|| std::io::Error::other(format!("{name}: no rounds, or a NaN timing")))?;
    Ok(AbRow {
        name: name.to_string(),
        threads,
        ours: r.a / 1e9,
        blas: r.b / 1e9,
        ratio: r.ratio,
    })
}

/// Checks that the library computes our product (an odd shape, so that the calling
/// convention — row-major, integer width — would show if it were wrong).
fn check_agrees(blas: &Cblas) -> std::io::Result<()> {
    let (m, k, n) = (67, 45, 33);
    let mut rng = Rng::seed(7);
    let a = rng.normal(&[m, k], 0.0, 1.0);
    let b = rng.normal(&[k, n], 0.0, 1.0);
    let ours = no_grad(|| a.matmul(&b))
        .map_err(|e| std::io::Error::other(format!("our matmul: {e}")))?
        .to_vec();
    blas.set_threads(1);
    let theirs = blas.matmul(&a.to_vec(), &b.to_vec(), m, k, n);
    let worst = ours
        .iter()
        .zip(&theirs)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    // Sums of 45 products of N(0, 1) values: a few units; rounding differs at ~1e-6.
    if worst.is_finite() && worst < 1e-3 {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "{}: its {} disagrees with our matmul on a {m}x{k}x{n} product (largest \
             difference {worst}); the library's calling convention is not the one expected",
            blas.path, blas.symbol
        )))
    }
}
