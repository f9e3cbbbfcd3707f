//! The encoder's non-GEMM loops — attention rows, the GEMM epilogues (bias, GELU, residual),
//! LayerNorm, the embedding sum — compiled once per instruction set from one source and
//! chosen at run time; and the GEMMs of the reduced precisions ([`int8`], [`bf16`]), on the
//! workspace's kernel substrate (`core_tensor::cpu` chooses the family, `core_tensor::par`
//! splits the work).
//!
//! The crate is built for baseline x86-64 (no `-C target-cpu=native`: binaries must run on
//! any x86-64), which limits auto-vectorised loops to SSE2. `multiversion!` compiles a
//! function's body three times — for AVX-512 (F, BW, VL), for AVX2 + FMA, and for the
//! baseline — and dispatches on the CPU detected once ([`level`]). The three are the same
//! IEEE operations in the same order (Rust never contracts `a * b + c` into an FMA nor
//! reassociates sums), so they must agree **bit for bit**; the tests check each level this
//! CPU has against the baseline, which is the specification.

pub mod amx;
pub mod bf16;
pub mod int8;
pub mod ops;

use std::cell::RefCell;
use std::thread::LocalKey;

use core_tensor::cpu::{self, Family, Isa};
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

/// Which compiled version runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Baseline x86-64 (SSE2) or another architecture.
    Generic,
    /// AVX2 + FMA.
    Avx2,
    /// AVX-512 F, BW and VL.
    Avx512,
}

/// The level that runs: the widest this CPU supports within `GROUNDWORK_ISA`
/// ([`cpu::cap`]: `scalar` gives the baseline, `avx2` and `avx-vnni` AVX2).
pub fn level() -> Level {
    static LEVEL: std::sync::OnceLock<Level> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = match cpu::cap() {
            Isa::Scalar => Level::Generic,
            Isa::Avx2 | Isa::AvxVnni => Level::Avx2,
            Isa::Avx512 | Isa::Amx => Level::Avx512,
        };
        detected().min(cap)
    })
}

/// The widest level the CPU supports (whatever the cap: the tests run every one it has).
pub fn detected() -> Level {
    let f = cpu::features();
    if f.avx512f && f.avx512bw && f.avx512vl {
        Level::Avx512
    } else if f.avx2 && f.fma {
        Level::Avx2
    } else {
        Level::Generic
    }
}

/// Defines `pub fn name(args) -> ret` compiled three times (see the module docs), each
/// callable directly as `name::at(level, args)` for the tests.
macro_rules! multiversion {
    (
        $(#[$meta:meta])*
        pub fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block
    ) => {
        $(#[$meta])*
        #[inline]
        #[allow(clippy::too_many_arguments)]
        pub fn $name($($arg: $ty),*) $(-> $ret)? {
            $name::at($crate::kernels::level(), $($arg),*)
        }

        #[doc = concat!("The versions of [`", stringify!($name), "()`] compiled per instruction set.")]
        #[allow(clippy::too_many_arguments)]
        pub mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
            fn avx512($($arg: $ty),*) $(-> $ret)? {
                body($($arg),*)
            }

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            fn avx2($($arg: $ty),*) $(-> $ret)? {
                body($($arg),*)
            }

            /// The version compiled for `level` (which the CPU must run: `kernels::level()` or below).
            ///
            /// # Panics
            /// When the CPU lacks `level`'s features.
            #[inline]
            pub fn at(level: $crate::kernels::Level, $($arg: $ty),*) $(-> $ret)? {
                match level {
                    #[cfg(target_arch = "x86_64")]
                    $crate::kernels::Level::Avx512 => {
                        assert!($crate::kernels::detected() >= level, "CPU lacks {level:?}");
                        // SAFETY: the CPU has AVX-512 F/BW/VL and AVX2/FMA (checked).
                        unsafe { avx512($($arg),*) }
                    }
                    #[cfg(target_arch = "x86_64")]
                    $crate::kernels::Level::Avx2 => {
                        assert!($crate::kernels::detected() >= level, "CPU lacks {level:?}");
                        // SAFETY: the CPU has AVX2 and FMA (checked).
                        unsafe { avx2($($arg),*) }
                    }
                    _ => body($($arg),*),
                }
            }
        }
    };
}
pub(crate) use multiversion;
