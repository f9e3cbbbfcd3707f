//! Experiment files: arbitrary bytes (seeded with experiments/*.toml) through validation,
//! sweep expansion and claim parsing against the real studies, with and without `--quick`
//! and a `--set` taken from the input's first line. Nothing may panic; every error must
//! format.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let registry = xtask::registry::registry();
    let first = text
        .lines()
        .next()
        .unwrap_or("")
        .trim_start_matches('#')
        .trim();
    for (quick, sets) in [(false, vec![]), (true, vec![first.to_string()])] {
        let options = lab::spec::LoadOptions {
            quick,
            sets,
            max_runs: 2_000,
        };
        match lab::spec::parse("fuzz.toml".as_ref(), text, &registry, &options) {
            Ok(e) => assert!(e.runs.len() <= 2_000),
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
});
