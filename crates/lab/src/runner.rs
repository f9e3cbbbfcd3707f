//! Running an experiment: the runs in parallel (`--jobs`), each writing its own folder
//! atomically, `--resume` keeping what finished *with the same configuration*, `--shard K/N`
//! for clusters, and the final step (summary, claims, environment, report) that
//! `cargo xtask report` can redo alone. One writer at a time: the experiment's folder is
//! locked for the whole run.
//!
//! Layout under `results/<experiment>/`:
//!
//! ```text
//! <run-id>/config.toml    every parameter (defaults included) and the seed: the run's identity
//! <run-id>/metrics.json   final scalars (null = not measured)
//! <run-id>/series.csv     the time series
//! <run-id>/data.json      the study's output (read back, typed, for the report)
//! <run-id>/model.safetensors  files the study leaves (a trained model), when it does
//! <run-id>/status         ok | diverged at step N | failed: message   (written last)
//! summary.csv  claims.json  environment.json  experiment.toml  report.md  report.html  plots/
//! .lock                   held while a run-experiment writes here
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
use crate::report::{write_index, write_report, ReportMeta};
use crate::spec::{Experiment, LoadOptions, RunSpec};
use crate::study::{Progress, Record, RunRecord, Status};

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
    /// Run ids kept because they had finished before with the same configuration (`--resume`).
    pub skipped: Vec<String>,
    /// Run ids that had finished with another configuration and were run again (`--resume`).
    pub changed: Vec<String>,
    /// Run ids that failed (now or in a kept earlier run), with their messages.
    pub failed: Vec<(String, String)>,
    /// Run ids a shard left alone because another process held their lock.
    pub held_elsewhere: Vec<String>,
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

fn status_of(dir: &Path) -> Option<Status> {
    std::fs::read_to_string(dir.join("status"))
        .ok()
        .map(|s| Status::parse(&s))
}

/// What `config.toml` holds for a run: the study and its code version
/// ([`Study::VERSION`](crate::study::Study::VERSION)), every resolved parameter (defaults and
/// `--set` overrides included) and the seed — the run's identity. Resuming keeps a finished
/// run only when its file says exactly this (a byte comparison: stricter than a hash).
fn config_text(exp: &Experiment, run: &RunSpec) -> String {
    let mut config = run.resolved.clone();
    config.insert("seed".into(), toml::Value::Integer(run.seed as i64));
    format!(
        "# study {} version {}\n{}",
        exp.study.kind(),
        exp.study.version(),
        toml::to_string(&config).unwrap_or_default()
    )
}

/// Removes temporaries (`.NAME.tmp-PID`) left by killed runs in `dir` and its run folders.
fn remove_stale_temporaries(dir: &Path) {
    let sweep = |d: &Path| {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with('.') && name.contains(".tmp-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    };
    sweep(dir);
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            sweep(&e.path());
        }
    }
}

/// A lock on an experiment's results folder or on one run (held until dropped).
///
/// Locks are `flock`s on a file (`.lock` in the folder; `.locks/RUN` for a run), taken
/// without waiting. A whole run of an experiment holds its folder exclusively; each shard
/// of a sharded run holds it shared — shards run side by side, a whole run waits for none
/// of them and none of them for it — and takes each run it executes exclusively, so two
/// shards never write the same run (say the same shard was resubmitted while the first
/// still runs: the second skips the runs the first holds). On a shared filesystem the
/// guarantee is the filesystem's: Linux NFS clients map `flock` to NFS byte-range locks
/// (lockd for NFSv3, built in for NFSv4), which hold across machines.
pub struct ResultsLock {
    _lock: Box<dyn std::any::Any>,
}

fn open_lock(path: &Path) -> std::io::Result<&'static mut fd_lock::RwLock<std::fs::File>> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", parent.display())))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    // The lock lives as long as the process needs it; leaking one small allocation per lock
    // keeps the guard's borrow 'static without a self-referential struct.
    Ok(Box::leak(Box::new(fd_lock::RwLock::new(file))))
}

fn held_by_another(dir: &Path, lock_file: &Path) -> std::io::Error {
    let holder = std::fs::read_to_string(lock_file).unwrap_or_default();
    let who = match holder.trim() {
        "" => "the shards of a sharded run".to_string(),
        pid => format!("another run (process {pid})"),
    };
    std::io::Error::new(
        std::io::ErrorKind::WouldBlock,
        format!(
            "{} is being written by {who}; wait for it, or use --out",
            dir.display()
        ),
    )
}

