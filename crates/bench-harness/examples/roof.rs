//! Prints this machine's fingerprint and its measured f32 and int8 roofs.
//!
//! Run: `cargo run --release -p bench-harness --example roof`

use bench_harness::fingerprint::Fingerprint;
use bench_harness::peak::{probe, ProbeKind};
use bench_harness::sweep::MeasureConfig;

fn main() {
    let f = Fingerprint::detect();
    println!("{}", serde_json::to_string_pretty(&f).unwrap_or_default());
    for kind in [ProbeKind::F32Fma, ProbeKind::Int8Dot] {
        let p = probe(kind, &MeasureConfig::standard());
        println!(
            "{kind:?} via {:?}: {:.1} G/s per core, {:.1} G/s on {} threads",
            p.isa,
            p.per_core / 1e9,
            p.all_cores / 1e9,
            p.threads
        );
    }
}
