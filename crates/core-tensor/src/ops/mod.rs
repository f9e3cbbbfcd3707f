//! Tensor operations, one file per family; each op's backward rule sits beside its forward.

pub(crate) mod activation;
pub(crate) mod conv;
pub(crate) mod convenience;
pub(crate) mod elementwise;
pub(crate) mod layout;
pub(crate) mod loss;
pub(crate) mod matmul;
pub(crate) mod reduce;
