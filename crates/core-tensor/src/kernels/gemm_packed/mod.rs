//! Our own single-precision GEMM: BLIS-style blocking and packing around a register-blocked
//! micro-kernel, in three instances made from one macro body:
//!
//! | instance | tile (MR x NR) | vectors | where it runs |
//! | --- | --- | --- | --- |
//! | [`AVX2`] | 6 x 16 | 2 ymm per row, 12 accumulators | x86-64 with AVX2 + FMA |
//! | [`AVX512`] | 14 x 32 | 2 zmm per row, 28 accumulators | x86-64 with AVX-512F |
//! | `EMULATED_6X16` / `EMULATED_14X32` (tests) | same | `[f32; W]` arrays, `f32::mul_add` | anywhere |
//!
//! The emulated instances run the same macro body with plain arrays for vectors and
//! `f32::mul_add` (one rounding, like the hardware FMA) for the fused multiply-add, so each
//! SIMD instance must agree with its emulated twin **bit for bit**; and the emulated twins are
//! checked against `matrixmultiply` and an f64 reference. That is how the AVX-512 instance's
//! blocking, packing and edge handling are tested on a machine without AVX-512.
//!
//! Loop structure for `C = A B` (`A: m x k`, `B: k x n`, any strides; `C` with unit column
//! stride):
//!
//! ```text
//! for each NC-wide slice j0 of n:
//!   B[.., j0..] packed, KC block by KC block, into NR-wide panels    (L3; shared by threads)
//!   for each block i0 of <= MC rows (a task; with few rows, a task also takes a group of panels):
//!     for each KC-deep block p0 of k:
//!       A[i0.., p0..] packed into MR-tall panels                       (L2; per thread)
//!       for each MR panel i, NR panel j:  S[i, j] (+)= A_panel . B_panel   (micro-kernel)
//! ```
//!
//! The A panel (MR x KC, 12 KiB for AVX2) stays in L1 while the B panels stream past it, the
//! loop order of OpenBLAS's kernels with the roles of A and B swapped. The other order (a B
//! panel held while A panels stream) writes C down a column of tiles, rows `ldc` apart; with
//! `n` a power of two those rows share one L1 set, and a 32 KiB B panel does not stay in L1
//! beside the A panel. (The commit that swapped the orders gives the alternated timings.)
//!
//! `S` is a per-thread scratch block of partial sums (tile after tile, contiguous) while k
//! blocks remain, and C itself for the last one, so C is written once and never read. Strided
//! panels (row-major A, a transposed B) are packed through 8 x 8 AVX2 register transposes.
//!
//! Per step of k the micro-kernel loads `NR / W` vectors of the B panel and broadcasts `MR`
//! values of the A panel: `MR * NR / W` FMAs per `MR + NR / W` loads (12 per 8 for AVX2).
//! Packed buffers are 64-byte aligned (each B-panel step is one cache line; no load splits a
//! line), kept per thread between calls (no allocation or page faults per product), and
//! zero-padded to full MR/NR so that edge tiles run the same kernel with only their
//! write-back clipped.
//!
//! Every element of C is accumulated over k in the same order — KC blocks in sequence, and
//! within a block `p = 0, 1, ...` — however rows or columns are split among threads, so
//! results are bit-identical for any thread count.

use rayon::prelude::*;

use super::cpu::{self, Isa};
use super::par::{Epilogue, SendPtr, Split};

#[macro_use]
mod kernel;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(test)]
pub(crate) mod emulated;
mod pack;
pub(crate) use pack::write_clipped;
use pack::{pack_panel, with_buffer, AlignedBuf, A_BUFFER, B_BUFFER, C_BUFFER};

/// A read-only strided matrix.
#[derive(Clone, Copy)]
pub(crate) struct Strided {
    pub ptr: *const f32,
    pub rs: isize,
    pub cs: isize,
}

