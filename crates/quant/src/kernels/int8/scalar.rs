//! The scalar reference, the specification every INT8 kernel must match: 4 x 16 tiles,
//! anywhere, the full u8 range.

use super::Family;

fn load(p: *const i8) -> [i32; 64] {
    // SAFETY: the kernel body passes pointers to W * 4 = 64 readable bytes.
    std::array::from_fn(|i| unsafe { *p.add(i) } as i32)
}
fn bcast(p: *const u8) -> [i32; 4] {
    // SAFETY: the kernel body passes pointers to 4 readable bytes.
    std::array::from_fn(|i| unsafe { *p.add(i) } as i32)
}
fn dot(mut acc: [i32; 16], a: [i32; 4], b: [i32; 64]) -> [i32; 16] {
    for (l, x) in acc.iter_mut().enumerate() {
        for t in 0..4 {
            *x = x.wrapping_add(a[t] * b[4 * l + t]);
        }
    }
    acc
}
fn store(p: *mut i32, v: [i32; 16]) {
    for (i, x) in v.into_iter().enumerate() {
        // SAFETY: the kernel body passes pointers to 16 writable i32.
        unsafe { *p.add(i) = x };
    }
}
// A 4-row tile of 16 columns, vectors of 16 lanes; `bcast` yields the four bytes, which
// `dot` multiplies into each lane.
macro_rules! scalar_kernel {
    ($($name:ident = $mr:expr),+) => {$(
        #[allow(clippy::needless_range_loop)]
        pub(crate) unsafe fn $name(kg: usize, a: *const u8, lda: usize, rows: usize, b: *const i8, out: *mut i32) {
            const MR: usize = $mr;
            let rowp: [*const u8; MR] = std::array::from_fn(|r| a.wrapping_add(r.min(rows - 1) * lda));
            let mut acc = [[0i32; 16]; MR];
            for g in 0..kg {
                let bv = load(b.wrapping_add(g * 64));
                for r in 0..MR {
                    acc[r] = dot(acc[r], bcast(rowp[r].wrapping_add(g * 4)), bv);
                }
            }
            for r in 0..rows.min(MR) {
                store(out.wrapping_add(r * 16), acc[r]);
            }
        }
    )+};
}
scalar_kernel!(scalar_4x16 = 4, scalar_2x16 = 2, scalar_1x16 = 1);

/// The scalar family: 4 x 16 tiles, anywhere, the full u8 range.
pub const SCALAR: Family = Family {
    name: "scalar-4x16",
    isa: core_tensor::cpu::Isa::Scalar,
    nr: 16,
    mr: 4,
    kernel: scalar_4x16,
    edges: &[(1, scalar_1x16), (2, scalar_2x16)],
    kalign: 4,
    detect: || true,
};
