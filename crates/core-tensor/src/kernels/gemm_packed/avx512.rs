//! AVX-512F: the 14 x 32 micro-kernels (and their edge heights).

use std::arch::x86_64::*;

kernel_family! {
    #[target_feature(enable = "avx512f")]
    fns [
        avx512_14x32 = 14, avx512_12x32 = 12, avx512_10x32 = 10, avx512_8x32 = 8,
        avx512_6x32 = 6, avx512_4x32 = 4, avx512_2x32 = 2, avx512_1x32 = 1,
    ],
    W = 16, NV = 2, vector = __m512,
    zero = _mm512_setzero_ps(),
    load = |p: *const f32| _mm512_load_ps(p),
    broadcast = |p: *const f32| _mm512_set1_ps(*p),
    fma = |a, b, c| _mm512_fmadd_ps(a, b, c),
    loadu = |p: *const f32| _mm512_loadu_ps(p),
    storeu = |p: *mut f32, v| _mm512_storeu_ps(p, v),
    add = |a, b| _mm512_add_ps(a, b),
    prefetch = |p: *const f32| _mm_prefetch::<_MM_HINT_T0>(p.cast()),
}