impl Strided {
    /// Address of element `(row, col)`.
    ///
    /// # Safety
    /// The element must be inside the matrix the caller vouches for.
    unsafe fn at(self, row: usize, col: usize) -> *const f32 {
        // SAFETY: forwarded from the caller.
        unsafe {
            self.ptr
                .offset(row as isize * self.rs + col as isize * self.cs)
        }
    }
}

/// The micro-kernel's signature: `tile = A_panel . B_panel` over `kc` steps, written to `c`
/// (row stride `ldc`, unit column stride) as `c = tile`, or `c = tile + s` when `src` is not
/// null (`s` read at `src` with row stride `lds`; `src` may be `c` itself), clipped to
/// `rows x cols`.
type MicroKernel = unsafe fn(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    src: *const f32,
    lds: usize,
);

/// A register tile and the cache blocking around it.
#[derive(Clone, Copy)]
pub(crate) struct Blocking {
    mr: usize,
    nr: usize,
    /// Rows of A packed at once (a multiple of `mr`; MC x KC floats stay in L2).
    mc: usize,
    /// Depth of a packed block (the A panel, MR x KC floats, stays in L1).
    kc: usize,
    /// Most columns of B packed at once (a multiple of `nr`; fewer when k is large, see
    /// `B_SLICE_FLOATS`). The packed slice stays in L3.
    nc: usize,
}

/// The AVX2 tile, 6 x 16 (12 ymm accumulators).
const TILE_6X16: Blocking = Blocking {
    mr: 6,
    nr: 16,
    mc: 72,
    kc: 512,
    nc: 4096,
};

/// The AVX-512 tile, 14 x 32 (28 zmm accumulators).
const TILE_14X32: Blocking = Blocking {
    mr: 14,
    nr: 32,
    mc: 168,
    kc: 256,
    nc: 4096,
};

/// One micro-kernel with its tile and blocking, and how to tell whether the CPU runs it.
#[derive(Clone, Copy)]
pub(crate) struct Packed {
    /// Instance name, for reports and test messages.
    pub name: &'static str,
    blocking: Blocking,
    kernel: MicroKernel,
    /// Shorter tiles of the same width, `(MR', kernel)` by increasing MR': a last tile of `r`
    /// rows runs the first with `MR' >= r` instead of a full MR-row tile (a 29-row product
    /// with MR = 14 would otherwise compute 42 rows). Each element is accumulated by the same
    /// FMA sequence in every tile height, so results do not change.
    edges: &'static [(usize, MicroKernel)],
    /// The tier [`cpu::cap`] compares.
    isa: Isa,
    detect: fn() -> bool,
}

/// The AVX2 + FMA instance (6 x 16 tile). Callers must check [`Packed::available`].
#[cfg(target_arch = "x86_64")]
pub(crate) const AVX2: Packed = Packed {
    name: "avx2-6x16",
    blocking: TILE_6X16,
    kernel: avx2::avx2_6x16,
    edges: &[
        (1, avx2::avx2_1x16),
        (2, avx2::avx2_2x16),
        (4, avx2::avx2_4x16),
    ],
    isa: Isa::Avx2,
    detect: || cpu::features().avx2 && cpu::features().fma,
};

/// The AVX-512F instance (14 x 32 tile). Callers must check [`Packed::available`].
#[cfg(target_arch = "x86_64")]
pub(crate) const AVX512: Packed = Packed {
    name: "avx512-14x32",
    blocking: TILE_14X32,
    kernel: avx512::avx512_14x32,
    edges: &[
        (1, avx512::avx512_1x32),
        (2, avx512::avx512_2x32),
        (4, avx512::avx512_4x32),
        (6, avx512::avx512_6x32),
        (8, avx512::avx512_8x32),
        (10, avx512::avx512_10x32),
        (12, avx512::avx512_12x32),
    ],
    isa: Isa::Avx512,
    detect: || cpu::features().avx512f,
};

impl Packed {
    /// The register tile (MR, NR).
    pub(crate) fn tile(&self) -> (usize, usize) {
        (self.blocking.mr, self.blocking.nr)
    }

