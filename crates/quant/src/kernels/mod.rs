//! The encoder's non-GEMM loops — attention rows, the GEMM epilogues (bias, GELU, residual),
//! LayerNorm, the embedding sum — compiled once per instruction set from one source and
//! chosen at run time; and the GEMMs of the reduced precisions ([`int8`], [`bf16`]), on the
//! workspace's kernel substrate (`core_tensor::cpu` chooses the family, `core_tensor::par`
//! splits the work).
//!
//! The loops are written once and compiled per instruction set by
//! [`core_tensor::multiversion!`] (AVX-512, AVX2 + FMA, baseline; chosen at run time by
//! `core_tensor::cpu::level`): the same IEEE operations in the same order, so the versions
//! agree **bit for bit**; the tests check each level this CPU has against the baseline, which
//! is the specification.

pub mod amx;
pub mod bf16;
pub mod int8;
pub mod ops;

use std::cell::RefCell;
use std::thread::LocalKey;

use core_tensor::cpu::Family;
use core_tensor::par::for_tiles;

/// The tallest row tile of any family (AMX's).
pub(crate) const MAX_MR: usize = 32;

/// A tile kernel of the reduced-precision GEMMs: `out[r][j] = sum over kg steps` of rows of A
/// at `a` (row stride `lda` elements; `rows` of them wanted, the tile's others readable padding)
/// times one packed panel at `b`, the `MR x NR` tile written to `out` (row stride NR). INT8's
/// (`u8 x i8 -> i32`) and BF16's (`bf16 x bf16 -> f32`) are instances.
pub type TileKernel<A, B, T> =
    unsafe fn(kg: usize, a: *const A, lda: usize, rows: usize, b: *const B, out: *mut T);

/// The reduced-precision GEMMs' driver: `C` (`m x n`, row stride `ldc`) cut by
/// [`for_tiles`]; for each (row tile, panel) a task holds, the family's kernel multiplies rows
/// `i0 .. i0 + rows` of `a` (rows of `kp` values, padded to whole row tiles) by panel `p` of
/// `b` (panels of `kp x nr` values, `group` values of k per kernel step) into this thread's
/// `mr x nr` tile (from `tile_buf`), then `store(tile, i0, j0, rows_of_c)` writes it to C's
/// rows `i0 ..` over columns `j0 .. j0 + cols` (one slice per row of the tile). `epilogue` runs
/// as `for_tiles` says.
///
/// # Panics
/// When this CPU does not run the family, its tile is taller than [`MAX_MR`], `a` or `b` is
/// shorter than the product needs, or C is too short (`for_tiles`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn drive_tiles<A: Sync, B: Sync, T: Copy + Default + 'static>(
    f: &Family<TileKernel<A, B, T>>,
    (a, b, group): (&[A], &[B], usize),
    (m, n, kp): (usize, usize, usize),
    c: &mut [f32],
    ldc: usize,
    epilogue: Option<&core_tensor::Epilogue<'_>>,
    tile_buf: &'static LocalKey<RefCell<Vec<T>>>,
    store: impl Fn(&[T], usize, usize, &mut [&mut [f32]]) + Sync,
) {
    let (mr, nr) = (f.mr, f.nr);
    assert!(f.available(), "{} does not run on this CPU", f.name);
    assert!(mr <= MAX_MR, "{}: tile of {mr} rows", f.name);
    assert!(
        kp % group == 0
            && a.len() >= m.next_multiple_of(mr) * kp
            && b.len() >= n.div_ceil(nr) * kp * nr,
        "{}: A or B shorter than a {m} x {kp} x {n} product needs",
        f.name
    );
    for_tiles(
        m,
        n,
        kp,
        (mr, nr),
        c,
        ldc,
        epilogue,
        |tiles, panels, c_ptr| {
            tile_buf.with(|tile| {
                let mut tile = tile.borrow_mut();
                tile.resize(mr * nr, T::default());
                for it in tiles.clone() {
                    let i0 = it * mr;
                    let rows = mr.min(m - i0);
                    let (_, kernel) = f.tile_for(rows);
                    for p in panels.clone() {
                        // SAFETY: the CPU runs the family (checked above); A holds whole row
                        // tiles of kp values (checked above), of which the kernel wants `rows`
                        // from row i0; panel p holds kp / group steps of nr x group values
                        // (checked above); the tile holds mr x nr values.
                        unsafe {
                            kernel(
                                kp / group,
                                a.as_ptr().add(i0 * kp),
                                kp,
                                rows,
                                b.as_ptr().add(p * kp * nr),
                                tile.as_mut_ptr(),
                            )
                        };
                        let (j0, cols) = (p * nr, nr.min(n - p * nr));
                        let mut outs: [&mut [f32]; MAX_MR] = std::array::from_fn(|r| {
                            if r < rows {
                                // SAFETY: `for_tiles` hands each (row tile, panel) to one task, so
                                // rows i0 .. i0 + rows over these columns are this task's alone;
                                // they lie inside C (`for_tiles` checked its length), and each r
                                // is a different row.
                                unsafe {
                                    std::slice::from_raw_parts_mut(
                                        c_ptr.get().add((i0 + r) * ldc + j0),
                                        cols,
                                    )
                                }
                            } else {
                                &mut []
                            }
                        });
                        store(&tile, i0, j0, &mut outs[..rows]);
                    }
                }
            });
        },
    );
}

/// Deterministic test values in `[-0.5, 0.5)` from a multiplicative hash of the index.
#[cfg(test)]
pub(crate) fn hashed_values(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let h = (i as u32)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(seed.wrapping_mul(7919));
            (h >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect()
}
