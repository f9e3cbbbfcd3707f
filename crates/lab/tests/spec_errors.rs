//! Bad experiment files and the exact errors each must produce: file, line, column (or the
//! `--set` argument), the key, the valid choices and the nearest one. One row per mistake a
//! user can make; several mistakes in one file are all reported.

mod common;

use std::path::Path;

use common::{registry, scratch, write};
use lab::spec::{load, parse, LoadOptions};

const BASE: &str = "[experiment]\nname = \"t\"\ndescription = \"d\"\nkind = \"decay\"\n\n[params]\nsteps = 4\nrate = 0.5\n";

fn errors_with(text: &str, options: &LoadOptions) -> String {
    match parse(Path::new("bad.toml"), text, &registry(), options) {
        Ok(e) => panic!("expected an error, got {} runs from:\n{text}", e.runs.len()),
        Err(e) => e.to_string(),
    }
}

fn errors(text: &str) -> String {
    errors_with(text, &LoadOptions::default())
}

#[test]
fn the_base_file_is_valid() {
    let e = parse(
        Path::new("x.toml"),
        BASE,
        &registry(),
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(e.runs.len(), 1);
    assert_eq!(e.runs[0].id, "seed-0");
    assert_eq!(e.runs[0].resolved["noise"].as_str(), Some("none"));
}

#[test]
fn every_bad_file_gets_its_error() {
    let claim =
        |c: &str| format!("{BASE}\n[sweep]\nnoise = [\"none\", \"small\"]\n\n[[expect]]\n{c}\n");
    let cases: Vec<(&str, String, &str)> = vec![
        ("misspelt table", BASE.replace("[params]", "[parms]"),
         "bad.toml:6:2: unknown table `parms`; did you mean `params`?; valid: experiment, params, sweep, quick, expect"),
        ("unknown experiment key", BASE.replace("kind = \"decay\"", "kind = \"decay\"\ncolour = 1"),
         "bad.toml:5:1: unknown key `experiment.colour`; valid keys: name, description, kind, seed, seeds, repeats, expected_runtime, expect_failures"),
        ("unknown parameter, with a suggestion", format!("{BASE}stpes = 3\n"),
         "bad.toml:9:1: unknown key `params.stpes` for kind `decay`; did you mean `steps`?; valid keys: rate, steps, noise, start, fail, panic"),
        ("unknown kind, with a suggestion", BASE.replace("kind = \"decay\"", "kind = \"decy\""),
         "bad.toml:4:8: unknown experiment kind `decy`; did you mean `decay`?; valid kinds: decay"),
        ("wrong type", BASE.replace("rate = 0.5", "rate = \"fast\""),
         "bad.toml:8:8: params.rate must be a number, got a string"),
        ("out of range", BASE.replace("rate = 0.5", "rate = -1"),
         "bad.toml:8:8: params.rate = -1 is out of range: must be in (0, 10]"),
        ("inf is not a number here", BASE.replace("rate = 0.5", "rate = inf"),
         "bad.toml:8:8: params.rate must be a finite number, got inf"),
        ("nan either", BASE.replace("rate = 0.5", "rate = nan"),
         "bad.toml:8:8: params.rate must be a finite number, got NaN"),
        ("negative integer", BASE.replace("steps = 4", "steps = -4"),
         "bad.toml:7:9: params.steps must be a non-negative integer, got -4"),
        ("a choice misspelt", format!("{BASE}noise = \"smal\"\n"),
         "bad.toml:9:9: params.noise = \"smal\" is not one of: none, quiet, small; did you mean `small`?"),
        ("list under params", format!("{BASE}start = [1.0, 2.0]\n"),
         "bad.toml:9:9: params.start is a list; grid axes go under [sweep]"),
        ("empty sweep list", format!("{BASE}\n[sweep]\nstart = []\n"),
         "bad.toml:11:9: sweep.start is an empty list: a grid axis needs at least one value"),
        ("sweep value not a list", format!("{BASE}\n[sweep]\nstart = 0.5\n"),
         "bad.toml:11:9: sweep.start must be a list of values, got a float"),
        ("a bad value inside a sweep list points at it", format!("{BASE}\n[sweep]\nstart = [1.0, -2.0, 3.0]\n"),
         "bad.toml:11:15: sweep.start = -2 is out of range: must be > 0"),
        ("key in params and sweep", format!("{BASE}\n[sweep]\nrate = [0.1, 0.2]\n"),
         "bad.toml:11:1: `rate` is set in both [params] and [sweep]"),
        ("missing required parameter", BASE.replace("rate = 0.5\n", ""),
         "bad.toml:6:2: missing required parameter `rate` (Contraction per step.)"),
        ("the study's own check, at the field", format!("{BASE}fail = true\npanic = true\n"),
         "bad.toml:10:9: panic and fail together make no sense"),
        ("repeats = 0", BASE.replace("kind = \"decay\"", "kind = \"decay\"\nrepeats = 0"),
         "bad.toml:5:11: experiment.repeats must be an integer in [1, 1000], got 0"),
        ("repeats = -1", BASE.replace("kind = \"decay\"", "kind = \"decay\"\nrepeats = -1"),
         "bad.toml:5:11: experiment.repeats must be an integer in [1, 1000], got -1"),
        ("seed and seeds", BASE.replace("kind = \"decay\"", "kind = \"decay\"\nseed = 1\nseeds = [1, 2]"),
         "bad.toml:6:1: give either experiment.seed or experiment.seeds, not both"),
        ("bad experiment name", BASE.replace("name = \"t\"", "name = \"a b\""),
         "bad.toml:2:8: experiment.name `a b` must be non-empty letters, digits, '-' or '_' (it names the results folder)"),
        ("missing experiment name", BASE.replace("name = \"t\"\n", ""),
         "bad.toml:1:2: [experiment] is missing `name`"),
        ("TOML syntax errors, all of them", format!("{BASE}noise = = 3\nstart = [1,\n"),
         "bad.toml:9:9: extra `=`, expected nothing\nbad.toml:9:11: unexpected key or value, expected newline, `#`\nbad.toml:10:12: unclosed array, expected `]`"),
        ("[quick] is checked without --quick", format!("{BASE}\n[quick]\nparams = {{ steps = 0 }}\n"),
         "bad.toml:11:20: quick.params.steps = 0 is out of range: must be in [1, 100000]"),
        ("claim on a metric the study lacks", claim("metric = \"fnal\"\nop = \"<\"\nvalue = 1"),
         "bad.toml:14:10: expect: study `decay` does not produce metric `fnal`; did you mean `final`?; its metrics: final, predicted, rate, steps_taken"),
        ("unknown op", claim("metric = \"final\"\nop = \"=>\"\nvalue = 1"),
         "bad.toml:15:6: expect: unknown op `=>`; valid: <, <=, >, >=, ==, ~="),
        ("~= without tolerance", claim("metric = \"final\"\nop = \"~=\"\nreference = \"predicted\""),
         "bad.toml:13:1: expect: op `~=` needs rel_tol > 0"),
        ("value = nan", claim("metric = \"final\"\nop = \"<\"\nvalue = nan"),
         "bad.toml:16:9: expect: `value` must be a finite number, got NaN"),
        ("trend over a non-axis", claim("metric = \"final\"\nover = \"rate\"\ntrend = \"increasing\""),
         "bad.toml:15:8: expect: `over = \"rate\"` is not a sweep axis; axes: noise"),
        ("unknown selector key", claim("run = { nois = \"none\" }\nmetric = \"final\"\nop = \"<\"\nvalue = 1"),
         "bad.toml:14:9: expect: unknown key `nois` in `run`; did you mean `noise`?; valid keys: rate, steps, noise, start, fail, panic, seed"),
        ("a selector value no run takes", claim("run = { noise = \"smal\" }\nmetric = \"final\"\nop = \"<\"\nvalue = 1"),
         "bad.toml:14:17: expect: in `run`: noise = \"smal\" is not one of: none, quiet, small; did you mean `small`?"),
        ("a selector on a parameter that is not swept", claim("run = { rate = 0.9 }\nmetric = \"final\"\nop = \"<\"\nvalue = 1"),
         "bad.toml:14:16: expect: no run has rate = 0.9 (in `run`); the runs take: 0.5"),
        ("lhs/rhs with an aggregate they cannot take", claim("lhs = { noise = \"none\" }\nrhs = { noise = \"small\" }\nmetric = \"final\"\nop = \"<\"\naggregate = \"range\""),
         "bad.toml:18:13: expect: with lhs/rhs, `aggregate` (over the lhs runs) is mean, max or min"),
        ("an unknown claim key", claim("metric = \"final\"\nop = \"<\"\nvalue = 1\nrel = 2"),
         "bad.toml:17:1: expect: unknown key `rel`; did you mean `rel_tol`?; valid keys: name, run, metric, op, value, reference, rel_tol, lhs, rhs, factor, over, trend, aggregate"),
    ];
    for (what, text, want) in cases {
        assert_eq!(errors(&text), want, "case: {what}");
    }
}

#[test]
fn a_file_with_three_mistakes_gets_three_located_errors() {
    let text = "[experiment]\nname = \"t\"\ndescription = \"d\"\nkind = \"decay\"\n\n[params]\nrate = \"slow\"\nstpes = 3\n\n[[expect]]\nmetric = \"finl\"\nop = \"<\"\nvalue = 1\n";
    let got = errors(text);
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(
        lines,
        [
            "bad.toml:7:8: params.rate must be a number, got a string",
            "bad.toml:8:1: unknown key `params.stpes` for kind `decay`; did you mean `steps`?; valid keys: rate, steps, noise, start, fail, panic",
            "bad.toml:11:10: expect: study `decay` does not produce metric `finl`; did you mean `final`?; its metrics: final, predicted, rate, steps_taken",
        ]
    );
    // An unknown kind, a wrong type and an unknown key in [experiment]: all three.
    let text = BASE.replace(
        "kind = \"decay\"",
        "kind = \"clasifier\"\nseed = \"x\"\nrepeat = 2",
    );
    assert_eq!(errors(&text).lines().count(), 3, "{}", errors(&text));
}

#[test]
fn set_overrides_keep_file_locations_and_name_themselves() {
    let text = format!("{BASE}\n[[expect]]\nmetric = \"finl\"\nop = \"<\"\nvalue = 1\n");
    let with_set = LoadOptions {
        sets: vec![
            "params.steps=5".into(),
            "params.rate=-3".into(),
            "sweep.noise=[\"loud\"]".into(),
        ],
        ..LoadOptions::default()
    };
    let got = errors_with(&text, &with_set);
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(
        lines,
        [
            "bad.toml:11:10: expect: study `decay` does not produce metric `finl`; did you mean `final`?; its metrics: final, predicted, rate, steps_taken",
            "bad.toml: --set params.rate=-3: params.rate = -3 is out of range: must be in (0, 10]",
            "bad.toml: --set sweep.noise=[\"loud\"]: sweep.noise = \"loud\" is not one of: none, quiet, small",
        ]
    );
    let bad_set = LoadOptions {
        sets: vec!["rate=1".into(), "params.rate=[1,".into()],
        ..LoadOptions::default()
    };
    let got = errors_with(BASE, &bad_set);
    assert!(
        got.contains("--set rate=1: the key must be TABLE.KEY"),
        "{got}"
    );
    assert!(
        got.contains("--set params.rate=[1,: not a TOML value"),
        "{got}"
    );
    // A good override moves a key from params to the sweep.
    let moved = LoadOptions {
        sets: vec!["sweep.rate=[0.1, 0.2]".into()],
        ..LoadOptions::default()
    };
    let e = parse(Path::new("x.toml"), BASE, &registry(), &moved).unwrap();
    assert_eq!(e.runs.len(), 2);
}

#[test]
fn the_grid_size_is_checked_before_expansion() {
    let axis: Vec<String> = (1..=1000)
        .map(|i| format!("{}", i as f64 / 1000.0))
        .collect();
    let list = axis.join(", ");
    let text = format!(
        "{}\n[sweep]\nrate = [{list}]\nstart = [{list}]\nsteps = [{}]\n",
        BASE.replace("rate = 0.5\n", ""),
        (1..=1000)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let t = std::time::Instant::now();
    let got = errors(&text);
    assert!(
        got.contains("the sweep makes 1000000000 runs, more than the limit of 100000"),
        "{got}"
    );
    assert!(t.elapsed().as_secs_f64() < 5.0, "the grid was expanded");
}

#[test]
fn only_small_regular_utf8_files_are_read() {
    let dir = scratch("spec-files");
    let reg = registry();
    let opts = LoadOptions::default();
    let latin1 = dir.join("latin1.toml");
    let mut bytes = BASE.as_bytes().to_vec();
    bytes.extend_from_slice(b"# caf\xe9\n");
    std::fs::write(&latin1, bytes).unwrap();
    let got = load(&latin1, &reg, &opts).unwrap_err().to_string();
    assert!(
        got.ends_with("latin1.toml:9:6: byte 0xe9 is not UTF-8 (save the file as UTF-8)"),
        "{got}"
    );

    let big = write(&dir, "big.toml", &"#".repeat(2 << 20));
    let got = load(&big, &reg, &opts).unwrap_err().to_string();
    assert!(got.contains("larger than the 1048576-byte limit"), "{got}");

    let got = load(Path::new("/dev/zero"), &reg, &opts)
        .unwrap_err()
        .to_string();
    assert!(got.contains("not a regular file"), "{got}");
    let got = load(&dir.join("missing.toml"), &reg, &opts)
        .unwrap_err()
        .to_string();
    assert!(
        got.contains("missing.toml: cannot read the experiment file"),
        "{got}"
    );

    // A FIFO is refused without blocking.
    let fifo = dir.join("fifo.toml");
    if std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success())
    {
        let got = load(&fifo, &reg, &opts).unwrap_err().to_string();
        assert!(got.contains("not a regular file"), "{got}");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{BASE}x = {}1{}\n", "[".repeat(300), "]".repeat(300));
    let got = errors(&deep);
    assert!(got.starts_with("bad.toml:9:"), "{got}");
}

#[test]
fn a_bad_value_is_reported_once_not_again_by_every_claim() {
    // The bad rate leaves no runs: the claims' selectors and `over` cannot be judged
    // against run values, and must not bury the one real error under "no run has ...".
    let text = format!(
        "{}\n[sweep]\nnoise = [\"none\", \"small\"]\n\n[[expect]]\nrun = {{ noise = \"small\" }}\nmetric = \"final\"\nop = \"<\"\nvalue = 1\n\n[[expect]]\nmetric = \"final\"\nover = \"noise\"\ntrend = \"increasing\"\n",
        BASE.replace("rate = 0.5", "rate = -1")
    );
    assert_eq!(
        errors(&text),
        "bad.toml:8:8: params.rate = -1 is out of range: must be in (0, 10]"
    );
    // The same through --set, on an axis: one error, naming the override.
    let set = LoadOptions {
        sets: vec!["sweep.noise=[\"loud\"]".into()],
        ..LoadOptions::default()
    };
    assert_eq!(
        errors_with(&text.replace("rate = -1", "rate = 0.5"), &set),
        "bad.toml: --set sweep.noise=[\"loud\"]: sweep.noise = \"loud\" is not one of: none, quiet, small"
    );
}

mod fuzz {
    //! Arbitrary text and the base file with values swapped for extremes: validation gives
    //! runs or located errors, never a panic. (`xtask/tests/fuzz_inputs.rs` mutates the
    //! shipped files against the real studies; `fuzz/` is the coverage-guided twin.)

    use super::*;
    use proptest::prelude::*;

    fn check(text: &str) {
        let options = LoadOptions {
            max_runs: 1000,
            ..LoadOptions::default()
        };
        match parse(Path::new("f.toml"), text, &registry(), &options) {
            Ok(e) => assert!(!e.runs.is_empty() && e.runs.len() <= 1000),
            Err(errors) => assert!(errors
                .0
                .iter()
                .all(|e| e.file == Path::new("f.toml") && !e.message.is_empty())),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed), ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_text(text in "\\PC{0,300}") {
            check(&text);
        }

        #[test]
        fn extremes_in_every_value_slot(
            line in 0..8usize,
            value in prop_oneof![
                Just("nan".to_string()), Just("-inf".to_string()), Just("1e309".to_string()),
                Just("18446744073709551616".to_string()), Just("[[]]".to_string()),
                Just("{ a = 1 }".to_string()), "[a-z0-9\"\\[\\],. -]{0,12}",
            ],
            claim in "(metric|op|value|run|over|trend|lhs|rhs|factor) = [a-z0-9\"\\[\\]{}=,. -]{0,16}",
        ) {
            let mut lines: Vec<String> = format!("{BASE}\n[sweep]\nnoise = [\"none\", \"small\"]\n").lines().map(str::to_string).collect();
            let slots: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].contains(" = ")).collect();
            let i = slots[line % slots.len()];
            let key = lines[i].split(" = ").next().unwrap().to_string();
            lines[i] = format!("{key} = {value}");
            let text = format!("{}\n\n[[expect]]\nmetric = \"final\"\nop = \"<\"\nvalue = 1\n{claim}\n", lines.join("\n"));
            check(&text);
        }
    }
}
