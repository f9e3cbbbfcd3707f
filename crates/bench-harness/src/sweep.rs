//! Timing one piece of work: warm-up, then repeated timed runs until a time budget or a run
//! count is reached, summarised by [`Stats`] and converted to items/s and FLOP/s.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::stats::Stats;

/// How long and how often to measure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeasureConfig {
    /// Time spent running the work untimed first (caches, page faults, CPU frequency).
    pub warmup: Duration,
    /// Stop once this much time has been measured (and `min_runs` reached).
    pub budget: Duration,
    /// At least this many timed runs.
    pub min_runs: usize,
    /// At most this many timed runs.
    pub max_runs: usize,
}

impl MeasureConfig {
    /// A thorough default: 0.3 s warm-up, 2 s budget, 5..1000 runs.
    pub fn standard() -> Self {
        MeasureConfig {
            warmup: Duration::from_millis(300),
            budget: Duration::from_secs(2),
            min_runs: 5,
            max_runs: 1000,
        }
    }

    /// For `--quick`: 0.05 s warm-up, 0.3 s budget, 3..200 runs.
    pub fn quick() -> Self {
        MeasureConfig {
            warmup: Duration::from_millis(50),
            budget: Duration::from_millis(300),
            min_runs: 3,
            max_runs: 200,
        }
    }
}

/// The timings of one piece of work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// A stable name (`gemm/1024x1024x1024/2t`).
    pub name: String,
    /// Seconds per run.
    pub seconds: Stats,
    /// Work items per run (samples, elements; 0 when not meaningful).
    pub items: f64,
    /// Floating-point (or integer) operations per run (0 when not meaningful).
    pub flop: f64,
    /// Threads the work used.
    pub threads: usize,
}

impl Measurement {
    /// Items per second at the median time.
    pub fn items_per_second(&self) -> f64 {
        self.items / self.seconds.median
    }

    /// Operations per second at the median time.
    pub fn flops(&self) -> f64 {
        self.flop / self.seconds.median
    }
}

/// Times `work` under `config`. `items` and `flop` describe one call of `work`.
pub fn measure<T>(
    name: &str,
    config: &MeasureConfig,
    items: f64,
    flop: f64,
    threads: usize,
    mut work: impl FnMut() -> T,
) -> Measurement {
    let start = Instant::now();
    while start.elapsed() < config.warmup {
        black_box(work());
    }
    let mut samples = Vec::new();
    let begin = Instant::now();
    while samples.len() < config.max_runs
        && (samples.len() < config.min_runs || begin.elapsed() < config.budget)
    {
        let t = Instant::now();
        black_box(work());
        samples.push(t.elapsed().as_secs_f64());
    }
    Measurement {
        name: name.to_string(),
        seconds: Stats::from_samples(&samples).expect("at least min_runs >= 1 finite samples"),
        items,
        flop,
        threads,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_between_min_and_max_runs() {
        let cfg = MeasureConfig {
            warmup: Duration::ZERO,
            budget: Duration::ZERO,
            min_runs: 4,
            max_runs: 10,
        };
        let mut calls = 0;
        let m = measure("count", &cfg, 10.0, 20.0, 1, || calls += 1);
        assert_eq!(m.seconds.n, 4);
        assert_eq!(calls, 4);
        assert!(m.flops() > 0.0 && (m.flops() / m.items_per_second() - 2.0).abs() < 1e-9);
    }
}
