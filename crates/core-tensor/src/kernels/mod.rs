//! Low-level numeric kernels. This is the only place in core-tensor where `unsafe` code may
//! live (see ARCHITECTURE.md); everything above calls these through safe functions.

pub mod fpenv;
pub(crate) mod gemm;
#[cfg(target_arch = "x86_64")]
pub(crate) mod gemm_avx2;