    /// Whether this CPU can run the instance (whatever the cap).
    pub(crate) fn available(&self) -> bool {
        (self.detect)()
    }

    /// Whether the instance may run: available and within `GROUNDWORK_ISA` ([`cpu::cap`]).
    pub(crate) fn allowed(&self) -> bool {
        cpu::allowed(self.isa, self.available())
    }

    /// The tile height and kernel for a tile of `rows` rows: the shortest edge tile that
    /// holds them, else the full tile.
    fn tile_for(&self, rows: usize) -> (usize, MicroKernel) {
        cpu::tile_kernel(self.edges, self.blocking.mr, self.kernel, rows)
    }

    /// How a product with `m` rows and `panels` NR-panels is cut into tasks for `threads`
    /// threads ([`Split`], the split every packed GEMM uses): the `ceil(m / MR)` row tiles are
    /// dealt out evenly to the fewest blocks of at most MC rows; with several threads, that
    /// count is rounded up to a multiple of the thread count (1024 rows, AVX2 on 2 threads: 16
    /// blocks of 10 or 11 tiles, where MC-row blocks would be 14 of 72 rows and one of 16), and
    /// when that gives under 4 tasks per thread the panels are split into groups too.
    fn partition(&self, m: usize, panels: usize, threads: usize) -> Split {
        let Blocking { mr, mc, .. } = self.blocking;
        let tiles = m.div_ceil(mr);
        let blocks = tiles.div_ceil(mc / mr);
        let blocks = if threads <= 1 {
            blocks
        } else {
            (blocks.div_ceil(threads) * threads).min(tiles)
        };
        Split::new(tiles, panels, blocks, threads)
    }

    /// The depth of each k block and the widest slice of B packed at once, for a product of
    /// inner dimension `k` and `n` columns. Both depend on `k` and `n` only — never on `m` —
    /// so every element of C is accumulated in the same order whatever the number of rows.
    fn b_blocking(&self, k: usize, n: usize) -> (usize, usize) {
        let Blocking {
            nr,
            kc: kc_cap,
            nc: nc_cap,
            ..
        } = self.blocking;
        // k in equal blocks of at most KC (k = 600 with KC = 512 runs as 2 x 300, not
        // 512 + 88): the short last block would pay a whole pass over C for little work.
        let kc_max = k.div_ceil(k.div_ceil(kc_cap));
        // B is packed a slice of NC columns at a time, all of k at once, so that tasks run
        // every k block of their part of C without waiting for each other in between.
        let nc_max = (B_SLICE_FLOATS / (k * nr)).max(1) * nr;
        (kc_max, nc_max.min(nc_cap).min(n.div_ceil(nr) * nr))
    }