/// Takes the exclusive lock on `dir` (an experiment's results folder), as [`run`] does for
/// a whole run.
///
/// # Errors
/// The folder is locked by another writer (the message names its pid, or says shards hold
/// it), or the lock file cannot be opened.
pub fn lock_results(dir: &Path) -> std::io::Result<ResultsLock> {
    let path = dir.join(".lock");
    let lock = open_lock(&path)?;
    match lock.try_write() {
        Ok(mut guard) => {
            use std::io::{Seek, Write};
            let pid = std::process::id();
            let _ = guard.set_len(0);
            let _ = guard.seek(std::io::SeekFrom::Start(0));
            let _ = writeln!(guard, "{pid}");
            Ok(ResultsLock {
                _lock: Box::new(guard),
            })
        }
        Err(_) => Err(held_by_another(dir, &path)),
    }
}

/// Takes the shared lock on `dir`, as each shard of a sharded [`run`] does.
///
/// # Errors
/// A whole run holds the folder (the message names its pid), or the lock file cannot be
/// opened.
pub fn lock_results_shared(dir: &Path) -> std::io::Result<ResultsLock> {
    let path = dir.join(".lock");
    let lock = open_lock(&path)?;
    match lock.try_read() {
        Ok(guard) => {
            // No whole run can hold the folder now: forget the pid the last one wrote, so
            // that a whole run refused while shards hold it says so instead of naming it.
            let _ = guard.set_len(0);
            Ok(ResultsLock {
                _lock: Box::new(guard),
            })
        }
        Err(_) => Err(held_by_another(dir, &path)),
    }
}

/// Takes the exclusive lock on run `id` of the experiment in `exp_dir`; `None` when another
/// process holds it.
///
/// # Errors
/// The lock file cannot be opened.
pub fn lock_run(exp_dir: &Path, id: &str) -> std::io::Result<Option<ResultsLock>> {
    let lock = open_lock(&exp_dir.join(".locks").join(id))?;
    Ok(lock.try_write().ok().map(|guard| ResultsLock {
        _lock: Box::new(guard),
    }))
}

/// `v` as one CSV field (RFC 4180): quoted, with its quotes doubled, when it holds a comma, a
/// quote or a line break — a list-valued axis (`keep_fp32 = ["ffn-up", "ffn-down"]`) would
/// otherwise shift every later column of its row.
fn csv_field(v: &str) -> std::borrow::Cow<'_, str> {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\"")).into()
    } else {
        v.into()
    }
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

/// Executes one run and writes its folder; returns the status.
fn execute(
    exp: &Experiment,
    run: &RunSpec,
    dir: &Path,
    on_progress: &mut dyn FnMut(u64, u64, f64),
) -> std::io::Result<Status> {
    let _ = std::fs::remove_file(dir.join("status"));
    write_atomic(&dir.join("config.toml"), config_text(exp, run).as_bytes())?;
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        exp.study
            .execute(&run.params, run.seed, &mut Progress::new(on_progress))
    }));
    let (status, record, data) = match result {
        Ok(Ok(done)) => {
            let status = match done.record.diverged_at {
                Some(step) => Status::Diverged(step),
                None => Status::Ok,
            };
            (status, done.record, done.data)
        }
        Ok(Err(e)) => (
            Status::Failed(e),
            Record::default(),
            serde_json::Value::Null,
        ),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            (
                Status::Failed(format!("panic: {msg}")),
                Record::default(),
                serde_json::Value::Null,
            )
        }
    };
    write_atomic(
        &dir.join("metrics.json"),
        serde_json::to_string_pretty(&metrics_json(&record.metrics))
            .unwrap_or_default()
            .as_bytes(),
    )?;
    write_atomic(
        &dir.join("series.csv"),
        csv(&record.series.columns, &record.series.rows).as_bytes(),
    )?;
    write_atomic(
        &dir.join("data.json"),
        serde_json::to_string(&data).unwrap_or_default().as_bytes(),
    )?;
    let mut status = status;
    for (name, bytes) in &record.files {
        let own = [
            "config.toml",
            "metrics.json",
            "series.csv",
            "data.json",
            "status",
        ];
        let plain = Path::new(name)
            .file_name()
            .is_some_and(|f| f == name.as_str())
            && !name.starts_with('.');
        if !plain || own.contains(&name.as_str()) {
            status = Status::Failed(format!(
                "the study asked to write `{name}`, which is not a file name of its own"
            ));
            continue;
        }
        write_atomic(&dir.join(name), bytes)?;
    }
    let line = status.to_string().replace('\n', " ");
    write_atomic(&dir.join("status"), format!("{line}\n").as_bytes())?;
    Ok(status)
}

