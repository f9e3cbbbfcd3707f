//! Running experiments end to end on a toy study: sweep expansion, every claim form, resume
//! after a kill and after a configuration change, one writer per results folder, results
//! that do not depend on --jobs, shards that merge, failures that do not stop the sweep, and
//! reports that say what they could not read.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{read, registry, scratch, write, SMALL};
use lab::claims::evaluate;
use lab::runner::{self, RunOptions};
use lab::spec::{self, parse, LoadOptions};
use lab::study::{RunRecord, Status};
use toml::Value;

fn opts(out: &Path, jobs: usize) -> RunOptions {
    RunOptions {
        out: out.to_path_buf(),
        jobs,
        resume: false,
        shard: None,
        progress: false,
        load: LoadOptions::default(),
    }
}

fn load(file: &Path, sets: &[&str]) -> spec::Experiment {
    let options = LoadOptions {
        sets: sets.iter().map(|s| s.to_string()).collect(),
        ..LoadOptions::default()
    };
    spec::load(file, &registry(), &options).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn sweep_expansion_seeds_grids_and_quick() {
    let reg = registry();
    let e = parse(Path::new("s.toml"), SMALL, &reg, &LoadOptions::default()).unwrap();
    let ids: Vec<&str> = e.runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "noise-none_rate-0.5_seed-3",
            "noise-none_rate-0.9_seed-3",
            "noise-small_rate-0.5_seed-3",
            "noise-small_rate-0.9_seed-3"
        ]
    );
    assert_eq!(e.axes, ["noise", "rate"]);
    let repeated = SMALL.replace("seed = 3", "seed = 3\nrepeats = 3");
    let e = parse(
        Path::new("s.toml"),
        &repeated,
        &reg,
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(e.runs.len(), 12);
    let seeds: std::collections::BTreeSet<u64> = e.runs.iter().map(|r| r.seed).collect();
    assert_eq!(seeds.into_iter().collect::<Vec<_>>(), [3, 4, 5]);
    let grids =
        SMALL.replace("[sweep]", "[[sweep]]") + "\n[[sweep]]\nrate = [0.3]\nstart = [2.0, 4.0]\n";
    let e = parse(Path::new("s.toml"), &grids, &reg, &LoadOptions::default()).unwrap();
    assert_eq!(e.runs.len(), 6);
    assert_eq!(e.runs[4].id, "rate-0.3_start-2_seed-3");
    let quick = SMALL.to_string() + "\n[quick]\nsweep = { rate = [0.5] }\nparams = { steps = 2 }\n";
    let options = LoadOptions {
        quick: true,
        ..LoadOptions::default()
    };
    let e = parse(Path::new("s.toml"), &quick, &reg, &options).unwrap();
    assert_eq!(e.runs.len(), 2);
    assert_eq!(e.runs[0].params["steps"].as_integer(), Some(2));
    assert_eq!(e.runs[0].resolved["noise"].as_str(), Some("none"));
}

fn record(id: &str, noise: &str, rate: f64, metrics: &[(&str, f64)]) -> RunRecord {
    let mut params = toml::Table::new();
    params.insert("noise".into(), Value::String(noise.into()));
    params.insert("rate".into(), Value::Float(rate));
    let mut resolved = params.clone();
    resolved.insert("steps".into(), Value::Integer(50));
    RunRecord {
        id: id.into(),
        axes: BTreeMap::new(),
        params,
        resolved,
        seed: 3,
        status: Status::Ok,
        metrics: metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        data: None,
    }
}

