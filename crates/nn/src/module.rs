//! Modules: layers with named parameters, composable with [`Sequential`].
//!
//! Parameter names follow PyTorch's `state_dict` (`weight`, `bias`, `0.weight` inside a
//! `Sequential`), and weights use PyTorch's layouts (Linear `[out, in]`), so checkpoints map
//! one-to-one onto PyTorch's.

use std::sync::Mutex;

use core_tensor::{Rng, Tensor};

use crate::error::{invalid, Result};
use crate::init;

/// A layer or a network.
pub trait Module: Send + Sync {
    /// Applies the module.
    ///
    /// # Errors
    /// A shape error when `x` does not fit.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;

    /// Named parameters (names relative to this module).
    fn parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// The parameter tensors in order, without names: what an optimizer binds
    /// (`Adam::new(1e-3).bind(net.params())`).
    fn params(&self) -> Vec<Tensor> {
        self.parameters().into_iter().map(|(_, t)| t).collect()
    }

    /// Applies the module with `params` in place of its own parameters — the same order and
    /// shapes as [`Module::parameters`] — so that the output is a function of `params`: the
    /// functional form that Hessian tools ([`crate::hessian::hessian_operator`]), loss
    /// landscapes and perturbed-weight evaluations need. The module itself is not changed.
    ///
    /// # Errors
    /// The wrong number of parameters or a parameter of the wrong shape (each named), or
    /// the error [`Module::forward`] would give.
    fn forward_with(&self, params: &[Tensor], x: &Tensor) -> Result<Tensor> {
        if params.is_empty() && self.parameters().is_empty() {
            self.forward(x)
        } else {
            Err(invalid(
                "Module::forward_with",
                "this module has parameters but does not implement forward_with",
            ))
        }
    }

    /// Switches training behaviour (dropout) on or off.
    fn set_training(&mut self, _training: bool) {}

    /// What this module computes, for tools that translate a network into another format
    /// (the `onnx` crate's exporter): its kind, settings and parameter tensors. A module of
    /// its own kind keeps the default, [`Layer::Other`] with its type's name, so a
    /// translator can say which layer it cannot handle.
    fn layer(&self) -> Layer<'_> {
        Layer::Other(std::any::type_name::<Self>())
    }
}

