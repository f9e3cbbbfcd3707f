//! `nn` networks and the VAE as ONNX graphs, layer by layer from [`Module::layer`].
//!
//! | `nn` layer | ONNX |
//! | --- | --- |
//! | `Linear` | `MatMul` with `W^T` + `Add` (any number of leading axes) |
//! | `Conv2d` / `ConvTranspose2d` | `Conv` / `ConvTranspose` (same weight layouts as ONNX) |
//! | `LayerNorm` | `LayerNormalization` (axis −1) |
//! | `Embedding` | `Cast` to int64 + `Gather` (the input holds ids as floats, as in `nn`) |
//! | `Dropout` | `Identity` (inference) |
//! | ReLU, tanh, sigmoid, leaky ReLU | `Relu`, `Tanh`, `Sigmoid`, `LeakyRelu` |
//! | GELU | `x · (1 + erf(x / √2)) / 2` with `Erf` (opset 17 has no `Gelu`) |
//! | `Flatten` / `Reshape` | `Flatten` (axis 1) / `Reshape` with the batch axis kept (`0`) |
//! | `Sequential` | its layers in order, nested ones included |

use core_tensor::{no_grad, Tensor};
use nn::{Activation, Layer, Module};
use vae::model::{Likelihood, Vae};

use crate::error::{ExportError, Result};
use crate::graph::{Attr, Dim, Elem, Graph, OnnxModel};

fn weight(g: &mut Graph, hint: &str, t: &Tensor) -> String {
    g.f32s(hint, t.shape(), &t.to_vec())
}

/// The output of `m` applied to the value `x`; `path` names the layer in errors.
fn emit(g: &mut Graph, m: &dyn Module, x: &str, path: &str) -> Result<String> {
    let unsupported = |kind: &str, what: &str| ExportError::Unsupported {
        layer: if path.is_empty() {
            "(the model)".into()
        } else {
            path.into()
        },
        kind: kind.into(),
        what: what.into(),
    };
    Ok(match m.layer() {
        Layer::Linear { weight: w, bias } => {
            let s = w.shape();
            let wt = w.t();
            let wt = g.f32s("linear_weight_t", &[s[1], s[0]], &wt.to_vec());
            let y = g.op("MatMul", &[x, &wt], vec![]);
            match bias {
                Some(b) => {
                    let b = weight(g, "linear_bias", b);
                    g.op("Add", &[&y, &b], vec![])
                }
                None => y,
            }
        }
        Layer::Conv2d {
            weight: w,
            bias,
            stride,
            padding,
        }
        | Layer::ConvTranspose2d {
            weight: w,
            bias,
            stride,
            padding,
        } => {
            let op = match m.layer() {
                Layer::Conv2d { .. } => "Conv",
                _ => "ConvTranspose",
            };
            let k = w.shape()[2] as i64;
            let mut inputs = vec![x.to_string(), weight(g, "conv_weight", w)];
            if let Some(b) = bias {
                inputs.push(weight(g, "conv_bias", b));
            }
            let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            let (s, p) = (stride as i64, padding as i64);
            g.op(
                op,
                &inputs,
                vec![
                    Attr::Ints("kernel_shape", vec![k, k]),
                    Attr::Ints("strides", vec![s, s]),
                    Attr::Ints("pads", vec![p, p, p, p]),
                    Attr::Ints("dilations", vec![1, 1]),
                    Attr::Int("group", 1),
                ],
            )
        }
        Layer::LayerNorm {
            weight: w,
            bias,
            eps,
        } => {
            let (w, b) = (weight(g, "ln_weight", w), weight(g, "ln_bias", bias));
            g.op(
                "LayerNormalization",
                &[x, &w, &b],
                vec![Attr::Int("axis", -1), Attr::Float("epsilon", eps)],
            )
        }
        Layer::Embedding { weight: w } => {
            let table = weight(g, "embedding", w);
            let ids = g.op("Cast", &[x], vec![Attr::Int("to", 7)]);
            g.op("Gather", &[&table, &ids], vec![Attr::Int("axis", 0)])
        }
        Layer::Dropout => g.op("Identity", &[x], vec![]),
        Layer::Activation(a) => activation(g, a, x),
        Layer::Flatten => g.op("Flatten", &[x], vec![Attr::Int("axis", 1)]),
        Layer::Reshape(shape) => {
            let dims: Vec<i64> = std::iter::once(0)
                .chain(shape.iter().map(|&d| d as i64))
                .collect();
            let shape = g.i64s("shape", &dims);
            g.op("Reshape", &[x, &shape], vec![])
        }
        Layer::Sequential(layers) => {
            let mut h = x.to_string();
            for (i, l) in layers.into_iter().enumerate() {
                let p = if path.is_empty() {
                    i.to_string()
                } else {
                    format!("{path}.{i}")
                };
                h = emit(g, l, &h, &p)?;
            }
            h
        }
        Layer::Other(kind) => {
            return Err(unsupported(
                kind,
                "no ONNX translation: `Module::layer` does not describe it (a module of its own \
                 kind must be rebuilt from nn's layers to export)",
            ))
        }
        _ => {
            return Err(unsupported(
                "unknown",
                "a layer kind this exporter does not know",
            ))
        }
    })
}

