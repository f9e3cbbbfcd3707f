//! How the kernels of every crate share work between threads: the pointer their tasks write
//! C through, the epilogue a GEMM applies to each finished piece of C, the row-wise split of
//! element-wise passes and the row-tile x panel split of a packed GEMM.
//!
//! Every split here gives each element to exactly one task and computes it with the same
//! operations whatever the split, so results do not depend on the thread count.

use rayon::prelude::*;

/// A pointer to C that the tasks of a kernel on other threads write through, each only to its
/// own part (its rows, or its row tiles x panels). Creating and copying one is safe; writing
/// through [`SendPtr::get`] is `unsafe`, and sound only while tasks' parts are disjoint and
/// C outlives them.
#[derive(Debug, Clone, Copy)]
pub struct SendPtr(*mut f32);

impl SendPtr {
    /// Wraps `c`.
    pub fn new(c: *mut f32) -> SendPtr {
        SendPtr(c)
    }

    /// The pointer (a method, so closures capture the `Send` wrapper, not the raw field).
    pub fn get(self) -> *mut f32 {
        self.0
    }
}

// SAFETY: a `SendPtr` is only an address; every writer through it owns a disjoint part of C
// (the contract of `get`'s users: tiles in the packed GEMMs, slabs in `gemm_raw`).
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

/// What a GEMM applies to each finished piece of a row of C:
/// `epilogue(row, first_column, values)`, with `values` the row's columns
/// `first_column .. first_column + values.len()` (a bias, an activation, a residual).
/// It runs right after the GEMM wrote that piece, while it is in cache, on whichever thread
/// wrote it; it must give each element a result that depends only on its row, column and value.
pub type Epilogue<'a> = dyn Fn(usize, usize, &mut [f32]) + Sync + 'a;

/// Rows at or above which a row-wise pass (embeddings, LayerNorm, activation rounding and
/// quantisation) runs on the rayon pool.
pub const PAR_MIN_ROWS: usize = 64;

/// Runs `f` on each row of `rows` (each `width` long) with its index, on the pool when there
/// are at least [`PAR_MIN_ROWS`]. Rows are independent, so the result does not depend on the
/// split.
pub fn for_rows<T: Send>(rows: &mut [T], width: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
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
pub fn for_tiles(
    m: usize,
    n: usize,
    k: usize,
    (mr, nr): (usize, usize),
    c: &mut [f32],
    ldc: usize,
    epilogue: Option<&Epilogue<'_>>,
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