/// A module's computation as data ([`Module::layer`]): what an exporter needs to rebuild
/// it elsewhere. Tensors use PyTorch's layouts (Linear `[out, in]`, Conv2d
/// `[out, in, k, k]`, ConvTranspose2d `[in, out, k, k]`).
#[non_exhaustive]
pub enum Layer<'a> {
    /// `y = x W^T + b`.
    Linear {
        /// `[out, in]`.
        weight: &'a Tensor,
        /// `[out]`.
        bias: Option<&'a Tensor>,
    },
    /// A square-kernel 2-D convolution, `[N, C, H, W]` in.
    Conv2d {
        /// `[out, in, k, k]`.
        weight: &'a Tensor,
        /// `[out]`.
        bias: Option<&'a Tensor>,
        /// Stride in both directions.
        stride: usize,
        /// Zero padding on every side.
        padding: usize,
    },
    /// A square-kernel transposed convolution: output side `(n - 1) stride + k - 2 padding`.
    ConvTranspose2d {
        /// `[in, out, k, k]`.
        weight: &'a Tensor,
        /// `[out]`.
        bias: Option<&'a Tensor>,
        /// Stride in both directions.
        stride: usize,
        /// Padding removed from every side.
        padding: usize,
    },
    /// LayerNorm over the last axis.
    LayerNorm {
        /// Scale `[dim]`.
        weight: &'a Tensor,
        /// Shift `[dim]`.
        bias: &'a Tensor,
        /// Added to the variance.
        eps: f32,
    },
    /// A lookup table `[num, dim]` indexed by the input's values.
    Embedding {
        /// `[num, dim]`.
        weight: &'a Tensor,
    },
    /// Dropout: the identity at inference.
    Dropout,
    /// A pointwise activation.
    Activation(Activation),
    /// `[N, a, b, ...] -> [N, a*b*...]`.
    Flatten,
    /// Every example reshaped to this shape (the batch axis kept).
    Reshape(&'a [usize]),
    /// These modules in order.
    Sequential(Vec<&'a dyn Module>),
    /// A module without a description: its type's name.
    Other(&'static str),
}

/// `[("weight", w), ("bias", b)]` (bias omitted when absent): the parameters of Linear and
/// the convolutions.
pub(crate) fn weight_and_bias(weight: &Tensor, bias: Option<&Tensor>) -> Vec<(String, Tensor)> {
    let mut v = vec![("weight".to_string(), weight.clone())];
    if let Some(b) = bias {
        v.push(("bias".to_string(), b.clone()));
    }
    v
}

/// The parameter tensors of a module, in order (what optimizers take).
pub fn parameter_tensors(m: &dyn Module) -> Vec<Tensor> {
    m.parameters().into_iter().map(|(_, t)| t).collect()
}

/// Checks that `given` can stand in for `own` (count and shapes) in `what`'s
/// [`Module::forward_with`].
pub(crate) fn check_substitutes(
    what: &'static str,
    own: &[(String, Tensor)],
    given: &[Tensor],
) -> Result<()> {
    if own.len() != given.len() {
        return Err(invalid(
            what,
            format!(
                "forward_with needs {} parameters, got {}",
                own.len(),
                given.len()
            ),
        ));
    }
    for ((name, t), g) in own.iter().zip(given) {
        if t.shape() != g.shape() {
            return Err(invalid(
                what,
                format!(
                    "forward_with: `{name}` must have shape {:?}, got {:?}",
                    t.shape(),
                    g.shape()
                ),
            ));
        }
    }
    Ok(())
}

/// `y = x W^T + b` with `W: [out, in]`, `b: [out]` (PyTorch's `nn.Linear`).
pub struct Linear {
    /// `[out, in]`.
    pub weight: Tensor,
    /// `[out]`, if any.
    pub bias: Option<Tensor>,
}

impl Linear {
    /// PyTorch's default initialisation: `U(-1/sqrt(in), 1/sqrt(in))` for weight and bias.
    ///
    /// # Errors
    /// [`NnError::Invalid`](crate::NnError::Invalid) for a zero dimension.
    pub fn new(inputs: usize, outputs: usize, bias: bool, rng: &mut Rng) -> Result<Linear> {
        if inputs == 0 || outputs == 0 {
            return Err(invalid(
                "Linear",
                format!("dimensions must be > 0, got {inputs} -> {outputs}"),
            ));
        }
        let weight = init::torch_default(&[outputs, inputs], &[outputs, inputs], rng)?.with_grad();
        let bias = if bias {
            Some(init::torch_default(&[outputs, inputs], &[outputs], rng)?.with_grad())
        } else {
            None
        };
        Ok(Linear { weight, bias })
    }

    /// A layer using the given tensors as its parameters (`weight: [out, in]`, `bias: [out]`);
    /// they are used as they are (mark them `with_grad()` to train them).
    ///
    /// # Errors
    /// When the shapes do not fit together.
    pub fn from_tensors(weight: Tensor, bias: Option<Tensor>) -> Result<Linear> {
        if weight.ndim() != 2
            || bias
                .as_ref()
                .is_some_and(|b| b.shape() != [weight.shape()[0]])
        {
            return Err(invalid(
                "Linear",
                format!(
                    "weight {:?} and bias {:?} do not fit",
                    weight.shape(),
                    bias.as_ref().map(|b| b.shape().to_vec())
                ),
            ));
        }
        Ok(Linear { weight, bias })
    }
}

fn linear(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let y = x.matmul(&weight.t())?;
    Ok(match bias {
        Some(b) => y.add(b)?,
        None => y,
    })
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        linear(x, &self.weight, self.bias.as_ref())
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        weight_and_bias(&self.weight, self.bias.as_ref())
    }

    fn forward_with(&self, params: &[Tensor], x: &Tensor) -> Result<Tensor> {
        check_substitutes("Linear", &self.parameters(), params)?;
        linear(x, &params[0], params.get(1))
    }

    fn layer(&self) -> Layer<'_> {
        Layer::Linear {
            weight: &self.weight,
            bias: self.bias.as_ref(),
        }
    }
}

