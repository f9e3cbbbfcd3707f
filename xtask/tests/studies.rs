//! The registered studies through lab: every shipped experiment file checks (and `cargo
//! xtask`'s quick read of its kind agrees with the loader), the quickstart
//! runs end to end with every claim passing, each study records exactly the metrics it
//! declares, the generated study docs are current, and the errors a user sees name the real
//! studies' parameters.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use lab::runner::{self, RunOptions};
use lab::spec::{self, parse, LoadOptions};
use lab::study::{Progress, Study};
use xtask::fsutil::project_root;
use xtask::registry::registry;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `exp` on 2 jobs into `dir`.
fn run_into(exp: &spec::Experiment, dir: &Path) -> runner::RunSummary {
    let options = RunOptions {
        out: dir.to_path_buf(),
        jobs: 2,
        resume: false,
        shard: None,
        progress: false,
        load: LoadOptions::default(),
    };
    runner::run(exp, &options).unwrap()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn every_shipped_experiment_file_checks() {
    let reg = registry();
    let mut n = 0;
    for entry in std::fs::read_dir(project_root().join("experiments")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "toml") {
            for quick in [false, true] {
                let options = LoadOptions {
                    quick,
                    ..LoadOptions::default()
                };
                let e = spec::load(&path, &reg, &options).unwrap_or_else(|e| panic!("{e}"));
                assert!(
                    !e.runs.is_empty() && !e.claims.is_empty(),
                    "{}",
                    path.display()
                );
            }
            n += 1;
        }
    }
    assert!(n >= 6, "expected the shipped experiments, found {n}");
}

/// The light build decides from `experiment_kind` whether to hand a file to the full build:
/// it must read the kind the loader reads, and nothing from what is not an experiment file.
#[test]
fn the_kind_peek_agrees_with_the_loader() {
    let reg = registry();
    for path in xtask::commands::experiment_files() {
        let e = spec::load(&path, &reg, &LoadOptions::default()).unwrap();
        assert_eq!(
            lab::spec::peek_kind(&path).as_deref(),
            Some(e.study.kind()),
            "{}",
            path.display()
        );
    }
    let dir = scratch("kind-peek");
    let missing = dir.join("missing.toml");
    assert_eq!(lab::spec::peek_kind(&missing), None);
    let not_toml = dir.join("bad.toml");
    std::fs::write(&not_toml, "[experiment\nkind = 'rl'").unwrap();
    assert_eq!(lab::spec::peek_kind(&not_toml), None);
    assert_eq!(lab::spec::peek_kind(&dir), None);
}

#[test]
fn quickstart_end_to_end() {
    let dir = scratch("quickstart");
    let file = project_root().join("experiments/quickstart.toml");
    let exp = spec::load(&file, &registry(), &LoadOptions::default()).unwrap();
    let summary = run_into(&exp, &dir);
    for c in &summary.claims {
        assert!(
            c.pass,
            "claim failed: {} — measured {} expected {}",
            c.description, c.lhs, c.rhs
        );
    }
    assert!(summary.claims.len() >= 10 && summary.failed.is_empty());
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
    for r in &exp.runs {
        let run = exp_dir.join(&r.id);
        for f in [
            "config.toml",
            "metrics.json",
            "series.csv",
            "data.json",
            "status",
        ] {
            assert!(run.join(f).exists(), "{}: missing {f}", r.id);
        }
    }
}

/// `record` must produce exactly the metrics a study declares (claims are checked against
/// the declaration before anything runs).
fn assert_records_its_metrics<S: Study>(study: &S, params: &str) {
    let table: toml::Table = toml::from_str(params).unwrap();
    let cfg = <S::Config as lab::params::Params>::from_table(&table).unwrap();
    let out = study.run(&cfg, 0, &mut Progress::none()).unwrap();
    let recorded: BTreeSet<String> = study.record(&cfg, &out).metrics.into_keys().collect();
    let declared: BTreeSet<String> = S::METRICS.iter().map(|m| m.to_string()).collect();
    assert_eq!(recorded, declared, "{}", S::KIND);
}

