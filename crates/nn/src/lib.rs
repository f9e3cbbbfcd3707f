//! # nn
//!
//! Neural-network building blocks on core-tensor:
//!
//! * [`Module`] — the layer trait with PyTorch-named parameters (`weight`, `bias`,
//!   `0.weight` inside a [`Sequential`], PyTorch's layouts, so checkpoints map one-to-one);
//!   [`Linear`], [`Embedding`], [`LayerNorm`], [`Dropout`], activations, [`Flatten`],
//!   [`Sequential`].
//! * [`init`] — Xavier/Glorot and Kaiming/He (uniform and normal), PyTorch's default.
//! * [`loss`] — cross-entropy fused with log-softmax (label smoothing), NLL, MSE, BCE with
//!   logits, Gaussian NLL.
//! * [`metrics`] — accuracy, confusion matrix, per-class accuracy.
//! * [`data`] — the IDX reader, Fashion-MNIST/MNIST loaders and a seeded batch iterator.
//!
//! * [`Conv2d`] and [`ConvTranspose2d`] via im2col (`unfold2d`) and a matmul.
//!
//! * [`study`] — the Fashion-MNIST classifier study (loss and accuracy curves, sharpness,
//!   loss landscape, initialisation scales).
//!
//! * [`checkpoint`] — parameters and optimizer state as safetensors files, validated on load.
//! * [`diagnose`] — "is my learning rate reasonable?" for any module, its batches and its
//!   loss, in one call ([`diagnose::diagnose`]): the verdict with the numbers behind it,
//!   checked by running; and the `diagnose` study.
//! * [`hessian`] — the Hessian of any module's loss as an operator, in one call
//!   ([`hessian::hessian_operator`]): top eigenvalue, Lanczos spectrum, trace, density.
//!
//! ## Example: train a small MLP, save it, and read its curvature
//!
//! ```
//! use core_tensor::Rng;
//! use nn::{loss, Activation, Linear, Module, Sequential};
//! use optim::Adam;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut rng = Rng::seed(0);
//! let net = Sequential::new()
//!     .push(Linear::new(4, 8, true, &mut rng)?)
//!     .push(Activation::Relu)
//!     .push(Linear::new(8, 3, true, &mut rng)?);
//! let (x, y) = (rng.normal(&[30, 4], 0.0, 1.0), vec![0, 1, 2].repeat(10));
//! let mut opt = Adam::new(0.01).bind(net.params())?;
//! for _ in 0..50 {
//!     opt.zero_grad();
//!     loss::cross_entropy(&net.forward(&x)?, &y)?.backward()?;
//!     opt.step()?;
//! }
//! let predicted = net.forward(&x)?.argmax(-1)?;
//! let dir = std::env::temp_dir();
//! nn::checkpoint::save(dir.join("doc-mlp.safetensors"), &net, Some(&opt.state()))?;
//! let state = nn::checkpoint::load_into(dir.join("doc-mlp.safetensors"), &net)?;
//! assert_eq!(state.map(|s| s.step), Some(50));
//! // The sharpness: the top eigenvalue of the loss Hessian, by exact Hessian-vector products.
//! let h = nn::hessian::hessian_operator(&net, &x, |out| loss::cross_entropy(out, &y));
//! let sharpness = optim::hessian::power_iteration(&h, 100, 1e-6, 0)?.eigenvalue;
//! assert!(sharpness > 0.0 && predicted.len() == 30);
//! # Ok(())
//! # }
//! ```

#![deny(unsafe_code)]

pub mod checkpoint;
mod conv;
pub mod data;
pub mod diagnose;
mod error;
pub mod hessian;
pub mod init;
pub mod loss;
pub mod metrics;
mod module;
pub mod study;

pub use conv::{Conv2d, ConvConfig, ConvTranspose2d};
pub use error::{NnError, Result};
pub use module::{
    parameter_tensors, Activation, Dropout, Embedding, Flatten, Layer, LayerNorm, Linear, Module,
    Reshape, Sequential,
};
