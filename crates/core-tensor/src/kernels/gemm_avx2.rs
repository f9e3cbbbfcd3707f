//! An AVX2+FMA single-precision GEMM: BLIS-style blocking and packing around a 6x16
//! register-blocked micro-kernel. `matrixmultiply` is the portable twin it is tested against
//! (see `gemm.rs`).
//!
//! Loop structure for `C = A B` (`A: m x k`, `B: k x n`, any strides; `C` row-major rows):
//!
//! ```text
//! for each KC-deep slice p0 of k:             B[p0.., :] packed once into NR-wide panels
//!   for each MC-tall block i0 of rows:        A[i0.., p0..] packed into MR-tall panels
//!     for each NR panel j, MR panel i:        C[i, j] (+)= A_panel . B_panel (micro-kernel)
//! ```
//!
//! The micro-kernel keeps a 6x16 tile of C in 12 ymm registers and, per step of k, loads two
//! 8-wide vectors of the B panel and broadcasts six values of the A panel: 12 FMAs per 8
//! loads. Packed panels are contiguous and zero-padded to full MR/NR, so edge tiles run the
//! same kernel and only their write-back is clipped.
//!
//! Every element of C is accumulated over k in the same order — KC blocks in sequence, and
//! within a block `p = 0, 1, ...` — however the rows are split among threads, so results are
//! bit-identical for any thread count.

use std::arch::x86_64::*;

/// Rows of the register tile.
pub(crate) const MR: usize = 6;
/// Columns of the register tile (two ymm vectors).
pub(crate) const NR: usize = 16;
/// Depth of a packed block (A panel 6x256 and B panel 256x16 stay in L1/L2).
const KC: usize = 256;
/// Rows of A packed at once (MC x KC floats = 120 KiB, in L2).
const MC: usize = 120;

/// A read-only strided matrix.
#[derive(Clone, Copy)]
pub(crate) struct Strided {
    pub ptr: *const f32,
    pub rs: isize,
    pub cs: isize,
}

/// Packs `A[i0..i0+mc, p0..p0+kc]` into MR-row panels: panel `t` holds, for each `p`, the MR
/// values `A[i0 + t*MR + r, p0 + p]` (zero past `mc`).
///
/// # Safety
/// `a` must be valid for the addressed rectangle.
unsafe fn pack_a(a: Strided, i0: usize, mc: usize, p0: usize, kc: usize, out: &mut [f32]) {
    let panels = mc.div_ceil(MR);
    for t in 0..panels {
        let dst = &mut out[t * MR * kc..(t + 1) * MR * kc];
        let rows = MR.min(mc - t * MR);
        if rows < MR {
            dst.fill(0.0);
        }
        for r in 0..rows {
            let i = i0 + t * MR + r;
            if a.cs == 1 {
                // SAFETY: row i, columns p0..p0+kc are inside the rectangle the caller vouches for.
                let row = unsafe {
                    std::slice::from_raw_parts(a.ptr.offset(i as isize * a.rs + p0 as isize), kc)
                };
                for (d, &v) in dst.chunks_exact_mut(MR).zip(row) {
                    d[r] = v;
                }
            } else {
                for (p, d) in dst.chunks_exact_mut(MR).enumerate() {
                    // SAFETY: (i, p0 + p) is inside the rectangle the caller vouches for.
                    d[r] = unsafe { *a.ptr.offset(i as isize * a.rs + (p0 + p) as isize * a.cs) };
                }
            }
        }
    }
}

/// Packs `B[p0..p0+kc, 0..n]` into NR-column panels: panel `t` holds, for each `p`, the NR
/// values `B[p0 + p, t*NR + c]` (zero past `n`).
///
/// # Safety
/// `b` must be valid for the addressed rectangle.
unsafe fn pack_b(b: Strided, p0: usize, kc: usize, n: usize, out: &mut [f32]) {
    let panels = n.div_ceil(NR);
    for t in 0..panels {
        let dst = &mut out[t * NR * kc..(t + 1) * NR * kc];
        let cols = NR.min(n - t * NR);
        for (p, d) in dst.chunks_exact_mut(NR).enumerate() {
            let base = (p0 + p) as isize * b.rs + (t * NR) as isize * b.cs;
            if b.cs == 1 {
                // SAFETY: row p0 + p, columns t*NR..t*NR+cols are inside the caller's rectangle.
                d[..cols].copy_from_slice(unsafe {
                    std::slice::from_raw_parts(b.ptr.offset(base), cols)
                });
            } else {
                for (c, v) in d[..cols].iter_mut().enumerate() {
                    // SAFETY: as above.
                    *v = unsafe { *b.ptr.offset(base + c as isize * b.cs) };
                }
            }
            d[cols..].fill(0.0);
        }
    }
}

