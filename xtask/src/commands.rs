//! The commands behind `cargo xtask ...`, one function each. They print for people and return
//! an exit code: 0 success, 1 a claim failed or an asset is missing, 2 bad input.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use lab::fsutil::write_atomic;
use lab::params::show_value;
use lab::runner::{self, RunOptions};
use lab::spec::{self, LoadOptions, SpecErrors};

use crate::fsutil::{cores, in_project, project_root};
use crate::registry::registry;

/// The command line of `run-experiment`. Its fields' docs are the `--help` text, written for
/// a terminal (brackets and `<name>` as the user types them), not as rustdoc markup.
#[derive(Debug, Clone, clap::Args)]
#[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]
pub struct RunArgs {
    /// The experiment file (e.g. experiments/quickstart.toml).
    pub file: PathBuf,
    /// Results root; the experiment writes to OUT/<name>/ (relative to the project root).
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Runs executed in parallel (default: the number of cores). Results do not depend on it.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Keep finished runs and execute only the rest.
    #[arg(long)]
    pub resume: bool,
    /// Override a value: --set params.lr=0.01, --set sweep.kappa=[1,10].
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Apply the file's [quick] overrides (a small, fast version).
    #[arg(long)]
    pub quick: bool,
    /// Run only the K-th of N stable slices of the run list (for cluster job arrays).
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// Refuse grids of more runs than this.
    #[arg(long, default_value_t = lab::spec::DEFAULT_MAX_RUNS)]
    pub max_runs: usize,
}

/// Prints every error of a file, then how many.
fn report_errors(e: &SpecErrors) {
    for err in &e.0 {
        eprintln!("error: {err}");
    }
    if e.0.len() > 1 {
        eprintln!("{} errors", e.0.len());
    }
}

/// Parses `K/N` (1 <= K <= N).
///
/// # Errors
/// A message for anything else.
pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (k, n) = s
        .split_once('/')
        .ok_or_else(|| format!("--shard {s}: expected K/N, e.g. 2/4"))?;
    let (k, n): (usize, usize) = (
        k.trim()
            .parse()
            .map_err(|_| format!("--shard {s}: K is not a number"))?,
        n.trim()
            .parse()
            .map_err(|_| format!("--shard {s}: N is not a number"))?,
    );
    if k == 0 || n == 0 || k > n {
        return Err(format!("--shard {s}: need 1 <= K <= N"));
    }
    Ok((k, n))
}

