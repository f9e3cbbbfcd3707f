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

use std::cell::RefCell;

use rayon::prelude::*;

use super::cpu::{self, Isa};
use super::par::{Epilogue, SendPtr};

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
    kernel: x86::avx2_6x16,
    edges: &[
        (1, x86::avx2_1x16),
        (2, x86::avx2_2x16),
        (4, x86::avx2_4x16),
    ],
    isa: Isa::Avx2,
    detect: || cpu::features().avx2 && cpu::features().fma,
};

/// The AVX-512F instance (14 x 32 tile). Callers must check [`Packed::available`].
#[cfg(target_arch = "x86_64")]
pub(crate) const AVX512: Packed = Packed {
    name: "avx512-14x32",
    blocking: TILE_14X32,
    kernel: x86::avx512_14x32,
    edges: &[
        (1, x86::avx512_1x32),
        (2, x86::avx512_2x32),
        (4, x86::avx512_4x32),
        (6, x86::avx512_6x32),
        (8, x86::avx512_8x32),
        (10, x86::avx512_10x32),
        (12, x86::avx512_12x32),
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
    /// threads: (row blocks, panel groups per block). The `ceil(m / MR)` row tiles are dealt
    /// out evenly (counts differing by at most one) to the fewest blocks of at most MC rows;
    /// with several threads, that count is rounded up to a multiple of the thread count
    /// (1024 rows, AVX2 on 2 threads: 16 blocks of 10 or 11 tiles, where MC-row blocks would
    /// be 14 of 72 rows and one of 16), and when that gives under 4 tasks per thread the
    /// panels are split into groups too. See [`Packed::block_rows`] for each block's rows.
    fn partition(&self, m: usize, panels: usize, threads: usize) -> (usize, usize) {
        let Blocking { mr, mc, .. } = self.blocking;
        let tiles = m.div_ceil(mr);
        let blocks = tiles.div_ceil(mc / mr);
        if threads <= 1 {
            return (blocks, 1);
        }
        let blocks = (blocks.div_ceil(threads) * threads).min(tiles);
        let groups = (4 * threads).div_ceil(blocks).min(panels).max(1);
        (blocks, groups)
    }

    /// Rows `(first, count)` of block `block` of `blocks` (see [`Packed::partition`]): tiles
    /// `block * T / blocks ..(block + 1) * T / blocks` of the `T = ceil(m / MR)` row tiles.
    fn block_rows(&self, m: usize, blocks: usize, block: usize) -> (usize, usize) {
        let mr = self.blocking.mr;
        let tiles = m.div_ceil(mr);
        let (t0, t1) = (block * tiles / blocks, (block + 1) * tiles / blocks);
        (t0 * mr, (t1 * mr).min(m) - t0 * mr)
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
        let (row_blocks, groups) = self.partition(m, panels, threads);
        let per_group = panels.div_ceil(groups);
        // One task: a block of rows x a group of panels of C, over every k block.
        let task = |task: usize| {
            let (block, group) = (task / groups, task % groups);
            let (i0, mc) = self.block_rows(m, row_blocks, block);
            let panel_range = group * per_group..panels.min((group + 1) * per_group);
            if panel_range.is_empty() {
                return;
            }
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
        };
        let tasks = row_blocks * groups;
        if threads > 1 && tasks > 1 {
            (0..tasks).into_par_iter().for_each(task);
        } else {
            (0..tasks).for_each(task);
        }
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
        self.data.0.len() * 64
    }
}

/// A cache line of floats: the unit of the packing buffers, so they are 64-byte aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// Growable 64-byte-aligned float buffer.
#[derive(Default)]
struct AlignedBuf(Vec<Line>);

impl AlignedBuf {
    /// The whole buffer as floats.
    fn as_slice(&self) -> &[f32] {
        // SAFETY: as in `floats`: `Line` is 16 contiguous floats.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().cast::<f32>(), self.0.len() * 16) }
    }

    fn floats(&mut self, len: usize) -> &mut [f32] {
        let lines = len.div_ceil(16);
        if self.0.len() < lines {
            self.0.resize(lines, Line([0.0; 16]));
        }
        // SAFETY: `Line` is `repr(C)` around `[f32; 16]` with no padding (64 bytes, align 64),
        // so `lines` lines are `16 * lines >= len` initialised, contiguous floats.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_mut_ptr().cast::<f32>(), len) }
    }
}

thread_local! {
    /// This thread's A-block packing buffer, kept between products.
    static A_BUFFER: RefCell<AlignedBuf> = RefCell::default();
    /// This thread's scratch block of partial sums of C, kept between products.
    static C_BUFFER: RefCell<AlignedBuf> = RefCell::default();
    /// This thread's B-block packing buffer (shared read-only with the pool's threads while
    /// a parallel product runs), kept between products.
    static B_BUFFER: RefCell<AlignedBuf> = RefCell::default();
}

/// Runs `f` with one of this thread's packing buffers grown to `len` floats.
fn with_buffer<R>(
    key: &'static std::thread::LocalKey<RefCell<AlignedBuf>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    key.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => f(buf.floats(len)),
        // Only if a product starts another on the same thread (none does today): fresh
        // buffers keep it correct.
        Err(_) => f(AlignedBuf::default().floats(len)),
    })
}

