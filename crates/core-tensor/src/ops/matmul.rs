//! Matrix products: 2-D, batched 3-D, and n-D with equal batch axes or a shared 2-D right
//! operand — with the backward rule `dA = G Bᵀ`, `dB = Aᵀ G`.
//!
//! Shapes follow `torch.matmul` for rank >= 2: `[..., m, k] @ [..., k, n] -> [..., m, n]` where
//! the batch axes broadcast, and `[..., m, k] @ [k, n]` is computed as one 2-D product over the
//! flattened batch (the `Linear` layer's case).

use ndarray::{Ix2, Ix3};
use rayon::prelude::*;

use crate::backprop::Op;
use crate::error::{Result, TensorError};
use crate::kernels::gemm::{gemm, gemm_serial, product, PAR_MIN_MNK};
use crate::shape::broadcast_shapes;
use crate::tensor::{Array, Tensor};

/// Raw product of two rank-2 or two rank-3 (same batch) arrays.
fn matmul_arrays(a: &Array, b: &Array) -> Array {
    match (a.ndim(), b.ndim()) {
        (2, 2) => {
            let a2 = a.view().into_dimensionality::<Ix2>().expect("rank 2");
            let b2 = b.view().into_dimensionality::<Ix2>().expect("rank 2");
            product(a2, b2, true).into_dyn().into_shared()
        }
        (3, 3) => {
            let a3 = a.view().into_dimensionality::<Ix3>().expect("rank 3");
            let b3 = b.view().into_dimensionality::<Ix3>().expect("rank 3");
            let (batch, m, k) = a3.dim();
            let n = b3.dim().2;
            let mut c = ndarray::Array3::<f32>::zeros((batch, m, n));
            let small = m * n * k < PAR_MIN_MNK;
            if small && batch > 1 && batch * m * n * k >= PAR_MIN_MNK {
                // Many small products: one layer of parallelism, over the batch.
                let jobs: Vec<_> = a3
                    .outer_iter()
                    .zip(b3.outer_iter())
                    .zip(c.outer_iter_mut())
                    .collect();
                jobs.into_par_iter()
                    .for_each(|((a, b), c)| gemm_serial(a, b, c));
            } else {
                for ((a, b), c) in a3.outer_iter().zip(b3.outer_iter()).zip(c.outer_iter_mut()) {
                    gemm(a, b, c, true);
                }
            }
            c.into_dyn().into_shared()
        }
        (ra, rb) => unreachable!("matmul_arrays on ranks {ra} and {rb}"),
    }
}

/// dL/dA and dL/dB of `C = A @ B` (both rank 2 or both rank 3) given `G = dL/dC`.
pub(crate) fn matmul_backward(
    a: &Tensor,
    b: &Tensor,
    g: &Tensor,
) -> Result<(Option<Tensor>, Option<Tensor>)> {
    let ga = a.requires_grad().then(|| g.matmul(&b.t())).transpose()?;
    // When B is a transposed view (a Linear layer's `W.t()`), compute dB as (G^T A)^T: the
    // same numbers, but the permute's backward then turns it into a contiguous [out, in]
    // gradient instead of a strided one that the optimizer would have to copy.
    let b_transposed = b.ndim() == 2 && {
        let arr = b.array();
        arr.strides() == [1, arr.shape()[0] as isize] && arr.shape()[1] > 1
    };
    let gb = b
        .requires_grad()
        .then(|| {
            if b_transposed {
                Ok(g.t().matmul(a)?.t())
            } else {
                a.t().matmul(g)
            }
        })
        .transpose()?;
    Ok((ga, gb))
}

impl Tensor {
    /// Matrix product `C[i, j] = sum_p A[i, p] B[p, j]`, over the last two axes, with batch
    /// axes broadcast (`torch.matmul` semantics for rank >= 2). Transposed operands
    /// (`a.t()`) are views and cost no copy.
    ///
    /// Large products use every rayon thread; results are bit-identical for any thread count.
    ///
    /// # Errors
    /// [`TensorError::ShapeMismatch`] when the inner dimensions differ or the batch axes do not
    /// broadcast; [`TensorError::InvalidArgument`] for a rank-0 or rank-1 operand (use
    /// `unsqueeze` to make a row or column).
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        let (sa, sb) = (self.shape(), other.shape());
        if sa.len() < 2 || sb.len() < 2 {
            return Err(TensorError::invalid(
                "matmul",
                format!(
                    "needs operands of rank >= 2, got shapes {sa:?} and {sb:?}; \
                     unsqueeze vectors into rows or columns"
                ),
            ));
        }
        let (m, k) = (sa[sa.len() - 2], sa[sa.len() - 1]);
        let (k2, n) = (sb[sb.len() - 2], sb[sb.len() - 1]);
        if k != k2 {
            return Err(TensorError::shape_detail(
                "matmul",
                sa,
                sb,
                format!("inner dimensions {k} and {k2} differ"),
            ));
        }
        match (sa.len(), sb.len()) {
            (2, 2) => Ok(self.matmul_raw(other)),
            (_, 2) => {
                // [..., m, k] @ [k, n]: one 2-D product over the flattened batch.
                let batch: Vec<usize> = sa[..sa.len() - 2].to_vec();
                let rows = batch.iter().product::<usize>() * m;
                let c = self.reshape(&[rows, k])?.matmul_raw(other);
                let mut shape = batch;
                shape.extend([m, n]);
                c.reshape(&shape)
            }
            _ => {
                let batch = broadcast_shapes("matmul", &sa[..sa.len() - 2], &sb[..sb.len() - 2])
                    .map_err(|_| {
                        TensorError::shape_detail(
                            "matmul",
                            sa,
                            sb,
                            "batch axes do not broadcast".into(),
                        )
                    })?;
                let nb: usize = batch.iter().product();
                let expand = |t: &Tensor, r: usize, c: usize| -> Result<Tensor> {
                    let mut full = batch.clone();
                    full.extend([r, c]);
                    t.broadcast_to(&full)?.reshape(&[nb, r, c])
                };
                let c = expand(self, m, k)?.matmul_raw(&expand(other, k, n)?);
                let mut shape = batch.clone();
                shape.extend([m, n]);
                c.reshape(&shape)
            }
        }
    }

    /// The recorded product of two rank-2 or two rank-3 tensors whose shapes already chain.
    fn matmul_raw(&self, other: &Tensor) -> Tensor {
        let out = matmul_arrays(&self.array(), &other.array());
        Tensor::from_op(out, &[self, other], || Op::Matmul {
            a: self.clone(),
            b: other.clone(),
        })
    }
}