/// `cargo xtask run-experiment`.
pub fn run_experiment(args: &RunArgs) -> ExitCode {
    let out = in_project(&args.out);
    let jobs = args.jobs.unwrap_or_else(cores).max(1);
    let load = LoadOptions {
        quick: args.quick,
        sets: args.sets.clone(),
        max_runs: args.max_runs,
    };
    let exp = match spec::load(&args.file, &registry(), &load) {
        Ok(e) => e,
        Err(e) => {
            report_errors(&e);
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "{}: {} runs of study `{}` {}{}",
        exp.name,
        exp.runs.len(),
        exp.study.kind(),
        if exp.study.exclusive() {
            "one at a time (they measure time)".to_string()
        } else {
            format!("with {jobs} jobs")
        },
        if args.quick { " (quick)" } else { "" }
    );
    let opts = RunOptions {
        out: out.clone(),
        jobs,
        resume: args.resume,
        shard: args.shard,
        progress: true,
        load,
    };
    let summary = match runner::run(&exp, &opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.resume {
        eprintln!(
            "resumed: kept {} finished runs; reran {} whose configuration had changed",
            summary.skipped.len(),
            summary.changed.len()
        );
    }
    for (id, message) in &summary.failed {
        eprintln!("run {id} failed: {message}");
    }
    let failures_count = !summary.failed.is_empty() && !exp.expect_failures;
    if let Some((k, n)) = args.shard {
        if !summary.held_elsewhere.is_empty() {
            eprintln!(
                "left {} runs to the process holding their lock: {}",
                summary.held_elsewhere.len(),
                summary.held_elsewhere.join(", ")
            );
        }
        eprintln!(
            "shard {k}/{n} done ({} runs). When every shard has finished: cargo xtask report {}",
            summary.executed.len(),
            out.join(&exp.name).display()
        );
        return ExitCode::SUCCESS;
    }
    print_claims(&summary.claims);
    let dir = out.join(&exp.name);
    println!("report: {}", dir.join("report.html").display());
    if failures_count {
        eprintln!(
            "{} runs failed (set experiment.expect_failures = true if that is the point)",
            summary.failed.len()
        );
    }
    if summary.claims.iter().all(|c| c.pass) && !failures_count {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_claims(claims: &[lab::claims::ClaimResult]) {
    for c in claims {
        println!("{c}");
    }
    let pass = claims.iter().filter(|c| c.pass).count();
    println!("claims: {pass} passed, {} failed", claims.len() - pass);
}

/// The entries of `dir` that `keep` accepts, sorted (none when `dir` cannot be read).
fn sorted_entries(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| keep(p)).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// The experiment files in `experiments/`, sorted.
pub fn experiment_files() -> Vec<PathBuf> {
    sorted_entries(&project_root().join("experiments"), |p| {
        p.extension().is_some_and(|x| x == "toml")
    })
}

/// `cargo xtask list`.
pub fn list() -> ExitCode {
    let mut bad = false;
    let registry = registry();
    for f in experiment_files() {
        match spec::load(&f, &registry, &LoadOptions::default()) {
            Ok(e) => println!(
                "{:<40} {:<16} {:>4} runs  {:<12} {}",
                f.strip_prefix(project_root()).unwrap_or(&f).display(),
                e.study.kind(),
                e.runs.len(),
                e.expected_runtime.clone().unwrap_or_else(|| "?".into()),
                e.description
            ),
            Err(e) => {
                bad = true;
                report_errors(&e);
            }
        }
    }
    if bad {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// `cargo xtask check`: validates the file and lists the study's parameters (each run's
/// value, or the default) and the runs.
pub fn check(file: &Path, quick: bool, sets: &[String], max_runs: usize) -> ExitCode {
    let options = LoadOptions {
        quick,
        sets: sets.to_vec(),
        max_runs,
    };
    let e = match spec::load(file, &registry(), &options) {
        Ok(e) => e,
        Err(e) => {
            report_errors(&e);
            return ExitCode::from(2);
        }
    };
    println!(
        "{}: kind `{}`, {} runs, {} claims; axes: {}",
        e.name,
        e.study.kind(),
        e.runs.len(),
        e.claims.len(),
        e.axes.join(", ")
    );
    println!("parameters:");
    for p in e.study.params() {
        let mut values: Vec<String> = e
            .runs
            .iter()
            .filter_map(|r| r.resolved.get(p.name).map(show_value))
            .collect();
        values.dedup();
        values.sort();
        values.dedup();
        let shown = match values.len() {
            0 => p.default.to_string(),
            1 => values.remove(0),
            _ => format!("[{}]", values.join(", ")),
        };
        let range = p
            .bounds
            .describe()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        println!("  {:<16} {:<24} {}{range}", p.name, shown, p.doc);
    }
    println!("runs:");
    for r in &e.runs {
        println!("  {}", r.id);
    }
    ExitCode::SUCCESS
}

/// `cargo xtask docs`: writes `docs/studies.md`, every study's parameters and metrics from
/// their single definitions (a test fails when the file is stale).
pub fn docs() -> ExitCode {
    let path = project_root().join("docs/studies.md");
    match write_atomic(&path, studies_markdown().as_bytes()) {
        Ok(()) => {
            println!("wrote {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The text of `docs/studies.md`.
pub fn studies_markdown() -> String {
    let mut s = String::from(
        "# Studies\n\nEvery experiment kind, its parameters and its metrics, generated from the \
         studies' own definitions by `cargo xtask docs` (do not edit by hand).\n\n",
    );
    for study in registry().studies() {
        s.push_str(&lab::study::params_markdown(study.as_ref()));
        s.push('\n');
    }
    s
}

/// `dir`, or the default results root `results/`.
fn results_root(dir: Option<&Path>) -> PathBuf {
    dir.map(Path::to_path_buf)
        .unwrap_or_else(|| project_root().join("results"))
}

/// The results folders `report` rebuilds: `dir` itself when it holds an experiment's results,
/// else every experiment folder in it (default: `results/`), sorted.
pub fn report_dirs(dir: Option<&Path>) -> Vec<PathBuf> {
    let root = results_root(dir);
    if root.join("experiment.toml").exists() {
        return vec![root];
    }
    sorted_entries(&root, |p| p.join("experiment.toml").exists())
}

/// `cargo xtask report [DIR]`.
pub fn report(dir: Option<&Path>) -> ExitCode {
    let dirs = report_dirs(dir);
    if dirs.is_empty() {
        eprintln!(
            "error: no experiment results under {} (run cargo xtask run-experiment first)",
            results_root(dir).display()
        );
        return ExitCode::from(2);
    }
    let mut all_pass = true;
    let registry = registry();
    for d in dirs {
        let exp = match runner::reload(&d, &registry) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("error: {}: {e}", d.display());
                return ExitCode::from(2);
            }
        };
        let out = d.parent().unwrap_or(Path::new(".")).to_path_buf();
        match runner::finalize(&exp, &out, 0) {
            Ok(claims) => {
                println!("{}:", exp.name);
                print_claims(&claims);
                all_pass &= claims.iter().all(|c| c.pass);
                println!("report: {}", d.join("report.html").display());
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if all_pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Quotes `s` for a POSIX shell (single quotes; a single quote inside as `'\''`).
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `cargo xtask slurm FILE --shards N [--quick] [--set K=V]...`: writes a Slurm job-array
/// script. Each task runs one shard with `--resume` into the shared results folder, so a
/// cancelled or failed array resubmitted keeps every finished run; shards lock each run
/// they write (see `lab::runner::ResultsLock`). The tasks call `cargo xtask`, or the
/// command in `GROUNDWORK_XTASK` (e.g. a built `target/release/xtask`, so that nodes do not
/// compile).
pub fn slurm(file: &Path, shards: usize, out: &Path, quick: bool, sets: &[String]) -> ExitCode {
    let load = LoadOptions {
        quick,
        sets: sets.to_vec(),
        ..LoadOptions::default()
    };
    let exp = match spec::load(file, &registry(), &load) {
        Ok(e) => e,
        Err(e) => {
            report_errors(&e);
            return ExitCode::from(2);
        }
    };
    if shards == 0 {
        eprintln!("error: --shards must be >= 1");
        return ExitCode::from(2);
    }
    let mut extra = String::new();
    if quick {
        extra.push_str(" --quick");
    }
    for s in sets {
        extra.push_str(&format!(" --set {}", shell_quote(s)));
    }
    let script = format!(
        "#!/bin/bash\n# Runs {name} ({runs} runs) as a Slurm job array of {shards} tasks sharing one results folder.\n\
         # Submit from the repository root: sbatch {path}\n# When every task has finished: cargo xtask report {out}/{name}\n\
         # A cancelled or failed task resubmitted (sbatch --array=K {path}) keeps the runs it finished.\n\
         #SBATCH --job-name={name}\n#SBATCH --array=1-{shards}\n#SBATCH --cpus-per-task=2\n#SBATCH --output={out}/{name}/slurm-%A_%a.log\n\
         set -euo pipefail\n${{GROUNDWORK_XTASK:-cargo xtask}} run-experiment {file} --out {out} --jobs \"${{SLURM_CPUS_PER_TASK:-2}}\" --resume --shard \"${{SLURM_ARRAY_TASK_ID}}/{shards}\"{extra}\n",
        name = exp.name,
        runs = exp.runs.len(),
        path = out.join(&exp.name).join("slurm.sh").display(),
        out = out.display(),
        file = file.display(),
    );
    let path = out.join(&exp.name).join("slurm.sh");
    if let Err(e) = write_atomic(&path, script.as_bytes()) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    println!("wrote {}", path.display());
    ExitCode::SUCCESS
}

/// `cargo xtask fetch-data fashion-mnist`: finds the dataset the way the studies do
/// (`nn::data::find_dataset`) and loads both splits with their full checks (IDX headers,
/// sizes, label ranges, image/label counts).
pub fn fetch_data(name: &str) -> ExitCode {
    if name != "fashion-mnist" {
        eprintln!("error: unknown dataset `{name}`; known: fashion-mnist");
        return ExitCode::from(2);
    }
    let dir = match nn::data::find_dataset(name) {
        Ok(d) => d,
        Err(e) => {
            println!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let (train, test) = match nn::data::load_splits(&dir) {
        Ok(d) => d,
        Err(e) => {
            println!("BAD  {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut ok = true;
    for (split, d, want) in [("train", &train, 60_000), ("test", &test, 10_000)] {
        let (r, c) = d.image_shape;
        let good = d.len() == want && d.image_shape == nn::study::IMAGE_SHAPE;
        ok &= good;
        println!(
            "{} {} {split}: {} images of {r}x{c}{}",
            if good { "ok  " } else { "BAD " },
            dir.display(),
            d.len(),
            if good {
                String::new()
            } else {
                format!(", expected {want} of 28x28")
            }
        );
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `cargo xtask diagnose LOG`: a loss history read and its shape named, with the statistics.
pub fn diagnose_log(path: &Path) -> ExitCode {
    match nn::diagnose::read_loss_log(path) {
        Ok(losses) => {
            let r = optim::diagnose::analyse_history(&losses);
            println!(
                "{}: {} losses, {}",
                path.display(),
                losses.len(),
                r.summary()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