    /// Packs the slice of B at columns `j0 .. j0 + nc` into `dst` (`k * ceil(nc / NR) * NR`
    /// floats): k block by k block; within the block starting at `p0` (`kc` deep), at
    /// `p0 * panels * NR`, panel `t` holds for each `p` the NR values
    /// `B[p0 + p, j0 + t*NR + c]` (zero past `n`).
    ///
    /// # Safety
    /// `b` must be valid over `k` rows and columns `j0 .. j0 + nc`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn pack_b_slice(
        &self,
        b: Strided,
        k: usize,
        kc_max: usize,
        j0: usize,
        nc: usize,
        dst: &mut [f32],
        parallel: bool,
    ) {
        let nr = self.blocking.nr;
        let panels = nc.div_ceil(nr);
        let mut jobs: Vec<(usize, usize, usize, &mut [f32])> = Vec::new();
        for (block, slab) in dst[..k * panels * nr]
            .chunks_mut(kc_max * panels * nr)
            .enumerate()
        {
            let (p0, kc) = (block * kc_max, kc_max.min(k - block * kc_max));
            for (t, dst) in slab.chunks_mut(kc * nr).enumerate() {
                jobs.push((p0, kc, t, dst));
            }
        }
        let pack = |(p0, kc, t, dst): (usize, usize, usize, &mut [f32])| {
            debug_assert_eq!(dst.len(), kc * nr);
            // SAFETY: the caller vouches for B over k x (j0 .. j0 + nc); rows p0 .. p0 + kc
            // and columns j0 + t*nr .. + live of it are what this panel reads.
            unsafe {
                let origin = b.at(p0, j0 + t * nr);
                pack_panel(origin, b.cs, b.rs, nr.min(nc - t * nr), dst, nr)
            }
        };
        if parallel && jobs.len() > 1 {
            jobs.into_par_iter().for_each(pack);
        } else {
            jobs.into_iter().for_each(pack);
        }
    }

    /// `C = A B` for `A: m x k`, `B: k x n` (any strides; `m`, `k`, `n` at least 1), `C` with
    /// row stride `ldc` and unit column stride. C is only written, never read first, so it
    /// may be uninitialised.
    ///
    /// With `parallel`, each packed slice of B (all of k, NC columns) is shared by the current
    /// rayon pool's threads, which take (block of rows x group of NR panels) tasks from it
    /// as they become free (so a core slowed by something else just takes fewer tasks), each
    /// packing its own A blocks and running every k block of its part of C without waiting
    /// for the others. Without it, everything runs on the calling thread.
    ///
    /// # Safety
    /// [`Packed::available`] must hold; the pointers must be valid for the given shapes and `C`
    /// must not alias `A` or `B`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn gemm(
        &self,
        m: usize,
        k: usize,
        n: usize,
        a: Strided,
        b: Strided,
        c: *mut f32,
        ldc: usize,
        parallel: bool,
    ) {
        debug_assert!(m > 0 && n > 0 && k > 0, "Packed::gemm on an empty product");
        let (kc_max, nc_max) = self.b_blocking(k, n);
        let nr = self.blocking.nr;
        let threads = if parallel {
            rayon::current_num_threads()
        } else {
            1
        };
        with_buffer(&B_BUFFER, k * nc_max, |bpack| {
            let mut j0 = 0;
            while j0 < n {
                let nc = nc_max.min(n - j0);
                let bpack = &mut bpack[..k * nc.div_ceil(nr) * nr];
                // SAFETY: the caller vouches for B over k x n.
                unsafe { self.pack_b_slice(b, k, kc_max, j0, nc, bpack, threads > 1) };
                // SAFETY: the slice was just packed with this blocking; the caller vouches
                // for A and C.
                unsafe { self.run_slice(m, k, kc_max, a, bpack, j0, nc, c, ldc, threads, None) };
                j0 += nc;
            }
        });
    }

    /// Packs all of `B` (`k x n`, any strides) once, in the layout [`Packed::gemm`] packs it
    /// into slice by slice, for repeated products with [`Packed::gemm_prepacked`].
    ///
    /// # Safety
    /// `b` must be valid over `k x n` (both at least 1).
    pub(crate) unsafe fn pack_b(&self, k: usize, n: usize, b: Strided) -> PackedB {
        let (kc_max, nc_max) = self.b_blocking(k, n);
        let nr = self.blocking.nr;
        let mut slices = Vec::new();
        let mut total = 0;
        let mut j0 = 0;
        while j0 < n {
            let nc = nc_max.min(n - j0);
            slices.push((j0, nc, total));
            total += k * nc.div_ceil(nr) * nr;
            j0 += nc;
        }
        let mut data = AlignedBuf::default();
        let floats = data.floats(total);
        for &(j0, nc, offset) in &slices {
            let len = k * nc.div_ceil(nr) * nr;
            // SAFETY: forwarded from the caller.
            unsafe {
                self.pack_b_slice(
                    b,
                    k,
                    kc_max,
                    j0,
                    nc,
                    &mut floats[offset..offset + len],
                    false,
                )
            };
        }
        PackedB {
            kernel: self.name,
            k,
            kc_max,
            slices,
            data,
        }
    }

    /// `C = A B` with B packed by [`Packed::pack_b`] of this same instance, then
    /// `epilogue(row, first_column, values)` on every row of each task's block of C while it
    /// is still in cache (bias, activation). Bit for bit what [`Packed::gemm`] computes.
    ///
    /// # Safety
    /// As for [`Packed::gemm`], with `b` packed by this instance.
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn gemm_prepacked(
        &self,
        m: usize,
        a: Strided,
        b: &PackedB,
        c: *mut f32,
        ldc: usize,
        parallel: bool,
        epilogue: Option<&Epilogue<'_>>,
    ) {
        debug_assert_eq!(b.kernel, self.name, "B was packed for another kernel");
        let threads = if parallel {
            rayon::current_num_threads()
        } else {
            1
        };
        let nr = self.blocking.nr;
        let data = b.data.as_slice();
        for &(j0, nc, offset) in &b.slices {
            let bpack = &data[offset..offset + b.k * nc.div_ceil(nr) * nr];
            // SAFETY: the slice was packed by this instance with `b.kc_max`; the caller
            // vouches for A and C.
            unsafe {
                self.run_slice(
                    m, b.k, b.kc_max, a, bpack, j0, nc, c, ldc, threads, epilogue,
                )
            };
        }
    }

    /// Runs every task of one packed slice of B (columns `j0 .. j0 + nc`) on `threads`
    /// threads: the blocks of C rows (and groups of panels) over every k block, then the
    /// epilogue on each task's block.
    ///
    /// # Safety
    /// `bpack` holds the slice packed with blocking `kc_max`; A is valid over `m x k`; C over
    /// `m` rows of row stride `ldc` and the slice's columns, not aliasing A or B.
    #[allow(clippy::too_many_arguments)]
    unsafe fn run_slice(
        &self,
        m: usize,
        k: usize,
        kc_max: usize,
        a: Strided,
        bpack: &[f32],
        j0: usize,
        nc: usize,
        c: *mut f32,
        ldc: usize,
        threads: usize,
        epilogue: Option<&Epilogue<'_>>,
    ) {
        let Blocking { mr, nr, mc, .. } = self.blocking;
        let a_len = kc_max * mc.min(m.div_ceil(mr) * mr);
        let c = SendPtr::new(c);
        let panels = nc.div_ceil(nr);
        let split = self.partition(m, panels, threads);
        // One task: a block of rows x a group of panels of C, over every k block.
        split.run(threads, |row_tiles, panel_range| {
            let i0 = row_tiles.start * mr;
            let mc = (row_tiles.end * mr).min(m) - i0;
            let tiles = mc.div_ceil(mr);
            let passes = k.div_ceil(kc_max);
            // With several k blocks, the partial sums live in a contiguous scratch block
            // (tile after tile, row stride NR) and C is written once, by the last block. C's
            // rows can be a power-of-two stride apart (n = 1024, 2048), which puts all of a
            // tile's rows in one L1 set: 14 rows of the AVX-512 tile (28 lines) exceed any
            // L1's associativity and would evict each other on every pass.
            let scratch_len = if passes > 1 {
                panel_range.len() * tiles * mr * nr
            } else {
                0
            };
            with_buffer(&A_BUFFER, a_len, |apack| {
                with_buffer(&C_BUFFER, scratch_len, |scratch| {
                    let scratch = scratch.as_mut_ptr();
                    for pass in 0..passes {
                        let p0 = pass * kc_max;
                        let kc = kc_max.min(k - p0);
                        let last = pass + 1 == passes;
                        let bblock = &bpack[p0 * panels * nr..];
                        // SAFETY: the caller vouches for A over m x k; the block is inside it.
                        unsafe { self.pack_a(a, i0, mc, p0, kc, apack) };
                        // C's block of this task, written by the last k block.
                        let c_block = last.then(|| (c.get().wrapping_add(i0 * ldc + j0), ldc));
                        // SAFETY: available() holds (caller); the A block was just packed for
                        // kc steps and the B block for the slice; the scratch block holds
                        // tiles x group panels tiles; the task owns C's block (tasks own
                        // disjoint blocks of C).
                        unsafe {
                            self.tile_pass(
                                kc,
                                apack,
                                bblock,
                                mc,
                                panel_range.clone(),
                                nc,
                                scratch,
                                pass == 0,
                                c_block,
                            )
                        };
                    }
                })
            });
            if let Some(f) = epilogue {
                let (col0, col1) = (
                    j0 + panel_range.start * nr,
                    j0 + (panel_range.end * nr).min(nc),
                );
                for i in i0..i0 + mc {
                    // SAFETY: this task owns rows i0 .. i0 + mc of C over the group's columns
                    // (tasks own disjoint blocks), just written above.
                    let row = unsafe {
                        std::slice::from_raw_parts_mut(c.get().add(i * ldc + col0), col1 - col0)
                    };
                    f(i, col0, row);
                }
            }
        });
    }

    /// Packs `A[i0..i0+mc, p0..p0+kc]` into MR-row panels, panel `t` at `t * MR * kc`
    /// holding, for each `p`, the values `A[i0 + t*MR + r, p0 + p]` — the last, partial panel
    /// as wide as its edge tile ([`Packed::tile_for`]), zero past `mc`.
    ///
    /// # Safety
    /// `a` must be valid for the addressed rectangle.
    #[allow(clippy::too_many_arguments)]
    unsafe fn pack_a(
        &self,
        a: Strided,
        i0: usize,
        mc: usize,
        p0: usize,
        kc: usize,
        out: &mut [f32],
    ) {
        let mr = self.blocking.mr;
        for t in 0..mc.div_ceil(mr) {
            let rows = mr.min(mc - t * mr);
            let width = self.tile_for(rows).0;
            let dst = &mut out[t * mr * kc..t * mr * kc + width * kc];
            // SAFETY: rows i0 + t*mr .. + rows and columns p0 .. p0 + kc are inside the
            // rectangle the caller vouches for.
            unsafe { pack_panel(a.at(i0 + t * mr, p0), a.rs, a.cs, rows, dst, width) };
        }
    }

    /// One k block of one task: the packed A block (`mc` rows, `kc` deep) times the group's
    /// packed B panels (`panels` of the slice's, `nc` columns wide), A tile by A tile, each
    /// across the group's B panels (the loop order the module documentation explains).
    ///
    /// Tile `(it, jl)` (A tile `it`, `jl`-th panel of the group) accumulates in `scratch` at
    /// `(it * panels.len() + jl) * MR * NR` (row stride NR), starting from zero when `first`;
    /// with `c_block = Some((c, ldc))` (the last k block) it goes to C instead, at
    /// `c + it * MR * ldc + jt * NR` for the slice's panel `jt`, clipped to `mc` rows and `nc`
    /// columns (`c` is C at the block's first row and the slice's first column).
    ///
    /// # Safety
    /// [`Packed::available`] holds; `apack` holds the block's ceil(mc / MR) panels of `kc`
    /// steps and `bblock` the slice's panels of `kc` steps; `scratch` is valid for
    /// ceil(mc / MR) x `panels.len()` tiles; `c` is valid for `mc` rows of row stride `ldc`
    /// over the group's columns, and nothing else writes them meanwhile.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile_pass(
        &self,
        kc: usize,
        apack: &[f32],
        bblock: &[f32],
        mc: usize,
        panels: std::ops::Range<usize>,
        nc: usize,
        scratch: *mut f32,
        first: bool,
        c_block: Option<(*mut f32, usize)>,
    ) {
        let Blocking { mr, nr, .. } = self.blocking;
        let group_panels = panels.len();
        for it in 0..mc.div_ceil(mr) {
            let rows = mr.min(mc - it * mr);
            let (tile_mr, kernel) = self.tile_for(rows);
            for (jl, jt) in panels.clone().enumerate() {
                let cols = nr.min(nc - jt * nr);
                let part = scratch.wrapping_add((it * group_panels + jl) * mr * nr);
                let (src, lds) = if first {
                    (std::ptr::null(), 0)
                } else {
                    (part.cast_const(), nr)
                };
                let (out, ldo, rows, cols) = match c_block {
                    Some((c, ldc)) => (c.wrapping_add(it * mr * ldc + jt * nr), ldc, rows, cols),
                    None => (part, nr, tile_mr, nr),
                };
                // SAFETY: the caller's contract: both panels hold kc steps, the scratch tile
                // (it < tiles, jl < group panels) and the clipped C tile are inside their
                // blocks.
                unsafe {
                    kernel(
                        kc,
                        apack.as_ptr().add(it * mr * kc),
                        bblock.as_ptr().add(jt * nr * kc),
                        out,
                        ldo,
                        rows,
                        cols,
                        src,
                        lds,
                    )
                };
            }
        }
    }
}

