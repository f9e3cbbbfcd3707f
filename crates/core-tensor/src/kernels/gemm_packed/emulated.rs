//! Portable instances of the same macro body with the SIMD instances' geometry, for tests:
//! `[f32; W]` arrays for vectors and `f32::mul_add` for the FMA.

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
