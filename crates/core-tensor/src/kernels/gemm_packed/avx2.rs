//! AVX2 + FMA: the 6 x 16 micro-kernels (and their edge heights) and the packer that
//! transposes 8 x 8 blocks in registers.

use std::arch::x86_64::*;

/// Whether [`pack_transposed`] can run (AVX2).
pub(super) fn transpose_available() -> bool {
    super::cpu::allowed(super::Isa::Avx2, super::cpu::features().avx2)
}

/// `pack_panel` for `step == 1` and a full panel (`live == width`): `dst[p * width + l] =
/// src[l * lane + p]` for every `l < width` and `p < dst.len() / width`, by 8 x 8 register
/// transposes (lanes in groups of 8, a short last group padded by repeating its last lane),
/// with the last `steps % 8` steps copied one by one.
///
/// Stores are whole 8-float vectors in (step, group) order: a short group's extra floats
/// spill into the next step's first lanes, which are written right after. Only the very
/// last step, with nothing after it, goes through a small copy. (Masked stores would avoid
/// the spill, but `vmaskmovps` to memory is microcoded and slow on AMD Zen.)
///
/// # Safety
/// AVX2 must be available; `src` must be valid at every `l * lane + p` addressed.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn pack_transposed(src: *const f32, lane: isize, width: usize, dst: &mut [f32]) {
    const MAX_GROUPS: usize = 4;
    let steps = dst.len() / width;
    let full = steps / 8 * 8;
    let groups = width.div_ceil(8);
    assert!(
        groups <= MAX_GROUPS,
        "pack_transposed: width {width} over {}",
        8 * MAX_GROUPS
    );
    let count = |g: usize| 8.min(width - 8 * g);
    let mut rows = [[src; 8]; MAX_GROUPS];
    for (g, group) in rows.iter_mut().enumerate().take(groups) {
        for (i, row) in group.iter_mut().enumerate() {
            let l = 8 * g + i.min(count(g) - 1);
            *row = src.wrapping_offset(l as isize * lane);
        }
    }
    let (out, len) = (dst.as_mut_ptr(), dst.len());
    let mut cols = [[_mm256_setzero_ps(); 8]; MAX_GROUPS];
    for p0 in (0..full).step_by(8) {
        for g in 0..groups {
            // SAFETY: lanes < width and steps p0 .. p0 + 8 <= steps are addressed.
            let v = rows[g].map(|r| unsafe { _mm256_loadu_ps(r.add(p0)) });
            cols[g] = transpose8(v);
        }
        for j in 0..8 {
            let p = p0 + j;
            for (g, col) in cols.iter().enumerate().take(groups) {
                let at = p * width + 8 * g;
                if at + 8 <= len {
                    // SAFETY: the 8 floats at `at` are inside dst (checked).
                    unsafe { _mm256_storeu_ps(out.add(at), col[j]) };
                } else {
                    let mut tmp = [0.0f32; 8];
                    // SAFETY: tmp holds 8 floats.
                    unsafe { _mm256_storeu_ps(tmp.as_mut_ptr(), col[j]) };
                    // SAFETY: the len - at < 8 floats from `at` are the end of dst.
                    unsafe { std::ptr::copy_nonoverlapping(tmp.as_ptr(), out.add(at), len - at) };
                }
            }
        }
    }
    for p in full..steps {
        for l in 0..width {
            // SAFETY: lane l < width, step p < steps: addressed by the caller's contract,
            // and p * width + l < len.
            unsafe { *out.add(p * width + l) = *src.offset(l as isize * lane + p as isize) };
        }
    }
}

/// The 8 x 8 transpose: output `j` holds element `j` of each input, in input order.
#[target_feature(enable = "avx2")]
fn transpose8(v: [__m256; 8]) -> [__m256; 8] {
    let t0 = _mm256_unpacklo_ps(v[0], v[1]);
    let t1 = _mm256_unpackhi_ps(v[0], v[1]);
    let t2 = _mm256_unpacklo_ps(v[2], v[3]);
    let t3 = _mm256_unpackhi_ps(v[2], v[3]);
    let t4 = _mm256_unpacklo_ps(v[4], v[5]);
    let t5 = _mm256_unpackhi_ps(v[4], v[5]);
    let t6 = _mm256_unpacklo_ps(v[6], v[7]);
    let t7 = _mm256_unpackhi_ps(v[6], v[7]);
    let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    [
        _mm256_permute2f128_ps::<0x20>(s0, s4),
        _mm256_permute2f128_ps::<0x20>(s1, s5),
        _mm256_permute2f128_ps::<0x20>(s2, s6),
        _mm256_permute2f128_ps::<0x20>(s3, s7),
        _mm256_permute2f128_ps::<0x31>(s0, s4),
        _mm256_permute2f128_ps::<0x31>(s1, s5),
        _mm256_permute2f128_ps::<0x31>(s2, s6),
        _mm256_permute2f128_ps::<0x31>(s3, s7),
    ]
}

#[cfg(test)]
mod tests {
    /// The transposing packer writes exactly what the scalar loop writes, for every panel
    /// width, step counts with and without a tail, and lane strides.
    #[test]
    fn transposed_packing_matches_the_scalar_loop() {
        if !super::transpose_available() {
            println!("skip: the transposing packer needs AVX2, absent on this CPU");
            return;
        }
        for width in [1usize, 2, 4, 6, 8, 10, 12, 14, 16, 32] {
            for steps in [1usize, 7, 8, 9, 16, 29] {
                for lane in [steps as isize, steps as isize + 5] {
                    let src: Vec<f32> = (0..lane as usize * width)
                        .map(|i| i as f32 * 0.5 - 3.0)
                        .collect();
                    let mut want = vec![f32::NAN; steps * width];
                    let mut got = vec![f32::NAN; steps * width];
                    // SAFETY: lane * width floats cover every l * lane + p addressed.
                    // The specification: dst[p * width + l] = src[l * lane + p].
                    for p in 0..steps {
                        for l in 0..width {
                            want[p * width + l] = src[l * lane as usize + p];
                        }
                    }
                    // SAFETY: lane * width floats cover every l * lane + p addressed.
                    unsafe { super::pack_transposed(src.as_ptr(), lane, width, &mut got) };
                    let same = want
                        .iter()
                        .zip(&got)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "width {width}, {steps} steps, lane stride {lane}");
                }
            }
        }
    }
}

kernel_family! {
    #[target_feature(enable = "avx2,fma")]
    fns [avx2_6x16 = 6, avx2_4x16 = 4, avx2_2x16 = 2, avx2_1x16 = 1],
    W = 8, NV = 2, vector = __m256,
    zero = _mm256_setzero_ps(),
    load = |p: *const f32| _mm256_load_ps(p),
    broadcast = |p: *const f32| _mm256_broadcast_ss(&*p),
    fma = |a, b, c| _mm256_fmadd_ps(a, b, c),
    loadu = |p: *const f32| _mm256_loadu_ps(p),
    storeu = |p: *mut f32, v| _mm256_storeu_ps(p, v),
    add = |a, b| _mm256_add_ps(a, b),
    prefetch = |p: *const f32| _mm_prefetch::<_MM_HINT_T0>(p.cast()),
}
