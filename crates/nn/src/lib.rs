//! # nn
//!
//! Neural-network building blocks on core-tensor:
//!
//! * [`module`] — the [`Module`] trait with PyTorch-named parameters; [`Linear`],
//!   [`Embedding`], [`LayerNorm`], [`Dropout`], activations, [`Flatten`], [`Sequential`].
//! * [`init`] — Xavier/Glorot and Kaiming/He (uniform and normal), PyTorch's default.
//! * [`loss`] — cross-entropy fused with log-softmax (label smoothing), NLL, MSE, BCE with
//!   logits, Gaussian NLL.
//! * [`metrics`] — accuracy, confusion matrix, per-class accuracy.
//! * [`data`] — the IDX reader, Fashion-MNIST/MNIST loaders and a seeded batch iterator.
//!
//! * [`conv`] — [`Conv2d`] and [`ConvTranspose2d`] via im2col (`unfold2d`) and a matmul.
//!
//! * [`study`] — the Fashion-MNIST classifier study (loss and accuracy curves, sharpness,
//!   loss landscape, initialisation scales).
//!
//! * [`checkpoint`] — parameters and optimizer state as safetensors files, validated on load.
//! * [`hessian`] — the Hessian of any module's loss as an operator, in one call
//!   ([`hessian::hessian_operator`]): top eigenvalue, Lanczos spectrum, trace, density.
//!
//! ## Example: one training step of a small MLP
//!
//! ```
//! use core_tensor::Rng;
//! use nn::{loss, Activation, Linear, Module, Sequential};
//! use optim::{Optimizer, Sgd};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut rng = Rng::seed(0);
//! let net = Sequential::new()
//!     .push(Linear::new(4, 8, true, &mut rng)?)
//!     .push(Activation::Relu)
//!     .push(Linear::new(8, 3, true, &mut rng)?);
//! let names: Vec<String> = net.parameters().into_iter().map(|(n, _)| n).collect();
//! assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
//! let params = nn::module::parameter_tensors(&net);
//! let mut opt = Sgd::new(0.1).build()?;
//! let x = rng.normal(&[5, 4], 0.0, 1.0);
//! let y = [0, 1, 2, 1, 0];
//! let before = loss::cross_entropy(&net.forward(&x)?, &y, 0.0)?;
//! before.backward()?;
//! opt.step(&params)?;
//! let after = loss::cross_entropy(&net.forward(&x)?, &y, 0.0)?;
//! assert!(after.item()? < before.item()?);
//! # Ok(())
//! # }
//! ```

#![deny(unsafe_code)]

pub mod checkpoint;
pub mod conv;
pub mod data;
mod error;
pub mod hessian;
pub mod init;
pub mod loss;
pub mod metrics;
pub mod module;
pub mod study;

pub use conv::{Conv2d, ConvTranspose2d};
pub use error::{NnError, Result};
pub use module::{
    Activation, Dropout, Embedding, Flatten, LayerNorm, Linear, Module, Reshape, Sequential,
};