#[test]
fn claims_each_op_aggregate_comparison_and_trend() {
    let runs = vec![
        record(
            "a",
            "none",
            0.5,
            &[("steps_taken", 100.0), ("final", 0.9), ("predicted", 0.91)],
        ),
        record(
            "b",
            "none",
            0.9,
            &[
                ("steps_taken", 1000.0),
                ("final", 0.99),
                ("predicted", 0.99),
            ],
        ),
        record(
            "c",
            "small",
            0.5,
            &[
                ("steps_taken", 50.0),
                ("final", 0.5),
                ("predicted", f64::NAN),
            ],
        ),
        record(
            "d",
            "small",
            0.9,
            &[
                ("steps_taken", 40.0),
                ("final", 0.5),
                ("predicted", f64::NAN),
            ],
        ),
    ];
    let claims = [
        ("run = { noise = \"none\" }\nmetric = \"steps_taken\"\nop = \">=\"\nvalue = 100", true),
        ("run = { noise = \"none\" }\nmetric = \"steps_taken\"\nop = \">\"\nvalue = 100", false),
        ("run = { noise = \"none\" }\nmetric = \"steps_taken\"\nop = \"<=\"\nvalue = 1000", true),
        ("run = { noise = \"none\" }\nmetric = \"steps_taken\"\nop = \"<\"\nvalue = 1000", false),
        ("run = { noise = \"small\" }\nmetric = \"final\"\nop = \"==\"\nvalue = 0.5", true),
        ("run = { noise = \"quiet\" }\nmetric = \"final\"\nop = \"~=\"\nreference = \"predicted\"\nrel_tol = 0.02", true),
        ("run = { noise = \"none\" }\nmetric = \"final\"\nop = \"~=\"\nreference = \"predicted\"\nrel_tol = 0.005", false),
        ("run = { noise = \"small\" }\nmetric = \"final\"\nop = \"~=\"\nreference = \"predicted\"\nrel_tol = 0.5", false),
        ("metric = \"steps_taken\"\nop = \"<=\"\nvalue = 297.5\naggregate = \"mean\"", true),
        ("metric = \"steps_taken\"\nop = \"<\"\nvalue = 297.5\naggregate = \"mean\"", false),
        ("metric = \"steps_taken\"\nop = \"==\"\nvalue = 40\naggregate = \"min\"", true),
        ("metric = \"steps_taken\"\nop = \"==\"\nvalue = 1000\naggregate = \"max\"", true),
        ("metric = \"steps_taken\"\nop = \"==\"\nvalue = 960\naggregate = \"range\"", true),
        ("lhs = { noise = \"none\" }\nrhs = { noise = \"small\" }\nmetric = \"steps_taken\"\nop = \">=\"\nfactor = 12", true),
        ("lhs = { noise = \"none\" }\nrhs = { noise = \"small\" }\nmetric = \"steps_taken\"\nop = \">=\"\nfactor = 13", false),
        // Some lhs run (max) / every lhs run (min) against the rhs mean (45).
        ("lhs = { noise = \"none\" }\nrhs = { noise = \"small\" }\nmetric = \"steps_taken\"\nop = \">=\"\nfactor = 13\naggregate = \"max\"", true),
        ("lhs = { noise = \"none\" }\nrhs = { noise = \"small\" }\nmetric = \"steps_taken\"\nop = \">=\"\nfactor = 23\naggregate = \"max\"", false),
        ("lhs = { noise = \"none\" }\nrhs = { noise = \"small\" }\nmetric = \"steps_taken\"\nop = \">=\"\nfactor = 2\naggregate = \"min\"", true),
        ("lhs = { noise = \"none\" }\nrhs = { noise = \"small\" }\nmetric = \"steps_taken\"\nop = \">=\"\nfactor = 3\naggregate = \"min\"", false),
        ("run = { noise = \"none\" }\nover = \"rate\"\nmetric = \"steps_taken\"\ntrend = \"increasing\"", true),
        ("run = { noise = \"small\" }\nover = \"rate\"\nmetric = \"steps_taken\"\ntrend = \"decreasing\"", true),
        ("run = { noise = \"small\" }\nover = \"rate\"\nmetric = \"steps_taken\"\ntrend = \"non-decreasing\"", false),
        ("run = { noise = \"small\" }\nover = \"rate\"\nmetric = \"final\"\ntrend = \"non-increasing\"", true),
        ("run = { seed = 3, steps = 50 }\nmetric = \"steps_taken\"\nop = \">=\"\nvalue = 0", true),
    ];
    let base = SMALL.split("[[expect]]").next().unwrap();
    for (claim, want) in claims {
        let text = format!("{base}\n[[expect]]\n{claim}\n");
        let e = parse(
            Path::new("c.toml"),
            &text,
            &registry(),
            &LoadOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{claim}: {e}"));
        let result = &evaluate(&e.claims, &runs)[0];
        assert_eq!(result.pass, want, "{claim}\n-> {result:?}");
    }
    // A claim whose runs all failed cannot be verified: it fails.
    let mut failed = runs.clone();
    failed
        .iter_mut()
        .for_each(|r| r.status = Status::Failed("x".into()));
    let text = format!("{base}\n[[expect]]\n{}\n", claims[0].0);
    let e = parse(
        Path::new("c.toml"),
        &text,
        &registry(),
        &LoadOptions::default(),
    )
    .unwrap();
    let r = &evaluate(&e.claims, &failed)[0];
    assert!(!r.pass && r.lhs.contains("no finished run"), "{r:?}");
}

#[test]
fn resume_after_a_kill_reruns_only_unfinished_runs_and_clears_temporaries() {
    let dir = scratch("resume");
    let file = write(&dir, "small.toml", SMALL);
    let exp = load(&file, &[]);
    let out = dir.join("results");
    let first = runner::run(&exp, &opts(&out, 2)).unwrap();
    assert_eq!(first.executed.len(), 4);
    let before = read(&out.join("small/summary.csv"));
    // A kill during two runs: no status file, a half-written temporary.
    let killed = ["noise-none_rate-0.5_seed-3", "noise-small_rate-0.9_seed-3"];
    for id in killed {
        let run = out.join("small").join(id);
        std::fs::remove_file(run.join("status")).unwrap();
        std::fs::write(run.join(".metrics.json.tmp-999"), "{\"trunc").unwrap();
    }
    let resume = RunOptions {
        resume: true,
        ..opts(&out, 2)
    };
    let resumed = runner::run(&exp, &resume).unwrap();
    let mut executed = resumed.executed.clone();
    executed.sort();
    assert_eq!(executed, killed);
    assert_eq!(resumed.skipped.len(), 2);
    assert!(resumed.changed.is_empty());
    assert_eq!(read(&out.join("small/summary.csv")), before);
    assert!(resumed.claims.iter().all(|c| c.pass));
    for id in killed {
        assert!(!out
            .join("small")
            .join(id)
            .join(".metrics.json.tmp-999")
            .exists());
    }
}

#[test]
fn resume_after_a_configuration_change_reruns_the_changed_runs() {
    let dir = scratch("resume-changed");
    let file = write(&dir, "small.toml", SMALL);
    let out = dir.join("results");
    let fresh_out = dir.join("fresh");
    // A run with an override, then --resume without it: every run had another configuration.
    runner::run(&load(&file, &["params.steps=7"]), &opts(&out, 2)).unwrap();
    let exp = load(&file, &[]);
    let resumed = runner::run(
        &exp,
        &RunOptions {
            resume: true,
            ..opts(&out, 2)
        },
    )
    .unwrap();
    assert_eq!(resumed.changed.len(), 4, "{resumed:?}");
    assert!(resumed.skipped.is_empty());
    runner::run(&exp, &opts(&fresh_out, 2)).unwrap();
    assert_eq!(
        read(&out.join("small/summary.csv")),
        read(&fresh_out.join("small/summary.csv")),
        "a resumed folder must not mix two configurations"
    );
    let config = read(&out.join("small/noise-none_rate-0.5_seed-3/config.toml"));
    assert!(
        config.starts_with("# study decay version 1\n") && config.contains("steps = 50"),
        "{config}"
    );
    // A run recorded by another version of the study's code is rerun, not kept.
    let old = out.join("small/noise-small_rate-0.9_seed-3/config.toml");
    std::fs::write(&old, read(&old).replace("version 1", "version 0")).unwrap();
    let again = runner::run(
        &exp,
        &RunOptions {
            resume: true,
            ..opts(&out, 2)
        },
    )
    .unwrap();
    assert_eq!(
        (again.changed.as_slice(), again.skipped.len()),
        (["noise-small_rate-0.9_seed-3".to_string()].as_slice(), 3)
    );
}

#[test]
fn a_second_writer_is_refused_with_the_holders_pid() {
    let dir = scratch("lock");
    let file = write(&dir, "small.toml", SMALL);
    let exp = load(&file, &[]);
    let out = dir.join("results");
    std::fs::create_dir_all(out.join("small")).unwrap();
    let held = runner::lock_results(&out.join("small")).unwrap();
    let err = runner::run(&exp, &opts(&out, 1)).unwrap_err().to_string();
    assert!(
        err.contains("is being written by another run")
            && err.contains(&std::process::id().to_string()),
        "{err}"
    );
    drop(held);
    assert_eq!(runner::run(&exp, &opts(&out, 1)).unwrap().executed.len(), 4);
}

#[test]
fn shards_share_the_folder_and_never_write_the_same_run() {
    let dir = scratch("shard-locks");
    let file = write(&dir, "small.toml", SMALL);
    let exp = load(&file, &[]);
    let out = dir.join("results");
    let exp_dir = out.join("small");
    std::fs::create_dir_all(&exp_dir).unwrap();
    let shard = |k| RunOptions {
        shard: Some((k, 2)),
        ..opts(&out, 1)
    };
    // A whole run held the folder before (its pid stays in the lock file).
    drop(runner::lock_results(&exp_dir).unwrap());
    // Another shard holds the folder shared and the first run of shard 1: shard 1 runs the
    // rest of its runs and leaves that one; shard 2 runs all of its own.
    let shared = runner::lock_results_shared(&exp_dir).unwrap();
    let first = exp.runs[runner::shard_indices(exp.runs.len(), Some((1, 2)))[0]]
        .id
        .clone();
    let held = runner::lock_run(&exp_dir, &first).unwrap().unwrap();
    assert!(runner::lock_run(&exp_dir, &first).unwrap().is_none());
    let one = runner::run(&exp, &shard(1)).unwrap();
    assert_eq!(one.held_elsewhere, vec![first.clone()]);
    assert_eq!(one.executed.len(), 1);
    assert!(!exp_dir.join(&first).join("status").exists());
    assert_eq!(runner::run(&exp, &shard(2)).unwrap().executed.len(), 2);
    // While a shard holds the folder, a whole run is refused, naming the shards.
    let err = runner::run(&exp, &opts(&out, 1)).unwrap_err().to_string();
    assert!(err.contains("the shards of a sharded run"), "{err}");
    // ... and while a whole run holds it, a shard is refused.
    drop((shared, held));
    let whole = runner::lock_results(&exp_dir).unwrap();
    assert!(runner::run(&exp, &shard(1)).is_err());
    drop(whole);
    // Released, shard 1 resumes with the run it had left.
    let again = runner::run(
        &exp,
        &RunOptions {
            resume: true,
            ..shard(1)
        },
    )
    .unwrap();
    assert_eq!((again.executed, again.skipped.len()), (vec![first], 1));
}

#[test]
fn results_do_not_depend_on_jobs_and_shards_merge() {
    let dir = scratch("jobs");
    let file = write(&dir, "small.toml", SMALL);
    let exp = load(&file, &[]);
    let (one, two, sharded) = (dir.join("j1"), dir.join("j2"), dir.join("shards"));
    runner::run(&exp, &opts(&one, 1)).unwrap();
    runner::run(&exp, &opts(&two, 2)).unwrap();
    let summary = read(&one.join("small/summary.csv"));
    assert_eq!(summary, read(&two.join("small/summary.csv")));
    for r in &exp.runs {
        for f in ["metrics.json", "series.csv", "data.json", "config.toml"] {
            assert_eq!(
                read(&one.join("small").join(&r.id).join(f)),
                read(&two.join("small").join(&r.id).join(f))
            );
        }
    }
    let shard = |k| RunOptions {
        shard: Some((k, 2)),
        ..opts(&sharded, 1)
    };
    let (a, b) = (
        runner::run(&exp, &shard(1)).unwrap(),
        runner::run(&exp, &shard(2)).unwrap(),
    );
    assert_eq!(a.executed.len() + b.executed.len(), 4);
    assert!(
        a.claims.is_empty() && !sharded.join("small/summary.csv").exists(),
        "a shard does not finalise"
    );
    let reloaded = runner::reload(&sharded.join("small"), &registry()).unwrap();
    runner::finalize(&reloaded, &sharded, 1).unwrap();
    assert_eq!(read(&sharded.join("small/summary.csv")), summary);
}

#[test]
fn diverged_failed_and_panicking_runs_do_not_stop_the_sweep() {
    let dir = scratch("diverge");
    let text = SMALL.replace("rate = [0.5, 0.9]", "rate = [0.5, 1.9]")
        + "\n[[sweep]]\nrate = [0.5]\nfail = [true]\n\n[[sweep]]\nrate = [0.5]\npanic = [true]\n";
    let text = text.replace("[sweep]\nrate", "[[sweep]]\nrate");
    let file = write(&dir, "d.toml", &text);
    let exp = load(&file, &[]);
    let out = dir.join("r");
    let s = runner::run(&exp, &opts(&out, 2)).unwrap();
    assert_eq!(s.executed.len(), 6);
    let status = |id: &str| read(&out.join("small").join(id).join("status"));
    assert!(status("noise-none_rate-1.9_seed-3").starts_with("diverged at step"));
    assert_eq!(status("noise-none_rate-0.5_seed-3").trim(), "ok");
    assert_eq!(
        status("fail-true_rate-0.5_seed-3").trim(),
        "failed: failed on purpose"
    );
    assert!(status("panic-true_rate-0.5_seed-3").contains("panic: panicked on purpose"));
    let failed: Vec<&str> = s.failed.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        failed,
        ["fail-true_rate-0.5_seed-3", "panic-true_rate-0.5_seed-3"]
    );
    let summary = read(&out.join("small/summary.csv"));
    assert!(summary.contains(",diverged,") && summary.contains(",failed,"));
}

