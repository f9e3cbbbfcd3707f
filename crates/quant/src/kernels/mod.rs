//! The encoder's non-GEMM loops — attention rows, the GEMM epilogues (bias, GELU, residual),
//! LayerNorm, the embedding sum — compiled once per instruction set from one source and
//! chosen at run time.
//!
//! The crate is built for baseline x86-64 (no `-C target-cpu=native`: binaries must run on
//! any x86-64), which limits auto-vectorised loops to SSE2. `multiversion!` compiles a
//! function's body three times — for AVX-512 (F, BW, VL), for AVX2 + FMA, and for the
//! baseline — and dispatches on the CPU detected once ([`level`]). The three are the same
//! IEEE operations in the same order (Rust never contracts `a * b + c` into an FMA nor
//! reassociates sums), so they must agree **bit for bit**; the tests check each level this
//! CPU has against the baseline, which is the specification.

pub mod int8;
pub mod ops;

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
