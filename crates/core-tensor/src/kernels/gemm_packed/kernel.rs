//! The micro-kernel as one macro body (`micro_kernel!`, and `kernel_family!` for its edge
//! heights), instantiated per instruction set in `avx2.rs` and `avx512.rs` and with arrays in
//! `emulated.rs`.

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
