//! AVX2 (+FMA) probe kernels: 8-lane f32 FMA chains and 32-byte int8 dot chains
//! (`vpmaddubsw` + `vpmaddwd` + `vpaddd`), and AVX-VNNI's 256-bit `vpdpbusd`.

use std::arch::x86_64::*;

use super::ACC;

/// `ACC` chains of `x <- fma(x, a, b)` on 8 lanes; returns the sum as [`super::fma_f32_scalar`]
/// with 8 lanes. 16 FLOP per chain per iteration.
///
/// # Safety
/// Callable only on a CPU with `avx2,fma` (check with `is_x86_feature_detected!`).
#[target_feature(enable = "avx2,fma")]
pub fn fma_f32(iters: u64, seed: f32, a: f32, b: f32) -> f32 {
    let (va, vb) = (_mm256_set1_ps(a), _mm256_set1_ps(b));
    let mut acc = [_mm256_setzero_ps(); ACC];
    for (j, v) in acc.iter_mut().enumerate() {
        *v = _mm256_set1_ps(seed + j as f32);
    }
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm256_fmadd_ps(*v, va, vb);
        }
    }
    let mut total = 0.0f32;
    for v in acc {
        // SAFETY: __m256 and [f32; 8] have the same size and every bit pattern is valid.
        let lanes: [f32; 8] = unsafe { std::mem::transmute(v) };
        for l in lanes {
            total += l;
        }
    }
    total
}

fn sum_epi32<const N: usize>(vs: &[[i32; N]]) -> i64 {
    vs.iter().flat_map(|v| v.iter()).map(|&x| x as i64).sum()
}

/// `ACC` chains `x <- x + maddubs(x, b) . 1` on 8 i32 lanes (32 u8 x i8 products per step);
/// returns the sum as [`super::dot_u8i8_scalar`] with 8 lanes, `vnni = false`.
///
/// # Safety
/// Callable only on a CPU with `avx2` (check with `is_x86_feature_detected!`).
#[target_feature(enable = "avx2")]
pub fn dot_u8i8(iters: u64, seed: i32, b: i8) -> i64 {
    let vb = _mm256_set1_epi8(b);
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_si256(); ACC];
    for (j, v) in acc.iter_mut().enumerate() {
        *v = _mm256_set1_epi32(seed.wrapping_add(j as i32));
    }
    for _ in 0..iters {
        for v in acc.iter_mut() {
            let p = _mm256_maddubs_epi16(*v, vb);
            *v = _mm256_add_epi32(*v, _mm256_madd_epi16(p, ones));
        }
    }
    // SAFETY: __m256i and [i32; 8] have the same size and every bit pattern is valid.
    let lanes: Vec<[i32; 8]> = acc
        .iter()
        .map(|&v| unsafe { std::mem::transmute::<__m256i, [i32; 8]>(v) })
        .collect();
    sum_epi32(&lanes)
}

/// AVX-VNNI: `ACC` chains `x <- vpdpbusd(x, x, b)` on 8 i32 lanes; as
/// [`super::dot_u8i8_scalar`] with 8 lanes, `vnni = true`.
///
/// # Safety
/// Callable only on a CPU with `avxvnni` (check with `is_x86_feature_detected!`).
#[target_feature(enable = "avxvnni")]
pub fn dot_u8i8_avxvnni(iters: u64, seed: i32, b: i8) -> i64 {
    let vb = _mm256_set1_epi8(b);
    let mut acc = [_mm256_setzero_si256(); ACC];
    for (j, v) in acc.iter_mut().enumerate() {
        *v = _mm256_set1_epi32(seed.wrapping_add(j as i32));
    }
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm256_dpbusd_avx_epi32(*v, *v, vb);
        }
    }
    // SAFETY: as above.
    let lanes: Vec<[i32; 8]> = acc
        .iter()
        .map(|&v| unsafe { std::mem::transmute::<__m256i, [i32; 8]>(v) })
        .collect();
    sum_epi32(&lanes)
}
