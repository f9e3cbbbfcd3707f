//! [`Model`]: a sentence-embedding model loaded from its directory — tokenizer, encoder,
//! pooling and normalisation — and the everyday calls: tokenize, embed.

use std::path::{Path, PathBuf};

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::config::{ModelFiles, Pooling};
use crate::encoder::{Encoder, Precision, Workspace};
use crate::error::{QuantError, Result};
use crate::weights::BertWeights;

/// A sentence, tokenized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// Token ids, special tokens included (`[CLS] ... [SEP]`).
    pub ids: Vec<u32>,
    /// Whether the text was longer than the model's `max_seq_length` and was cut.
    pub truncated: bool,
}

/// A loaded sentence-embedding model.
pub struct Model {
    files: ModelFiles,
    tokenizer: Tokenizer,
    /// The same tokenizer truncating from the left (keeps the end of a long text).
    tokenizer_left: Tokenizer,
    encoder: Encoder,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Model({}, {:?})", self.files.dir.display(), self.encoder)
    }
}

impl Model {
    /// Loads a sentence-transformers model directory (see [`crate::config`] for its files).
    ///
    /// # Errors
    /// Any missing or damaged file, named, with what was expected.
    pub fn load(dir: impl AsRef<Path>) -> Result<Model> {
        Self::load_with(dir, Precision::fp32())
    }