#[test]
fn the_report_has_claims_contents_bands_and_flags_unreadable_files() {
    let dir = scratch("report");
    let file = write(
        &dir,
        "small.toml",
        &SMALL.replace("seed = 3", "seed = 3\nrepeats = 2"),
    );
    let exp = load(&file, &[]);
    let out = dir.join("r");
    runner::run(&exp, &opts(&out, 2)).unwrap();
    let html = read(&out.join("small/report.html"));
    let claims_at = html.find("Claims (1/1 pass)").expect("claims table");
    let contents_at = html.find("Contents").expect("contents list");
    let section_at = html.find("id=\"decay\"").expect("section anchor");
    assert!(claims_at < contents_at && contents_at < section_at);
    assert!(
        html.contains("mean of 8, band min-max"),
        "the mean over runs is labelled"
    );
    assert!(html.contains("<polygon"), "the band is drawn");
    assert!(
        !html.contains("src=\"http"),
        "the report must be self-contained"
    );
    let index = read(&out.join("index.html"));
    assert!(
        index.contains("small/report.html") && index.contains("1 PASS, 0 FAIL"),
        "{index}"
    );

    // A corrupted metrics file is named in the report, not read as empty metrics silently.
    let id = &exp.runs[0].id;
    std::fs::write(out.join("small").join(id).join("metrics.json"), "{not json").unwrap();
    runner::finalize(&exp, &out, 1).unwrap();
    let md = read(&out.join("small/report.md"));
    assert!(
        md.contains("Unreadable run files") && md.contains(&format!("{id}/metrics.json")),
        "{md}"
    );
}