#[test]
fn each_study_records_exactly_its_declared_metrics() {
    use optim::{paths::PathsStudy as Paths, study::QuadraticStudy as Quadratic};
    assert_records_its_metrics(
        &Quadratic,
        "dim = 4\nkappa = 10\nmethod = \"heavy-ball\"\nmax_iters = 2000",
    );
    assert_records_its_metrics(&Paths, "problem = \"beale\"\nmethod = \"adam\"\nsteps = 20");
    assert_records_its_metrics(
        &rl::study::RlStudy,
        "q_steps = 6400\nepisodes = 200\nbaseline_episodes = 50",
    );
}

#[test]
fn the_classifier_records_its_declared_metrics_on_a_tiny_dataset() {
    use core_tensor::Rng;
    use nn::data::Dataset;
    use nn::study::run_classifier;
    use nn::study::ClassifierStudy as Classifier;
    let data = |n: usize, seed: u64| Dataset {
        images: Rng::seed(seed).uniform(&[n, 784], 0.0, 1.0),
        labels: (0..n).map(|i| i % 10).collect(),
        image_shape: (28, 28),
        classes: 10,
    };
    let (train, test) = (data(64, 1), data(32, 2));
    let table: toml::Table =
        toml::from_str("model = \"mlp\"\noptimizer = \"adam\"\nlr = 0.001\nepochs = 1\nbatch = 32\nsharpness_every = 1").unwrap();
    let cfg = <nn::study::ClassifierConfig as lab::params::Params>::from_table(&table).unwrap();
    let out = run_classifier(&cfg, 0, &train, &test, &mut |_, _, _| {}).unwrap();
    let recorded: BTreeSet<String> = Classifier.record(&cfg, &out).metrics.into_keys().collect();
    let declared: BTreeSet<String> = Classifier::METRICS.iter().map(|m| m.to_string()).collect();
    assert_eq!(recorded, declared);
    // Images of another size are refused by name, not left to a matmul shape error.
    let small = Dataset {
        images: Rng::seed(3).uniform(&[8, 100], 0.0, 1.0),
        labels: vec![0; 8],
        image_shape: (10, 10),
        classes: 10,
    };
    let err = run_classifier(&cfg, 0, &small, &test, &mut |_, _, _| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the models take 28x28 images; the training set's are 10x10"),
        "{err}"
    );
}

/// The β-VAE study through the engine on tiny settings: every declared metric recorded, the
/// claims evaluated, and the report carrying its plots and the traversals as embedded PNG.
#[test]
fn the_vae_study_runs_and_reports_its_pictures() {
    use vae::study::BetaVaeStudy as BetaVae;
    let tiny = "steps = 3\nbatch = 8\neval_examples = 32\nmig_points = 200\nscore_train = 4\nscore_eval = 4\nscore_batch = 4\nvariance_points = 64\ntraversal_steps = 3";
    assert_records_its_metrics(&BetaVae, tiny);
    let text = format!(
        "[experiment]\nname = \"vae-tiny\"\ndescription = \"d\"\nkind = \"vae\"\n\n[params]\n{tiny}\n\n[[sweep]]\nbeta = [1, 8]\n\n[[sweep]]\nbeta = [1]\nlatent = [2]\n\n[[expect]]\nrun = {{ latent = 10 }}\nover = \"beta\"\nmetric = \"kl\"\ntrend = \"decreasing\"\n"
    );
    let exp = parse(
        Path::new("vae.toml"),
        &text,
        &registry(),
        &LoadOptions::default(),
    )
    .unwrap();
    let dir = scratch("vae-tiny");
    let summary = run_into(&exp, &dir);
    assert!(summary.failed.is_empty() && summary.claims.len() == 1);
    let html = read(&dir.join("vae-tiny/report.html"));
    // Three runs: a traversal and a reconstruction each; the 2-latent run's scatters.
    assert_eq!(
        html.matches("<img alt=\"traversal, dSprites").count(),
        3,
        "traversals"
    );
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), 6);
    for title in [
        "rate-distortion across beta",
        "log10 KL per dimension",
        "disentanglement metrics vs beta",
        "posterior means coloured by x position",
    ] {
        assert!(html.contains(title), "missing {title}");
    }
    assert!(dir.join("vae-tiny/plots").read_dir().unwrap().any(|f| f
        .unwrap()
        .path()
        .extension()
        .is_some_and(|x| x == "png")));
}