/// Runs an experiment (or one shard of it), then, unless sharded, finalises it.
///
/// # Errors
/// I/O errors writing results (a failing *run* is recorded, not returned).
pub fn run(exp: &Experiment, opts: &RunOptions) -> std::io::Result<RunSummary> {
    let exp_dir = opts.out.join(&exp.name);
    std::fs::create_dir_all(&exp_dir).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot create the results folder {}: {e}",
                exp_dir.display()
            ),
        )
    })?;
    // A whole run holds the folder alone; shards share it and lock each run they execute.
    let _lock = match opts.shard {
        None => lock_results(&exp_dir)?,
        Some(_) => lock_results_shared(&exp_dir)?,
    };
    if opts.resume && opts.shard.is_none() {
        remove_stale_temporaries(&exp_dir);
    }
    write_atomic(&exp_dir.join("experiment.toml"), exp.text.as_bytes())?;
    let load =
        json!({ "quick": opts.load.quick, "sets": opts.load.sets, "max_runs": opts.load.max_runs });
    write_atomic(
        &exp_dir.join("load_options.json"),
        load.to_string().as_bytes(),
    )?;

    let mut summary = RunSummary::default();
    let mut pending = Vec::new();
    for i in shard_indices(exp.runs.len(), opts.shard) {
        let run = &exp.runs[i];
        let dir = exp_dir.join(&run.id);
        if opts.resume && status_of(&dir).is_some() {
            let same = std::fs::read_to_string(dir.join("config.toml"))
                .is_ok_and(|c| c == config_text(exp, run));
            if same {
                summary.skipped.push(run.id.clone());
                continue;
            }
            summary.changed.push(run.id.clone());
        }
        pending.push(run);
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
    let held = Mutex::new(Vec::new());
    let done = std::sync::atomic::AtomicUsize::new(0);
    let total = pending.len();
    // A study that measures time runs alone.
    let jobs = if exp.study.exclusive() {
        1
    } else {
        opts.jobs.max(1)
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(std::io::Error::other)?;
    let errors: Mutex<Vec<std::io::Error>> = Mutex::new(Vec::new());
    let one = |run: &&RunSpec| {
        let bar = multi.insert_before(&overall, ProgressBar::new(1));
        bar.set_style(run_style.clone());
        bar.set_prefix(run.id.clone());
        let started = Instant::now();
        let mut on_progress = |step: u64, total: u64, value: f64| {
            bar.set_length(total.max(1));
            bar.set_position(step);
            bar.set_message(format!("loss {value:.3e}"));
        };
        let dir = exp_dir.join(&run.id);
        // A shard executes a run only while it holds the run's lock (another shard may be
        // writing it: then it is left to that one).
        let mut attempt = || -> std::io::Result<()> {
            let _run_lock = match opts.shard {
                None => None,
                Some(_) => match lock_run(&exp_dir, &run.id)? {
                    Some(l) => Some(l),
                    None => {
                        held.lock().expect("lock").push(run.id.clone());
                        return Ok(());
                    }
                },
            };
            if opts.resume && opts.shard.is_some() {
                remove_stale_temporaries(&dir);
            }
            let status = execute(exp, run, &dir, &mut on_progress)?;
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
            Ok(())
        };
        if let Err(e) = attempt() {
            errors.lock().expect("lock").push(e);
        }
        bar.finish_and_clear();
        overall.inc(1);
    };
    if exp.study.exclusive() {
        // Not on a pool: a run that waits on a pool of its own (`install`) would let a pool
        // thread steal the next run meanwhile.
        pending.iter().for_each(one);
    } else {
        pool.install(|| pending.par_iter().for_each(one));
    }
    overall.finish_and_clear();
    if let Some(e) = errors.into_inner().expect("lock").into_iter().next() {
        return Err(e);
    }
    let mut ex = executed.into_inner().expect("lock");
    ex.sort();
    summary.executed = ex;
    let mut held = held.into_inner().expect("lock");
    held.sort();
    summary.held_elsewhere = held;
    for i in shard_indices(exp.runs.len(), opts.shard) {
        let id = &exp.runs[i].id;
        if let Some(Status::Failed(m)) = status_of(&exp_dir.join(id)) {
            summary.failed.push((id.clone(), m));
        }
    }
    if opts.shard.is_none() {
        summary.claims = finalize(exp, &opts.out, jobs)?;
    }
    Ok(summary)
}

/// Loads the finished runs of an experiment from disk; returns them, the number of runs
/// not finished, and a note for each run whose files could not be read.
pub fn load_records(exp: &Experiment, exp_dir: &Path) -> (Vec<RunRecord>, usize, Vec<String>) {
    let mut records = Vec::new();
    let mut missing = 0;
    let mut unreadable = Vec::new();
    for run in &exp.runs {
        let dir = exp_dir.join(&run.id);
        let Some(status) = status_of(&dir) else {
            missing += 1;
            continue;
        };
        let read = |name: &str| std::fs::read_to_string(dir.join(name));
        let metrics = match read("metrics.json")
            .map_err(|e| e.to_string())
            .and_then(|s| {
                serde_json::from_str::<BTreeMap<String, Option<f64>>>(&s).map_err(|e| e.to_string())
            }) {
            Ok(m) => m
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or(f64::NAN)))
                .collect(),
            Err(e) => {
                unreadable.push(format!("{}/metrics.json: {e}", run.id));
                BTreeMap::new()
            }
        };
        let data = match read("data.json").map(|s| serde_json::from_str::<serde_json::Value>(&s)) {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                unreadable.push(format!("{}/data.json: {e}", run.id));
                None
            }
            Err(e) => {
                unreadable.push(format!("{}/data.json: {e}", run.id));
                None
            }
        };
        records.push(RunRecord {
            id: run.id.clone(),
            axes: run.axes.clone(),
            params: run.params.clone(),
            resolved: run.resolved.clone(),
            seed: run.seed,
            status,
            metrics,
            data,
        });
    }
    (records, missing, unreadable)
}