/// Packs one panel: `dst[p * width + l] = src[l * lane + p * step]` for `l < live`, zero for
/// `live <= l < width`, over `dst.len() / width` steps. An A panel has lanes = rows, a B panel
/// lanes = columns. Dispatches to a copy of the loop with `width` known at compile time.
///
/// # Safety
/// `src` must be valid at every `l * lane + p * step` addressed.
unsafe fn pack_panel(
    src: *const f32,
    lane: isize,
    step: isize,
    live: usize,
    dst: &mut [f32],
    width: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if step == 1 && lane != 1 && live == width && x86::transpose_available() {
        // Row-major A or a transposed B: each lane is contiguous along k. Transposing 8 x 8
        // blocks in registers moves 8 floats per load instead of one.
        // SAFETY: AVX2 is present; forwarded from the caller otherwise.
        unsafe { x86::pack_transposed(src, lane, width, dst) };
        return;
    }
    // SAFETY: forwarded from the caller.
    unsafe {
        match width {
            1 => pack_panel_w::<1>(src, lane, step, live, dst),
            2 => pack_panel_w::<2>(src, lane, step, live, dst),
            4 => pack_panel_w::<4>(src, lane, step, live, dst),
            6 => pack_panel_w::<6>(src, lane, step, live, dst),
            8 => pack_panel_w::<8>(src, lane, step, live, dst),
            10 => pack_panel_w::<10>(src, lane, step, live, dst),
            12 => pack_panel_w::<12>(src, lane, step, live, dst),
            14 => pack_panel_w::<14>(src, lane, step, live, dst),
            16 => pack_panel_w::<16>(src, lane, step, live, dst),
            32 => pack_panel_w::<32>(src, lane, step, live, dst),
            w => unreachable!("no packing loop for panel width {w}"),
        }
    }
}

