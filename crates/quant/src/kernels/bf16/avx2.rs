//! AVX2 + FMA on bf16 widened to f32 (CPUs without BF16 instructions): 4 x 16 tiles.

use std::arch::x86_64::*;

use super::Bf16Family;

/// The (odd, even) halves of each 32-bit lane's bf16 pair, widened to f32.
#[inline]
#[target_feature(enable = "avx2")]
fn widen(v: __m256i) -> (__m256, __m256) {
    (
        _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32(-65536))),
        _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)),
    )
}

bf16_kernel! {
    #[target_feature(enable = "avx2,fma")]
    fns [avx2_4x16 = 4, avx2_2x16 = 2, avx2_1x16 = 1],
    W = 8, NV = 2, acc = __m256, operand = (__m256, __m256),
    zero = _mm256_setzero_ps(),
    load = |p: *const u16| widen(_mm256_loadu_si256(p.cast())),
    bcast = |p: *const u16| widen(_mm256_set1_epi32(p.cast::<i32>().read_unaligned())),
    // Exact products: each fma rounds once, as each of vdpbf16ps's additions does.
    dot = |acc, a: (__m256, __m256), b: (__m256, __m256)| _mm256_fmadd_ps(a.1, b.1, _mm256_fmadd_ps(a.0, b.0, acc)),
    store = |p: *mut f32, v| _mm256_storeu_ps(p, v),
}

/// AVX2 + FMA on bf16 widened to f32, 4 x 16 tiles (CPUs without BF16 instructions).
pub const AVX2: Bf16Family = Bf16Family {
    name: "bf16-avx2-4x16",
    isa: core_tensor::cpu::Isa::Avx2,
    nr: 16,
    mr: 4,
    kernel: avx2_4x16,
    edges: &[(1, avx2_1x16), (2, avx2_2x16)],
    kalign: 2,
    detect: || core_tensor::cpu::features().avx2 && core_tensor::cpu::features().fma,
};
