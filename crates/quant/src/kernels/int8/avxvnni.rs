//! AVX-VNNI (`vpdpbusd` on 256-bit vectors, VEX-encoded): 6 x 16 tiles.

use std::arch::x86_64::*;

use super::Family;

i8_kernel! {
    #[target_feature(enable = "avx2,avxvnni")]
    fns [avxvnni_6x16 = 6, avxvnni_4x16 = 4, avxvnni_2x16 = 2, avxvnni_1x16 = 1],
    W = 8, NV = 2, vector = __m256i,
    zero = _mm256_setzero_si256(),
    load = |p: *const i8| _mm256_loadu_si256(p.cast()),
    bcast = |p: *const u8| _mm256_set1_epi32(p.cast::<i32>().read_unaligned()),
    dot = |acc, a, b| _mm256_dpbusd_avx_epi32(acc, a, b),
    store = |p: *mut i32, v| _mm256_storeu_si256(p.cast(), v),
}

/// AVX-VNNI (256-bit), 6 x 16 tiles.
pub const AVXVNNI: Family = Family {
    name: "avxvnni-6x16",
    isa: core_tensor::cpu::Isa::AvxVnni,
    nr: 16,
    mr: 6,
    kernel: avxvnni_6x16,
    edges: &[(1, avxvnni_1x16), (2, avxvnni_2x16), (4, avxvnni_4x16)],
    kalign: 4,
    detect: || core_tensor::cpu::features().avx2 && core_tensor::cpu::features().avxvnni,
};