/// Most floats of B packed at once (4 MiB): the NC slice is cut to fit it. Each A tile of a
/// task streams the slice's current k block past it and a task runs every k block, so the
/// whole slice is a working set that must stay in L3, which other cores (and, on a shared
/// machine, other tenants) also fill. Halving it from 8 MiB made 2048^3 faster on the 2-core
/// AVX2 machine (the commit that set it gives the timings); a product with `k * n` under
/// 1 Mi floats (1024^3, the BERT shapes) is one slice either way.
const B_SLICE_FLOATS: usize = 1 << 20;

// SAFETY: a `Strided` is only read through, and the caller of `Packed::gemm` keeps the
// matrix alive and unmodified for the whole product.
unsafe impl Send for Strided {}
// SAFETY: as above.
unsafe impl Sync for Strided {}

/// All of a matrix B packed once by one kernel instance (see [`Packed::pack_b`]).
pub(crate) struct PackedB {
    /// The instance that packed it (and the only one that may use it).
    kernel: &'static str,
    k: usize,
    kc_max: usize,
    /// `(first column, columns, offset into data)` of each slice.
    slices: Vec<(usize, usize, usize)>,
    data: AlignedBuf,
}

impl PackedB {
    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.data.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::emulated::{EMULATED_14X32, EMULATED_6X16};