/// A lookup table `[num, dim]`; [`Embedding::lookup`] maps token ids to rows.
pub struct Embedding {
    /// `[num, dim]`, initialised `N(0, 1)` as in PyTorch.
    pub weight: Tensor,
}

impl Embedding {
    /// A table of `num` rows of size `dim`.
    pub fn new(num: usize, dim: usize, rng: &mut Rng) -> Embedding {
        Embedding {
            weight: rng.normal(&[num, dim], 0.0, 1.0).with_grad(),
        }
    }

    /// Rows for `ids`: `[ids.len(), dim]`.
    ///
    /// # Errors
    /// An index error for an id out of range.
    pub fn lookup(&self, ids: &[usize]) -> Result<Tensor> {
        Ok(self.weight.index_select(0, ids)?)
    }
}

impl Module for Embedding {
    /// `x` holds ids as floats (any shape); the output appends `dim`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let ids: Vec<usize> = x.to_vec().iter().map(|&v| v as usize).collect();
        let mut shape = x.shape().to_vec();
        shape.push(self.weight.shape()[1]);
        Ok(self.lookup(&ids)?.reshape(&shape)?)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        vec![("weight".into(), self.weight.clone())]
    }

    fn forward_with(&self, params: &[Tensor], x: &Tensor) -> Result<Tensor> {
        check_substitutes("Embedding", &self.parameters(), params)?;
        Embedding {
            weight: params[0].clone(),
        }
        .forward(x)
    }

    fn layer(&self) -> Layer<'_> {
        Layer::Embedding {
            weight: &self.weight,
        }
    }
}

/// Layer normalisation over the last axis: `(x - mean) / sqrt(var + eps) * weight + bias`
/// (population variance, as PyTorch).
pub struct LayerNorm {
    /// Scale, ones at start.
    pub weight: Tensor,
    /// Shift, zeros at start.
    pub bias: Tensor,
    /// Added to the variance (PyTorch default 1e-5).
    pub eps: f32,
}

impl LayerNorm {
    /// Normalises vectors of size `dim`.
    pub fn new(dim: usize, eps: f32) -> LayerNorm {
        LayerNorm {
            weight: Tensor::ones(&[dim]).with_grad(),
            bias: Tensor::zeros(&[dim]).with_grad(),
            eps,
        }
    }
}

fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f32) -> Result<Tensor> {
    let mean = x.mean(&[-1], true)?;
    let centred = x.sub(&mean)?;
    let var = centred.square().mean(&[-1], true)?;
    let normed = centred.div(&var.add_scalar(eps).sqrt())?;
    Ok(normed.mul(weight)?.add(bias)?)
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        layer_norm(x, &self.weight, &self.bias, self.eps)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        vec![
            ("weight".into(), self.weight.clone()),
            ("bias".into(), self.bias.clone()),
        ]
    }

    fn forward_with(&self, params: &[Tensor], x: &Tensor) -> Result<Tensor> {
        check_substitutes("LayerNorm", &self.parameters(), params)?;
        layer_norm(x, &params[0], &params[1], self.eps)
    }

    fn layer(&self) -> Layer<'_> {
        Layer::LayerNorm {
            weight: &self.weight,
            bias: &self.bias,
            eps: self.eps,
        }
    }
}

/// Inverted dropout: in training, zero each element with probability `p` and scale the rest
/// by `1 / (1 - p)`; the identity in evaluation.
pub struct Dropout {
    p: f32,
    training: bool,
    rng: Mutex<Rng>,
}