/// An activation as ONNX operators.
pub(crate) fn activation(g: &mut Graph, a: Activation, x: &str) -> String {
    match a {
        Activation::Relu => g.op("Relu", &[x], vec![]),
        Activation::Tanh => g.op("Tanh", &[x], vec![]),
        Activation::Sigmoid => g.op("Sigmoid", &[x], vec![]),
        Activation::LeakyRelu(s) => g.op("LeakyRelu", &[x], vec![Attr::Float("alpha", s)]),
        Activation::Gelu => gelu(g, x),
    }
}

/// `x · (1 + erf(x / √2)) / 2`.
pub(crate) fn gelu(g: &mut Graph, x: &str) -> String {
    let r = g.scalar("frac_1_sqrt_2", std::f32::consts::FRAC_1_SQRT_2);
    let (one, half) = (g.scalar("one", 1.0), g.scalar("half", 0.5));
    let xs = g.op("Mul", &[x, &r], vec![]);
    let e = g.op("Erf", &[&xs], vec![]);
    let e1 = g.op("Add", &[&e, &one], vec![]);
    let hx = g.op("Mul", &[x, &half], vec![]);
    g.op("Mul", &[&hx, &e1], vec![])
}

/// Runs `m` once on zeros of `[2, input...]` (ids 0 for an embedding) and returns the
/// output's per-example shape: a shape the network rejects is an error before anything is
/// built.
fn probe(m: &dyn Module, input: &[usize]) -> Result<Vec<usize>> {
    let shape: Vec<usize> = std::iter::once(2).chain(input.iter().copied()).collect();
    let out =
        no_grad(|| m.forward(&Tensor::zeros(&shape))).map_err(|source| ExportError::Shape {
            shape: shape.clone(),
            source,
        })?;
    Ok(out.shape()[1..].to_vec())
}

fn dims(per_example: &[usize]) -> Vec<Dim> {
    std::iter::once(Dim::Named("batch"))
        .chain(per_example.iter().map(|&d| Dim::Fixed(d)))
        .collect()
}

fn meta(name: &str, extra: &[(&str, String)]) -> Vec<(String, String)> {
    [
        ("groundwork.model", name.to_string()),
        ("groundwork.precision", "fp32".into()),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.clone()))
    .collect()
}

