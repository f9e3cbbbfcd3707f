//! `unfold` (im2col) and its adjoint `fold` (col2im) for 2-D convolutions, with backward rules
//! that are each other: the gradient of unfold is fold and vice versa, so convolutions built
//! from them (in `nn`) are differentiable to any order.
//!
//! For an input `[N, C, H, W]`, kernel `kh x kw`, stride `s` and zero padding `p`, the output
//! grid is `OH = (H + 2p - kh) / s + 1` by `OW = (W + 2p - kw) / s + 1` and
//!
//! ```text
//! unfold(x)[n, (c*kh + i)*kw + j, oh*OW + ow] = x[n, c, oh*s - p + i, ow*s - p + j]   (0 outside)
//! ```
//!
//! — PyTorch's `F.unfold` layout. `fold` sums every column entry back onto the pixel it came
//! from (overlapping windows add up), like `F.fold`.

use crate::backprop::Op;
use crate::error::{Result, TensorError};
use crate::tensor::Tensor;

/// The geometry of an unfold/fold pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patches {
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Stride (both directions).
    pub stride: usize,
    /// Zero padding (both directions).
    pub padding: usize,
}

impl Patches {
    /// The output grid for an `h x w` image, or an error naming the op if the kernel does not
    /// fit.
    pub fn grid(&self, op: &'static str, h: usize, w: usize) -> Result<(usize, usize)> {
        if self.stride == 0 || self.kh == 0 || self.kw == 0 {
            return Err(TensorError::invalid(
                op,
                format!(
                    "kernel {}x{} and stride {} must be positive",
                    self.kh, self.kw, self.stride
                ),
            ));
        }
        let (hp, wp) = (h + 2 * self.padding, w + 2 * self.padding);
        if hp < self.kh || wp < self.kw {
            return Err(TensorError::invalid(
                op,
                format!(
                    "kernel {}x{} is larger than the padded {hp}x{wp} image",
                    self.kh, self.kw
                ),
            ));
        }
        Ok((
            (hp - self.kh) / self.stride + 1,
            (wp - self.kw) / self.stride + 1,
        ))
    }
}

/// Calls `f(column_index, input_offset)` for every in-bounds (column, pixel) pair of one image
/// channel block, where offsets are relative to image `n`'s start.
fn for_each_tap(
    c: usize,
    h: usize,
    w: usize,
    p: &Patches,
    oh: usize,
    ow: usize,
    mut f: impl FnMut(usize, usize, usize),
) {
    for ch in 0..c {
        for i in 0..p.kh {
            for j in 0..p.kw {
                let row = (ch * p.kh + i) * p.kw + j;
                for y in 0..oh {
                    let iy = (y * p.stride + i) as isize - p.padding as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    for x in 0..ow {
                        let ix = (x * p.stride + j) as isize - p.padding as isize;
                        if ix < 0 || ix >= w as isize {
                            continue;
                        }
                        f(row, y * ow + x, (ch * h + iy as usize) * w + ix as usize);
                    }
                }
            }
        }
    }
}

impl Tensor {
    /// im2col: `[N, C, H, W] -> [N, C*kh*kw, OH*OW]` (see the module docs).
    ///
    /// # Errors
    /// [`TensorError::InvalidArgument`] for a tensor that is not rank 4 or a kernel that does
    /// not fit.
    pub fn unfold2d(&self, p: Patches) -> Result<Tensor> {
        let s = self.shape();
        if s.len() != 4 {
            return Err(TensorError::invalid(
                "unfold2d",
                format!("expects [N, C, H, W], got {s:?}"),
            ));
        }
        let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
        let (oh, ow) = p.grid("unfold2d", h, w)?;
        let rows = c * p.kh * p.kw;
        let l = oh * ow;
        let x = self.array();
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        let mut out = vec![0.0f32; n * rows * l];
        for b in 0..n {
            let (src, dst) = (
                &xs[b * c * h * w..(b + 1) * c * h * w],
                &mut out[b * rows * l..(b + 1) * rows * l],
            );
            for_each_tap(c, h, w, &p, oh, ow, |row, col, off| {
                dst[row * l + col] = src[off]
            });
        }
        let arr = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[n, rows, l]), out)
            .expect("sized above");
        Ok(Tensor::from_op(arr.into_shared(), &[self], || Op::Unfold {
            x: self.clone(),
            patches: p,
        }))
    }

    /// col2im: `[N, C*kh*kw, OH*OW] -> [N, C, H, W]`, summing overlapping windows (the adjoint
    /// of [`Tensor::unfold2d`] for an `h x w` image).
    ///
    /// # Errors
    /// [`TensorError::InvalidArgument`] when the shape does not match the geometry.
    pub fn fold2d(&self, p: Patches, h: usize, w: usize) -> Result<Tensor> {
        let s = self.shape();
        let (oh, ow) = p.grid("fold2d", h, w)?;
        let kk = p.kh * p.kw;
        if s.len() != 3 || !s[1].is_multiple_of(kk) || s[2] != oh * ow {
            return Err(TensorError::invalid(
                "fold2d",
                format!(
                    "expects [N, C*{kk}, {}] for a {h}x{w} image, got {s:?}",
                    oh * ow
                ),
            ));
        }
        let (n, c) = (s[0], s[1] / kk);
        let l = oh * ow;
        let x = self.array();
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout");
        let mut out = vec![0.0f32; n * c * h * w];
        for b in 0..n {
            let (src, dst) = (
                &xs[b * s[1] * l..(b + 1) * s[1] * l],
                &mut out[b * c * h * w..(b + 1) * c * h * w],
            );
            for_each_tap(c, h, w, &p, oh, ow, |row, col, off| {
                dst[off] += src[row * l + col]
            });
        }
        let arr = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[n, c, h, w]), out)
            .expect("sized above");
        Ok(Tensor::from_op(arr.into_shared(), &[self], || Op::Fold {
            x: self.clone(),
            patches: p,
        }))
    }
}

/// Gradients of the conv family: unfold's adjoint is fold, fold's is unfold.
pub(crate) fn conv_backward(op: &Op, g: &Tensor) -> Result<Vec<(Tensor, Tensor)>> {
    Ok(match op {
        Op::Unfold { x, patches } => {
            vec![(x.clone(), g.fold2d(*patches, x.shape()[2], x.shape()[3])?)]
        }
        Op::Fold { x, patches, .. } => vec![(x.clone(), g.unfold2d(*patches)?)],
        _ => unreachable!("conv_backward called with {}", op.name()),
    })
}