/// [`pack_panel`] for a width `W` known at compile time.
///
/// # Safety
/// As for [`pack_panel`].
#[inline(always)]
unsafe fn pack_panel_w<const W: usize>(
    src: *const f32,
    lane: isize,
    step: isize,
    live: usize,
    dst: &mut [f32],
) {
    let steps = dst.chunks_exact_mut(W);
    if lane == 1 && live == W {
        // A full step of contiguous lanes: a fixed-size copy (a few vector moves, where
        // `copy_from_slice` of a run-time length is a call to memmove per step).
        for (p, d) in steps.enumerate() {
            // SAFETY: lanes 0..W of step p are addressed by the caller's contract.
            let s = unsafe { &*src.offset(p as isize * step).cast::<[f32; W]>() };
            d.copy_from_slice(s);
        }
    } else if lane == 1 {
        // The lanes of a step are contiguous (row-major B, column-major A): copy them.
        for (p, d) in steps.enumerate() {
            // SAFETY: lanes 0..live of step p are addressed by the caller's contract.
            let s = unsafe { std::slice::from_raw_parts(src.offset(p as isize * step), live) };
            d[..live].copy_from_slice(s);
            d[live..].fill(0.0);
        }
    } else if live == W {
        // A full panel of strided lanes (row-major A, a transposed B): gather W streams, each
        // read in order, writing the panel front to back.
        let lanes: [*const f32; W] =
            std::array::from_fn(|l| src.wrapping_offset(l as isize * lane));
        for (p, d) in steps.enumerate() {
            let off = p as isize * step;
            for l in 0..W {
                // SAFETY: (l, p) is addressed by the caller's contract.
                d[l] = unsafe { *lanes[l].offset(off) };
            }
        }
    } else {
        for (p, d) in steps.enumerate() {
            for (l, v) in d.iter_mut().enumerate() {
                *v = if l < live {
                    // SAFETY: (l, p) with l < live is addressed by the caller's contract.
                    unsafe { *src.offset(l as isize * lane + p as isize * step) }
                } else {
                    0.0
                };
            }
        }
    }
}

/// Writes an `MR x NR` tile held in a row-major scratch array to C, clipped to `rows x cols`,
/// adding the matching part of `src` (row stride `lds`) first when it is not null.
///
/// # Safety
/// `c` is valid for `rows x cols` with row stride `ldc`, `src` (if not null) for reads of
/// `rows x cols` with row stride `lds`; `tile` holds `rows` rows of `nr`.
#[allow(clippy::too_many_arguments)]
#[inline]
unsafe fn write_clipped(
    tile: &[f32],
    nr: usize,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    src: *const f32,
    lds: usize,
) {
    for r in 0..rows {
        let row = &tile[r * nr..r * nr + cols];
        // SAFETY: row r of the clipped tile is inside C and src (caller's contract). C may be
        // uninitialised, so it is only written, through a pointer; src may alias C, so it is
        // read element by element before each write.
        unsafe {
            let dst = c.add(r * ldc);
            if src.is_null() {
                std::ptr::copy_nonoverlapping(row.as_ptr(), dst, cols);
            } else {
                let s = src.add(r * lds);
                for (j, v) in row.iter().enumerate() {
                    *dst.add(j) = v + *s.add(j);
                }
            }
        }
    }
}

