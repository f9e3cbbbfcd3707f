//! Running an experiment: the runs in parallel (`--jobs`), each writing its own folder
//! atomically, `--resume` skipping what finished, `--shard K/N` for clusters, and the final
//! step (summary, claims, environment, report) that `cargo xtask report` can redo alone.
//!
//! Layout under `results/<experiment>/`:
//!
//! ```text
//! <run-id>/config.toml    resolved parameters and seed
//! <run-id>/metrics.json   final scalars (null = not measured)
//! <run-id>/series.csv     the time series
//! <run-id>/data.json      study-specific data for the report
//! <run-id>/status         ok | diverged at step N | failed: message   (written last)
//! summary.csv  claims.json  environment.json  experiment.toml  report.md  report.html  plots/
//! ```
//!
//! A run is finished when its `status` file exists; every file is written to a temporary name
//! and renamed, so a kill at any moment leaves either a complete file or none.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde_json::json;

use crate::claims::{evaluate, ClaimResult};
use crate::environment;
use crate::fsutil::write_atomic;
use crate::registry::{Progress, RunOutput, RunRecord};
use crate::report::{write_index, write_report, ReportMeta};
use crate::spec::{Experiment, LoadOptions, RunSpec};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The results root (`results/`); the experiment writes to `<out>/<name>/`.
    pub out: PathBuf,
    /// Runs executed at once (and rayon threads).
    pub jobs: usize,
    /// Skip runs that already have a status.
    pub resume: bool,
    /// Run only shard `K` of `N` (1-based K).
    pub shard: Option<(usize, usize)>,
    /// Draw progress bars (they are hidden anyway when stderr is not a terminal).
    pub progress: bool,
    /// How the file was loaded (recorded so `report` can re-read it the same way).
    pub load: LoadOptions,
}

/// What a call to [`run`] did.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// Run ids executed now.
    pub executed: Vec<String>,
    /// Run ids skipped because they had finished before (`--resume`).
    pub skipped: Vec<String>,
    /// Claim results (empty for a shard, which does not finalise).
    pub claims: Vec<ClaimResult>,
}

/// The indices of the runs in shard `k` of `n`: a stable interleaved slice.
pub fn shard_indices(total: usize, shard: Option<(usize, usize)>) -> Vec<usize> {
    match shard {
        None => (0..total).collect(),
        Some((k, n)) => (0..total).filter(|i| i % n == k - 1).collect(),
    }
}

/// A number for CSV: shortest exact form, scientific when tiny or huge, empty when not finite.
fn number(v: f64) -> String {
    if !v.is_finite() {
        String::new()
    } else if v != 0.0 && (v.abs() < 1e-4 || v.abs() >= 1e15) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

fn status_of(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join("status"))
        .ok()
        .map(|s| s.trim().to_string())
}

fn csv(columns: &[String], rows: &[Vec<f64>]) -> String {
    let mut s = columns.join(",");
    s.push('\n');
    for r in rows {
        let line: Vec<String> = r.iter().map(|&v| number(v)).collect();
        s.push_str(&line.join(","));
        s.push('\n');
    }
    s
}

fn metrics_json(m: &BTreeMap<String, f64>) -> serde_json::Value {
    serde_json::Value::Object(
        m.iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    if v.is_finite() {
                        json!(v)
                    } else {
                        serde_json::Value::Null
                    },
                )
            })
            .collect(),
    )
}

/// Executes one run and writes its folder; returns the status line.
fn execute(
    exp: &Experiment,
    run: &RunSpec,
    dir: &Path,
    on_progress: &mut dyn FnMut(Progress),
) -> std::io::Result<String> {
    let _ = std::fs::remove_file(dir.join("status"));
    let mut config = run.params.clone();
    config.insert("seed".into(), toml::Value::Integer(run.seed as i64));
    write_atomic(
        &dir.join("config.toml"),
        toml::to_string(&config).unwrap_or_default().as_bytes(),
    )?;
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        (exp.study.run_fn)(&run.params, run.seed, on_progress)
    }));
    let (status, out) = match result {
        Ok(Ok(out)) => {
            let status = match out.diverged_at {
                Some(step) => format!("diverged at step {step}"),
                None => "ok".to_string(),
            };
            (status, out)
        }
        Ok(Err(e)) => (format!("failed: {e}"), RunOutput::default()),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            (format!("failed: panic: {msg}"), RunOutput::default())
        }
    };
    write_atomic(
        &dir.join("metrics.json"),
        serde_json::to_string_pretty(&metrics_json(&out.metrics))
            .unwrap_or_default()
            .as_bytes(),
    )?;
    write_atomic(
        &dir.join("series.csv"),
        csv(&out.columns, &out.rows).as_bytes(),
    )?;
    write_atomic(
        &dir.join("data.json"),
        serde_json::to_string(&out.extra)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    write_atomic(&dir.join("status"), format!("{status}\n").as_bytes())?;
    Ok(status)
}