    /// Loads a model directory with the given precision (INT8 quantizes the weights at load).
    ///
    /// # Errors
    /// As [`Model::load`].
    pub fn load_with(dir: impl AsRef<Path>, precision: Precision) -> Result<Model> {
        let dir = dir.as_ref();
        let files = ModelFiles::read(dir)?;
        let tok_path = dir.join("tokenizer.json");
        let tok_err = |message: String| QuantError::Tokenizer {
            path: tok_path.clone(),
            message,
        };
        if !tok_path.exists() {
            return Err(QuantError::Io {
                path: tok_path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "file not found"),
            });
        }
        let tok_text = crate::config::read(&tok_path, 1 << 26)?;
        // The tokenizers crate panics on some malformed files (a `decoder` that is not an
        // object: `expect("Helper")`); a damaged file must be an error naming it, not a crash.
        let parsed = std::panic::catch_unwind(|| Tokenizer::from_bytes(tok_text.as_bytes()))
            .map_err(|panic| {
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tok_err(format!(
                    "the tokenizers crate could not read it (it panicked: {why})"
                ))
            })?;
        let mut tokenizer = parsed.map_err(|e| tok_err(e.to_string()))?;
        // The file's own padding (to 128) and truncation would change the inputs; sentence-
        // transformers truncates at max_seq_length and pads per batch. We never pad.
        tokenizer.with_padding(None);
        let truncation = |direction| {
            Some(TruncationParams {
                max_length: files.max_seq_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction,
            })
        };
        tokenizer
            .with_truncation(truncation(TruncationDirection::Right))
            .map_err(|e| tok_err(e.to_string()))?;
        // A tokenizer that cannot serve the model fails here, naming its file, not at the
        // first text: ids beyond the embedding table, or a WordPiece vocabulary without its
        // unknown token (found by fuzzing: every out-of-vocabulary word then fails).
        let top = tokenizer.get_vocab(true).into_values().max().unwrap_or(0) as usize;
        if top >= files.config.vocab_size {
            return Err(tok_err(format!(
                "token id {top}, but config.json's vocab_size is {}",
                files.config.vocab_size
            )));
        }
        let probe = tokenizer
            .encode("a probe: \u{2203}\u{00e9}\u{6f22} 42 ##x", true)
            .map_err(|e| tok_err(format!("it cannot tokenize text: {e}")))?;
        // Special tokens come from the post-processor, not the vocabulary: check what it adds.
        if let Some(&id) = probe
            .get_ids()
            .iter()
            .find(|&&id| id as usize >= files.config.vocab_size)
        {
            return Err(tok_err(format!(
                "it produces token id {id}, but config.json's vocab_size is {}",
                files.config.vocab_size
            )));
        }
        let mut tokenizer_left = tokenizer.clone();
        tokenizer_left
            .with_truncation(truncation(TruncationDirection::Left))
            .map_err(|e| tok_err(e.to_string()))?;
        let weights = BertWeights::load(&dir.join("model.safetensors"), &files.config)?;
        let encoder = Encoder::new(files.config.clone(), weights, precision)?;
        Ok(Model {
            files,
            tokenizer,
            tokenizer_left,
            encoder,
        })
    }

    /// The directory it came from.
    pub fn dir(&self) -> &Path {
        &self.files.dir
    }

    /// Width of the embeddings.
    pub fn dim(&self) -> usize {
        self.files.config.hidden_size
    }

    /// Longest input in tokens (special tokens included); longer texts are truncated.
    pub fn max_seq_length(&self) -> usize {
        self.files.max_seq_length
    }

    /// The directory's settings (config, pooling, normalisation).
    pub fn files(&self) -> &ModelFiles {
        &self.files
    }

    /// The encoder.
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// Tokenizes one text (special tokens added, truncated to `max_seq_length`).
    ///
    /// # Errors
    /// The tokenizer's own failure (it has none for valid UTF-8 text with this model).
    pub fn tokenize(&self, text: &str) -> Result<Tokens> {
        self.encode(text, false)
    }

    /// Tokenizes one text keeping its end: a text longer than `max_seq_length` loses its
    /// first tokens instead of its last (`[CLS]` and `[SEP]` stay).
    ///
    /// # Errors
    /// As [`Model::tokenize`].
    pub fn tokenize_left(&self, text: &str) -> Result<Tokens> {
        self.encode(text, true)
    }

    /// A text far longer than the model takes is tokenised only in a window at the kept
    /// end — 64 bytes per kept token, cut at an ASCII space, tab or newline — when that
    /// window alone overflows: BERT's pre-tokeniser splits words at whitespace and every
    /// normalisation step is per character, so the window's tokens are the text's own, and
    /// a 1 MiB text costs what 16 KiB does (the full text is tokenised otherwise).
    fn encode(&self, text: &str, keep_end: bool) -> Result<Tokens> {
        let tokenizer = if keep_end {
            &self.tokenizer_left
        } else {
            &self.tokenizer
        };
        let window = 64 * self.files.max_seq_length;
        if text.len() > 2 * window {
            let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n');
            let piece = if keep_end {
                let from = text.len() - window;
                text.as_bytes()[..from]
                    .iter()
                    .rposition(space)
                    .map(|i| &text[i..])
            } else {
                text.as_bytes()[window..]
                    .iter()
                    .position(space)
                    .map(|i| &text[..window + i])
            };
            if let Some(piece) = piece {
                let t = self.encode_all(tokenizer, piece)?;
                if t.truncated {
                    return Ok(t);
                }
            }
        }
        self.encode_all(tokenizer, text)
    }

    fn encode_all(&self, tokenizer: &Tokenizer, text: &str) -> Result<Tokens> {
        let enc = tokenizer
            .encode(text, true)
            .map_err(|e| QuantError::Tokenizer {
                path: self.files.dir.join("tokenizer.json"),
                message: e.to_string(),
            })?;
        Ok(Tokens {
            ids: enc.get_ids().to_vec(),
            truncated: !enc.get_overflowing().is_empty(),
        })
    }

    /// Sentence embeddings of token sequences (`[len, dim]` row-major), pooled and, if the
    /// model says so ([`Model::normalizes`]), L2-normalised ([`l2_normalize`]); `ws` is
    /// reused between calls.
    ///
    /// # Errors
    /// An empty sequence, one too long for the position embeddings, or an unknown token id.
    pub fn embed_tokens(&self, batch: &[&[u32]], ws: &mut Workspace) -> Result<Vec<f32>> {
        let mut out = self.pool_tokens(batch, ws)?;
        if self.files.normalize {
            out.chunks_mut(self.dim()).for_each(l2_normalize);
        }
        Ok(out)
    }

    /// The pooled hidden states of token sequences (`[len, dim]` row-major), before any
    /// normalisation: what a caller who normalises per request (or not at all) needs.
    ///
    /// # Errors
    /// As [`Model::embed_tokens`].
    pub fn pool_tokens(&self, batch: &[&[u32]], ws: &mut Workspace) -> Result<Vec<f32>> {
        let hd = self.dim();
        let states = self.encoder.forward(batch, ws)?;
        let mut out = vec![0.0f32; batch.len() * hd];
        let mut start = 0;
        for (seq, o) in batch.iter().zip(out.chunks_mut(hd)) {
            let rows = &states[start * hd..(start + seq.len()) * hd];
            start += seq.len();
            pool(self.files.pooling, rows, hd, o);
        }
        Ok(out)
    }

    /// Whether the model's pipeline ends with a Normalize module (`modules.json`).
    pub fn normalizes(&self) -> bool {
        self.files.normalize
    }

    /// Embeds texts, `batch` at a time (each batch is one ragged batch: no padding).
    ///
    /// # Errors
    /// Tokenizer failures.
    pub fn embed(&self, texts: &[&str], batch: usize) -> Result<Vec<Vec<f32>>> {
        let tokens = texts
            .iter()
            .map(|t| self.tokenize(t))
            .collect::<Result<Vec<_>>>()?;
        let mut ws = Workspace::default();
        let mut out = Vec::with_capacity(texts.len());
        for chunk in tokens.chunks(batch.max(1)) {
            let ids: Vec<&[u32]> = chunk.iter().map(|t| t.ids.as_slice()).collect();
            let flat = self.embed_tokens(&ids, &mut ws)?;
            out.extend(flat.chunks(self.dim()).map(<[f32]>::to_vec));
        }
        Ok(out)
    }
}

