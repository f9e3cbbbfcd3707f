//! The BERT encoder, written for inference: no autodiff graph, no tensor per operation,
//! weights packed once at load, every buffer reused between calls.
//!
//! **Ragged batches.** A batch is its sequences' tokens concatenated — `T` rows of the hidden
//! width `H`, no padding. The linear layers are GEMMs over all `T` rows at once; attention
//! runs per sequence over its own rows, so no token ever attends to another sentence or to
//! padding, and no FLOP is spent on padding. Since every GEMM row, every LayerNorm and every
//! attention row is computed by the same operations whatever else is in the batch and
//! however many threads run (core-tensor's [`gemm_into`] guarantees it for the GEMMs), a
//! sentence's embedding is bit-identical alone, in any batch, at any thread count.
//!
//! Per layer, with `x` the hidden states `[T, H]`:
//!
//! ```text
//! qkv = x Wqkv^T + bqkv              one GEMM, [T, 3H] (Q, K, V side by side), bias fused
//! per sequence, per head h:          a = softmax(Q_h K_h^T / sqrt(d)) V_h   (d = H / heads)
//! x   = LN(a Wo^T + bo + x)          residual fused into the GEMM, then LayerNorm per row
//! f   = GELU(x W1^T + b1)            [T, I], bias and GELU fused
//! x   = LN(f W2^T + b2 + x)
//! ```
//!
//! The embeddings are `word[id] + position[i] + token_type[0]`, then LayerNorm.

use std::cell::RefCell;

use core_tensor::{gemm_into, PackedMatrix};
use rayon::prelude::*;

use crate::config::BertConfig;
use crate::error::{QuantError, Result};
use crate::kernels::ops;
use crate::weights::{BertWeights, Tensor};

/// Rows at or above which element-wise passes (embeddings, LayerNorm) run on the rayon pool.
const PAR_MIN_ROWS: usize = 64;

/// One transformer layer, packed for inference.
struct Layer {
    qkv: PackedMatrix,
    qkv_bias: Vec<f32>,
    out: PackedMatrix,
    out_bias: Vec<f32>,
    norm1: (Vec<f32>, Vec<f32>),
    up: PackedMatrix,
    up_bias: Vec<f32>,
    down: PackedMatrix,
    down_bias: Vec<f32>,
    norm2: (Vec<f32>, Vec<f32>),
}

/// A BERT encoder ready to run.
pub struct Encoder {
    config: BertConfig,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    embed_norm: (Vec<f32>, Vec<f32>),
    layers: Vec<Layer>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Encoder({} layers, hidden {}, {} heads)",
            self.config.num_hidden_layers, self.config.hidden_size, self.config.num_attention_heads
        )
    }
}

/// Buffers for one batch shape, grown on demand and reused: a steady stream of batches
/// allocates nothing.
#[derive(Debug, Default)]
pub struct Workspace {
    x: Vec<f32>,
    qkv: Vec<f32>,
    heads: Vec<f32>,
    ctx: Vec<f32>,
    h: Vec<f32>,
    ffn: Vec<f32>,
}

fn grow(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if v.len() < len {
        v.resize(len, 0.0);
    }
    &mut v[..len]
}

