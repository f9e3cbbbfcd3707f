//! Low-level numeric kernels. This is the only place in core-tensor where `unsafe` code may
//! live (see ARCHITECTURE.md); everything above calls these through safe functions.

pub(crate) mod gemm;