/// Finds a model by name or path ([`find_model`]) and loads it at `precision`; every failure
/// as one message (what a command line prints).
///
/// # Errors
/// Where the model was looked for, or what is wrong with its files.
pub fn load_model(name_or_path: &str, precision: Precision) -> std::result::Result<Model, String> {
    let dir = find_model(name_or_path)?;
    Model::load_with(&dir, precision).map_err(|e| e.to_string())
}

/// `v /= |v|_2`, the norm summed in f64 (a zero vector stays zero): the Normalize module.
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
    let inv = (1.0 / norm.max(1e-12)) as f32;
    v.iter_mut().for_each(|x| *x *= inv);
}

/// Pools a sequence's hidden states (`rows`, each `hd` wide) into `out`.
fn pool(pooling: Pooling, rows: &[f32], hd: usize, out: &mut [f32]) {
    let n = rows.len() / hd;
    match pooling {
        Pooling::Cls => out.copy_from_slice(&rows[..hd]),
        Pooling::Mean => {
            for (j, o) in out.iter_mut().enumerate() {
                let sum: f64 = (0..n).map(|t| rows[t * hd + j] as f64).sum();
                *o = (sum / n as f64) as f32;
            }
        }
        Pooling::Max => {
            for (j, o) in out.iter_mut().enumerate() {
                *o = (0..n)
                    .map(|t| rows[t * hd + j])
                    .fold(f32::NEG_INFINITY, f32::max);
            }
        }
    }
}

/// The project's rule for tests that need a real model ([`lab::assets::or_skip`]): the
/// model's directory when it is there; without it, a skip line on stdout and `None` — or a
/// panic when `GROUNDWORK_REQUIRE_ASSETS=1` (CI), where a missing model is a failure.
///
/// Only with the `testing` feature (tests turn it on; release binaries never have it).
///
/// # Panics
/// The model is missing and `GROUNDWORK_REQUIRE_ASSETS=1`.
#[cfg(feature = "testing")]
pub fn model_for_tests(name: &str) -> Option<PathBuf> {
    lab::assets::or_skip(name, find_model(name))
}

/// Where a model is looked for by name ([`lab::assets::candidates`]): `$GROUNDWORK_DATA/models/NAME`,
/// then `data/models/NAME` in the current directory or any directory above it (so tests and
/// examples find the workspace's `data/` from any crate). A path that exists is taken as it is.
///
/// # Errors
/// A message saying where it looked and how to get the model.
pub fn find_model(name_or_path: &str) -> std::result::Result<PathBuf, String> {
    let direct = PathBuf::from(name_or_path);
    if direct.join("config.json").exists() {
        return Ok(direct);
    }
    let candidates = lab::assets::candidates(&Path::new("models").join(name_or_path));
    candidates
        .iter()
        .find(|c| c.join("config.json").exists())
        .cloned()
        .ok_or_else(|| {
            format!(
                "model `{name_or_path}` not found (looked in {}); get it with \
                 `cargo xtask fetch-model {name_or_path}`, or pass a model directory",
                candidates
                    .iter()
                    .map(|c| c.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}
