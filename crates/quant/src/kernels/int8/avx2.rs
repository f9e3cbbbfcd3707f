//! AVX2 without VNNI (`vpmaddubsw` + `vpmaddwd`): 6 x 16 tiles, 7-bit activations (see the
//! module above).

use std::arch::x86_64::*;

use super::Family;

i8_kernel! {
    #[target_feature(enable = "avx2")]
    fns [avx2_6x16 = 6, avx2_4x16 = 4, avx2_2x16 = 2, avx2_1x16 = 1],
    W = 8, NV = 2, vector = __m256i,
    zero = _mm256_setzero_si256(),
    load = |p: *const i8| _mm256_loadu_si256(p.cast()),
    bcast = |p: *const u8| _mm256_set1_epi32(p.cast::<i32>().read_unaligned()),
    dot = |acc, a, b| _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1))),
    store = |p: *mut i32, v| _mm256_storeu_si256(p.cast(), v),
}

/// AVX2 `vpmaddubsw` + `vpmaddwd`, 6 x 16 tiles, 7-bit activations (see the module docs).
pub const AVX2: Family = Family {
    name: "avx2-6x16",
    isa: core_tensor::cpu::Isa::Avx2,
    nr: 16,
    mr: 6,
    kernel: avx2_6x16,
    edges: &[(1, avx2_1x16), (2, avx2_2x16), (4, avx2_4x16)],
    kalign: 4,
    detect: || core_tensor::cpu::features().avx2,
};
