//! A study of your own, run from a TOML file by lab: Monte Carlo estimates of pi whose error
//! should shrink like 1/sqrt(n). The study is the code below (its parameters, its run, what
//! it records, what it draws); the experiment — the sweep over n, the seeds, the claims — is
//! `custom_study.toml` beside this file.
//!
//! Run: `cargo run --release -p lab --example custom_study [results-folder]`

use std::path::PathBuf;

use lab::report::{Line, LinePlot, Plot, Section};
use lab::runner::{run, RunOptions};
use lab::spec::{load, LoadOptions};
use lab::study::{Progress, Record, Registry, Run, Study};
use serde::Serialize;

lab::params! {
    /// One Monte Carlo estimate of pi.
    #[derive(Debug, Clone, Serialize)]
    pub struct PiConfig as "pi estimate" {
        /// Points thrown into the unit square.
        pub n: u64 = 1000; bounds(min = 1, max = 100_000_000),
    }
}

/// pi = 4 P(x^2 + y^2 <= 1) for (x, y) uniform on the unit square.
struct PiStudy;

impl Study for PiStudy {
    type Config = PiConfig;
    type Output = f64;
    const KIND: &'static str = "pi";
    const DESCRIPTION: &'static str = "Monte Carlo estimates of pi";
    const METRICS: &'static [&'static str] = &["estimate", "abs_error", "scaled_error"];

    fn run(
        &self,
        c: &PiConfig,
        seed: u64,
        progress: &mut Progress<'_>,
    ) -> Result<f64, lab::study::RunError> {
        // SplitMix64: a seeded generator in three lines, the same numbers on every machine.
        let mut state = seed;
        let mut uniform = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) as f64 / u64::MAX as f64
        };
        let inside = (0..c.n)
            .filter(|_| {
                let (x, y) = (uniform(), uniform());
                x * x + y * y <= 1.0
            })
            .count();
        let estimate = 4.0 * inside as f64 / c.n as f64;
        progress.update(c.n, c.n, estimate);
        Ok(estimate)
    }

    fn record(&self, c: &PiConfig, estimate: &f64) -> Record {
        let error = (estimate - std::f64::consts::PI).abs();
        Record::new()
            .metric("estimate", *estimate)
            .metric("abs_error", error)
            // The error times sqrt(n): about constant (sqrt(pi (4 - pi)) ~ 1.64 in rms) if the
            // error shrinks like 1/sqrt(n).
            .metric("scaled_error", error * (c.n as f64).sqrt())
    }

    fn report(&self, runs: &[Run<Self>]) -> Vec<Section> {
        let points: Vec<(f64, f64)> = runs
            .iter()
            .map(|r| (r.config.n as f64, r.metric("abs_error")))
            .collect();
        let reference = points.iter().map(|&(n, _)| (n, 1.64 / n.sqrt())).collect();
        vec![Section {
            title: "Error against sample size".into(),
            text: "Each point is one seed; the dashed line is the rms error 1.64 / sqrt(n).".into(),
            table: None,
            plots: vec![Plot::Lines(LinePlot {
                title: "|estimate - pi|".into(),
                x_label: "n (log)".into(),
                y_label: "absolute error (log)".into(),
                log_x: true,
                log_y: true,
                lines: vec![
                    Line::new("runs", points, 0).markers(),
                    Line::new("1.64 / sqrt(n)", reference, 1).dashed(),
                ],
            })],
        }]
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let registry = Registry::new().with(PiStudy);
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/custom_study.toml");
    let exp = load(&file, &registry, &LoadOptions::default())?;
    let out = std::env::args()
        .nth(1)
        .map_or(PathBuf::from("results"), PathBuf::from);
    let summary = run(
        &exp,
        &RunOptions {
            out: out.clone(),
            jobs: 2,
            resume: false,
            shard: None,
            progress: true,
            load: LoadOptions::default(),
        },
    )?;
    for c in &summary.claims {
        println!("{c}");
    }
    println!(
        "report: {}",
        out.join(&exp.name).join("report.html").display()
    );
    if summary.claims.iter().all(|c| c.pass) {
        Ok(())
    } else {
        Err("a claim failed".into())
    }
}