/// The 6x16 micro-kernel: `tile = A_panel . B_panel` over `kc` steps, then written to `c`
/// (row stride `ldc`, unit column stride) as `c = tile` or `c += tile`, clipped to
/// `rows x cols`.
///
/// # Safety
/// AVX2 and FMA must be available; `a` holds `kc * MR` floats, `b` `kc * NR`; `c` is valid for
/// `rows x cols` with row stride `ldc`.
// The micro-kernel's signature is the BLIS one (depth, two panels, the C tile and its clip);
// bundling the arguments into a struct would only hide them at the hottest call site.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    accumulate: bool,
) {
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    for p in 0..kc {
        // SAFETY: p < kc, so the loads stay inside the packed panels.
        let (b0, b1) = unsafe {
            (
                _mm256_loadu_ps(b.add(p * NR)),
                _mm256_loadu_ps(b.add(p * NR + 8)),
            )
        };
        for (r, row) in acc.iter_mut().enumerate() {
            // SAFETY: as above.
            let av = _mm256_set1_ps(unsafe { *a.add(p * MR + r) });
            row[0] = _mm256_fmadd_ps(av, b0, row[0]);
            row[1] = _mm256_fmadd_ps(av, b1, row[1]);
        }
    }
    if rows == MR && cols == NR {
        for (r, row) in acc.iter().enumerate() {
            // SAFETY: the full tile is inside C (rows == MR, cols == NR).
            unsafe {
                let dst = c.add(r * ldc);
                let (mut v0, mut v1) = (row[0], row[1]);
                if accumulate {
                    v0 = _mm256_add_ps(v0, _mm256_loadu_ps(dst));
                    v1 = _mm256_add_ps(v1, _mm256_loadu_ps(dst.add(8)));
                }
                _mm256_storeu_ps(dst, v0);
                _mm256_storeu_ps(dst.add(8), v1);
            }
        }
    } else {
        let mut tile = [0.0f32; MR * NR];
        for (r, row) in acc.iter().enumerate() {
            // SAFETY: tile has MR * NR floats.
            unsafe {
                _mm256_storeu_ps(tile.as_mut_ptr().add(r * NR), row[0]);
                _mm256_storeu_ps(tile.as_mut_ptr().add(r * NR + 8), row[1]);
            }
        }
        for r in 0..rows {
            for col in 0..cols {
                // SAFETY: (r, col) < (rows, cols), inside C.
                unsafe {
                    let dst = c.add(r * ldc + col);
                    *dst = if accumulate {
                        *dst + tile[r * NR + col]
                    } else {
                        tile[r * NR + col]
                    };
                }
            }
        }
    }
}

/// `C = A B` for `A: m x k`, `B: k x n` (any strides), `C` with row stride `ldc` and unit
/// column stride, on the calling thread. `k` must be at least 1.
///
/// # Safety
/// AVX2 and FMA must be available; the pointers must be valid for the given shapes and `C`
/// must not alias `A` or `B`.
pub(crate) unsafe fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: Strided,
    b: Strided,
    c: *mut f32,
    ldc: usize,
) {
    let mut bpack = vec![0.0f32; KC.min(k) * n.div_ceil(NR) * NR];
    let mut apack = vec![0.0f32; KC.min(k) * MC.min(m).div_ceil(MR) * MR];
    let mut p0 = 0;
    while p0 < k {
        let kc = KC.min(k - p0);
        // SAFETY: the caller vouches for A and B over m x k and k x n.
        unsafe { pack_b(b, p0, kc, n, &mut bpack) };
        let mut i0 = 0;
        while i0 < m {
            let mc = MC.min(m - i0);
            // SAFETY: as above.
            unsafe { pack_a(a, i0, mc, p0, kc, &mut apack) };
            for jt in 0..n.div_ceil(NR) {
                let cols = NR.min(n - jt * NR);
                for it in 0..mc.div_ceil(MR) {
                    let rows = MR.min(mc - it * MR);
                    // SAFETY: the panels were packed above with kc steps; the tile
                    // (i0 + it*MR, jt*NR) of rows x cols lies inside C.
                    unsafe {
                        kernel(
                            kc,
                            apack.as_ptr().add(it * MR * kc),
                            bpack.as_ptr().add(jt * NR * kc),
                            c.add((i0 + it * MR) * ldc + jt * NR),
                            ldc,
                            rows,
                            cols,
                            p0 > 0,
                        )
                    };
                }
            }
            i0 += mc;
        }
        p0 += kc;
    }
}
