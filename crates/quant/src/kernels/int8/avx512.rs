//! AVX-512 VNNI (`vpdpbusd` on 512-bit vectors): 12 x 32 tiles.

use std::arch::x86_64::*;

use super::Family;

i8_kernel! {
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fns [vnni512_12x32 = 12, vnni512_8x32 = 8, vnni512_4x32 = 4, vnni512_2x32 = 2, vnni512_1x32 = 1],
    W = 16, NV = 2, vector = __m512i,
    zero = _mm512_setzero_si512(),
    load = |p: *const i8| _mm512_loadu_si512(p.cast()),
    bcast = |p: *const u8| _mm512_set1_epi32(p.cast::<i32>().read_unaligned()),
    dot = |acc, a, b| _mm512_dpbusd_epi32(acc, a, b),
    store = |p: *mut i32, v| _mm512_storeu_si512(p.cast(), v),
}

/// AVX-512 VNNI, 12 x 32 tiles.
pub const VNNI512: Family = Family {
    name: "avx512vnni-12x32",
    isa: core_tensor::cpu::Isa::Avx512,
    nr: 32,
    mr: 12,
    kernel: vnni512_12x32,
    edges: &[
        (1, vnni512_1x32),
        (2, vnni512_2x32),
        (4, vnni512_4x32),
        (8, vnni512_8x32),
    ],
    kalign: 4,
    detect: || {
        core_tensor::cpu::features().avx512f
            && core_tensor::cpu::features().avx512bw
            && core_tensor::cpu::features().avx512vnni
    },
};
