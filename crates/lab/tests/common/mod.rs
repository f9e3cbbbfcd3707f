//! A toy study for the engine's tests: a noisy geometric decay `x <- rate * x + noise`, which
//! converges for rate < 1 and diverges above, with switches to fail or panic on purpose.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use lab::report::{Line, LinePlot, Plot, Section};
use lab::study::{Progress, Record, Registry, Run, Study};
use serde::{Deserialize, Serialize};

/// How the noise enters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Noise {
    /// No noise.
    #[serde(alias = "quiet")]
    None,
    /// Uniform noise of 1e-3.
    Small,
}
lab::choice!(Noise);

lab::params! {
    /// One decay.
    #[derive(Debug, Clone, PartialEq, Serialize)]
    pub struct DecayConfig as "decay" {
        /// Contraction per step.
        pub rate: f64; bounds(gt = 0, max = 10),
        /// Steps.
        pub steps: u64 = 100; bounds(min = 1, max = 100_000),
        /// The noise.
        pub noise: Noise = Noise::None,
        /// Start value.
        pub start: Option<f64> = None; bounds(gt = 0),
        /// Fail on purpose with this message.
        pub fail: bool = false,
        /// Panic on purpose.
        pub panic: bool = false,
    }
}

pub struct Decay;

impl Study for Decay {
    type Config = DecayConfig;
    type Output = Vec<f64>;
    const KIND: &'static str = "decay";
    const DESCRIPTION: &'static str = "a noisy geometric decay";
    const METRICS: &'static [&'static str] = &["final", "predicted", "rate", "steps_taken"];

    fn check(&self, c: &DecayConfig) -> Result<(), lab::params::ParamError> {
        if c.fail && c.panic {
            return Err(lab::params::ParamError::field(
                "panic",
                "panic and fail together make no sense",
            ));
        }
        Ok(())
    }

    fn run(
        &self,
        c: &DecayConfig,
        seed: u64,
        p: &mut Progress<'_>,
    ) -> Result<Vec<f64>, lab::study::RunError> {
        if c.fail {
            return Err("failed on purpose".into());
        }
        assert!(!c.panic, "panicked on purpose");
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut x = c.start.unwrap_or(1.0);
        let mut xs = vec![x];
        for k in 0..c.steps {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            x = c.rate * x
                + if c.noise == Noise::Small {
                    1e-3 * (u - 0.5)
                } else {
                    0.0
                };
            xs.push(x);
            p.update(k + 1, c.steps, x);
            if x.abs() > 1e6 {
                break;
            }
        }
        Ok(xs)
    }

    fn record(&self, c: &DecayConfig, xs: &Vec<f64>) -> Record {
        let last = *xs.last().unwrap();
        Record::new()
            .metric("final", last)
            .metric(
                "predicted",
                c.start.unwrap_or(1.0) * c.rate.powi(c.steps as i32),
            )
            .metric("rate", c.rate)
            .metric("steps_taken", (xs.len() - 1) as f64)
            .series(
                &["step", "x"],
                xs.iter()
                    .enumerate()
                    .map(|(k, x)| vec![k as f64, *x])
                    .collect(),
            )
            .diverged_at((last.abs() > 1e6).then(|| xs.len() as u64 - 1))
    }

    fn report(&self, runs: &[Run<Self>]) -> Vec<Section> {
        let curves: Vec<Vec<(f64, f64)>> = runs
            .iter()
            .filter_map(|r| r.output.as_ref())
            .map(|xs| xs.iter().enumerate().map(|(k, x)| (k as f64, *x)).collect())
            .collect();
        vec![Section {
            title: "Decay".into(),
            text: "x over steps".into(),
            table: None,
            plots: vec![Plot::Lines(LinePlot {
                title: "x".into(),
                x_label: "step".into(),
                y_label: "x".into(),
                log_x: false,
                log_y: false,
                lines: vec![Line::mean_band("all runs", &curves, 0)],
            })],
        }]
    }
}

pub fn registry() -> Registry {
    Registry::new().with(Decay)
}

pub const SMALL: &str = r#"
[experiment]
name = "small"
description = "four quick runs"
kind = "decay"
seed = 3

[params]
steps = 50

[sweep]
rate = [0.5, 0.9]
noise = ["none", "small"]

[[expect]]
run = { noise = "none" }
metric = "final"
op = "~="
reference = "predicted"
rel_tol = 1e-9
"#;

pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
