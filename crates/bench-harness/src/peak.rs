//! Peak-throughput probes: the attainable f32 FLOP/s (FMA) and int8 OP/s (dot products) per
//! core and for all cores on *this* machine — the roof every kernel is reported against.
//!
//! A probe picks the widest instruction set the CPU has (AVX-512 > AVX2+FMA > scalar for f32;
//! AVX-512 VNNI > AVX-VNNI > AVX2 for int8), runs the register-resident kernel from
//! `kernels/` for a calibrated number of iterations, and converts the median time into
//! operations per second. The all-core figure runs one copy per rayon thread at once.

use serde::{Deserialize, Serialize};

use crate::kernels::ACC;
use crate::sweep::{measure, MeasureConfig};

/// An instruction-set path of a probe kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isa {
    /// Portable scalar code (`f32::mul_add`; i32 arithmetic).
    Scalar,
    /// AVX2 (+FMA for f32).
    Avx2,
    /// AVX-512F (f32) / AVX-512 VNNI (int8).
    Avx512,
    /// AVX-VNNI (int8, 256-bit).
    AvxVnni,
}

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeKind {
    /// f32 fused multiply-add: 2 FLOP per lane per instruction.
    F32Fma,
    /// u8 x i8 -> i32 dot products: 2 OP per byte product.
    Int8Dot,
}

/// A measured roof.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peak {
    /// The probe.
    pub kind: ProbeKind,
    /// The instruction set used.
    pub isa: Isa,
    /// Operations per second on one core.
    pub per_core: f64,
    /// Operations per second with every thread of the pool busy.
    pub all_cores: f64,
    /// Threads used for `all_cores`.
    pub threads: usize,
}

/// The paths this CPU can run for a probe, narrowest first.
pub fn available(kind: ProbeKind) -> Vec<Isa> {
    #[allow(unused_mut)]
    let mut v = match kind {
        ProbeKind::F32Fma => vec![Isa::Scalar],
        ProbeKind::Int8Dot => vec![],
    };
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        match kind {
            ProbeKind::F32Fma => {
                if has!("avx2") && has!("fma") {
                    v.push(Isa::Avx2);
                }
                if has!("avx512f") {
                    v.push(Isa::Avx512);
                }
            }
            ProbeKind::Int8Dot => {
                if has!("avx2") {
                    v.push(Isa::Avx2);
                }
                if has!("avxvnni") {
                    v.push(Isa::AvxVnni);
                }
                if has!("avx512f") && has!("avx512bw") && has!("avx512vnni") {
                    v.push(Isa::Avx512);
                }
            }
        }
    }
    if kind == ProbeKind::Int8Dot && v.is_empty() {
        v.push(Isa::Scalar);
    }
    v
}

/// Lanes per accumulator vector of a path.
fn lanes(kind: ProbeKind, isa: Isa) -> usize {
    match (kind, isa) {
        (_, Isa::Scalar) => 1,
        (_, Isa::Avx2 | Isa::AvxVnni) => 8,
        (_, Isa::Avx512) => 16,
    }
}

/// Operations one iteration of the kernel performs.
pub fn ops_per_iteration(kind: ProbeKind, isa: Isa) -> f64 {
    let l = (ACC * lanes(kind, isa)) as f64;
    match kind {
        ProbeKind::F32Fma => 2.0 * l,
        ProbeKind::Int8Dot => 8.0 * l, // 4 byte products per i32 lane, 2 ops each
    }
}

pub use crate::kernels::{run_f32, run_int8};

fn run(kind: ProbeKind, isa: Isa, iters: u64) -> f64 {
    match kind {
        ProbeKind::F32Fma => run_f32(isa, iters, 1.0, 0.999_999, 1e-7) as f64,
        ProbeKind::Int8Dot => run_int8(isa, iters, 7, -3) as f64,
    }
}

/// Measures the roof of `kind` with the widest available path, on one core and on every
/// thread of the current rayon pool.
pub fn probe(kind: ProbeKind, config: &MeasureConfig) -> Peak {
    let isa = *available(kind).last().expect("at least one path");
    // Calibrate: about 20 ms per run.
    let mut iters = 1u64 << 12;
    loop {
        let t = std::time::Instant::now();
        std::hint::black_box(run(kind, isa, iters));
        if t.elapsed().as_secs_f64() > 0.02 || iters > 1 << 34 {
            break;
        }
        iters *= 2;
    }
    let ops = ops_per_iteration(kind, isa) * iters as f64;
    let one = measure("peak/1t", config, 0.0, ops, 1, || run(kind, isa, iters));
    let threads = rayon::current_num_threads();
    let all = measure(
        "peak/all",
        config,
        0.0,
        ops * threads as f64,
        threads,
        || rayon::broadcast(|_| run(kind, isa, iters)),
    );
    Peak {
        kind,
        isa,
        per_core: one.flops(),
        all_cores: all.flops(),
        threads,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels;

    #[test]
    fn every_available_f32_path_matches_its_scalar_twin_bit_for_bit() {
        for isa in available(ProbeKind::F32Fma) {
            for iters in [0, 1, 7, 1000] {
                let got = run_f32(isa, iters, 1.5, 0.999, 0.001);
                let want = kernels::fma_f32_scalar(
                    iters,
                    1.5,
                    0.999,
                    0.001,
                    lanes(ProbeKind::F32Fma, isa),
                );
                assert_eq!(got.to_bits(), want.to_bits(), "{isa:?}, {iters} iterations");
            }
        }
        for isa in [Isa::Avx512] {
            if !available(ProbeKind::F32Fma).contains(&isa) {
                println!("skip: f32 probe path {isa:?} not available on this CPU");
            }
        }
    }

    #[test]
    fn every_available_int8_path_matches_its_scalar_twin_exactly() {
        for isa in available(ProbeKind::Int8Dot) {
            let vnni = matches!(isa, Isa::Avx512 | Isa::AvxVnni | Isa::Scalar);
            // Seeds with large bytes exercise the i16 saturation of the AVX2 path.
            for (seed, b) in [(7, -3i8), (-1, 127), (0x7f7f_7f7f, -128), (123_456, 5)] {
                for iters in [0, 1, 5, 300] {
                    let got = run_int8(isa, iters, seed, b);
                    let want = kernels::dot_u8i8_scalar(
                        iters,
                        seed,
                        b,
                        lanes(ProbeKind::Int8Dot, isa),
                        vnni,
                    );
                    assert_eq!(got, want, "{isa:?}, seed {seed}, b {b}, {iters} iterations");
                }
            }
        }
        for isa in [Isa::AvxVnni, Isa::Avx512] {
            if !available(ProbeKind::Int8Dot).contains(&isa) {
                println!("skip: int8 probe path {isa:?} not available on this CPU");
            }
        }
    }

    #[test]
    fn probe_reports_positive_throughput() {
        let cfg = MeasureConfig {
            warmup: std::time::Duration::ZERO,
            budget: std::time::Duration::ZERO,
            min_runs: 1,
            max_runs: 1,
        };
        let p = probe(ProbeKind::F32Fma, &cfg);
        assert!(p.per_core > 0.0 && p.all_cores > 0.0);
    }
}
