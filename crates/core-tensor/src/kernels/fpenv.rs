//! Floating-point environment: flush-to-zero (FTZ) and denormals-are-zero (DAZ) through the
//! x86 MXCSR register.
//!
//! Why: Adam's moments for weights whose gradient is always zero (Fashion-MNIST's border
//! pixels) decay geometrically into f32 denormals after ~800 steps, and arithmetic on
//! denormals is many times slower on x86. With FTZ/DAZ such values become 0, which changes no
//! result that matters (they are below 1.2e-38) and keeps every step at full speed.
//!
//! MXCSR is per thread, so [`with_flush_denormals`] sets it on the calling thread *and* on
//! every thread of the current rayon pool (where large elementwise ops and GEMM slabs run),
//! and restores the previous state afterwards. On other architectures it only runs `f`.

/// MXCSR bit 15: flush results that would be denormal to zero.
#[cfg(target_arch = "x86_64")]
const FTZ: u32 = 1 << 15;
/// MXCSR bit 6: treat denormal inputs as zero.
#[cfg(target_arch = "x86_64")]
const DAZ: u32 = 1 << 6;

#[cfg(target_arch = "x86_64")]
fn read_mxcsr() -> u32 {
    let mut v: u32 = 0;
    // SAFETY: stmxcsr stores the 32-bit MXCSR to the given, valid, writable address.
    unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut v, options(nostack, preserves_flags)) };
    v
}

#[cfg(target_arch = "x86_64")]
fn write_mxcsr(v: u32) {
    // SAFETY: ldmxcsr loads MXCSR from a valid address; only the FTZ/DAZ bits differ from the
    // value read, so rounding mode and exception masks stay as they were (no new traps).
    unsafe { std::arch::asm!("ldmxcsr [{}]", in(reg) &v, options(nostack, preserves_flags)) };
}

/// Whether FTZ and DAZ are both on for the calling thread.
pub fn flush_denormals_enabled() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        read_mxcsr() & (FTZ | DAZ) == FTZ | DAZ
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Runs `f` with FTZ and DAZ on (calling thread and every rayon thread), restoring each
/// thread's previous MXCSR afterwards — also if `f` panics.
pub fn with_flush_denormals<T>(f: impl FnOnce() -> T) -> T {
    #[cfg(target_arch = "x86_64")]
    {
        struct Restore(u32, Vec<u32>);
        impl Drop for Restore {
            fn drop(&mut self) {
                write_mxcsr(self.0);
                let saved = &self.1;
                rayon::broadcast(|ctx| write_mxcsr(saved[ctx.index()]));
            }
        }
        let mine = read_mxcsr();
        let pool: Vec<u32> = rayon::broadcast(|_| {
            let old = read_mxcsr();
            write_mxcsr(old | FTZ | DAZ);
            old
        });
        write_mxcsr(mine | FTZ | DAZ);
        let _restore = Restore(mine, pool);
        f()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        f()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn denormals_flush_inside_and_not_outside() {
        let tiny = std::hint::black_box(1e-30f32);
        let scale = std::hint::black_box(1e-10f32);
        assert!(!flush_denormals_enabled());
        assert!(tiny * scale > 0.0, "without FTZ the product is a denormal");
        let inside = with_flush_denormals(|| {
            assert!(flush_denormals_enabled());
            assert!(rayon::broadcast(|_| flush_denormals_enabled())
                .into_iter()
                .all(|b| b));
            std::hint::black_box(tiny) * std::hint::black_box(scale)
        });
        assert_eq!(inside, 0.0);
        assert!(!flush_denormals_enabled(), "the previous state is restored");
        assert!(rayon::broadcast(|_| !flush_denormals_enabled())
            .into_iter()
            .all(|b| b));
    }
}
