//! A sentence-transformers model directory in Hugging Face's layout, and the settings read
//! from it:
//!
//! ```text
//! config.json                  BERT hyper-parameters (hidden size, heads, layers, ...)
//! model.safetensors            the weights (f32, or f16/bf16 converted at load)
//! tokenizer.json               the Hugging Face tokenizer
//! sentence_bert_config.json    max_seq_length (optional; default 512 or the positions)
//! 1_Pooling/config.json        mean, CLS or max pooling (optional; default mean)
//! modules.json                 whether a Normalize module follows (optional; default no)
//! ```
//!
//! Every value is checked before anything is allocated from it, so a damaged file gives an
//! error naming it rather than a panic or a huge allocation.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{format_error, QuantError, Result};

/// The BERT hyper-parameters from `config.json` (the fields a BERT encoder needs).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BertConfig {
    /// Width of the hidden states (384 for MiniLM-L6).
    pub hidden_size: usize,
    /// Attention heads (12); `hidden_size` must be a multiple of it.
    pub num_attention_heads: usize,
    /// Transformer layers (6).
    pub num_hidden_layers: usize,
    /// Width of the feed-forward layer (1536).
    pub intermediate_size: usize,
    /// Vocabulary size (30522).
    pub vocab_size: usize,
    /// Position embeddings (512): the longest input.
    pub max_position_embeddings: usize,
    /// Token-type (segment) embeddings (2).
    #[serde(default = "two")]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon (1e-12).
    #[serde(default = "eps")]
    pub layer_norm_eps: f64,
    /// The activation of the feed-forward layer; only `gelu` (the erf form) is supported.
    #[serde(default = "gelu")]
    pub hidden_act: String,
}

fn two() -> usize {
    2
}
fn eps() -> f64 {
    1e-12
}
fn gelu() -> String {
    "gelu".into()
}

impl BertConfig {
    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    fn check(&self, path: &Path) -> Result<()> {
        let bad = |m: String| Err(format_error(path, m));
        let in_range = |v: usize, lo: usize, hi: usize| (lo..=hi).contains(&v);
        if !in_range(self.hidden_size, 1, 16_384) {
            return bad(format!(
                "hidden_size = {} (expected 1..=16384)",
                self.hidden_size
            ));
        }
        if !in_range(self.num_attention_heads, 1, 256)
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return bad(format!(
                "num_attention_heads = {} must divide hidden_size = {}",
                self.num_attention_heads, self.hidden_size
            ));
        }
        if !in_range(self.num_hidden_layers, 1, 256) {
            return bad(format!(
                "num_hidden_layers = {} (expected 1..=256)",
                self.num_hidden_layers
            ));
        }
        if !in_range(self.intermediate_size, 1, 65_536) {
            return bad(format!(
                "intermediate_size = {} (expected 1..=65536)",
                self.intermediate_size
            ));
        }
        if !in_range(self.vocab_size, 1, 4_000_000)
            || !in_range(self.max_position_embeddings, 2, 65_536)
        {
            return bad(format!(
                "vocab_size = {}, max_position_embeddings = {} (expected 1..=4000000 and 2..=65536)",
                self.vocab_size, self.max_position_embeddings
            ));
        }
        if !in_range(self.type_vocab_size, 1, 1024) {
            return bad(format!(
                "type_vocab_size = {} (expected 1..=1024)",
                self.type_vocab_size
            ));
        }
        if !(self.layer_norm_eps > 0.0 && self.layer_norm_eps < 1.0) {
            return bad(format!(
                "layer_norm_eps = {} (expected in (0, 1))",
                self.layer_norm_eps
            ));
        }
        if self.hidden_act != "gelu" {
            return bad(format!(
                "hidden_act = \"{}\": only \"gelu\" (the erf form BERT uses) is supported",
                self.hidden_act
            ));
        }
        Ok(())
    }
}

