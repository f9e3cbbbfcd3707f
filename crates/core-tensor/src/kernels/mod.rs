//! Low-level numeric kernels. This is the only place in core-tensor where `unsafe` code may
//! live (see ARCHITECTURE.md); everything above calls these through safe functions.

pub mod cpu;
pub mod fpenv;
pub(crate) mod gemm;
// Without an x86-64 instance only the tests use the packed engine.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unused_macros))]
pub(crate) mod gemm_packed;
mod multiversion;
pub mod par;
