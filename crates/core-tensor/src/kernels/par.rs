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

/// How a product's `tiles` row tiles x `panels` column panels are dealt to tasks — the one
/// split of every packed GEMM: `blocks` blocks of row tiles dealt evenly (counts differing by
/// at most one; the caller chooses how many, e.g. bounded by a cache block), and with several
/// threads each block cut into `groups` groups of panels, so that there are at least four
/// tasks per thread when the product allows. Every (row tile, panel) belongs to exactly one
/// task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    tiles: usize,
    panels: usize,
    blocks: usize,
    groups: usize,
    per_group: usize,
}

impl Split {
    /// The split of `tiles x panels` into `blocks` row blocks (clamped to `1..=tiles`) for
    /// `threads` threads: one group of panels on one thread, else enough groups for four tasks
    /// per thread (at most one per panel).
    pub fn new(tiles: usize, panels: usize, blocks: usize, threads: usize) -> Split {
        let blocks = blocks.clamp(1, tiles.max(1));
        let groups = if threads <= 1 {
            1
        } else {
            (4 * threads).div_ceil(blocks).min(panels).max(1)
        };
        Split {
            tiles,
            panels,
            blocks,
            groups,
            per_group: panels.div_ceil(groups),
        }
    }

    /// Row blocks and panel groups.
    pub fn shape(&self) -> (usize, usize) {
        (self.blocks, self.groups)
    }

    /// Number of tasks.
    pub fn tasks(&self) -> usize {
        self.blocks * self.groups
    }

    /// Task `t`'s row tiles and panels (either may be empty: skip the task).
    pub fn task(&self, t: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let (block, group) = (t / self.groups, t % self.groups);
        let (t0, t1) = (
            block * self.tiles / self.blocks,
            (block + 1) * self.tiles / self.blocks,
        );
        let p0 = (group * self.per_group).min(self.panels);
        let p1 = self.panels.min((group + 1) * self.per_group);
        (t0..t1, p0..p1)
    }

    /// Runs `f(tiles, panels)` for every non-empty task, on the current rayon pool when
    /// `threads > 1` and there are several tasks.
    pub fn run(
        &self,
        threads: usize,
        f: impl Fn(std::ops::Range<usize>, std::ops::Range<usize>) + Sync,
    ) {
        let one = |t: usize| {
            let (tiles, panels) = self.task(t);
            if !tiles.is_empty() && !panels.is_empty() {
                f(tiles, panels);
            }
        };
        if threads > 1 && self.tasks() > 1 {
            (0..self.tasks()).into_par_iter().for_each(one);
        } else {
            (0..self.tasks()).for_each(one);
        }
    }
}

/// Splits an `m x n` product (inner dimension `k`) into tasks of row tiles (`mr` rows) x
/// column panels (`nr` columns) ([`Split`], with twice as many row blocks as threads) and runs
/// `task(tiles, panels, c)` for each, on the current rayon pool when the product is large
/// enough. Tasks write disjoint parts of C (`c`, row-major with row stride `ldc`), each only
/// rows `tiles x mr` (below `m`) over columns `panels x nr` (below `n`). When a task is done,
/// `epilogue` runs on each of its row pieces.
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
    let tiles = m.div_ceil(mr);
    let threads = if m * n * k >= 64 * 64 * 64 {
        rayon::current_num_threads()
    } else {
        1
    };
    let split = Split::new(tiles, n.div_ceil(nr), threads.max(1) * 2, threads);
    split.run(threads, |ts, ps| {
        let (t0, t1, p0, p1) = (ts.start, ts.end, ps.start, ps.end);
        task(ts, ps, c);
        if let Some(e) = epilogue {
            let (j0, j1) = (p0 * nr, (p1 * nr).min(n));
            for i in t0 * mr..(t1 * mr).min(m) {
                // SAFETY: this task owns these rows over these columns (the split gives each
                // (row tile, panel) to one task), inside C (checked at the top).
                let row =
                    unsafe { std::slice::from_raw_parts_mut(c.get().add(i * ldc + j0), j1 - j0) };
                e(i, j0, row);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::Split;

    #[test]
    fn every_tile_and_panel_belongs_to_exactly_one_task() {
        for (tiles, panels, blocks, threads) in [
            (1, 1, 1, 1),
            (7, 3, 2, 2),
            (30, 12, 4, 2),
            (3, 40, 8, 4),
            (64, 5, 16, 1),
        ] {
            let s = Split::new(tiles, panels, blocks, threads);
            let mut seen = vec![0u32; tiles * panels];
            for t in 0..s.tasks() {
                let (ts, ps) = s.task(t);
                for i in ts.clone() {
                    for p in ps.clone() {
                        seen[i * panels + p] += 1;
                    }
                }
            }
            assert!(
                seen.iter().all(|&c| c == 1),
                "{tiles} x {panels}, {blocks} blocks, {threads} threads"
            );
            let sizes: Vec<usize> = (0..s.shape().0)
                .map(|b| s.task(b * s.shape().1).0.len())
                .collect();
            let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(hi - lo <= 1, "row blocks dealt evenly: {sizes:?}");
        }
        assert_eq!(
            Split::new(10, 8, 3, 1).shape(),
            (3, 1),
            "one thread: one panel group"
        );
        assert_eq!(
            Split::new(10, 8, 2, 2).shape(),
            (2, 4),
            "four tasks per thread"
        );
    }
}