impl Dropout {
    /// Dropout with probability `p` in `[0, 1)`, seeded.
    ///
    /// # Errors
    /// [`NnError::Invalid`](crate::NnError::Invalid) for `p` outside `[0, 1)`.
    pub fn new(p: f32, seed: u64) -> Result<Dropout> {
        if !(0.0..1.0).contains(&p) {
            return Err(invalid("Dropout", format!("p must be in [0, 1), got {p}")));
        }
        Ok(Dropout {
            p,
            training: true,
            rng: Mutex::new(Rng::seed(seed)),
        })
    }
}

impl Module for Dropout {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !self.training || self.p == 0.0 {
            return Ok(x.clone());
        }
        let mask = self
            .rng
            .lock()
            .expect("dropout rng")
            .bernoulli(x.shape(), 1.0 - self.p);
        Ok(x.mul(&mask.mul_scalar(1.0 / (1.0 - self.p)))?)
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    fn layer(&self) -> Layer<'_> {
        Layer::Dropout
    }
}

/// A pointwise activation as a module.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// max(x, 0)
    Relu,
    /// x Phi(x)
    Gelu,
    /// tanh
    Tanh,
    /// logistic
    Sigmoid,
    /// leaky ReLU with the given slope
    LeakyRelu(f32),
}

impl Module for Activation {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::Relu => x.relu(),
            Activation::Gelu => x.gelu(),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => x.sigmoid(),
            Activation::LeakyRelu(s) => x.leaky_relu(*s),
        })
    }

    fn layer(&self) -> Layer<'_> {
        Layer::Activation(*self)
    }
}

/// Flattens every axis after the first: `[N, a, b, ...] -> [N, a*b*...]`.
pub struct Flatten;

impl Module for Flatten {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.flatten_from(1)?)
    }

    fn layer(&self) -> Layer<'_> {
        Layer::Flatten
    }
}

/// Reshapes every example to `shape` (the batch axis is kept).
pub struct Reshape(pub Vec<usize>);

impl Module for Reshape {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut s = vec![x.shape()[0]];
        s.extend(&self.0);
        Ok(x.reshape(&s)?)
    }

    fn layer(&self) -> Layer<'_> {
        Layer::Reshape(&self.0)
    }
}

/// Modules applied in order; parameter names are prefixed with the index (`0.weight`).
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    /// An empty sequence.
    pub fn new() -> Sequential {
        Sequential::default()
    }

    /// Appends a module.
    pub fn push(mut self, m: impl Module + 'static) -> Sequential {
        self.layers.push(Box::new(m));
        self
    }

    /// Number of modules.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether it holds no module.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Applies the modules in order, returning every intermediate output (for per-layer
    /// activation statistics).
    ///
    /// # Errors
    /// The first module's error.
    pub fn forward_all(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        let mut outs = Vec::with_capacity(self.layers.len());
        let mut h = x.clone();
        for l in &self.layers {
            h = l.forward(&h)?;
            outs.push(h.clone());
        }
        Ok(outs)
    }
}

impl Module for Sequential {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for l in &self.layers {
            h = l.forward(&h)?;
        }
        Ok(h)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| {
                l.parameters()
                    .into_iter()
                    .map(move |(n, t)| (format!("{i}.{n}"), t))
            })
            .collect()
    }

    fn set_training(&mut self, training: bool) {
        for l in &mut self.layers {
            l.set_training(training);
        }
    }

    fn forward_with(&self, params: &[Tensor], x: &Tensor) -> Result<Tensor> {
        check_substitutes("Sequential", &self.parameters(), params)?;
        let mut rest = params;
        let mut h = x.clone();
        for l in &self.layers {
            let (mine, others) = rest.split_at(l.parameters().len());
            h = l.forward_with(mine, &h)?;
            rest = others;
        }
        Ok(h)
    }

    fn layer(&self) -> Layer<'_> {
        Layer::Sequential(
            self.layers
                .iter()
                .map(|l| l.as_ref() as &dyn Module)
                .collect(),
        )
    }
}
