//! AMX-BF16: 32 x 32 tiles on `tdpbf16ps` (the tile kernel is `kernels/amx.rs`).

use super::Bf16Family;

/// AMX-BF16, 32 x 32 tiles on `tdpbf16ps` (see `kernels/amx.rs`).
pub const AMX: Bf16Family = Bf16Family {
    name: "amx-bf16-32x32",
    isa: core_tensor::cpu::Isa::Amx,
    nr: 32,
    mr: 32,
    #[cfg(target_arch = "x86_64")]
    kernel: amx_32x32,
    #[cfg(not(target_arch = "x86_64"))]
    kernel: super::scalar::scalar_4x16,
    edges: &[],
    kalign: 32,
    detect: || core_tensor::cpu::features().amx_bf16,
};

/// # Safety
/// As [`Bf16Kernel`], on a CPU with AMX-BF16 (`core_tensor::cpu::features().amx_bf16`).
#[cfg(target_arch = "x86_64")]
unsafe fn amx_32x32(
    kg: usize,
    a: *const u16,
    lda: usize,
    _rows: usize,
    b: *const u16,
    out: *mut f32,
) {
    use crate::kernels::amx;
    // SAFETY: forwarded; kg is a multiple of 16 (kalign = 32 values) and A holds whole tiles.
    unsafe {
        amx::kernel_32x32::<_, { amx::BF16 }>(
            &mut amx::Native,
            kg / 16,
            a.cast(),
            2 * lda,
            b.cast(),
            out.cast(),
        )
    }
}
