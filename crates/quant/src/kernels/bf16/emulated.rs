//! The AVX-512 and AMX families' macro body on arrays, for tests on any CPU.

use super::lanes::*;
use super::Bf16Family;

bf16_kernel! {
    #[inline(never)]
    fns [e_12x32 = 12, e_8x32 = 8, e_4x32 = 4, e_2x32 = 2, e_1x32 = 1],
    W = 16, NV = 2, acc = [f32; 16], operand = [[f32; 2]; 16], zero = [0.0; 16],
    load = load::<16>, bcast = bcast::<16>, dot = dot::<16>, store = store::<16>,
}

/// Twin of the AMX family: the same kernel on emulated tiles.
pub const E_AMX: Bf16Family = Bf16Family {
    name: "emulated-amx-bf16-32x32",
    isa: core_tensor::cpu::Isa::Amx,
    nr: 32,
    mr: 32,
    kernel: e_amx_32x32,
    edges: &[],
    kalign: 32,
    detect: || true,
};

unsafe fn e_amx_32x32(
    kg: usize,
    a: *const u16,
    lda: usize,
    _rows: usize,
    b: *const u16,
    out: *mut f32,
) {
    use crate::kernels::amx;
    let mut tiles = amx::Emulated::default();
    // SAFETY: forwarded; kg is a multiple of 16 (kalign = 32 values).
    unsafe {
        amx::kernel_32x32::<_, { amx::BF16 }>(
            &mut tiles,
            kg / 16,
            a.cast(),
            2 * lda,
            b.cast(),
            out.cast(),
        )
    }
}

/// Twin of `AVX512BF16`.
pub const E_AVX512BF16: Bf16Family = Bf16Family {
    name: "emulated-avx512bf16-12x32",
    isa: core_tensor::cpu::Isa::Avx512,
    nr: 32,
    mr: 12,
    kernel: e_12x32,
    edges: &[(1, e_1x32), (2, e_2x32), (4, e_4x32), (8, e_8x32)],
    kalign: 2,
    detect: || true,
};
