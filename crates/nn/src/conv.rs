//! 2-D convolution and transposed convolution, built from core-tensor's `unfold2d`/`fold2d`
//! (im2col and its adjoint) and a matrix product, so every gradient is autodiff's.
//!
//! * `Conv2d`: `y[n, o] = b[o] + sum_c W[o, c] * x[n, c]` (cross-correlation), weights
//!   `[out, in, k, k]` as in PyTorch: `y = W_flat . unfold(x)` with `W_flat: [out, in*k*k]`.
//! * `ConvTranspose2d`: the adjoint map, weights `[in, out, k, k]` as in PyTorch:
//!   `y = fold(W_flat^T . x_flat)`, output size `(H - 1) s - 2p + k`.

use core_tensor::{Patches, Rng, Tensor};

use crate::error::{invalid, Result};
use crate::init;
use crate::module::{check_substitutes, weight_and_bias, Layer, Module};

fn square(k: usize, stride: usize, padding: usize) -> Patches {
    Patches {
        kh: k,
        kw: k,
        stride,
        padding,
    }
}

/// PyTorch's default initialisation for a convolution weight of `shape` (fan-in from axes
/// 1..) and, if `bias`, a bias of `bias_len`, both made parameters.
fn default_params(
    what: &'static str,
    shape: [usize; 4],
    bias_len: usize,
    stride: usize,
    bias: bool,
    rng: &mut Rng,
) -> Result<(Tensor, Option<Tensor>)> {
    if shape.contains(&0) || stride == 0 {
        return Err(invalid(
            what,
            format!("channels, kernel and stride must be > 0 (weight {shape:?}, stride {stride})"),
        ));
    }
    let weight = init::torch_default(&shape, &shape, rng)?.with_grad();
    let bias = if bias {
        Some(init::torch_default(&shape, &[bias_len], rng)?.with_grad())
    } else {
        None
    };
    Ok((weight, bias))
}

/// Checks a square-kernel rank-4 weight and a bias as long as its axis `bias_axis`; returns
/// the kernel size.
fn check_params(
    what: &'static str,
    layout: &str,
    weight: &Tensor,
    bias: Option<&Tensor>,
    bias_axis: usize,
) -> Result<usize> {
    let s = weight.shape();
    if s.len() != 4 || s[2] != s[3] || bias.is_some_and(|b| b.shape() != [s[bias_axis]]) {
        return Err(invalid(
            what,
            format!("weight {s:?} must be {layout} with a matching bias"),
        ));
    }
    Ok(s[2])
}

/// A convolution's settings, with defaults (burn's `Config` pattern): stride 1, padding 0,
/// with a bias. `ConvConfig::new(1, 32, 3).stride(2).padding(1).conv(&mut rng)?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvConfig {
    /// Input channels.
    pub inputs: usize,
    /// Output channels.
    pub outputs: usize,
    /// Kernel size (square).
    pub kernel: usize,
    /// Stride on both axes (default 1).
    pub stride: usize,
    /// Zero padding on every side (default 0).
    pub padding: usize,
    /// Whether the layer adds a bias (default true).
    pub bias: bool,
}

impl ConvConfig {
    /// `inputs -> outputs` channels with a `kernel x kernel` kernel, stride 1, no padding,
    /// with a bias.
    pub fn new(inputs: usize, outputs: usize, kernel: usize) -> ConvConfig {
        ConvConfig {
            inputs,
            outputs,
            kernel,
            stride: 1,
            padding: 0,
            bias: true,
        }
    }

    /// The stride.
    pub fn stride(self, stride: usize) -> ConvConfig {
        ConvConfig { stride, ..self }
    }

    /// The padding.
    pub fn padding(self, padding: usize) -> ConvConfig {
        ConvConfig { padding, ..self }
    }

    /// With or without a bias.
    pub fn bias(self, bias: bool) -> ConvConfig {
        ConvConfig { bias, ..self }
    }