    /// Row blocks cover `0..m` in order, start on tile boundaries, hold at most MC rows and
    /// tile counts that differ by at most one; with several threads their count is a multiple
    /// of the thread count whenever there are that many tiles.
    #[test]
    fn row_blocks_tile_m_evenly() {
        for packed in [EMULATED_6X16, EMULATED_14X32] {
            let (mr, mc) = (packed.blocking.mr, packed.blocking.mc);
            for m in [1, 5, 6, 7, 64, 100, 171, 512, 1000, 1024, 2048, 4096] {
                for threads in [1, 2, 3, 16] {
                    let split = packed.partition(m, 24, threads);
                    let (blocks, groups) = split.shape();
                    assert!((1..=24).contains(&groups));
                    let tiles = m.div_ceil(mr);
                    if threads > 1 && tiles >= threads {
                        assert_eq!(blocks % threads, 0, "{} m={m} t={threads}", packed.name);
                    }
                    let mut next = 0;
                    let mut counts = Vec::new();
                    for b in 0..blocks {
                        let tiles_of_b = split.task(b * groups).0;
                        let i0 = tiles_of_b.start * mr;
                        let rows = (tiles_of_b.end * mr).min(m) - i0;
                        let ctx = format!("{} m={m} t={threads} block {b}/{blocks}", packed.name);
                        assert_eq!(i0, next, "{ctx}");
                        assert!(
                            i0 % mr == 0 && rows >= 1 && rows <= mc,
                            "{ctx}: {rows} rows"
                        );
                        counts.push(rows.div_ceil(mr));
                        next = i0 + rows;
                    }
                    assert_eq!(next, m);
                    let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
                    assert!(
                        hi - lo <= 1,
                        "{} m={m} t={threads}: {counts:?}",
                        packed.name
                    );
                }
            }
        }
    }
}
