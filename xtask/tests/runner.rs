//! Running experiments end to end: sweep expansion, claims, resume after a kill, results that
//! do not depend on --jobs, shards that merge into the unsharded summary, the quickstart, and
//! every shipped experiment file parsing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::Value;
use xtask::claims::evaluate;
use xtask::fsutil::project_root;
use xtask::registry::RunRecord;
use xtask::runner::{self, RunOptions};
use xtask::spec::{self, parse, LoadOptions};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const SMALL: &str = r#"
[experiment]
name = "small"
description = "four quick runs"
kind = "quadratic"
seed = 3

[params]
dim = 4
lr_rule = "optimal"
max_iters = 5000

[sweep]
method = ["gd", "heavy-ball"]
kappa = [10, 100]

[[expect]]
run = { method = "gd" }
metric = "rate_log_error"
op = "<="
value = 0.05
"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

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

#[test]
fn sweep_expansion_seeds_grids_and_quick() {
    let e = parse(Path::new("s.toml"), SMALL, &LoadOptions::default()).unwrap();
    let ids: Vec<&str> = e.runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "kappa-10_method-gd_seed-3",
            "kappa-10_method-heavy-ball_seed-3",
            "kappa-100_method-gd_seed-3",
            "kappa-100_method-heavy-ball_seed-3"
        ]
    );
    assert_eq!(e.axes, ["kappa", "method"]);
    let repeated = SMALL.replace("seed = 3", "seed = 3\nrepeats = 3");
    let e = parse(Path::new("s.toml"), &repeated, &LoadOptions::default()).unwrap();
    assert_eq!(e.runs.len(), 12);
    assert_eq!(
        e.runs
            .iter()
            .map(|r| r.seed)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        3
    );
    let grids = SMALL.replace("[sweep]", "[[sweep]]")
        + "\n[[sweep]]\nmethod = [\"adam\"]\nkappa = [10]\nlr = [0.1, 0.01]\n";
    let e = parse(Path::new("s.toml"), &grids, &LoadOptions::default()).unwrap();
    assert_eq!(e.runs.len(), 6);
    assert_eq!(e.runs[4].id, "kappa-10_lr-0.1_method-adam_seed-3");
    let quick = SMALL.to_string() + "\n[quick]\nsweep = { kappa = [10] }\nparams = { dim = 2 }\n";
    let e = parse(
        Path::new("s.toml"),
        &quick,
        &LoadOptions {
            quick: true,
            sets: vec![],
        },
    )
    .unwrap();
    assert_eq!(e.runs.len(), 2);
    assert_eq!(e.runs[0].params["dim"].as_integer(), Some(2));
}

fn record(id: &str, method: &str, kappa: f64, metrics: &[(&str, f64)]) -> RunRecord {
    let mut params = toml::Table::new();
    params.insert("method".into(), Value::String(method.into()));
    params.insert("kappa".into(), Value::Float(kappa));
    RunRecord {
        id: id.into(),
        axes: BTreeMap::new(),
        params,
        seed: 0,
        status: "ok".into(),
        metrics: metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        columns: vec![],
        rows: vec![],
        extra: Value::Boolean(false)
            .try_into()
            .unwrap_or(serde_json::Value::Null),
    }
}