    /// A [`Conv2d`] with these settings, PyTorch's default initialisation.
    ///
    /// # Errors
    /// As [`Conv2d::new`].
    pub fn conv(&self, rng: &mut Rng) -> Result<Conv2d> {
        let c = self;
        Conv2d::new(
            c.inputs, c.outputs, c.kernel, c.stride, c.padding, c.bias, rng,
        )
    }

    /// A [`ConvTranspose2d`] with these settings, PyTorch's default initialisation.
    ///
    /// # Errors
    /// As [`ConvTranspose2d::new`].
    pub fn transposed(&self, rng: &mut Rng) -> Result<ConvTranspose2d> {
        let c = self;
        ConvTranspose2d::new(
            c.inputs, c.outputs, c.kernel, c.stride, c.padding, c.bias, rng,
        )
    }
}

/// A 2-D convolution layer (square kernel, equal stride and padding on both axes).
pub struct Conv2d {
    /// `[out, in, k, k]`.
    pub weight: Tensor,
    /// `[out]`.
    pub bias: Option<Tensor>,
    patches: Patches,
}

impl Conv2d {
    /// `in -> out` channels, kernel `k`, `stride`, `padding`; PyTorch's default init.
    ///
    /// # Errors
    /// [`NnError::Invalid`](crate::NnError::Invalid) for a zero size.
    pub fn new(
        inputs: usize,
        outputs: usize,
        k: usize,
        stride: usize,
        padding: usize,
        bias: bool,
        rng: &mut Rng,
    ) -> Result<Conv2d> {
        let (weight, bias) = default_params(
            "Conv2d",
            [outputs, inputs, k, k],
            outputs,
            stride,
            bias,
            rng,
        )?;
        Ok(Conv2d {
            weight,
            bias,
            patches: square(k, stride, padding),
        })
    }

    /// A layer using the given tensors as parameters (`weight: [out, in, k, k]`).
    ///
    /// # Errors
    /// When the weight is not a square-kernel rank-4 tensor or the bias does not match.
    pub fn from_tensors(
        weight: Tensor,
        bias: Option<Tensor>,
        stride: usize,
        padding: usize,
    ) -> Result<Conv2d> {
        let k = check_params("Conv2d", "[out, in, k, k]", &weight, bias.as_ref(), 0)?;
        Ok(Conv2d {
            weight,
            bias,
            patches: square(k, stride, padding),
        })
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let s = x.shape();
        let ws = self.weight.shape();
        if s.len() != 4 || s[1] != ws[1] {
            return Err(invalid(
                "Conv2d",
                format!("expects [N, {}, H, W], got {s:?}", ws[1]),
            ));
        }
        let (oh, ow) = self.patches.grid("Conv2d", s[2], s[3])?;
        let cols = x.unfold2d(self.patches)?; // [N, C*k*k, L]
        let w = self.weight.reshape(&[ws[0], ws[1] * ws[2] * ws[3]])?;
        // [N, L, C*k*k] @ [C*k*k, O] -> [N, L, O] -> [N, O, L]
        let y = cols.transpose(1, 2)?.matmul(&w.t())?.transpose(1, 2)?;
        let y = y.reshape(&[s[0], ws[0], oh, ow])?;
        Ok(match &self.bias {
            Some(b) => y.add(&b.reshape(&[1, ws[0], 1, 1])?)?,
            None => y,
        })
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        weight_and_bias(&self.weight, self.bias.as_ref())
    }

    fn forward_with(&self, params: &[Tensor], x: &Tensor) -> Result<Tensor> {
        check_substitutes("Conv2d", &self.parameters(), params)?;
        Conv2d {
            weight: params[0].clone(),
            bias: params.get(1).cloned(),
            patches: self.patches,
        }
        .forward(x)
    }

    fn layer(&self) -> Layer<'_> {
        Layer::Conv2d {
            weight: &self.weight,
            bias: self.bias.as_ref(),
            stride: self.patches.stride,
            padding: self.patches.padding,
        }
    }
}

