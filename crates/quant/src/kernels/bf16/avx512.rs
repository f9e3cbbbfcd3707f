//! AVX512-BF16 (`vdpbf16ps`): 12 x 32 tiles.

use std::arch::x86_64::*;

use super::Bf16Family;

bf16_kernel! {
    #[target_feature(enable = "avx512f,avx512bf16")]
    fns [bf16_12x32 = 12, bf16_8x32 = 8, bf16_4x32 = 4, bf16_2x32 = 2, bf16_1x32 = 1],
    W = 16, NV = 2, acc = __m512, operand = __m512bh,
    zero = _mm512_setzero_ps(),
    // SAFETY (both): __m512i and __m512bh are the same 64 bytes.
    load = |p: *const u16| std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(p.cast())),
    bcast = |p: *const u16| std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(p.cast::<i32>().read_unaligned())),
    dot = |acc, a, b| _mm512_dpbf16_ps(acc, a, b),
    store = |p: *mut f32, v| _mm512_storeu_ps(p, v),
}

/// AVX512-BF16 `vdpbf16ps`, 12 x 32 tiles.
pub const AVX512BF16: Bf16Family = Bf16Family {
    name: "avx512bf16-12x32",
    isa: core_tensor::cpu::Isa::Avx512,
    nr: 32,
    mr: 12,
    kernel: bf16_12x32,
    edges: &[
        (1, bf16_1x32),
        (2, bf16_2x32),
        (4, bf16_4x32),
        (8, bf16_8x32),
    ],
    kalign: 2,
    detect: || core_tensor::cpu::features().avx512f && core_tensor::cpu::features().avx512bf16,
};
