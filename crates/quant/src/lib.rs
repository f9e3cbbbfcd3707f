//! # quant
//!
//! Sentence embeddings with a real model (all-MiniLM-L6-v2, or any BERT-family model in the
//! sentence-transformers layout), computed natively: the tokenizer, a BERT encoder written
//! for inference on core-tensor's packed GEMM, pooling and normalisation — in FP32, in BF16
//! and in INT8 (dynamic quantisation), the reduced precisions on kernels of our own.
//!
//! * [`Model`] — load a model directory ([`Model::load_with`] takes a [`Precision`]),
//!   [`Model::tokenize`], [`Model::embed`].
//! * [`config`] — the directory's files and the settings read from them, all checked.
//! * [`weights`] — the tensors from `model.safetensors`, checked against `config.json`.
//! * [`Encoder`] — the forward pass: ragged batches (no padding), weights packed once,
//!   bias/GELU/residual fused into the GEMMs, buffers reused in a [`Workspace`]; the same bits
//!   for a sentence alone, in any batch, at any thread count. Its attention and element-wise
//!   loops are compiled per instruction set (AVX-512, AVX2, baseline) and chosen at run time.
//! * [`attention`] — the optional INT8 attention products, with their error analysis.
//! * [`int8`] — the INT8 GEMM (AMX, AVX-512 VNNI, AVX-VNNI, AVX2 and scalar, bit-identical)
//!   and the quantisation scheme; [`bf16`] — the BF16 GEMM (AMX, AVX512-BF16, AVX2 and
//!   scalar, f32 sums). Both choose their kernels through `core_tensor::cpu`.
//! * [`fidelity`], [`diagnostics`], [`study`] — the `minilm-int8` study: INT8 against FP32
//!   (cosine, L2, neighbours), per-layer SQNR and activation statistics, interleaved timing,
//!   and its sentences ([`study::BENCH_SENTENCES`]).
//!
//! **INT8** is dynamic quantisation: s8 weights per output channel, u8 activations per
//! token, i32 sums; the scheme and its error analysis are in [`int8`]. **BF16**
//! rounds weights and activations to bfloat16 and sums exact products in f32
//! ([`bf16`]): mean cosine 0.99999 to FP32 on MiniLM.
//!
//! ## Example
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = quant::find_model("all-minilm-l6-v2")?;
//! let model = quant::Model::load_with(&dir, quant::Precision::int8())?; // or ::bf16(), ::fp32()
//! let v = model.embed(&["A cat sits on the mat.", "A dog lies on the rug."], 32)?;
//! let cosine: f32 = v[0].iter().zip(&v[1]).map(|(a, b)| a * b).sum(); // unit vectors
//! println!("{cosine:.3}");
//! # Ok(())
//! # }
//! ```

#![deny(unsafe_code)]

pub mod attention;
pub mod config;
pub mod diagnostics;
mod encoder;
mod error;
pub mod fidelity;
// `unsafe` (calls into `#[target_feature]` code) lives only here, each version tested
// against the baseline build of the same source.
#[allow(unsafe_code)]
mod kernels;
mod math;
mod model;
mod speed;
pub mod study;
pub mod weights;

pub use encoder::{Encoder, LinearKind, Precision, Probe, Scratch, Workspace};
pub use error::{QuantError, Result};
pub use kernels::{bf16, int8};
#[cfg(feature = "testing")]
pub use model::model_for_tests;
pub use model::{find_model, l2_normalize, load_model, Model, Tokens};
