//! [`multiversion!`](crate::multiversion): one loop compiled per instruction set, dispatched at run time.

/// Defines `fn name(args) -> ret` (any visibility) compiled three times — for AVX-512 (F, BW,
/// VL), for AVX2 + FMA, and for baseline x86-64 — and dispatched on [`cpu::level`] (detected
/// once, capped by `GROUNDWORK_ISA`). Each version is also callable as
/// `name::at(level, args)`, for tests that compare every level the CPU has.
///
/// The workspace is built for baseline x86-64 (binaries must run on any x86-64), which limits
/// auto-vectorised loops to SSE2; this is how a plain Rust loop gets 256- and 512-bit
/// vectors. The versions are the same IEEE operations in the same order (Rust never contracts
/// `a * b + c` into an FMA nor reassociates a sum), so they agree **bit for bit**; a sum that
/// must vectorise has to be written as explicit partial sums in a fixed order.
///
/// ```
/// core_tensor::multiversion! {
///     /// `y += a x`.
///     pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
///         for (y, x) in y.iter_mut().zip(x) {
///             *y += a * x;
///         }
///     }
/// }
/// let mut y = vec![1.0; 40];
/// axpy(2.0, &vec![3.0; 40], &mut y);
/// assert!(y.iter().all(|&v| v == 7.0));
/// let mut z = vec![1.0; 40];
/// axpy::at(core_tensor::cpu::Level::Generic, 2.0, &vec![3.0; 40], &mut z);
/// assert_eq!(y, z);
/// ```
///
/// [`cpu::level`]: crate::cpu::level
#[macro_export]
macro_rules! multiversion {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block
    ) => {
        $(#[$meta])*
        #[inline]
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            $name::at($crate::cpu::level(), $($arg),*)
        }

        #[doc = concat!("The versions of [`", stringify!($name), "()`] compiled per instruction set.")]
        #[allow(clippy::too_many_arguments)]
        $vis mod $name {
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

            /// The version compiled for `level` (which the CPU must run: `cpu::level()` or below).
            ///
            /// # Panics
            /// When the CPU lacks `level`'s features.
            #[inline]
            pub fn at(level: $crate::cpu::Level, $($arg: $ty),*) $(-> $ret)? {
                match level {
                    #[cfg(target_arch = "x86_64")]
                    $crate::cpu::Level::Avx512 => {
                        assert!($crate::cpu::detected_level() >= level, "CPU lacks {level:?}");
                        // SAFETY: the CPU has AVX-512 F/BW/VL and AVX2/FMA (checked).
                        unsafe { avx512($($arg),*) }
                    }
                    #[cfg(target_arch = "x86_64")]
                    $crate::cpu::Level::Avx2 => {
                        assert!($crate::cpu::detected_level() >= level, "CPU lacks {level:?}");
                        // SAFETY: the CPU has AVX2 and FMA (checked).
                        unsafe { avx2($($arg),*) }
                    }
                    _ => body($($arg),*),
                }
            }
        }
    };
}