/// A study that measures time: the runner must never run two of its runs at once.
mod timing {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use lab::study::{Progress, Record, Study};

    pub static RUNNING: AtomicUsize = AtomicUsize::new(0);
    pub static MOST: AtomicUsize = AtomicUsize::new(0);

    lab::params! {
        /// A timed run.
        #[derive(Debug, Clone, PartialEq, serde::Serialize)]
        pub struct TimedConfig as "timed" {
            /// Which run.
            pub k: usize = 0,
        }
    }

    pub struct Timed;

    impl Study for Timed {
        type Config = TimedConfig;
        type Output = usize;
        const KIND: &'static str = "timed";
        const DESCRIPTION: &'static str = "runs that must not overlap";
        const METRICS: &'static [&'static str] = &["overlap"];
        const EXCLUSIVE: bool = true;

        fn run(
            &self,
            _: &TimedConfig,
            _: u64,
            _: &mut Progress<'_>,
        ) -> Result<usize, lab::study::RunError> {
            let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
            MOST.fetch_max(now, Ordering::SeqCst);
            // Its own pool, as a timed study has: a thread waiting in `install` may run
            // other work of its own pool meanwhile.
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap();
            pool.install(|| std::thread::sleep(std::time::Duration::from_millis(30)));
            RUNNING.fetch_sub(1, Ordering::SeqCst);
            Ok(now)
        }