/// Writes summary.csv, claims.json, environment.json and the report from what is on disk.
///
/// # Errors
/// I/O errors.
pub fn finalize(exp: &Experiment, out: &Path, jobs: usize) -> std::io::Result<Vec<ClaimResult>> {
    let exp_dir = out.join(&exp.name);
    let (records, missing, unreadable) = load_records(exp, &exp_dir);
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
        let _ = write!(s, ",{}", csv_field(a));
    }
    let _ = write!(s, ",seed,status");
    for n in &names {
        let _ = write!(s, ",{}", csv_field(n));
    }
    s.push('\n');
    for r in &records {
        let _ = write!(s, "{}", csv_field(&r.id));
        for a in &exp.axes {
            let _ = write!(s, ",{}", csv_field(&r.param(a)));
        }
        let _ = write!(s, ",{},{}", r.seed, r.status.kind());
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
    let env = environment::collect(jobs, exp.file.parent().unwrap_or(Path::new(".")));
    write_atomic(
        &exp_dir.join("environment.json"),
        serde_json::to_string_pretty(&env)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    let count = |k: &str| records.iter().filter(|r| r.status.kind() == k).count();
    let meta = ReportMeta {
        name: exp.name.clone(),
        description: exp.description.clone(),
        kind: exp.study.kind().to_string(),
        counts: (count("ok"), count("diverged"), count("failed"), missing),
        environment: environment::one_line(&env),
        unreadable,
    };
    let sections = exp.study.report(&records);
    write_report(&exp_dir, &meta, &claims, &sections)?;
    write_index(out)?;
    Ok(claims)
}

/// Re-reads the experiment saved in a results folder (as it was loaded for the run).
///
/// # Errors
/// A message when the folder holds no experiment or it no longer parses.
pub fn reload(exp_dir: &Path, registry: &crate::study::Registry) -> Result<Experiment, String> {
    let file = exp_dir.join("experiment.toml");
    let load: serde_json::Value = std::fs::read_to_string(exp_dir.join("load_options.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(serde_json::Value::Null);
    let options = LoadOptions {
        max_runs: load["max_runs"]
            .as_u64()
            .map_or(crate::spec::DEFAULT_MAX_RUNS, |n| n as usize),
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
    crate::spec::load(&file, registry, &options).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn a_field_with_a_comma_quote_or_line_break_is_quoted() {
        assert_eq!(csv_field("ffn-up"), "ffn-up");
        assert_eq!(csv_field("ffn-up,ffn-down"), "\"ffn-up,ffn-down\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("a\nb"), "\"a\nb\"");
    }
}