/// A 2-D transposed convolution (the adjoint of [`Conv2d`]'s linear map).
pub struct ConvTranspose2d {
    /// `[in, out, k, k]` (PyTorch's layout).
    pub weight: Tensor,
    /// `[out]`.
    pub bias: Option<Tensor>,
    patches: Patches,
}

impl ConvTranspose2d {
    /// `in -> out` channels, kernel `k`, `stride`, `padding`; PyTorch's default init (fan-in
    /// taken from the weight's second axis, as PyTorch does).
    ///
    /// # Errors
    /// [`NnError::Invalid`](crate::NnError::Invalid) for a zero size.
    pub fn new(
        inputs: usize,
        outputs: usize,
        k: usize,
        stride: usize,
        padding: usize,
        bias: bool,
        rng: &mut Rng,
    ) -> Result<ConvTranspose2d> {
        let (weight, bias) = default_params(
            "ConvTranspose2d",
            [inputs, outputs, k, k],
            outputs,
            stride,
            bias,
            rng,
        )?;
        Ok(ConvTranspose2d {
            weight,
            bias,
            patches: square(k, stride, padding),
        })
    }

    /// A layer using the given tensors as parameters (`weight: [in, out, k, k]`).
    ///
    /// # Errors
    /// As [`Conv2d::from_tensors`].
    pub fn from_tensors(
        weight: Tensor,
        bias: Option<Tensor>,
        stride: usize,
        padding: usize,
    ) -> Result<ConvTranspose2d> {
        let k = check_params(
            "ConvTranspose2d",
            "[in, out, k, k]",
            &weight,
            bias.as_ref(),
            1,
        )?;
        Ok(ConvTranspose2d {
            weight,
            bias,
            patches: square(k, stride, padding),
        })
    }

    /// Output size for an `h x w` input: `((h - 1) s - 2p + k, (w - 1) s - 2p + k)`.
    pub fn output_size(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let p = &self.patches;
        let f = |n: usize| ((n - 1) * p.stride + p.kh).checked_sub(2 * p.padding);
        Some((f(h)?, f(w)?))
    }
}

impl Module for ConvTranspose2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let s = x.shape();
        let ws = self.weight.shape();
        if s.len() != 4 || s[1] != ws[0] {
            return Err(invalid(
                "ConvTranspose2d",
                format!("expects [N, {}, H, W], got {s:?}", ws[0]),
            ));
        }
        let (oh, ow) = self
            .output_size(s[2], s[3])
            .ok_or_else(|| invalid("ConvTranspose2d", "padding larger than the output"))?;
        // [N, HW, C_in] @ [C_in, O*k*k] -> [N, HW, O*k*k] -> [N, O*k*k, HW] -> fold
        let xf = x.reshape(&[s[0], s[1], s[2] * s[3]])?.transpose(1, 2)?;
        let w = self.weight.reshape(&[ws[0], ws[1] * ws[2] * ws[3]])?;
        let cols = xf.matmul(&w)?.transpose(1, 2)?;
        let y = cols.fold2d(self.patches, oh, ow)?;
        Ok(match &self.bias {
            Some(b) => y.add(&b.reshape(&[1, ws[1], 1, 1])?)?,
            None => y,
        })
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        weight_and_bias(&self.weight, self.bias.as_ref())
    }

    fn forward_with(&self, params: &[Tensor], x: &Tensor) -> Result<Tensor> {
        check_substitutes("ConvTranspose2d", &self.parameters(), params)?;
        ConvTranspose2d {
            weight: params[0].clone(),
            bias: params.get(1).cloned(),
            patches: self.patches,
        }
        .forward(x)
    }

    fn layer(&self) -> Layer<'_> {
        Layer::ConvTranspose2d {
            weight: &self.weight,
            bias: self.bias.as_ref(),
            stride: self.patches.stride,
            padding: self.patches.padding,
        }
    }
}