        fn record(&self, _: &TimedConfig, now: &usize) -> Record {
            Record::new().metric("overlap", *now as f64)
        }
    }
}

#[test]
fn an_exclusive_study_runs_one_run_at_a_time_whatever_jobs_says() {
    let dir = scratch("exclusive");
    let file = write(
        &dir,
        "timed.toml",
        "[experiment]\nname = \"timed\"\ndescription = \"d\"\nkind = \"timed\"\nseed = 0\n\n[sweep]\nk = [1, 2, 3, 4, 5, 6]\n",
    );
    let registry = lab::study::Registry::new().with(timing::Timed);
    let exp =
        spec::load(&file, &registry, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let summary = runner::run(&exp, &opts(&dir.join("out"), 4)).unwrap();
    assert_eq!(summary.executed.len(), 6);
    assert_eq!(timing::MOST.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// A study that leaves a file in its run folder (as the trained-model studies do), or asks
/// for a name that is not its own to write.
mod leaving {
    use lab::study::{Progress, Record, Study};

    lab::params! {
        /// Which file to leave.
        #[derive(Debug, Clone, PartialEq, serde::Serialize)]
        pub struct LeaveConfig as "leave" {
            /// The file's name.
            pub name: String = "model.bin".to_string(),
        }
    }

    pub struct Leave;

    impl Study for Leave {
        type Config = LeaveConfig;
        type Output = String;
        const KIND: &'static str = "leave";
        const DESCRIPTION: &'static str = "leaves a file";
        const METRICS: &'static [&'static str] = &["one"];

        fn run(
            &self,
            c: &LeaveConfig,
            _: u64,
            _: &mut Progress<'_>,
        ) -> Result<String, lab::study::RunError> {
            Ok(c.name.clone())
        }

        fn record(&self, _: &LeaveConfig, name: &String) -> Record {
            Record::new()
                .metric("one", 1.0)
                .file(name, b"weights".to_vec())
        }
    }
}

#[test]
fn a_run_leaves_its_files_and_may_not_overwrite_the_runners() {
    let dir = scratch("leave");
    let file = write(
        &dir,
        "leave.toml",
        "[experiment]\nname = \"leave\"\ndescription = \"d\"\nkind = \"leave\"\nseed = 0\n\n[sweep]\nname = [\"model.bin\", \"status\", \"../escape\"]\n",
    );
    let registry = lab::study::Registry::new().with(leaving::Leave);
    let exp =
        spec::load(&file, &registry, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    runner::run(&exp, &opts(&dir.join("out"), 1)).unwrap();
    let out = dir.join("out/leave");
    let mut kept = 0;
    for entry in std::fs::read_dir(&out).unwrap() {
        let run = entry.unwrap().path();
        if !run.join("config.toml").exists() {
            continue;
        }
        let status = read(&run.join("status"));
        if run.join("model.bin").exists() {
            assert_eq!(std::fs::read(run.join("model.bin")).unwrap(), b"weights");
            assert_eq!(status.trim(), "ok");
            kept += 1;
        } else {
            assert!(status.contains("not a file name of its own"), "{status}");
        }
    }
    assert_eq!(kept, 1);
    assert!(!dir.join("out/escape").exists());
}