/// Runs an experiment (or one shard of it), then, unless sharded, finalises it.
///
/// # Errors
/// I/O errors writing results (a failing *run* is recorded, not returned).
pub fn run(exp: &Experiment, opts: &RunOptions) -> std::io::Result<RunSummary> {
    let exp_dir = opts.out.join(&exp.name);
    std::fs::create_dir_all(&exp_dir)?;
    let text = std::fs::read_to_string(&exp.file)?;
    write_atomic(&exp_dir.join("experiment.toml"), text.as_bytes())?;
    let load = json!({ "quick": opts.load.quick, "sets": opts.load.sets });
    write_atomic(
        &exp_dir.join("load_options.json"),
        load.to_string().as_bytes(),
    )?;

    let mut summary = RunSummary::default();
    let mut pending = Vec::new();
    for i in shard_indices(exp.runs.len(), opts.shard) {
        let run = &exp.runs[i];
        if opts.resume && status_of(&exp_dir.join(&run.id)).is_some() {
            summary.skipped.push(run.id.clone());
        } else {
            pending.push(run);
        }
    }
    let multi = MultiProgress::with_draw_target(if opts.progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let overall = multi.add(ProgressBar::new(pending.len() as u64));
    overall.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {pos}/{len} runs  {elapsed_precise} (eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    overall.set_prefix(exp.name.clone());
    let run_style =
        ProgressStyle::with_template("  {prefix:40!} [{bar:20}] {pos}/{len} {msg} (eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    let executed = Mutex::new(Vec::new());
    let done = std::sync::atomic::AtomicUsize::new(0);
    let total = pending.len();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1))
        .build()
        .map_err(std::io::Error::other)?;
    let errors: Mutex<Vec<std::io::Error>> = Mutex::new(Vec::new());
    pool.install(|| {
        pending.par_iter().for_each(|run| {
            let bar = multi.insert_before(&overall, ProgressBar::new(1));
            bar.set_style(run_style.clone());
            bar.set_prefix(run.id.clone());
            let started = Instant::now();
            let mut on_progress = |p: Progress| {
                bar.set_length(p.total.max(1));
                bar.set_position(p.step);
                bar.set_message(format!("loss {:.3e}", p.loss));
            };
            let dir = exp_dir.join(&run.id);
            match execute(exp, run, &dir, &mut on_progress) {
                Ok(status) => {
                    let n = done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    let line = format!(
                        "[{n}/{total}] {} {status} ({:.2} s)",
                        run.id,
                        started.elapsed().as_secs_f64()
                    );
                    if opts.progress {
                        multi.suspend(|| eprintln!("{line}"));
                    }
                    executed.lock().expect("lock").push(run.id.clone());
                }
                Err(e) => errors.lock().expect("lock").push(e),
            }
            bar.finish_and_clear();
            overall.inc(1);
        });
    });
    overall.finish_and_clear();
    if let Some(e) = errors.into_inner().expect("lock").into_iter().next() {
        return Err(e);
    }
    let mut ex = executed.into_inner().expect("lock");
    ex.sort();
    summary.executed = ex;
    if opts.shard.is_none() {
        summary.claims = finalize(exp, &opts.out, opts.jobs)?;
    }
    Ok(summary)
}

/// Loads the finished runs of an experiment from disk.
pub fn load_records(exp: &Experiment, exp_dir: &Path) -> (Vec<RunRecord>, usize) {
    let mut records = Vec::new();
    let mut missing = 0;
    for run in &exp.runs {
        let dir = exp_dir.join(&run.id);
        let Some(status) = status_of(&dir) else {
            missing += 1;
            continue;
        };
        let metrics: BTreeMap<String, f64> = std::fs::read_to_string(dir.join("metrics.json"))
            .ok()
            .and_then(|s| serde_json::from_str::<BTreeMap<String, Option<f64>>>(&s).ok())
            .map(|m| {
                m.into_iter()
                    .map(|(k, v)| (k, v.unwrap_or(f64::NAN)))
                    .collect()
            })
            .unwrap_or_default();
        let (columns, rows) = std::fs::read_to_string(dir.join("series.csv"))
            .map(|s| {
                let mut lines = s.lines();
                let cols: Vec<String> = lines
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect();
                let rows = lines
                    .map(|l| {
                        l.split(',')
                            .map(|v| v.parse().unwrap_or(f64::NAN))
                            .collect()
                    })
                    .collect();
                (cols, rows)
            })
            .unwrap_or_default();
        let extra = std::fs::read_to_string(dir.join("data.json"))
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(serde_json::Value::Null);
        let kind = status
            .split([' ', ':'])
            .next()
            .unwrap_or("failed")
            .to_string();
        records.push(RunRecord {
            id: run.id.clone(),
            axes: run.axes.clone(),
            params: run.params.clone(),
            seed: run.seed,
            status: kind,
            metrics,
            columns,
            rows,
            extra,
        });
    }
    (records, missing)
}

/// Writes summary.csv, claims.json, environment.json and the report from what is on disk.
///
/// # Errors
/// I/O errors.
pub fn finalize(exp: &Experiment, out: &Path, jobs: usize) -> std::io::Result<Vec<ClaimResult>> {
    let exp_dir = out.join(&exp.name);
    let (records, missing) = load_records(exp, &exp_dir);
    // Metrics named like an axis (a study may echo a parameter) appear once, as the axis.
    let mut names: Vec<String> = records
        .iter()
        .flat_map(|r| r.metrics.keys().cloned())
        .filter(|n| !exp.axes.contains(n))
        .collect();
    names.sort();
    names.dedup();
    let mut s = String::new();
    let _ = write!(s, "run_id");
    for a in &exp.axes {
        let _ = write!(s, ",{a}");
    }
    let _ = write!(s, ",seed,status");
    for n in &names {
        let _ = write!(s, ",{n}");
    }
    s.push('\n');
    for r in &records {
        let _ = write!(s, "{}", r.id);
        for a in &exp.axes {
            let _ = write!(s, ",{}", r.param(a));
        }
        let _ = write!(s, ",{},{}", r.seed, r.status);
        for n in &names {
            let v = r.metric(n);
            let _ = write!(s, ",{}", number(v));
        }
        s.push('\n');
    }
    write_atomic(&exp_dir.join("summary.csv"), s.as_bytes())?;
    let claims = evaluate(&exp.claims, &records);
    write_atomic(
        &exp_dir.join("claims.json"),
        serde_json::to_string_pretty(&claims)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    let env = environment::collect(jobs);
    write_atomic(
        &exp_dir.join("environment.json"),
        serde_json::to_string_pretty(&env)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    let count = |k: &str| records.iter().filter(|r| r.status == k).count();
    let meta = ReportMeta {
        name: exp.name.clone(),
        description: exp.description.clone(),
        kind: exp.study.kind.to_string(),
        counts: (count("ok"), count("diverged"), count("failed"), missing),
        environment: environment::one_line(&env),
    };
    let sections = (exp.study.report_fn)(&records);
    write_report(&exp_dir, &meta, &claims, &sections)?;
    write_index(out)?;
    Ok(claims)
}

/// Re-reads the experiment saved in a results folder (as it was loaded for the run).
///
/// # Errors
/// A message when the folder holds no experiment or it no longer parses.
pub fn reload(exp_dir: &Path) -> Result<Experiment, String> {
    let file = exp_dir.join("experiment.toml");
    let load: serde_json::Value = std::fs::read_to_string(exp_dir.join("load_options.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(serde_json::Value::Null);
    let options = LoadOptions {
        quick: load["quick"].as_bool().unwrap_or(false),
        sets: load["sets"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    };
    crate::spec::load(&file, &options).map_err(|e| e.to_string())
}
