//! The weights of a BERT encoder from `model.safetensors`: each tensor found by its Hugging
//! Face name (with or without a `bert.` prefix), checked against `config.json`'s shapes, and
//! converted to f32 (f16 and bf16 are widened exactly).
//!
//! The file is read whole rather than memory-mapped: every weight is converted into the
//! GEMM kernel's packed layout at load anyway, so a map would only save a transient copy,
//! at the price of `unsafe` outside the kernel modules. The safetensors crate checks the
//! header against the file's length (a header claiming more bytes than the file has, or a
//! truncated file, is an error before any tensor is read).

use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

use crate::config::BertConfig;
use crate::error::{format_error, QuantError, Result};

/// One tensor, as f32, with its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// The weights of one transformer layer, PyTorch's layouts (`Linear.weight` is `[out, in]`).
#[derive(Debug, Clone)]
pub struct LayerWeights {
    /// `[H, H]` each, and `[H]` biases.
    pub query: (Tensor, Tensor),
    /// Key projection.
    pub key: (Tensor, Tensor),
    /// Value projection.
    pub value: (Tensor, Tensor),
    /// Attention output projection.
    pub attn_out: (Tensor, Tensor),
    /// LayerNorm after attention (gamma, beta).
    pub attn_norm: (Tensor, Tensor),
    /// Feed-forward up, `[I, H]`.
    pub ffn_up: (Tensor, Tensor),
    /// Feed-forward down, `[H, I]`.
    pub ffn_down: (Tensor, Tensor),
    /// LayerNorm after the feed-forward (gamma, beta).
    pub ffn_norm: (Tensor, Tensor),
}

/// All weights of the encoder.
#[derive(Debug, Clone)]
pub struct BertWeights {
    /// `[V, H]`.
    pub word: Tensor,
    /// `[P, H]`.
    pub position: Tensor,
    /// `[T, H]`.
    pub token_type: Tensor,
    /// The embeddings' LayerNorm (gamma, beta).
    pub embed_norm: (Tensor, Tensor),
    /// The layers.
    pub layers: Vec<LayerWeights>,
}

struct Reader<'a> {
    path: PathBuf,
    st: SafeTensors<'a>,
}

impl Reader<'_> {
    fn err(&self, name: &str, message: String) -> QuantError {
        QuantError::Tensor {
            path: self.path.clone(),
            name: name.to_string(),
            message,
        }
    }

    /// The tensor `name` (or `bert.name`, or one of `alternatives`), which must have `shape`.
    fn get(&self, name: &str, alternatives: &[&str], shape: &[usize]) -> Result<Tensor> {
        let names = std::iter::once(name).chain(alternatives.iter().copied());
        let found = names
            .flat_map(|n| [n.to_string(), format!("bert.{n}")])
            .find_map(|n| self.st.tensor(&n).ok());
        let Some(view) = found else {
            return Err(self.err(name, format!("missing (expected shape {shape:?})")));
        };
        if view.shape() != shape {
            return Err(self.err(
                name,
                format!(
                    "shape {:?}, expected {shape:?} (from config.json)",
                    view.shape()
                ),
            ));
        }
        let bytes = view.data();
        let data: Vec<f32> = match view.dtype() {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => bytes
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(self.err(name, format!("dtype {other:?}, expected F32, F16 or BF16")))
            }
        };
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(self.err(
                name,
                format!("element {i} is {} (weights must be finite)", data[i]),
            ));
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            data,
        })
    }

    fn linear(&self, prefix: &str, out: usize, inp: usize) -> Result<(Tensor, Tensor)> {
        Ok((
            self.get(&format!("{prefix}.weight"), &[], &[out, inp])?,
            self.get(&format!("{prefix}.bias"), &[], &[out])?,
        ))
    }

    fn norm(&self, prefix: &str, h: usize) -> Result<(Tensor, Tensor)> {
        // Old TensorFlow-converted checkpoints name LayerNorm's parameters gamma and beta.
        Ok((
            self.get(
                &format!("{prefix}.weight"),
                &[&format!("{prefix}.gamma")],
                &[h],
            )?,
            self.get(
                &format!("{prefix}.bias"),
                &[&format!("{prefix}.beta")],
                &[h],
            )?,
        ))
    }
}

impl BertWeights {
    /// Reads and checks every tensor the encoder needs from `path`.
    ///
    /// # Errors
    /// The file cannot be read, is not a valid safetensors file (truncated, a header that
    /// claims more than the file holds), or a tensor is missing, of the wrong shape or dtype,
    /// or not finite — each error names the file and the tensor.
    pub fn load(path: &Path, c: &BertConfig) -> Result<BertWeights> {
        // 16 GiB: ten times BERT-large in f32.
        crate::config::check_file(path, 1 << 34)?;
        let bytes = std::fs::read(path).map_err(|source| QuantError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| {
            format_error(
                path,
                format!("not a valid safetensors file ({} bytes): {e}", bytes.len()),
            )
        })?;
        let r = Reader {
            path: path.to_path_buf(),
            st,
        };
        let (h, i) = (c.hidden_size, c.intermediate_size);
        let layers = (0..c.num_hidden_layers)
            .map(|l| {
                let p = format!("encoder.layer.{l}");
                Ok(LayerWeights {
                    query: r.linear(&format!("{p}.attention.self.query"), h, h)?,
                    key: r.linear(&format!("{p}.attention.self.key"), h, h)?,
                    value: r.linear(&format!("{p}.attention.self.value"), h, h)?,
                    attn_out: r.linear(&format!("{p}.attention.output.dense"), h, h)?,
                    attn_norm: r.norm(&format!("{p}.attention.output.LayerNorm"), h)?,
                    ffn_up: r.linear(&format!("{p}.intermediate.dense"), i, h)?,
                    ffn_down: r.linear(&format!("{p}.output.dense"), h, i)?,
                    ffn_norm: r.norm(&format!("{p}.output.LayerNorm"), h)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(BertWeights {
            word: r.get("embeddings.word_embeddings.weight", &[], &[c.vocab_size, h])?,
            position: r.get(
                "embeddings.position_embeddings.weight",
                &[],
                &[c.max_position_embeddings, h],
            )?,
            token_type: r.get(
                "embeddings.token_type_embeddings.weight",
                &[],
                &[c.type_vocab_size, h],
            )?,
            embed_norm: r.norm("embeddings.LayerNorm", h)?,
            layers,
        })
    }
}