/// Exports a network (any [`Module`] whose layers describe themselves: every `nn` layer, in
/// `Sequential`s nested as deep as you like) as a model with one input, `input`
/// `[batch, ...input]` f32, and one output, `output`. The batch axis is dynamic; `input` is
/// one example's shape (`[784]` for an MLP on Fashion-MNIST, `[1, 28, 28]` for a CNN that
/// takes images). `name` goes into the metadata (`groundwork.model`).
///
/// Dropout exports as the identity: the graph is the network in evaluation mode.
///
/// # Errors
/// [`ExportError::Shape`] if the network rejects `[2, ...input]` (it is run once on zeros);
/// [`ExportError::Unsupported`] naming the first layer without a translation.
///
/// # Example
/// ```
/// use core_tensor::Rng;
/// use nn::{Activation, Linear, Sequential};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut rng = Rng::seed(0);
/// let net = Sequential::new()
///     .push(Linear::new(4, 8, true, &mut rng)?)
///     .push(Activation::Gelu)
///     .push(Linear::new(8, 3, true, &mut rng)?);
/// let model = onnx::export_module(&net, &[4], "tiny-mlp")?;
/// assert_eq!((model.inputs(), model.outputs()), (vec!["input"], vec!["output"]));
/// model.save(&std::env::temp_dir().join("tiny-mlp.onnx"))?;
/// # Ok(())
/// # }
/// ```
pub fn export_module(module: &dyn Module, input: &[usize], name: &str) -> Result<OnnxModel> {
    let out = probe(module, input)?;
    let mut g = Graph::new(name);
    let x = g.input("input", Elem::F32, &dims(input));
    let y = emit(&mut g, module, &x, "")?;
    g.output(&y, "output", Elem::F32, &dims(&out));
    let doc = format!("{name}, exported by groundwork's onnx crate (evaluation mode).");
    Ok(g.finish(&doc, meta(name, &[])))
}

/// Exports a VAE's encoder: input `x` `[batch, pixels]` f32 (pixels in `[0, 1]`, flattened
/// row-major), outputs `mu` and `logvar` `[batch, latent]` — the posterior
/// `q(z | x) = N(mu, diag exp(logvar))`.
///
/// # Errors
/// As [`export_module`].
pub fn export_vae_encoder(vae: &Vae, name: &str) -> Result<OnnxModel> {
    let (pixels, latent) = (vae.pixels(), vae.latent());
    probe(vae.encoder(), &[pixels])?;
    let mut g = Graph::new(name);
    let x = g.input("x", Elem::F32, &dims(&[pixels]));
    let h = emit(&mut g, vae.encoder(), &x, "encoder")?;
    let split = g.i64s("split", &[latent as i64, latent as i64]);
    let parts = g.op_n("Split", &[&h, &split], 2, vec![Attr::Int("axis", 1)]);
    g.output(&parts[0], "mu", Elem::F32, &dims(&[latent]));
    g.output(&parts[1], "logvar", Elem::F32, &dims(&[latent]));
    let doc = format!("{name}: the VAE's encoder, q(z|x) = N(mu, diag exp(logvar)).");
    Ok(g.finish(&doc, meta(name, &[("groundwork.part", "encoder".into())])))
}

/// Exports a VAE's decoder: input `z` `[batch, latent]`, output `x_mean` `[batch, pixels]`,
/// the mean of `p(x | z)` — per-pixel probabilities (the logits' sigmoid) for a Bernoulli
/// decoder, the means for a Gaussian one (as [`Vae::reconstruct_mean`]).
///
/// # Errors
/// As [`export_module`].
pub fn export_vae_decoder(vae: &Vae, name: &str) -> Result<OnnxModel> {
    let (pixels, latent) = (vae.pixels(), vae.latent());
    probe(vae.decoder(), &[latent])?;
    let mut g = Graph::new(name);
    let z = g.input("z", Elem::F32, &dims(&[latent]));
    let out = emit(&mut g, vae.decoder(), &z, "decoder")?;
    let mean = match vae.likelihood() {
        Likelihood::Bernoulli => g.op("Sigmoid", &[&out], vec![]),
        Likelihood::Gaussian => out,
    };
    g.output(&mean, "x_mean", Elem::F32, &dims(&[pixels]));
    let doc = format!("{name}: the VAE's decoder, the mean of p(x|z).");
    Ok(g.finish(&doc, meta(name, &[("groundwork.part", "decoder".into())])))
}
