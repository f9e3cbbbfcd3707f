//! AVX-512 probe kernels: 16-lane f32 FMA chains and AVX-512 VNNI `vpdpbusd` int8 chains.

use std::arch::x86_64::*;

use super::ACC;

/// `ACC` chains of `x <- fma(x, a, b)` on 16 lanes; as [`super::fma_f32_scalar`] with 16
/// lanes. 32 FLOP per chain per iteration.
///
/// # Safety
/// Callable only on a CPU with `avx512f` (check with `is_x86_feature_detected!`).
#[target_feature(enable = "avx512f")]
pub fn fma_f32(iters: u64, seed: f32, a: f32, b: f32) -> f32 {
    let (va, vb) = (_mm512_set1_ps(a), _mm512_set1_ps(b));
    let mut acc = [_mm512_setzero_ps(); ACC];
    for (j, v) in acc.iter_mut().enumerate() {
        *v = _mm512_set1_ps(seed + j as f32);
    }
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm512_fmadd_ps(*v, va, vb);
        }
    }
    let mut total = 0.0f32;
    for v in acc {
        // SAFETY: __m512 and [f32; 16] have the same size and every bit pattern is valid.
        let lanes: [f32; 16] = unsafe { std::mem::transmute(v) };
        for l in lanes {
            total += l;
        }
    }
    total
}

/// `ACC` chains `x <- vpdpbusd(x, x, b)` on 16 i32 lanes (64 u8 x i8 products per step); as
/// [`super::dot_u8i8_scalar`] with 16 lanes, `vnni = true`.
///
/// # Safety
/// Callable only on a CPU with `avx512f,avx512bw,avx512vnni` (check with `is_x86_feature_detected!`).
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub fn dot_u8i8_vnni(iters: u64, seed: i32, b: i8) -> i64 {
    let vb = _mm512_set1_epi8(b);
    let mut acc = [_mm512_setzero_si512(); ACC];
    for (j, v) in acc.iter_mut().enumerate() {
        *v = _mm512_set1_epi32(seed.wrapping_add(j as i32));
    }
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm512_dpbusd_epi32(*v, *v, vb);
        }
    }
    acc.iter()
        // SAFETY: __m512i and [i32; 16] have the same size and every bit pattern is valid.
        .map(|&v| unsafe { std::mem::transmute::<__m512i, [i32; 16]>(v) })
        .flat_map(|l| l.into_iter())
        .map(|x| x as i64)
        .sum()
}
