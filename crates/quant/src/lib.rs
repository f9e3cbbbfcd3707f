//! # quant
//!
//! Sentence embeddings with a real model (all-MiniLM-L6-v2, or any BERT-family model in the
//! sentence-transformers layout), computed natively: the tokenizer, a BERT encoder written
//! for inference on core-tensor's packed GEMM, pooling and normalisation.
//!
//! * [`Model`] — load a model directory, [`Model::tokenize`], [`Model::embed`].
//! * [`config`] — the directory's files and the settings read from them, all checked.
//! * [`weights`] — the tensors from `model.safetensors`, checked against `config.json`.
//! * [`encoder`] — the forward pass: ragged batches (no padding), weights packed once,
//!   bias/GELU/residual fused into the GEMMs, buffers reused; the same bits for a sentence
//!   alone, in any batch, at any thread count.
//! * [`math`] — vectorisable `exp` and `erf` (for GELU), with their errors.
//! * [`kernels`] — the attention and element-wise loops, compiled per instruction set
//!   (AVX-512, AVX2, baseline) and chosen at run time; bit-identical to the baseline.
//!
//! ## Example
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let model = quant::Model::load(quant::find_model("all-minilm-l6-v2")?)?;
//! let v = model.embed(&["A cat sits on the mat.", "A dog lies on the rug."], 32)?;
//! let cosine: f32 = v[0].iter().zip(&v[1]).map(|(a, b)| a * b).sum(); // unit vectors
//! println!("{cosine:.3}");
//! # Ok(())
//! # }
//! ```

#![deny(unsafe_code)]

pub mod config;
pub mod diagnostics;
pub mod encoder;
mod error;
pub mod fidelity;
// `unsafe` (calls into `#[target_feature]` code) lives only here, each version tested
// against the baseline build of the same source.
#[allow(unsafe_code)]
pub mod kernels;
pub mod math;
mod model;
pub mod speed;
pub mod study;
pub mod weights;

pub use encoder::{Encoder, LinearKind, Precision, Workspace};
pub use error::{QuantError, Result};
pub use model::{find_model, Model, Tokens};

/// The 512 English sentences (8-40 words) that the speed comparisons embed, in the order the
/// peer scripts use them.
pub const BENCH_SENTENCES: &str = include_str!("../data/sentences.txt");
