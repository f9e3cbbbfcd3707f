//! The packing buffers (64-byte aligned, kept per thread) and the panel packers; the write
//! of a finished tile to C.

use std::cell::RefCell;

/// A cache line of floats: the unit of the packing buffers, so they are 64-byte aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// Growable 64-byte-aligned float buffer.
#[derive(Default)]
pub(super) struct AlignedBuf(Vec<Line>);

impl AlignedBuf {
    /// Bytes held.
    pub(super) fn bytes(&self) -> usize {
        self.0.len() * 64
    }

    /// The whole buffer as floats.
    pub(super) fn as_slice(&self) -> &[f32] {
        // SAFETY: as in `floats`: `Line` is 16 contiguous floats.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().cast::<f32>(), self.0.len() * 16) }
    }

    pub(super) fn floats(&mut self, len: usize) -> &mut [f32] {
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
    pub(super) static A_BUFFER: RefCell<AlignedBuf> = RefCell::default();
    /// This thread's scratch block of partial sums of C, kept between products.
    pub(super) static C_BUFFER: RefCell<AlignedBuf> = RefCell::default();
    /// This thread's B-block packing buffer (shared read-only with the pool's threads while
    /// a parallel product runs), kept between products.
    pub(super) static B_BUFFER: RefCell<AlignedBuf> = RefCell::default();
}

/// Runs `f` with one of this thread's packing buffers grown to `len` floats.
pub(super) fn with_buffer<R>(
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
pub(super) unsafe fn pack_panel(
    src: *const f32,
    lane: isize,
    step: isize,
    live: usize,
    dst: &mut [f32],
    width: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if step == 1 && lane != 1 && live == width && super::avx2::transpose_available() {
        // Row-major A or a transposed B: each lane is contiguous along k. Transposing 8 x 8
        // blocks in registers moves 8 floats per load instead of one.
        // SAFETY: AVX2 is present; forwarded from the caller otherwise.
        unsafe { super::avx2::pack_transposed(src, lane, width, dst) };
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
pub(crate) unsafe fn write_clipped(
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