#[test]
fn the_study_docs_are_generated_from_the_definitions() {
    let path = project_root().join("docs/studies.md");
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == xtask::commands::studies_markdown(),
        "docs/studies.md is stale: run `cargo xtask docs` and commit it"
    );
    for kind in registry().kinds() {
        assert!(current.contains(&format!("## `{kind}`")), "{kind}");
    }
}

#[test]
fn errors_name_the_real_studies_parameters() {
    const BASE: &str = "[experiment]\nname = \"t\"\ndescription = \"d\"\nkind = \"quadratic\"\n\n[params]\ndim = 4\nkappa = 10.0\nmethod = \"gd\"\n";
    let err = |text: String| match parse(
        Path::new("bad.toml"),
        &text,
        &registry(),
        &LoadOptions::default(),
    ) {
        Ok(_) => panic!("expected an error from:\n{text}"),
        Err(e) => e.to_string(),
    };
    // The valid kinds are the registry's, so a new study needs no edit here.
    assert_eq!(
        err(BASE.replace("kind = \"quadratic\"", "kind = \"clasifier\"")),
        format!(
            "bad.toml:4:8: unknown experiment kind `clasifier`; did you mean `classifier`?; \
             valid kinds: {}",
            registry().kinds().join(", ")
        )
    );
    let cases = [
        (BASE.replace("method = \"gd\"", "method = \"heavyball\""),
         "bad.toml:9:10: params.method = \"heavyball\" is not one of: gd, sgd, heavy-ball, momentum, nesterov, adam, adamw, rmsprop, adagrad; did you mean `heavy-ball`?"),
        (BASE.replace("kappa = 10.0", "kappa = 0.5"),
         "bad.toml:8:9: params.kappa = 0.5 is out of range: must be in [1, 1000000000000]"),
        (BASE.replace("dim = 4", "dim = 100000000"),
         "bad.toml:7:7: params.dim = 100000000 is out of range: must be in [2, 4096]"),
        (format!("{BASE}require_stable = true\nlr_rule = \"stability-limit\"\nlr_scale = 1.5\n"),
         "bad.toml:12:12: quadratic study: lr_scale = 0.30000000000000004 is invalid: learning rate 0.300000 (momentum 0) is outside the stable range for kappa = 10 (GD needs lr < 2/L = 0.200000) and require_stable = true"),
        (format!("{BASE}\n[[expect]]\nrun = {{ method = \"heavyball\" }}\nmetric = \"iterations\"\nop = \">=\"\nvalue = 1\n"),
         "bad.toml:12:18: expect: in `run`: method = \"heavyball\" is not one of: gd, sgd, heavy-ball, momentum, nesterov, adam, adamw, rmsprop, adagrad; did you mean `heavy-ball`?"),
        (format!("{BASE}\n[[expect]]\nrun = {{ method = \"adam\" }}\nmetric = \"iterations\"\nop = \">=\"\nvalue = 1\n"),
         "bad.toml:12:18: expect: no run has method = adam (in `run`); the runs take: sgd"),
        (format!("{BASE}\n[[expect]]\nrun = {{ kappa = 1000 }}\nmetric = \"iterations\"\nop = \">=\"\nvalue = 1\n"),
         "bad.toml:12:17: expect: no run has kappa = 1000 (in `run`); the runs take: 10"),
    ];
    for (text, want) in cases {
        assert_eq!(err(text), want);
    }
}
