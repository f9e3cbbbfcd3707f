//! The SIMD families' macro body on arrays, for tests on any CPU.

use super::Family;

fn load<const W: usize>(p: *const i8) -> [[i32; 4]; W] {
    // SAFETY: the kernel body passes pointers to W * 4 readable bytes.
    std::array::from_fn(|l| std::array::from_fn(|t| unsafe { *p.add(4 * l + t) } as i32))
}
fn bcast<const W: usize>(p: *const u8) -> [[i32; 4]; W] {
    // SAFETY: the kernel body passes pointers to 4 readable bytes.
    let a: [i32; 4] = std::array::from_fn(|t| unsafe { *p.add(t) } as i32);
    [a; W]
}
/// `vpdpbusd`: four products summed into each i32 lane, no intermediate saturation.
fn dpbusd<const W: usize>(acc: [[i32; 4]; W], a: [[i32; 4]; W], b: [[i32; 4]; W]) -> [[i32; 4]; W] {
    std::array::from_fn(|l| {
        let s: i32 = (0..4).map(|t| a[l][t] * b[l][t]).sum();
        [acc[l][0].wrapping_add(s), 0, 0, 0]
    })
}
/// `vpmaddubsw` then `vpmaddwd` with ones: each pair of products saturated to i16.
fn maddubs<const W: usize>(
    acc: [[i32; 4]; W],
    a: [[i32; 4]; W],
    b: [[i32; 4]; W],
) -> [[i32; 4]; W] {
    std::array::from_fn(|l| {
        let pair = |t: usize| {
            (a[l][t] * b[l][t] + a[l][t + 1] * b[l][t + 1]).clamp(i16::MIN as i32, i16::MAX as i32)
        };
        [acc[l][0].wrapping_add(pair(0) + pair(2)), 0, 0, 0]
    })
}
fn store<const W: usize>(p: *mut i32, v: [[i32; 4]; W]) {
    for (l, x) in v.into_iter().enumerate() {
        // SAFETY: the kernel body passes pointers to W writable i32.
        unsafe { *p.add(l) = x[0] };
    }
}

mod kernels {
    use super::*;
    i8_kernel! {
        #[inline(never)]
        fns [e_vnni512_12x32 = 12, e_vnni512_8x32 = 8, e_vnni512_4x32 = 4, e_vnni512_2x32 = 2, e_vnni512_1x32 = 1],
        W = 16, NV = 2, vector = [[i32; 4]; 16],
        zero = [[0; 4]; 16], load = load::<16>, bcast = bcast::<16>, dot = dpbusd::<16>, store = store::<16>,
    }
    i8_kernel! {
        #[inline(never)]
        fns [e_vnni256_6x16 = 6, e_vnni256_4x16 = 4, e_vnni256_2x16 = 2, e_vnni256_1x16 = 1],
        W = 8, NV = 2, vector = [[i32; 4]; 8],
        zero = [[0; 4]; 8], load = load::<8>, bcast = bcast::<8>, dot = dpbusd::<8>, store = store::<8>,
    }
    i8_kernel! {
        #[inline(never)]
        fns [e_avx2_6x16 = 6, e_avx2_4x16 = 4, e_avx2_2x16 = 2, e_avx2_1x16 = 1],
        W = 8, NV = 2, vector = [[i32; 4]; 8],
        zero = [[0; 4]; 8], load = load::<8>, bcast = bcast::<8>, dot = maddubs::<8>, store = store::<8>,
    }
}
use kernels::*;

/// Twin of `AMX`: the same kernel on emulated tiles.
pub const E_AMX: Family = Family {
    name: "emulated-amx-int8-32x32",
    isa: core_tensor::cpu::Isa::Amx,
    nr: 32,
    mr: 32,
    kernel: e_amx_32x32,
    edges: &[],
    kalign: 64,
    detect: || true,
};

unsafe fn e_amx_32x32(
    kg: usize,
    a: *const u8,
    lda: usize,
    _rows: usize,
    b: *const i8,
    out: *mut i32,
) {
    use crate::kernels::amx;
    let mut tiles = amx::Emulated::default();
    // SAFETY: forwarded; kg is a multiple of 16 (kalign = 64 bytes).
    unsafe {
        amx::kernel_32x32::<_, { amx::U8S8 }>(&mut tiles, kg / 16, a, lda, b.cast(), out.cast())
    }
}

/// Twin of `VNNI512`.
pub const E_VNNI512: Family = Family {
    name: "emulated-vnni512-12x32",
    isa: core_tensor::cpu::Isa::Avx512,
    nr: 32,
    mr: 12,
    kernel: e_vnni512_12x32,
    edges: &[
        (1, e_vnni512_1x32),
        (2, e_vnni512_2x32),
        (4, e_vnni512_4x32),
        (8, e_vnni512_8x32),
    ],
    kalign: 4,
    detect: || true,
};
/// Twin of `AVXVNNI`.
pub const E_AVXVNNI: Family = Family {
    name: "emulated-avxvnni-6x16",
    isa: core_tensor::cpu::Isa::AvxVnni,
    nr: 16,
    mr: 6,
    kernel: e_vnni256_6x16,
    edges: &[
        (1, e_vnni256_1x16),
        (2, e_vnni256_2x16),
        (4, e_vnni256_4x16),
    ],
    kalign: 4,
    detect: || true,
};
/// Twin of `AVX2` (saturating pairs, as the hardware).
pub const E_AVX2: Family = Family {
    name: "emulated-avx2-6x16",
    isa: core_tensor::cpu::Isa::Avx2,
    nr: 16,
    mr: 6,
    kernel: e_avx2_6x16,
    edges: &[(1, e_avx2_1x16), (2, e_avx2_2x16), (4, e_avx2_4x16)],
    kalign: 4,
    detect: || true,
};