#[test]
fn claims_each_op_aggregate_comparison_and_trend() {
    let runs = vec![
        record(
            "a",
            "gd",
            10.0,
            &[
                ("iterations", 100.0),
                ("measured_rate", 0.9),
                ("predicted_rate", 0.91),
            ],
        ),
        record(
            "b",
            "gd",
            100.0,
            &[
                ("iterations", 1000.0),
                ("measured_rate", 0.99),
                ("predicted_rate", 0.99),
            ],
        ),
        record(
            "c",
            "adam",
            10.0,
            &[
                ("iterations", 50.0),
                ("measured_rate", 0.5),
                ("predicted_rate", f64::NAN),
            ],
        ),
        record(
            "d",
            "adam",
            100.0,
            &[
                ("iterations", 40.0),
                ("measured_rate", 0.5),
                ("predicted_rate", f64::NAN),
            ],
        ),
    ];
    let claims = [
        ("run = { method = \"gd\" }\nmetric = \"iterations\"\nop = \">=\"\nvalue = 100", true),
        ("run = { method = \"gd\" }\nmetric = \"iterations\"\nop = \">\"\nvalue = 100", false),
        ("run = { method = \"gd\" }\nmetric = \"iterations\"\nop = \"<=\"\nvalue = 1000", true),
        ("run = { method = \"gd\" }\nmetric = \"iterations\"\nop = \"<\"\nvalue = 1000", false),
        ("run = { method = \"adam\" }\nmetric = \"measured_rate\"\nop = \"==\"\nvalue = 0.5", true),
        ("run = { method = \"gd\" }\nmetric = \"measured_rate\"\nop = \"~=\"\nreference = \"predicted_rate\"\nrel_tol = 0.02", true),
        ("run = { method = \"gd\" }\nmetric = \"measured_rate\"\nop = \"~=\"\nreference = \"predicted_rate\"\nrel_tol = 0.005", false),
        ("run = { method = \"adam\" }\nmetric = \"measured_rate\"\nop = \"~=\"\nreference = \"predicted_rate\"\nrel_tol = 0.5", false),
        ("metric = \"iterations\"\nop = \"<=\"\nvalue = 297.5\naggregate = \"mean\"", true),
        ("metric = \"iterations\"\nop = \"<\"\nvalue = 297.5\naggregate = \"mean\"", false),
        ("metric = \"iterations\"\nop = \"==\"\nvalue = 40\naggregate = \"min\"", true),
        ("metric = \"iterations\"\nop = \"==\"\nvalue = 1000\naggregate = \"max\"", true),
        ("metric = \"iterations\"\nop = \"==\"\nvalue = 960\naggregate = \"range\"", true),
        ("lhs = { method = \"gd\" }\nrhs = { method = \"adam\" }\nmetric = \"iterations\"\nop = \">=\"\nfactor = 12", true),
        ("lhs = { method = \"gd\" }\nrhs = { method = \"adam\" }\nmetric = \"iterations\"\nop = \">=\"\nfactor = 13", false),
        ("run = { method = \"gd\" }\nover = \"kappa\"\nmetric = \"iterations\"\ntrend = \"increasing\"", true),
        ("run = { method = \"adam\" }\nover = \"kappa\"\nmetric = \"iterations\"\ntrend = \"decreasing\"", true),
        ("run = { method = \"adam\" }\nover = \"kappa\"\nmetric = \"iterations\"\ntrend = \"non-decreasing\"", false),
        ("run = { method = \"adam\" }\nover = \"kappa\"\nmetric = \"measured_rate\"\ntrend = \"non-increasing\"", true),
        ("run = { method = \"sgd\" }\nmetric = \"iterations\"\nop = \">=\"\nvalue = 0", false),
    ];
    for (claim, want) in claims {
        let text = format!("{}\n[[expect]]\n{claim}\n", SMALL.replace("[[expect]]\nrun = { method = \"gd\" }\nmetric = \"rate_log_error\"\nop = \"<=\"\nvalue = 0.05\n", ""));
        let e = parse(Path::new("c.toml"), &text, &LoadOptions::default())
            .unwrap_or_else(|e| panic!("{claim}: {e}"));
        let result = &evaluate(&e.claims, &runs)[0];
        assert_eq!(result.pass, want, "{claim}\n-> {result:?}");
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn resume_after_a_kill_reruns_only_unfinished_runs() {
    let dir = scratch("resume");
    let file = write(&dir, "small.toml", SMALL);
    let exp = spec::load(&file, &LoadOptions::default()).unwrap();
    let out = dir.join("results");
    let first = runner::run(&exp, &opts(&out, 2)).unwrap();
    assert_eq!(first.executed.len(), 4);
    let before = read(&out.join("small/summary.csv"));
    // Simulate a kill during two runs: no status file, a half-written temp file, stale metrics.
    for id in [
        "kappa-10_method-gd_seed-3",
        "kappa-100_method-heavy-ball_seed-3",
    ] {
        let run = out.join("small").join(id);
        std::fs::remove_file(run.join("status")).unwrap();
        std::fs::write(run.join(".metrics.json.tmp-999"), "{\"trunc").unwrap();
    }
    let resumed = runner::run(
        &exp,
        &RunOptions {
            resume: true,
            ..opts(&out, 2)
        },
    )
    .unwrap();
    assert_eq!(
        resumed.executed,
        [
            "kappa-100_method-heavy-ball_seed-3",
            "kappa-10_method-gd_seed-3"
        ]
    );
    assert_eq!(resumed.skipped.len(), 2);
    assert_eq!(read(&out.join("small/summary.csv")), before);
    assert!(resumed.claims.iter().all(|c| c.pass));
}

#[test]
fn results_do_not_depend_on_jobs_and_shards_merge() {
    let dir = scratch("jobs");
    let file = write(&dir, "small.toml", SMALL);
    let exp = spec::load(&file, &LoadOptions::default()).unwrap();
    let (one, two, sharded) = (dir.join("j1"), dir.join("j2"), dir.join("shards"));
    runner::run(&exp, &opts(&one, 1)).unwrap();
    runner::run(&exp, &opts(&two, 2)).unwrap();
    let summary = read(&one.join("small/summary.csv"));
    assert_eq!(summary, read(&two.join("small/summary.csv")));
    for r in &exp.runs {
        assert_eq!(
            read(&one.join("small").join(&r.id).join("metrics.json")),
            read(&two.join("small").join(&r.id).join("metrics.json"))
        );
        assert_eq!(
            read(&one.join("small").join(&r.id).join("series.csv")),
            read(&two.join("small").join(&r.id).join("series.csv"))
        );
    }
    let a = runner::run(
        &exp,
        &RunOptions {
            shard: Some((1, 2)),
            ..opts(&sharded, 1)
        },
    )
    .unwrap();
    let b = runner::run(
        &exp,
        &RunOptions {
            shard: Some((2, 2)),
            ..opts(&sharded, 1)
        },
    )
    .unwrap();
    assert_eq!(a.executed.len() + b.executed.len(), 4);
    assert!(
        a.claims.is_empty() && !sharded.join("small/summary.csv").exists(),
        "a shard does not finalise"
    );
    let reloaded = runner::reload(&sharded.join("small")).unwrap();
    runner::finalize(&reloaded, &sharded, 1).unwrap();
    assert_eq!(read(&sharded.join("small/summary.csv")), summary);
}

#[test]
fn quickstart_end_to_end() {
    let dir = scratch("quickstart");
    let file = project_root().join("experiments/quickstart.toml");
    let exp = spec::load(&file, &LoadOptions::default()).unwrap();
    let summary = runner::run(&exp, &opts(&dir, 2)).unwrap();
    for c in &summary.claims {
        assert!(
            c.pass,
            "claim failed: {} — measured {} expected {}",
            c.description, c.lhs, c.rhs
        );
    }
    assert!(summary.claims.len() >= 10);
    let exp_dir = dir.join("quickstart");
    for f in [
        "report.md",
        "report.html",
        "summary.csv",
        "claims.json",
        "environment.json",
    ] {
        assert!(exp_dir.join(f).exists(), "missing {f}");
    }
    let html = read(&exp_dir.join("report.html"));
    assert!(html.contains("PASS") && !html.contains(">FAIL<") && html.matches("<svg").count() >= 5);
    assert!(
        !html.contains("src=\"http"),
        "the report must be self-contained"
    );
    assert!(read(&dir.join("index.html")).contains("quickstart/report.html"));
    let env: serde_json::Value =
        serde_json::from_str(&read(&exp_dir.join("environment.json"))).unwrap();
    assert!(env["cpu_model"].is_string() && env["rustc"].is_string());
    // Every run folder is complete.
    for r in &exp.runs {
        let run = exp_dir.join(&r.id);
        for f in ["config.toml", "metrics.json", "series.csv", "status"] {
            assert!(run.join(f).exists(), "{}: missing {f}", r.id);
        }
    }
}

#[test]
fn every_shipped_experiment_file_checks() {
    let dir = project_root().join("experiments");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "toml") {
            for quick in [false, true] {
                let e = spec::load(
                    &path,
                    &LoadOptions {
                        quick,
                        sets: vec![],
                    },
                )
                .unwrap_or_else(|e| panic!("{e}"));
                assert!(
                    !e.runs.is_empty() && !e.claims.is_empty(),
                    "{}",
                    path.display()
                );
            }
            n += 1;
        }
    }
    assert!(n >= 3, "expected the shipped experiments, found {n}");
}

#[test]
fn diverged_and_failed_runs_do_not_stop_the_sweep() {
    let dir = scratch("diverge");
    let text = SMALL
        .replace("lr_rule = \"optimal\"", "lr_rule = \"stability-limit\"")
        .replace("[sweep]", "[sweep]\nlr_scale = [0.9, 1.2]");
    let file = write(&dir, "d.toml", &text);
    let exp = spec::load(&file, &LoadOptions::default()).unwrap();
    let out = dir.join("r");
    let s = runner::run(&exp, &opts(&out, 2)).unwrap();
    assert_eq!(s.executed.len(), 8);
    let statuses: Vec<String> = exp
        .runs
        .iter()
        .map(|r| read(&out.join("small").join(&r.id).join("status")))
        .collect();
    assert!(
        statuses.iter().any(|s| s.starts_with("diverged at step")),
        "{statuses:?}"
    );
    assert!(statuses.iter().any(|s| s.trim() == "ok"));
    assert!(read(&out.join("small/summary.csv")).contains(",diverged,"));
}