/// Defines a micro-kernel (see [`MicroKernel`]) from its vector type and four vector
/// operations. The body is the same for every instance: that is what lets the emulated
/// instances stand in for the SIMD ones in tests.
macro_rules! micro_kernel {
    (
        $(#[$attr:meta])*
        fn $name:ident: MR = $mr:expr, W = $w:expr, NV = $nv:expr, vector = $v:ty,
        zero = $zero:expr, load = $load:expr, broadcast = $bcast:expr, fma = $fma:expr,
        loadu = $loadu:expr, storeu = $storeu:expr, add = $add:expr, prefetch = $prefetch:expr $(,)?
    ) => {
        $(#[$attr])*
        #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
        pub(super) unsafe fn $name(
            kc: usize,
            a: *const f32,
            b: *const f32,
            c: *mut f32,
            ldc: usize,
            rows: usize,
            cols: usize,
            src: *const f32,
            lds: usize,
        ) {
            const MR: usize = $mr;
            const W: usize = $w;
            const NV: usize = $nv;
            const NR: usize = W * NV;
            // Ask for the tile to be read (or else written) now, so that its lines arrive
            // while the product is computed.
            let (ahead, ld) = if src.is_null() { (c.cast_const(), ldc) } else { (src, lds) };
            for r in 0..rows {
                $prefetch(ahead.wrapping_add(r * ld));
                $prefetch(ahead.wrapping_add(r * ld + NR - 1));
            }
            let mut acc: [[$v; NV]; MR] = [[$zero; NV]; MR];
            // One step of k at `u` steps past (a, b): NV vector loads of the B panel, MR
            // broadcasts of the A panel, MR * NV FMAs.
            let step = |acc: &mut [[$v; NV]; MR], a: *const f32, b: *const f32, u: usize| {
                let mut bv: [$v; NV] = [$zero; NV];
                for v in 0..NV {
                    // SAFETY: the B panel holds kc steps of NR floats, 64-byte aligned, and
                    // step u is one of them (callers stay below kc).
                    bv[v] = unsafe { $load(b.add(u * NR + v * W)) };
                }
                for r in 0..MR {
                    // SAFETY: the A panel holds kc steps of MR floats; step u is one of them.
                    let av: $v = unsafe { $bcast(a.add(u * MR + r)) };
                    for v in 0..NV {
                        acc[r][v] = $fma(av, bv[v], acc[r][v]);
                    }
                }
            };
            let (mut a, mut b) = (a, b);
            // Four steps per trip at fixed offsets, the pointers bumped once: the loop's own
            // instructions (two adds, a decrement-and-branch) are paid once per four steps.
            // That left the 2-core AVX2 machine's FMA units busier (the commit that made the
            // change gives the timings). Each accumulator's FMAs keep their order: results do
            // not change.
            for _ in 0..kc / 4 {
                for u in 0..4 {
                    step(&mut acc, a, b, u);
                }
                // SAFETY: at most one step past the last, never dereferenced.
                unsafe {
                    a = a.add(4 * MR);
                    b = b.add(4 * NR);
                }
            }
            for u in 0..kc % 4 {
                step(&mut acc, a, b, u);
            }
            if rows == MR && cols == NR {
                for r in 0..MR {
                    for v in 0..NV {
                        // SAFETY: the full tile is inside C and src (rows == MR, cols == NR).
                        unsafe {
                            let out = if src.is_null() {
                                acc[r][v]
                            } else {
                                $add(acc[r][v], $loadu(src.add(r * lds + v * W)))
                            };
                            $storeu(c.add(r * ldc + v * W), out);
                        }
                    }
                }
            } else {
                let mut tile = [0.0f32; MR * NR];
                for r in 0..MR {
                    for v in 0..NV {
                        // SAFETY: the tile holds MR * NR floats.
                        unsafe { $storeu(tile.as_mut_ptr().add(r * NR + v * W), acc[r][v]) };
                    }
                }
                // SAFETY: the caller's contract on c, rows and cols.
                unsafe {
                    $crate::kernels::gemm_packed::write_clipped(&tile, NR, c, ldc, rows, cols, src, lds)
                };
            }
        }
    };
}

/// Several [`micro_kernel!`]s that differ only in their tile height (the edge tiles).
macro_rules! kernel_family {
    (
        #[$attr:meta]
        fns [$($name:ident = $mr:expr),+ $(,)?], W = $w:expr, NV = $nv:expr, vector = $v:ty,
        zero = $zero:expr, load = $load:expr, broadcast = $bcast:expr, fma = $fma:expr,
        loadu = $loadu:expr, storeu = $storeu:expr, add = $add:expr, prefetch = $prefetch:expr $(,)?
    ) => {
        $(
            micro_kernel! {
                #[$attr]
                fn $name: MR = $mr, W = $w, NV = $nv, vector = $v,
                zero = $zero, load = $load, broadcast = $bcast, fma = $fma,
                loadu = $loadu, storeu = $storeu, add = $add, prefetch = $prefetch,
            }
        )+
    };
}

#[cfg(target_arch = "x86_64")]
mod x86 {
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
    pub(super) unsafe fn pack_transposed(
        src: *const f32,
        lane: isize,
        width: usize,
        dst: &mut [f32],
    ) {
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
                        unsafe {
                            std::ptr::copy_nonoverlapping(tmp.as_ptr(), out.add(at), len - at)
                        };
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
}

/// Portable instances of the same macro body with the SIMD instances' geometry, for tests.
#[cfg(test)]
pub(crate) mod emulated {
    use super::Packed;

    fn load<const W: usize>(p: *const f32) -> [f32; W] {
        // SAFETY: the kernel body only passes pointers to W readable floats.
        std::array::from_fn(|i| unsafe { *p.add(i) })
    }
    fn broadcast<const W: usize>(p: *const f32) -> [f32; W] {
        // SAFETY: the kernel body only passes pointers to a readable float.
        [unsafe { *p }; W]
    }
    fn fma<const W: usize>(a: [f32; W], b: [f32; W], c: [f32; W]) -> [f32; W] {
        std::array::from_fn(|i| a[i].mul_add(b[i], c[i]))
    }
    fn store<const W: usize>(p: *mut f32, v: [f32; W]) {
        for (i, x) in v.into_iter().enumerate() {
            // SAFETY: the kernel body only passes pointers to W writable floats.
            unsafe { *p.add(i) = x };
        }
    }
    fn add<const W: usize>(a: [f32; W], b: [f32; W]) -> [f32; W] {
        std::array::from_fn(|i| a[i] + b[i])
    }

    mod kernels {
        use super::*;
        kernel_family! {
            #[inline(never)]
            fns [emulated_6x16 = 6, emulated_4x16 = 4, emulated_2x16 = 2, emulated_1x16 = 1],
            W = 8, NV = 2, vector = [f32; 8],
            zero = [0.0; 8], load = load::<8>, broadcast = broadcast::<8>, fma = fma::<8>,
            loadu = load::<8>, storeu = store::<8>, add = add::<8>, prefetch = |_| (),
        }
        kernel_family! {
            #[inline(never)]
            fns [
                emulated_14x32 = 14, emulated_12x32 = 12, emulated_10x32 = 10,
                emulated_8x32 = 8, emulated_6x32 = 6, emulated_4x32 = 4, emulated_2x32 = 2,
                emulated_1x32 = 1,
            ],
            W = 16, NV = 2, vector = [f32; 16],
            zero = [0.0; 16], load = load::<16>, broadcast = broadcast::<16>, fma = fma::<16>,
            loadu = load::<16>, storeu = store::<16>, add = add::<16>, prefetch = |_| (),
        }
    }

    /// Same tile and blocking as `AVX2`.
    pub(crate) const EMULATED_6X16: Packed = Packed {
        name: "emulated-6x16",
        blocking: super::TILE_6X16,
        kernel: kernels::emulated_6x16,
        edges: &[
            (1, kernels::emulated_1x16),
            (2, kernels::emulated_2x16),
            (4, kernels::emulated_4x16),
        ],
        isa: super::Isa::Scalar,
        detect: || true,
    };
    /// Same tile and blocking as `AVX512`.
    pub(crate) const EMULATED_14X32: Packed = Packed {
        name: "emulated-14x32",
        blocking: super::TILE_14X32,
        kernel: kernels::emulated_14x32,
        edges: &[
            (1, kernels::emulated_1x32),
            (2, kernels::emulated_2x32),
            (4, kernels::emulated_4x32),
            (6, kernels::emulated_6x32),
            (8, kernels::emulated_8x32),
            (10, kernels::emulated_10x32),
            (12, kernels::emulated_12x32),
        ],
        isa: super::Isa::Scalar,
        detect: || true,
    };
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
                    let (blocks, groups) = packed.partition(m, 24, threads);
                    assert!((1..=24).contains(&groups));
                    let tiles = m.div_ceil(mr);
                    if threads > 1 && tiles >= threads {
                        assert_eq!(blocks % threads, 0, "{} m={m} t={threads}", packed.name);
                    }
                    let mut next = 0;
                    let mut counts = Vec::new();
                    for b in 0..blocks {
                        let (i0, rows) = packed.block_rows(m, blocks, b);
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
