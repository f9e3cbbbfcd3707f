//! Property tests over hostile experiment files: every shipped file mutated line by line and
//! token by token (values swapped for extremes, lines dropped, duplicated and cut, brackets
//! and quotes inserted), and arbitrary text, validated against the real studies. Whatever
//! the input, validation returns runs or located errors: no panic, no unbounded grid, and
//! every error names the file. The coverage-guided twin is `fuzz/` (`cargo fuzz`).

use std::path::Path;

use lab::spec::{parse, LoadOptions};
use proptest::prelude::*;
use xtask::registry::registry;

/// The shipped experiment files.
fn shipped() -> Vec<String> {
    let dir = xtask::fsutil::project_root().join("experiments");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

const EXTREMES: [&str; 14] = [
    "nan",
    "inf",
    "-inf",
    "0",
    "-1",
    "1e309",
    "18446744073709551616",
    "9223372036854775807",
    "\"\"",
    "[]",
    "{}",
    "true",
    "[[1]]",
    "\"\u{0}\"",
];

/// One mutation of a line-oriented text.
#[derive(Debug, Clone)]
enum Mutation {
    DropLine(usize),
    DuplicateLine(usize),
    CutLine(usize, usize),
    /// Replace the value after `=` on a line with an extreme.
    Extreme(usize, usize),
    Insert(usize, String),
    SwapLines(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let n = 0..10_000usize;
    prop_oneof![
        n.clone().prop_map(Mutation::DropLine),
        n.clone().prop_map(Mutation::DuplicateLine),
        (n.clone(), 0..80usize).prop_map(|(l, c)| Mutation::CutLine(l, c)),
        (n.clone(), 0..EXTREMES.len()).prop_map(|(l, e)| Mutation::Extreme(l, e)),
        (n.clone(), "[\\[\\]{}=\",.#\\n a-z0-9_-]{1,6}").prop_map(|(l, s)| Mutation::Insert(l, s)),
        (n.clone(), n).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
    ]
}

fn apply(text: &str, muts: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for m in muts {
        if lines.is_empty() {
            break;
        }
        let at = |i: usize| i % lines.len();
        match m {
            Mutation::DropLine(i) => {
                lines.remove(at(*i));
            }
            Mutation::DuplicateLine(i) => {
                let l = lines[at(*i)].clone();
                lines.insert(at(*i), l);
            }
            Mutation::CutLine(i, c) => {
                let i = at(*i);
                let cut: String = lines[i].chars().take(*c).collect();
                lines[i] = cut;
            }
            Mutation::Extreme(i, e) => {
                let i = at(*i);
                if let Some((k, _)) = lines[i].split_once('=') {
                    lines[i] = format!("{k}= {}", EXTREMES[*e]);
                }
            }
            Mutation::Insert(i, s) => {
                let i = at(*i);
                let mid = lines[i].len() / 2;
                if lines[i].is_char_boundary(mid) {
                    lines[i].insert_str(mid, s);
                }
            }
            Mutation::SwapLines(a, b) => {
                let (a, b) = (at(*a), at(*b));
                lines.swap(a, b);
            }
        }
    }
    lines.join("\n")
}

/// Validates `text` three ways (plain, --quick, a --set); checks the answer's shape.
fn check(text: &str, set: &str) {
    let reg = registry();
    for (quick, sets) in [(false, vec![]), (true, vec![set.to_string()])] {
        let options = LoadOptions {
            quick,
            sets,
            max_runs: 5_000,
        };
        match parse(Path::new("fuzz.toml"), text, &reg, &options) {
            Ok(e) => assert!(e.runs.len() <= 5_000 && !e.runs.is_empty()),
            Err(errors) => {
                let shown = errors.to_string();
                assert!(!errors.0.is_empty());
                for line in shown.lines().filter(|l| !l.ends_with(" errors")) {
                    assert!(line.starts_with("fuzz.toml"), "unlocated: {line}");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed), ..ProptestConfig::default() })]

    #[test]
    fn mutated_shipped_files_give_runs_or_located_errors(
        pick in 0..64usize,
        muts in prop::collection::vec(mutation(), 1..6),
        set in "(params|sweep|quick|experiment)\\.[a-z_]{1,8}=[\\[\\]0-9a-z\".,-]{0,8}",
    ) {
        let files = shipped();
        let text = apply(&files[pick % files.len()], &muts);
        check(&text, &set);
    }

    #[test]
    fn arbitrary_text_gives_located_errors(text in "\\PC{0,400}", set in "\\PC{0,20}") {
        check(&text, &set);
    }
}
