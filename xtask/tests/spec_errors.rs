//! Bad experiment files and the exact error each must produce: file, line, column, the key,
//! and the valid choices. One table row per mistake a user can make.

use std::path::Path;

use xtask::spec::{parse, LoadOptions};

const BASE: &str = "[experiment]\nname = \"t\"\ndescription = \"d\"\nkind = \"quadratic\"\n\n[params]\ndim = 4\nkappa = 10.0\nmethod = \"gd\"\n";

const VALID: &str = "dim, kappa, spectrum, rotated, method, lr_rule, lr_scale, lr, momentum, tol, stop_error, max_iters, require_stable";

fn err(text: &str) -> String {
    match parse(
        Path::new("experiments/bad.toml"),
        text,
        &LoadOptions::default(),
    ) {
        Ok(e) => panic!(
            "expected an error, got an experiment with {} runs from:\n{text}",
            e.runs.len()
        ),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_base_file_is_valid() {
    let e = parse(Path::new("x.toml"), BASE, &LoadOptions::default()).unwrap();
    assert_eq!(e.runs.len(), 1);
    assert_eq!(e.runs[0].id, "seed-0");
}

#[test]
fn every_bad_file_gets_its_error() {
    let cases: Vec<(&str, String, String)> = vec![
        ("misspelt table", BASE.replace("[experiment]", "[experimnt]"),
         "experiments/bad.toml:1:2: unknown field `experimnt`, expected one of `experiment`, `params`, `sweep`, `quick`, `expect`".into()),
        ("unknown experiment key", BASE.replace("kind = \"quadratic\"", "kind = \"quadratic\"\ncolour = 1"),
         "experiments/bad.toml:5:1: unknown field `colour`, expected one of `name`, `description`, `kind`, `seed`, `seeds`, `repeats`, `expected_runtime`".into()),
        ("unknown parameter", format!("{BASE}learning_rate = 0.1\n"),
         format!("experiments/bad.toml:10:1: unknown key `params.learning_rate` for kind `quadratic`; valid keys: {VALID}")),
        ("unknown sweep axis", format!("{BASE}\n[sweep]\nkapa = [1, 2]\n"),
         format!("experiments/bad.toml:12:1: unknown key `sweep.kapa` for kind `quadratic`; valid keys: {VALID}")),
        ("wrong type", BASE.replace("kappa = 10.0", "kappa = \"ten\""),
         "experiments/bad.toml:8:9: params.kappa must be a number, got a string".into()),
        ("lr <= 0", format!("{BASE}lr = -0.1\n"),
         "experiments/bad.toml:10:6: params: quadratic study: lr = -0.1 is invalid: must be > 0".into()),
        ("kappa < 1", BASE.replace("kappa = 10.0", "kappa = 0.5"),
         "experiments/bad.toml:8:9: params: quadratic study: kappa = 0.5 is invalid: must be >= 1".into()),
        ("dimension 0", BASE.replace("dim = 4", "dim = 0"),
         "experiments/bad.toml:7:7: params: quadratic study: dim = 0 is invalid: must be >= 2".into()),
        ("empty sweep list", format!("{BASE}\n[sweep]\nmomentum = []\n"),
         "experiments/bad.toml:12:12: sweep.momentum is an empty list: a grid axis needs at least one value".into()),
        ("sweep value not a list", format!("{BASE}\n[sweep]\nmomentum = 0.5\n"),
         "experiments/bad.toml:12:12: sweep.momentum must be a list of values, got a float".into()),
        ("list under params", format!("{BASE}lr_scale = [1.0, 2.0]\n"),
         "experiments/bad.toml:10:12: params.lr_scale is a list; grid axes go under [sweep]".into()),
        ("key in params and sweep", format!("{BASE}\n[sweep]\nkappa = [10.0, 100.0]\n"),
         "experiments/bad.toml:12:1: `kappa` is set in both [params] and [sweep]".into()),
        ("unknown kind", BASE.replace("kind = \"quadratic\"", "kind = \"quadratik\""),
         "experiments/bad.toml:4:8: unknown experiment kind `quadratik`; valid kinds: quadratic, optimizer-paths, classifier".into()),
        ("claim on a metric the study lacks", format!("{BASE}\n[[expect]]\nmetric = \"accuracy\"\nop = \">=\"\nvalue = 0.9\n"),
         "experiments/bad.toml:11:1: expect: study `quadratic` does not produce metric `accuracy`; its metrics: iterations_to_tol, reached_tol, predicted_iterations, measured_rate, predicted_rate, rate_log_error, final_rel_subopt, iterations, lr, momentum, kappa, diverged, diverged_at, top_overshoot_predicted, top_overshoot_observed, bottom_overshoot_predicted, bottom_overshoot_observed, overshoot_match, hessian_lambda_max, hessian_lambda_min, hessian_kappa".into()),
        ("unknown op", format!("{BASE}\n[[expect]]\nmetric = \"iterations\"\nop = \"=>\"\nvalue = 0.9\n"),
         "experiments/bad.toml:11:1: expect: unknown op `=>`; valid ops: <, <=, >, >=, ==, ~=".into()),
        ("~= without tolerance", format!("{BASE}\n[[expect]]\nmetric = \"measured_rate\"\nop = \"~=\"\nreference = \"predicted_rate\"\n"),
         "experiments/bad.toml:11:1: expect: op `~=` needs rel_tol > 0".into()),
        ("trend over a non-axis", format!("{BASE}\n[[expect]]\nmetric = \"iterations\"\nover = \"kappa\"\ntrend = \"increasing\"\n"),
         "experiments/bad.toml:11:1: expect: `over = \"kappa\"` is not a sweep axis; axes: ".into()),
        ("missing required parameter", BASE.replace("method = \"gd\"\n", ""),
         "experiments/bad.toml:6:1: params: missing field `method`".into()),
        ("unstable step with require_stable", format!("{BASE}require_stable = true\nlr_rule = \"stability-limit\"\nlr_scale = 1.5\n"),
         "experiments/bad.toml:12:12: params: learning rate 0.300000 (momentum 0) is outside the stable range for kappa = 10 (GD needs lr < 2/L = 0.200000) and require_stable = true".into()),
        ("TOML syntax error", format!("{BASE}kappa = = 3\n"),
         "experiments/bad.toml:10:9: extra `=`, expected nothing".into()),
        ("bad choice", BASE.replace("method = \"gd\"", "method = \"sgdx\""),
         "experiments/bad.toml:9:10: params.method = \"sgdx\" is not one of: gd, heavy-ball, nesterov, adam".into()),
        ("unknown selector key", format!("{BASE}\n[[expect]]\nrun = {{ optimizer = \"gd\" }}\nmetric = \"iterations\"\nop = \">=\"\nvalue = 1\n"),
         format!("experiments/bad.toml:11:1: expect: unknown key `optimizer` in `run`; valid keys: {VALID}, seed")),
        ("missing experiment name", BASE.replace("name = \"t\"\n", ""),
         "experiments/bad.toml:1:1: missing field `name`".into()),
        ("wrong type inside a sweep list", format!("{BASE}\n[sweep]\nrotated = [true, 3]\n"),
         "experiments/bad.toml:12:11: sweep.rotated must be true or false, got an integer".into()),
    ];
    assert!(cases.len() >= 15);
    for (what, text, want) in &cases {
        assert_eq!(&err(text), want, "case: {what}");
    }
}

#[test]
fn set_overrides_apply_and_are_checked() {
    let opts = LoadOptions {
        quick: false,
        sets: vec!["sweep.kappa=[10, 100]".into(), "params.lr=0.01".into()],
    };
    let e = parse(Path::new("x.toml"), BASE, &opts).unwrap();
    assert_eq!(e.runs.len(), 2);
    assert_eq!(e.runs[1].params["lr"].as_float(), Some(0.01));
    let opts = LoadOptions {
        quick: false,
        sets: vec!["params.lr=-1".into()],
    };
    let msg = parse(Path::new("x.toml"), BASE, &opts)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("lr = -1 is invalid: must be > 0"), "{msg}");
    let opts = LoadOptions {
        quick: false,
        sets: vec!["lr=1".into()],
    };
    assert_eq!(
        parse(Path::new("x.toml"), BASE, &opts)
            .unwrap_err()
            .to_string(),
        "x.toml: --set lr=1: the key must be TABLE.KEY, e.g. params.lr"
    );
}

#[test]
fn classifier_values_are_located_too() {
    let text = "[experiment]\nname = \"b\"\ndescription = \"d\"\nkind = \"classifier\"\n[params]\nmodel = \"mlp\"\noptimizer = \"sgd\"\nlr = 0.1\nbatch = 0\n";
    assert_eq!(
        err(text),
        "experiments/bad.toml:9:9: params: classifier: batch = 0 is invalid: must be > 0"
    );
}
