//! The encoder's non-GEMM loops — attention rows, the GEMM epilogues (bias, GELU, residual),
//! LayerNorm, the embedding sum — compiled once per instruction set from one source and
//! chosen at run time; and the GEMMs of the reduced precisions ([`int8`], [`bf16`]), which
//! share one task split (`for_tiles`).
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

use rayon::prelude::*;

/// A pointer to C that the tasks of a GEMM on other threads write through, each to its own
/// rows and columns (handed out by [`for_tiles`] only).
#[derive(Clone, Copy)]
pub(crate) struct SendPtr(*mut f32);

impl SendPtr {
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

// SAFETY: the tasks of `for_tiles` write disjoint parts of C (row tiles x panel groups).
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

/// The kernel for a row tile of `rows` rows: the shortest edge kernel (`(MR', kernel)` by
/// increasing MR') at least that tall when the tile is partial, else the full `mr`-row one.
pub(crate) fn tile_kernel<K: Copy>(
    edges: &[(usize, K)],
    mr: usize,
    full: K,
    rows: usize,
) -> (usize, K) {
    edges
        .iter()
        .find(|(h, _)| *h >= rows)
        .copied()
        .filter(|_| rows < mr)
        .unwrap_or((mr, full))
}

/// The first of `order` (named families, widest first) that `available` accepts, starting at
/// the one `asked` names (an environment variable's value: a narrower choice than detected;
/// `scalar` or the end of the list gives `fallback`; an unknown name is ignored).
pub(crate) fn choose_family<F: Copy>(
    asked: Option<&str>,
    order: &[(&str, F)],
    available: impl Fn(&F) -> bool,
    fallback: F,
) -> F {
    let start = match asked {
        Some("scalar") => order.len(),
        Some(name) => order.iter().position(|(n, _)| *n == name).unwrap_or(0),
        None => 0,
    };
    order[start..]
        .iter()
        .map(|(_, f)| *f)
        .find(|f| available(f))
        .unwrap_or(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_is_chosen_by_name_then_by_what_the_cpu_runs() {
        let order = [("a", 1), ("b", 2), ("c", 3)];
        let runs = |f: &i32| *f != 2; // a CPU without "b"
        assert_eq!(choose_family(None, &order, runs, 0), 1);
        assert_eq!(
            choose_family(Some("b"), &order, runs, 0),
            3,
            "b missing: the next one"
        );
        assert_eq!(choose_family(Some("c"), &order, runs, 0), 3);
        assert_eq!(choose_family(Some("scalar"), &order, runs, 0), 0);
        assert_eq!(
            choose_family(Some("zz"), &order, runs, 0),
            1,
            "unknown names are ignored"
        );
        assert_eq!(choose_family(None, &order, |_: &i32| false, 0), 0);
    }

    #[test]
    fn a_partial_row_tile_takes_the_shortest_edge_kernel_that_covers_it() {
        let edges = [(1, 'a'), (2, 'b'), (4, 'c')];
        assert_eq!(tile_kernel(&edges, 8, 'f', 1), (1, 'a'));
        assert_eq!(tile_kernel(&edges, 8, 'f', 3), (4, 'c'));
        assert_eq!(tile_kernel(&edges, 8, 'f', 5), (8, 'f'));
        assert_eq!(tile_kernel(&edges, 8, 'f', 8), (8, 'f'));
        assert_eq!(tile_kernel(&[], 32, 'f', 3), (32, 'f'));
    }
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

/// Rows at or above which a row-wise pass (embeddings, LayerNorm, activation rounding and
/// quantisation) runs on the rayon pool.
pub(crate) const PAR_MIN_ROWS: usize = 64;

/// Runs `f` on each row of `rows` (each `width` long) with its index, on the pool when there
/// are many. Rows are independent, so the result does not depend on the split.
pub(crate) fn for_rows<T: Send>(
    rows: &mut [T],
    width: usize,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    if rows.len() / width.max(1) >= PAR_MIN_ROWS {
        rows.par_chunks_mut(width)
            .enumerate()
            .for_each(|(i, r)| f(i, r));
    } else {
        rows.chunks_mut(width)
            .enumerate()
            .for_each(|(i, r)| f(i, r));
    }
}

/// Splits an `m x n` product (inner dimension `k`) into tasks of row tiles (`mr` rows) x
/// column panels (`nr` columns) and runs `task(tiles, panels, c)` for each, on the current
/// rayon pool when the product is large enough: blocks of row tiles dealt evenly, and with few
/// rows, groups of panels too — at least four tasks per thread when the product allows. Every
/// (row tile, panel) belongs to exactly one task, so tasks write disjoint parts of C (`c`,
/// row-major with row stride `ldc`), each only rows `tiles x mr` (below `m`) over columns
/// `panels x nr` (below `n`). When a task is done, `epilogue` runs on each of its row pieces.
///
/// # Panics
/// When C cannot hold `m` rows of `n`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn for_tiles(
    m: usize,
    n: usize,
    k: usize,
    (mr, nr): (usize, usize),
    c: &mut [f32],
    ldc: usize,
    epilogue: Option<&ops::RowEpilogue<'_>>,
    task: impl Fn(std::ops::Range<usize>, std::ops::Range<usize>, SendPtr) + Sync,
) {
    if m == 0 {
        return;
    }
    assert!(c.len() >= (m - 1) * ldc + n, "GEMM: C too short");
    let c = SendPtr(c.as_mut_ptr());
    let panels = n.div_ceil(nr);
    let tiles = m.div_ceil(mr);
    let threads = if m * n * k >= 64 * 64 * 64 {
        rayon::current_num_threads()
    } else {
        1
    };
    let blocks = tiles.min(threads.max(1) * 2);
    let groups = (4 * threads).div_ceil(blocks).min(panels).max(1);
    let per_group = panels.div_ceil(groups);
    let run = |t: usize| {
        let (block, group) = (t / groups, t % groups);
        let (t0, t1) = (block * tiles / blocks, (block + 1) * tiles / blocks);
        let (p0, p1) = (group * per_group, panels.min((group + 1) * per_group));
        if p0 >= p1 || t0 >= t1 {
            return;
        }
        task(t0..t1, p0..p1, c);
        if let Some(e) = epilogue {
            let (j0, j1) = (p0 * nr, (p1 * nr).min(n));
            for i in t0 * mr..(t1 * mr).min(m) {
                // SAFETY: this task owns these rows over these columns (above), inside C
                // (checked at the top).
                let row =
                    unsafe { std::slice::from_raw_parts_mut(c.get().add(i * ldc + j0), j1 - j0) };
                e(i, j0, row);
            }
        }
    };
    let tasks = blocks * groups;
    if threads > 1 && tasks > 1 {
        (0..tasks).into_par_iter().for_each(run);
    } else {
        (0..tasks).for_each(run);
    }
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

/// The widest level this CPU runs (detected once; `GROUNDWORK_SIMD=generic|avx2` caps it).
pub fn level() -> Level {
    static LEVEL: std::sync::OnceLock<Level> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = match std::env::var("GROUNDWORK_SIMD").as_deref() {
            Ok("generic") => Level::Generic,
            Ok("avx2") => Level::Avx2,
            _ => Level::Avx512,
        };
        detected().min(cap)
    })
}

/// The widest level the CPU supports.
pub fn detected() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
        {
            return Level::Avx512;
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Level::Avx2;
        }
    }
    Level::Generic
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
