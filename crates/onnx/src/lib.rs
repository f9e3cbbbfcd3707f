//! # onnx
//!
//! Export of groundwork's models to ONNX, the format ONNX Runtime, OpenVINO,
//! onnxruntime-web and mobile runtimes read — so a model trained or quantised here can be
//! deployed anywhere, with the numbers it had here.
//!
//! * [`export_module`] — any `nn` network ([`nn::Sequential`] of Linear, Conv2d,
//!   ConvTranspose2d, LayerNorm, Embedding, Dropout, activations, Flatten, Reshape), with a
//!   dynamic batch axis. [`export_vae_encoder`] / [`export_vae_decoder`] — the VAE's halves.
//! * [`export_bert`] — the MiniLM sentence encoder (any BERT model `quant` loads), tokens in
//!   and pooled, normalised embeddings out, in FP32 or in **groundwork's own INT8**: s8
//!   per-channel weights, per-token u8 activation scales computed in the graph,
//!   `MatMulInteger` and the exact zero-point correction — the integers our kernels compute
//!   (see [`bert`]).
//! * [`checkpoint`] — the models the classifier and VAE studies save
//!   (`results/<experiment>/<run>/model.safetensors`), rebuilt from the configuration they
//!   carry and exported.
//! * [`OnnxModel`] — the result: [`OnnxModel::save`] writes atomically (never a half-written
//!   file); [`OnnxModel::to_bytes`] for other sinks.
//!
//! Opset 17, IR version 8; metadata `groundwork.model`, `groundwork.precision` (and for
//! BERT the pooling, normalisation and maximum sequence length). The protobuf messages are
//! declared in Rust with prost's derive ([`proto`]): no `protoc`, no build script.
//!
//! Every model is checked by the real runtime in this crate's tests (`tests/ort.rs`):
//! `onnx.checker.check_model(full_check=True)`, shape inference, and ONNX Runtime's outputs
//! against groundwork's on the same inputs.
//!
//! ## Example
//!
//! ```
//! use core_tensor::Rng;
//! use nn::{Activation, ConvConfig, Flatten, Linear, Reshape, Sequential};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut rng = Rng::seed(0);
//! let cnn = Sequential::new()
//!     .push(Reshape(vec![1, 28, 28]))
//!     .push(ConvConfig::new(1, 8, 3).stride(2).conv(&mut rng)?)
//!     .push(Activation::Relu)
//!     .push(Flatten)
//!     .push(Linear::new(8 * 13 * 13, 10, true, &mut rng)?);
//! let model = onnx::export_module(&cnn, &[784], "tiny-cnn")?;
//! model.save(&std::env::temp_dir().join("tiny-cnn.onnx"))?;
//! assert_eq!(model.metadata("groundwork.precision"), Some("fp32"));
//! # Ok(())
//! # }
//! ```

#![deny(unsafe_code)]

pub mod bert;
pub mod checkpoint;
mod error;
mod graph;
mod module;
pub mod proto;

// The tests' ONNX Runtime runner, shared with the integration tests.
#[cfg(test)]
#[path = "../tests/common/mod.rs"]
mod ort_common;

pub use bert::{export_bert, BertExport};
pub use checkpoint::{export_checkpoint, Part};
pub use error::{ExportError, Result};
pub use graph::{OnnxModel, IR_VERSION, OPSET};
pub use module::{export_module, export_vae_decoder, export_vae_encoder};