/// How token vectors become one sentence vector (`1_Pooling/config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The mean over the sentence's tokens.
    Mean,
    /// The `[CLS]` token's vector.
    Cls,
    /// The element-wise maximum over the tokens.
    Max,
}

#[derive(Deserialize)]
struct PoolingFile {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Deserialize)]
struct SentenceBertFile {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(rename = "type")]
    kind: String,
}

/// Everything a model directory says besides the weights and the tokenizer.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFiles {
    /// The directory.
    pub dir: PathBuf,
    /// `config.json`.
    pub config: BertConfig,
    /// Inputs are truncated to this many tokens, special tokens included.
    pub max_seq_length: usize,
    /// The pooling.
    pub pooling: Pooling,
    /// Whether the sentence vectors are L2-normalised.
    pub normalize: bool,
}

/// Checks that `path` is a regular file of at most `limit` bytes (a FIFO or `/dev/zero`
/// named by mistake is refused, not read).
pub(crate) fn check_file(path: &Path, limit: u64) -> Result<()> {
    lab::files::check_regular(path, Some(limit))
        .map(|_| ())
        .map_err(|e| file_error(path, e))
}

/// A [`lab::files::FileError`] as this crate's error, naming the file.
fn file_error(path: &Path, e: lab::files::FileError) -> QuantError {
    match e {
        lab::files::FileError::Io(source) => QuantError::Io {
            path: path.to_path_buf(),
            source,
        },
        other => format_error(path, other.to_string()),
    }
}

/// Reads a text file that must be a regular file of at most `limit` bytes.
pub(crate) fn read(path: &Path, limit: u64) -> Result<String> {
    lab::files::read_regular_string(path, limit).map_err(|e| file_error(path, e))
}

fn json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    serde_json::from_str(&read(path, 1 << 20)?)
        .map_err(|e| format_error(path, format!("not the JSON expected here: {e}")))
}

impl ModelFiles {
    /// Reads and checks the directory's JSON files.
    ///
    /// # Errors
    /// A missing `config.json`; any file that does not parse or holds values out of range.
    pub fn read(dir: &Path) -> Result<ModelFiles> {
        let config_path = dir.join("config.json");
        let config: BertConfig = json(&config_path)?;
        config.check(&config_path)?;
        let sbert = dir.join("sentence_bert_config.json");
        let max_seq_length = if sbert.exists() {
            let f: SentenceBertFile = json(&sbert)?;
            f.max_seq_length.unwrap_or(config.max_position_embeddings)
        } else {
            config.max_position_embeddings
        };
        if max_seq_length < 2 || max_seq_length > config.max_position_embeddings {
            return Err(format_error(
                &sbert,
                format!(
                    "max_seq_length = {max_seq_length} (expected 2..={}, the position embeddings)",
                    config.max_position_embeddings
                ),
            ));
        }
        let pooling_path = dir.join("1_Pooling/config.json");
        let pooling = if pooling_path.exists() {
            let p: PoolingFile = json(&pooling_path)?;
            match (
                p.pooling_mode_mean_tokens,
                p.pooling_mode_cls_token,
                p.pooling_mode_max_tokens,
                p.pooling_mode_mean_sqrt_len_tokens,
            ) {
                (true, false, false, false) => Pooling::Mean,
                (false, true, false, false) => Pooling::Cls,
                (false, false, true, false) => Pooling::Max,
                _ => {
                    return Err(format_error(
                        &pooling_path,
                        "exactly one of pooling_mode_mean_tokens, pooling_mode_cls_token and \
                         pooling_mode_max_tokens must be true (other modes are not supported)",
                    ))
                }
            }
        } else {
            Pooling::Mean
        };
        let modules_path = dir.join("modules.json");
        let normalize = if modules_path.exists() {
            let modules: Vec<ModuleEntry> = json(&modules_path)?;
            modules.iter().any(|m| m.kind.ends_with(".Normalize"))
        } else {
            false
        };
        Ok(ModelFiles {
            dir: dir.to_path_buf(),
            config,
            max_seq_length,
            pooling,
            normalize,
        })
    }
}
