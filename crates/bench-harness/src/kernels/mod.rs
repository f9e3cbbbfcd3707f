//! Peak-throughput probe kernels: register-resident loops of independent FMA (f32) and int8
//! dot-product chains, one file per instruction set, each with a scalar twin below that is
//! its specification. The SIMD results are bit-identical to the twins (tested), so the loops
//! demonstrably do the work they are timed for.
//!
//! Each kernel keeps [`ACC`] independent accumulator vectors — enough to cover the latency of
//! the FMA/dot units (4-5 cycles) on both ports — and feeds every accumulator back into its own
//! next operation, so the compiler cannot hoist or fold the arithmetic.

#[cfg(target_arch = "x86_64")]
pub mod x86_avx2;
#[cfg(target_arch = "x86_64")]
pub mod x86_avx512;

use crate::peak::{available, Isa, ProbeKind};

/// Independent accumulators per kernel.
pub const ACC: usize = 12;

/// Scalar twin of the FMA kernels: `ACC` chains `x <- fma(x, a, b)` from `seed + j`, each
/// counted `lanes` times, summed accumulator by accumulator, lane by lane.
pub fn fma_f32_scalar(iters: u64, seed: f32, a: f32, b: f32, lanes: usize) -> f32 {
    let mut total = 0.0f32;
    for j in 0..ACC {
        let mut x = seed + j as f32;
        for _ in 0..iters {
            x = x.mul_add(a, b);
        }
        for _ in 0..lanes {
            total += x;
        }
    }
    total
}

/// One 32-bit lane of `maddubs` + `madd(ones)`: `sum_k u8(x byte k) * b` over the lane's 4
/// bytes, with the pairwise i16 sums saturated as `_mm256_maddubs_epi16` does.
fn lane_dot_avx2(x: i32, b: i8) -> i32 {
    let bytes = x.to_le_bytes();
    let pair = |i: usize| {
        (bytes[i] as i32 * b as i32 + bytes[i + 1] as i32 * b as i32)
            .clamp(i16::MIN as i32, i16::MAX as i32)
    };
    pair(0) + pair(2)
}

/// One 32-bit lane of `vpdpbusd` without saturation: `sum_k u8(x byte k) * b`.
fn lane_dot_vnni(x: i32, b: i8) -> i32 {
    x.to_le_bytes().iter().map(|&u| u as i32 * b as i32).sum()
}

/// Scalar twin of the int8 kernels: `ACC` chains `x <- x + dot4(bytes of x, b)` (wrapping),
/// from `seed + j`, summed over `lanes` lanes. `vnni` selects the unsaturated VNNI lane rule.
pub fn dot_u8i8_scalar(iters: u64, seed: i32, b: i8, lanes: usize, vnni: bool) -> i64 {
    let mut total = 0i64;
    for j in 0..ACC {
        let mut x = seed.wrapping_add(j as i32);
        for _ in 0..iters {
            let d = if vnni {
                lane_dot_vnni(x, b)
            } else {
                lane_dot_avx2(x, b)
            };
            x = x.wrapping_add(d);
        }
        total += x as i64 * lanes as i64;
    }
    total
}

/// Runs the f32 kernel on a path; the result equals [`fma_f32_scalar`].
///
/// # Panics
/// When the CPU lacks the path's features (check [`available`] first).
pub fn run_f32(isa: Isa, iters: u64, seed: f32, a: f32, b: f32) -> f32 {
    assert!(
        available(ProbeKind::F32Fma).contains(&isa),
        "f32 probe path {isa:?} is not available on this CPU"
    );
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the assert above checked the features the kernel is compiled for.
        Isa::Avx2 => unsafe { self::x86_avx2::fma_f32(iters, seed, a, b) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx512 => unsafe { self::x86_avx512::fma_f32(iters, seed, a, b) },
        _ => self::fma_f32_scalar(iters, seed, a, b, 1),
    }
}

/// Runs the int8 kernel on a path; the result equals [`dot_u8i8_scalar`].
///
/// # Panics
/// When the CPU lacks the path's features (check [`available`] first).
pub fn run_int8(isa: Isa, iters: u64, seed: i32, b: i8) -> i64 {
    assert!(
        available(ProbeKind::Int8Dot).contains(&isa),
        "int8 probe path {isa:?} is not available on this CPU"
    );
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the assert above checked the features the kernel is compiled for.
        Isa::Avx2 => unsafe { self::x86_avx2::dot_u8i8(iters, seed, b) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::AvxVnni => unsafe { self::x86_avx2::dot_u8i8_avxvnni(iters, seed, b) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx512 => unsafe { self::x86_avx512::dot_u8i8_vnni(iters, seed, b) },
        _ => self::dot_u8i8_scalar(iters, seed, b, 1, true),
    }
}
