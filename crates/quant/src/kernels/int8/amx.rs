//! AMX-INT8: 32 x 32 tiles on `tdpbusd` (the tile kernel is `kernels/amx.rs`).

use super::Family;

/// AMX-INT8, 32 x 32 tiles on `tdpbusd` (see `kernels/amx.rs`): exact like the others, the full
/// u8 range.
pub const AMX: Family = Family {
    name: "amx-int8-32x32",
    isa: core_tensor::cpu::Isa::Amx,
    nr: 32,
    mr: 32,
    #[cfg(target_arch = "x86_64")]
    kernel: amx_32x32,
    #[cfg(not(target_arch = "x86_64"))]
    kernel: super::scalar::scalar_4x16,
    edges: &[],
    kalign: 64,
    detect: || core_tensor::cpu::features().amx_int8,
};

/// # Safety
/// As [`I8Kernel`], on a CPU with AMX-INT8 (`core_tensor::cpu::features().amx_int8`).
#[cfg(target_arch = "x86_64")]
unsafe fn amx_32x32(
    kg: usize,
    a: *const u8,
    lda: usize,
    _rows: usize,
    b: *const i8,
    out: *mut i32,
) {
    use crate::kernels::amx;
    // SAFETY: forwarded; kg is a multiple of 16 (kalign = 64 bytes) and A holds whole tiles.
    unsafe {
        amx::kernel_32x32::<_, { amx::U8S8 }>(
            &mut amx::Native,
            kg / 16,
            a,
            lda,
            b.cast(),
            out.cast(),
        )
    }
}