thread_local! {
    /// Attention scores of one query row, per thread.
    static SCORES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

fn pair(t: (Tensor, Tensor)) -> (Vec<f32>, Vec<f32>) {
    (t.0.data, t.1.data)
}

/// Runs `f` on each row of `rows` (each `width` long), on the pool when there are many.
fn for_rows(rows: &mut [f32], width: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if rows.len() / width >= PAR_MIN_ROWS {
        rows.par_chunks_mut(width)
            .enumerate()
            .for_each(|(i, r)| f(i, r));
    } else {
        rows.chunks_mut(width)
            .enumerate()
            .for_each(|(i, r)| f(i, r));
    }
}

impl Encoder {
    /// Packs the weights for inference.
    ///
    /// # Errors
    /// Never for weights loaded by [`BertWeights::load`] with the same config (their shapes
    /// are checked there).
    pub fn new(config: BertConfig, w: BertWeights) -> Result<Encoder> {
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let layers = w
            .layers
            .into_iter()
            .map(|l| {
                // Q, K and V as one [3H, H] weight: one GEMM writes them side by side.
                let qkv: Vec<f32> = [&l.query.0, &l.key.0, &l.value.0]
                    .iter()
                    .flat_map(|t| t.data.iter().copied())
                    .collect();
                let qkv_bias: Vec<f32> = [&l.query.1, &l.key.1, &l.value.1]
                    .iter()
                    .flat_map(|t| t.data.iter().copied())
                    .collect();
                Ok(Layer {
                    qkv: PackedMatrix::from_transposed(&qkv, 3 * h, h)?,
                    qkv_bias,
                    out: PackedMatrix::from_transposed(&l.attn_out.0.data, h, h)?,
                    out_bias: l.attn_out.1.data,
                    norm1: pair(l.attn_norm),
                    up: PackedMatrix::from_transposed(&l.ffn_up.0.data, i, h)?,
                    up_bias: l.ffn_up.1.data,
                    down: PackedMatrix::from_transposed(&l.ffn_down.0.data, h, i)?,
                    down_bias: l.ffn_down.1.data,
                    norm2: pair(l.ffn_norm),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Encoder {
            config,
            word: w.word.data,
            position: w.position.data,
            token_type: w.token_type.data,
            embed_norm: pair(w.embed_norm),
            layers,
        })
    }

    /// The model's configuration.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// Floating-point operations (multiply and add counted apart) of a forward pass over
    /// sequences of these lengths: the four GEMMs per token and layer, `2 (4 H^2 + 2 H I)`,
    /// and attention's two products per sequence and layer, `4 L^2 H`.
    pub fn flops(&self, lengths: &[usize]) -> f64 {
        let c = &self.config;
        let (h, i, layers) = (
            c.hidden_size as f64,
            c.intermediate_size as f64,
            c.num_hidden_layers as f64,
        );
        lengths
            .iter()
            .map(|&l| {
                let l = l as f64;
                layers * (2.0 * l * (4.0 * h * h + 2.0 * h * i) + 4.0 * l * l * h)
            })
            .sum()
    }

    /// Bytes of weights held (the packed matrices and the rest).
    pub fn weight_bytes(&self) -> usize {
        let floats = self.word.len()
            + self.position.len()
            + self.token_type.len()
            + 2 * self.config.hidden_size;
        let layer = |l: &Layer| {
            l.qkv.bytes()
                + l.out.bytes()
                + l.up.bytes()
                + l.down.bytes()
                + 4 * (l.qkv_bias.len() + l.out_bias.len() + l.up_bias.len() + l.down_bias.len())
                + 4 * 2 * (l.norm1.0.len() + l.norm2.0.len())
        };
        4 * floats + self.layers.iter().map(layer).sum::<usize>()
    }

    /// The final hidden states of every token of `batch`'s sequences, concatenated
    /// (`[sum of lengths, H]`, row-major), in `ws`.
    ///
    /// # Errors
    /// An empty sequence, one longer than the position embeddings, or a token id outside the
    /// vocabulary.
    pub fn forward<'w>(&self, batch: &[&[u32]], ws: &'w mut Workspace) -> Result<&'w [f32]> {
        let c = &self.config;
        let (hd, heads) = (c.hidden_size, c.num_attention_heads);
        for (s, seq) in batch.iter().enumerate() {
            if seq.is_empty() || seq.len() > c.max_position_embeddings {
                return Err(QuantError::Input(format!(
                    "sequence {s} has {} tokens (expected 1..={})",
                    seq.len(),
                    c.max_position_embeddings
                )));
            }
            if let Some(&id) = seq.iter().find(|&&id| id as usize >= c.vocab_size) {
                return Err(QuantError::Input(format!(
                    "sequence {s}: token id {id} is outside the vocabulary of {}",
                    c.vocab_size
                )));
            }
        }
        let total: usize = batch.iter().map(|s| s.len()).sum();
        // Row of each token: (sequence start row, position in the sequence).
        let starts: Vec<usize> = batch
            .iter()
            .scan(0, |acc, s| {
                let start = *acc;
                *acc += s.len();
                Some(start)
            })
            .collect();
        let eps = c.layer_norm_eps;
        let Workspace {
            x,
            qkv,
            heads: head_buf,
            ctx,
            h,
            ffn,
        } = ws;
        let mut x = grow(x, total * hd);
        let qkv = grow(qkv, total * 3 * hd);
        let head_buf = grow(head_buf, total * hd);
        let ctx = grow(ctx, total * hd);
        let mut h = grow(h, total * hd);
        let ffn = grow(ffn, total * c.intermediate_size);

        // Embeddings + LayerNorm.
        let tokens: Vec<(u32, usize)> = batch
            .iter()
            .flat_map(|s| s.iter().enumerate().map(|(p, &id)| (id, p)))
            .collect();
        let (word, pos, typ) = (&self.word, &self.position, &self.token_type[..hd]);
        let (g0, b0) = (&self.embed_norm.0, &self.embed_norm.1);
        for_rows(x, hd, |t, row| {
            let (id, p) = tokens[t];
            ops::sum3(
                row,
                &word[id as usize * hd..][..hd],
                &pos[p * hd..][..hd],
                typ,
            );
            ops::layer_norm(row, g0, b0, eps);
        });

        let d = c.head_dim();
        let scale = 1.0 / (d as f32).sqrt();
        for layer in &self.layers {
            // Q, K, V.
            let bias = &layer.qkv_bias;
            let add_bias = |_: usize, j0: usize, row: &mut [f32]| ops::add_bias(row, &bias[j0..]);
            gemm_into(x, total, hd, &layer.qkv, qkv, 3 * hd, Some(&add_bias))?;

            // Attention, per (head, sequence): head-major output so each pair owns one
            // contiguous block: head_buf[h][row][0..d].
            let qkv_ro: &[f32] = qkv;
            let mut blocks: Vec<(usize, usize, usize, &mut [f32])> =
                Vec::with_capacity(heads * batch.len());
            let mut rest: &mut [f32] = head_buf;
            for head in 0..heads {
                for (s, seq) in batch.iter().enumerate() {
                    let (block, tail) = rest.split_at_mut(seq.len() * d);
                    blocks.push((head, starts[s], seq.len(), block));
                    rest = tail;
                }
            }
            let attend = |(head, start, len, out): (usize, usize, usize, &mut [f32])| {
                SCORES.with(|cell| {
                    let mut scores = cell.borrow_mut();
                    scores.resize(ops::attend_scratch(len, d), 0.0);
                    let rows = &qkv_ro[start * 3 * hd..(start + len) * 3 * hd];
                    let cols = (head * d, hd + head * d, 2 * hd + head * d);
                    ops::attend(rows, 3 * hd, len, cols, d, scale, &mut scores, out);
                })
            };
            if blocks.len() > 1 && total >= 8 {
                blocks.into_par_iter().for_each(attend);
            } else {
                blocks.into_iter().for_each(attend);
            }
            // Back to token-major [T, H].
            let head_ro: &[f32] = head_buf;
            for_rows(ctx, hd, |t, row| {
                for head in 0..heads {
                    row[head * d..(head + 1) * d]
                        .copy_from_slice(&head_ro[(head * total + t) * d..][..d]);
                }
            });

            // Output projection + bias + residual, then LayerNorm.
            let (bias, resid) = (&layer.out_bias, &*x);
            let bias_residual = |i: usize, j0: usize, row: &mut [f32]| {
                ops::bias_residual(row, &bias[j0..], &resid[i * hd + j0..])
            };
            gemm_into(ctx, total, hd, &layer.out, h, hd, Some(&bias_residual))?;
            let (g, b) = (&layer.norm1.0, &layer.norm1.1);
            for_rows(h, hd, |_, row| ops::layer_norm(row, g, b, eps));
            std::mem::swap(&mut x, &mut h);

            // Feed-forward: up + bias + GELU, down + bias + residual, LayerNorm.
            let bias = &layer.up_bias;
            let bias_gelu = |_: usize, j0: usize, row: &mut [f32]| ops::bias_gelu(row, &bias[j0..]);
            gemm_into(
                x,
                total,
                hd,
                &layer.up,
                ffn,
                c.intermediate_size,
                Some(&bias_gelu),
            )?;
            let (bias, resid) = (&layer.down_bias, &*x);
            let bias_residual = |i: usize, j0: usize, row: &mut [f32]| {
                ops::bias_residual(row, &bias[j0..], &resid[i * hd + j0..])
            };
            gemm_into(
                ffn,
                total,
                c.intermediate_size,
                &layer.down,
                h,
                hd,
                Some(&bias_residual),
            )?;
            let (g, b) = (&layer.norm2.0, &layer.norm2.1);
            for_rows(h, hd, |_, row| ops::layer_norm(row, g, b, eps));
            std::mem::swap(&mut x, &mut h);
        }
        Ok(&ws.x[..total * hd])
    }
}
