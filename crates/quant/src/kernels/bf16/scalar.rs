//! The scalar reference, the specification every BF16 kernel must match (the order of its
//! sums is stated here): 4 x 16 tiles, anywhere.

use super::lanes::*;
use super::Bf16Family;

bf16_kernel! {
    #[inline(never)]
    fns [scalar_4x16 = 4, scalar_2x16 = 2, scalar_1x16 = 1],
    W = 16, NV = 1, acc = [f32; 16], operand = [[f32; 2]; 16], zero = [0.0; 16],
    load = load::<16>, bcast = bcast::<16>, dot = dot::<16>, store = store::<16>,
}

/// The scalar family: 4 x 16 tiles, anywhere.
pub const SCALAR: Bf16Family = Bf16Family {
    name: "bf16-scalar-4x16",
    isa: core_tensor::cpu::Isa::Scalar,
    nr: 16,
    mr: 4,
    kernel: scalar_4x16,
    edges: &[(1, scalar_1x16), (2, scalar_2x16)],
    kalign: 2,
    detect: || true,
};
