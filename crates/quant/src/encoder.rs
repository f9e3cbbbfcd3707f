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

use crate::attention;
use crate::config::BertConfig;
use crate::error::{QuantError, Result};
use crate::kernels::bf16::{default_bf16_family, gemm_bf16, Bf16Rows, PackedBf16};
use crate::kernels::int8::{default_family, gemm_i8, quantize_weight_row, PackedI8, QuantizedRows};
use crate::kernels::ops;
use crate::weights::{BertWeights, Tensor};
use core_tensor::par::for_rows;

/// The four linear layers of a transformer layer, by what they do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinearKind {
    /// The Q, K and V projections (one `[3H, H]` product).
    Qkv,
    /// The attention output projection.
    AttnOut,
    /// The feed-forward's first layer (`H -> I`, GELU after).
    FfnUp,
    /// The feed-forward's output projection (`I -> H`), whose input — GELU outputs — has the
    /// widest range.
    FfnDown,
}

impl LinearKind {
    /// All four, in the order a layer runs them.
    pub const ALL: [LinearKind; 4] = [
        LinearKind::Qkv,
        LinearKind::AttnOut,
        LinearKind::FfnUp,
        LinearKind::FfnDown,
    ];

    /// A short name (`qkv`, `attn-out`, `ffn-up`, `ffn-down`).
    pub fn name(self) -> &'static str {
        match self {
            LinearKind::Qkv => "qkv",
            LinearKind::AttnOut => "attn-out",
            LinearKind::FfnUp => "ffn-up",
            LinearKind::FfnDown => "ffn-down",
        }
    }
}

/// Which linear layers run in INT8 (dynamic quantisation: weights per output channel at
/// load, activations per token at run time; see [`crate::kernels::int8`]) and which in BF16
/// (weights and activations rounded to bfloat16, products exact, sums in f32; see
/// [`crate::kernels::bf16`]). Everything else — embeddings unless `int8_embeddings`,
/// LayerNorm, softmax, GELU, pooling — runs in f32.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Precision {
    /// Quantize the linear layers (all of them but `keep_fp32`).
    pub int8: bool,
    /// Kinds that stay out of INT8 even with `int8` (in FP32, or BF16 with `bf16`).
    pub keep_fp32: Vec<LinearKind>,
    /// Run the linear layers that are not INT8 in BF16.
    pub bf16: bool,
    /// Store the word-embedding table as int8, one scale per row (symmetric), widened to
    /// f32 on lookup: the table is half of MiniLM's FP32 bytes.
    pub int8_embeddings: bool,
    /// Run attention's two products (`Q K^T` and `P V`) in INT8 too, every operand quantized
    /// per call (see [`crate::attention`]). Off by default: they are a small share of the
    /// time at sentence lengths, and `P V` loses the smallest probabilities.
    pub int8_attention: bool,
}

impl Precision {
    /// Everything in FP32.
    pub fn fp32() -> Precision {
        Precision::default()
    }

    /// Every linear layer and the word embeddings in INT8.
    pub fn int8() -> Precision {
        Precision {
            int8: true,
            keep_fp32: Vec::new(),
            bf16: false,
            int8_embeddings: true,
            int8_attention: false,
        }
    }

    /// What a command line's `--int8` / `--bf16` ask for (`--int8` wins; FP32 without either).
    pub fn from_flags(int8: bool, bf16: bool) -> Precision {
        match (int8, bf16) {
            (true, _) => Precision::int8(),
            (false, true) => Precision::bf16(),
            (false, false) => Precision::fp32(),
        }
    }

    /// Every linear layer in BF16; the rest in f32.
    pub fn bf16() -> Precision {
        Precision {
            bf16: true,
            ..Precision::default()
        }
    }

    /// A short name: `fp32`, `bf16`, `int8`, or `int8+` for INT8 with other settings.
    pub fn name(&self) -> &'static str {
        match (self.int8, self.bf16) {
            (false, false) => "fp32",
            (false, true) => "bf16",
            _ if *self == Precision::int8() => "int8",
            _ => "int8+",
        }
    }

    /// Whether `kind` runs in INT8.
    pub fn quantizes(&self, kind: LinearKind) -> bool {
        self.int8 && !self.keep_fp32.contains(&kind)
    }

    /// Whether attention's products run in INT8.
    pub fn quantizes_attention(&self) -> bool {
        self.int8 && self.int8_attention
    }
}

/// A linear layer's weight `B = W^T`, in the precision it runs at.
enum Weight {
    F32(PackedMatrix),
    I8(PackedI8),
    Bf16(PackedBf16),
}

impl Weight {
    fn new(
        w: &[f32],
        n: usize,
        k: usize,
        precision: &Precision,
        kind: LinearKind,
    ) -> Result<Weight> {
        Ok(if precision.quantizes(kind) {
            Weight::I8(PackedI8::new(w, n, k, default_family()))
        } else if precision.bf16 {
            Weight::Bf16(PackedBf16::new(w, n, k, default_bf16_family()))
        } else {
            Weight::F32(PackedMatrix::from_transposed(w, n, k)?)
        })
    }

    fn bytes(&self) -> usize {
        match self {
            Weight::F32(p) => p.bytes(),
            Weight::I8(p) => p.bytes(),
            Weight::Bf16(p) => p.bytes(),
        }
    }

    /// `out = post(x W^T + bias)` for `m` rows of `k` (row stride `k`), `out` with row stride
    /// `ldo`. The FP32 GEMM runs bias and `post` in its epilogue; the INT8 one adds the bias
    /// while converting back to floats where the bits come out the same (not before a
    /// residual: `(y + b) + r` rounds differently from `y + (b + r)`).
    #[allow(clippy::too_many_arguments)]
    fn apply(
        &self,
        x: &[f32],
        m: usize,
        k: usize,
        out: &mut [f32],
        ldo: usize,
        bias: &[f32],
        post: Post<'_>,
        scratch: &mut Scratch,
    ) -> Result<()> {
        let with_bias = |i: usize, j0: usize, row: &mut [f32]| match post {
            Post::None => ops::add_bias(row, &bias[j0..]),
            Post::Gelu => ops::bias_gelu(row, &bias[j0..]),
            Post::Residual(r, w) => ops::bias_residual(row, &bias[j0..], &r[i * w + j0..]),
        };
        match self {
            Weight::F32(p) => gemm_into(x, m, k, p, out, ldo, Some(&with_bias))?,
            Weight::Bf16(w) => {
                scratch.bf16.convert(x, m, k, k, w.family());
                gemm_bf16(&scratch.bf16, m, w, out, ldo, Some(&with_bias));
            }
            Weight::I8(w) => {
                let q = &mut scratch.int8;
                q.quantize(x, m, k, k, w.family());
                match post {
                    Post::None => gemm_i8(q, m, w, out, ldo, Some(bias), None),
                    Post::Gelu => {
                        let gelu = |_: usize, _: usize, row: &mut [f32]| ops::gelu_in_place(row);
                        gemm_i8(q, m, w, out, ldo, Some(bias), Some(&gelu))
                    }
                    Post::Residual(..) => gemm_i8(q, m, w, out, ldo, None, Some(&with_bias)),
                }
            }
        }
        Ok(())
    }
}

/// A callback seeing each linear layer's input: `(layer, kind, input rows, rows)`.
pub type Probe<'a> = dyn FnMut(usize, LinearKind, &[f32], usize) + 'a;

/// What follows a linear layer's bias.
#[derive(Clone, Copy)]
enum Post<'a> {
    None,
    Gelu,
    /// `+ residual`, rows of the given width.
    Residual(&'a [f32], usize),
}

/// Tokens per block of the feed-forward (`256 x 1536` floats of intermediate: 1.5 MiB).
const FFN_ROWS: usize = 256;

/// The word-embedding table, in the precision it is stored at.
enum Table {
    F32(Vec<f32>),
    /// Rows of int8 codes with one scale per row.
    I8 {
        codes: Vec<i8>,
        scale: Vec<f32>,
    },
}

impl Table {
    fn new(data: Vec<f32>, width: usize, int8: bool) -> Table {
        if !int8 {
            return Table::F32(data);
        }
        let (mut codes, mut scale) = (Vec::with_capacity(data.len()), Vec::new());
        let mut row_codes = vec![0i8; width];
        for row in data.chunks(width) {
            scale.push(quantize_weight_row(row, &mut row_codes));
            codes.extend_from_slice(&row_codes[..row.len()]);
        }
        Table::I8 { codes, scale }
    }

    /// Row `id` as floats, into `out`.
    fn row(&self, id: usize, out: &mut [f32]) {
        let w = out.len();
        match self {
            Table::F32(v) => out.copy_from_slice(&v[id * w..(id + 1) * w]),
            Table::I8 { codes, scale } => {
                for (o, &c) in out.iter_mut().zip(&codes[id * w..(id + 1) * w]) {
                    *o = c as f32 * scale[id];
                }
            }
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Table::F32(v) => 4 * v.len(),
            Table::I8 { codes, scale } => codes.len() + 4 * scale.len(),
        }
    }
}

/// One transformer layer, packed for inference.
struct Layer {
    qkv: Weight,
    qkv_bias: Vec<f32>,
    out: Weight,
    out_bias: Vec<f32>,
    norm1: (Vec<f32>, Vec<f32>),
    up: Weight,
    up_bias: Vec<f32>,
    down: Weight,
    down_bias: Vec<f32>,
    norm2: (Vec<f32>, Vec<f32>),
}

/// A BERT encoder ready to run.
pub struct Encoder {
    config: BertConfig,
    precision: Precision,
    word: Table,
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

/// A linear layer's input in the reduced precision it runs at (reused between calls).
#[derive(Debug, Default)]
pub struct Scratch {
    int8: QuantizedRows,
    bf16: Bf16Rows,
}

/// Buffers for one batch shape, grown on demand and reused: a steady stream of batches
/// allocates nothing.
#[derive(Debug, Default)]
pub struct Workspace {
    q: Scratch,
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
    /// Buffers of INT8 attention, per thread.
    static SCRATCH_I8: RefCell<Option<attention::Scratch>> = const { RefCell::new(None) };
}

fn pair(t: (Tensor, Tensor)) -> (Vec<f32>, Vec<f32>) {
    (t.0.data, t.1.data)
}

impl Encoder {
    /// Packs the weights for inference, quantizing the linear layers `precision` names.
    ///
    /// # Errors
    /// Never for weights loaded by [`BertWeights::load`] with the same config (their shapes
    /// are checked there).
    pub fn new(config: BertConfig, w: BertWeights, precision: Precision) -> Result<Encoder> {
        let p = &precision;
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
                    qkv: Weight::new(&qkv, 3 * h, h, p, LinearKind::Qkv)?,
                    qkv_bias,
                    out: Weight::new(&l.attn_out.0.data, h, h, p, LinearKind::AttnOut)?,
                    out_bias: l.attn_out.1.data,
                    norm1: pair(l.attn_norm),
                    up: Weight::new(&l.ffn_up.0.data, i, h, p, LinearKind::FfnUp)?,
                    up_bias: l.ffn_up.1.data,
                    down: Weight::new(&l.ffn_down.0.data, h, i, p, LinearKind::FfnDown)?,
                    down_bias: l.ffn_down.1.data,
                    norm2: pair(l.ffn_norm),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let int8_table = precision.int8 && precision.int8_embeddings;
        Ok(Encoder {
            word: Table::new(w.word.data, config.hidden_size, int8_table),
            config,
            precision,
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

    /// Which layers run in INT8 or BF16.
    pub fn precision(&self) -> &Precision {
        &self.precision
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
        let floats = self.position.len() + self.token_type.len() + 2 * self.config.hidden_size;
        let layer = |l: &Layer| {
            l.qkv.bytes()
                + l.out.bytes()
                + l.up.bytes()
                + l.down.bytes()
                + 4 * (l.qkv_bias.len() + l.out_bias.len() + l.up_bias.len() + l.down_bias.len())
                + 4 * 2 * (l.norm1.0.len() + l.norm2.0.len())
        };
        self.word.bytes() + 4 * floats + self.layers.iter().map(layer).sum::<usize>()
    }

    /// One linear layer alone: `out = x W^T + b` for `rows` rows of its input width, in the
    /// precision this encoder runs it at (`scratch` holds the reduced-precision input).
    /// Returns the output width.
    ///
    /// # Errors
    /// `layer` out of range, or `x`/`out` too short.
    pub fn linear(
        &self,
        layer: usize,
        kind: LinearKind,
        x: &[f32],
        rows: usize,
        out: &mut Vec<f32>,
        scratch: &mut Scratch,
    ) -> Result<usize> {
        let l = self
            .layers
            .get(layer)
            .ok_or_else(|| QuantError::Input(format!("layer {layer} of {}", self.layers.len())))?;
        let (h, i) = (self.config.hidden_size, self.config.intermediate_size);
        let (w, bias, k, n) = match kind {
            LinearKind::Qkv => (&l.qkv, &l.qkv_bias, h, 3 * h),
            LinearKind::AttnOut => (&l.out, &l.out_bias, h, h),
            LinearKind::FfnUp => (&l.up, &l.up_bias, h, i),
            LinearKind::FfnDown => (&l.down, &l.down_bias, i, h),
        };
        if x.len() < rows * k {
            return Err(QuantError::Input(format!(
                "{} input: {} floats for {rows} rows of {k}",
                kind.name(),
                x.len()
            )));
        }
        out.resize(rows * n, 0.0);
        w.apply(&x[..rows * k], rows, k, out, n, bias, Post::None, scratch)?;
        Ok(n)
    }

    /// The final hidden states of every token of `batch`'s sequences, concatenated
    /// (`[sum of lengths, H]`, row-major), in `ws`.
    ///
    /// # Errors
    /// An empty sequence, one longer than the position embeddings, or a token id outside the
    /// vocabulary.
    pub fn forward<'w>(&self, batch: &[&[u32]], ws: &'w mut Workspace) -> Result<&'w [f32]> {
        self.forward_probed(batch, ws, &mut |_, _, _, _| {})
    }

    /// [`Encoder::forward`], calling `probe(layer, kind, input, rows)` with the input of
    /// every linear layer as it runs (`rows` rows of the layer's input width): what the
    /// INT8 diagnostics read.
    ///
    /// # Errors
    /// As [`Encoder::forward`].
    pub fn forward_probed<'w>(
        &self,
        batch: &[&[u32]],
        ws: &'w mut Workspace,
        probe: &mut Probe<'_>,
    ) -> Result<&'w [f32]> {
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
            q,
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
        let ffn = grow(ffn, total.min(FFN_ROWS) * c.intermediate_size);

        // Embeddings + LayerNorm.
        let tokens: Vec<(u32, usize)> = batch
            .iter()
            .flat_map(|s| s.iter().enumerate().map(|(p, &id)| (id, p)))
            .collect();
        let (word, pos, typ) = (&self.word, &self.position, &self.token_type[..hd]);
        let (g0, b0) = (&self.embed_norm.0, &self.embed_norm.1);
        for_rows(x, hd, |t, row| {
            let (id, p) = tokens[t];
            word.row(id as usize, row);
            ops::add_bias(row, &pos[p * hd..][..hd]);
            ops::add_bias(row, typ);
            ops::layer_norm(row, g0, b0, eps);
        });

        let d = c.head_dim();
        let scale = 1.0 / (d as f32).sqrt();
        for (li, layer) in self.layers.iter().enumerate() {
            // Q, K, V.
            probe(li, LinearKind::Qkv, x, total);
            layer
                .qkv
                .apply(x, total, hd, qkv, 3 * hd, &layer.qkv_bias, Post::None, q)?;

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
            let int8 = self.precision.quantizes_attention();
            let attend = |(head, start, len, out): (usize, usize, usize, &mut [f32])| {
                let rows = &qkv_ro[start * 3 * hd..(start + len) * 3 * hd];
                let cols = (head * d, hd + head * d, 2 * hd + head * d);
                if int8 {
                    return SCRATCH_I8.with(|cell| {
                        let mut cell = cell.borrow_mut();
                        let s =
                            cell.get_or_insert_with(|| attention::Scratch::new(default_family()));
                        attention::attend_i8(rows, 3 * hd, len, cols, d, scale, s, out);
                    });
                }
                SCORES.with(|cell| {
                    let mut scores = cell.borrow_mut();
                    scores.resize(ops::attend_scratch(len, d), 0.0);
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
            probe(li, LinearKind::AttnOut, ctx, total);
            let post = Post::Residual(x, hd);
            layer
                .out
                .apply(ctx, total, hd, h, hd, &layer.out_bias, post, q)?;
            let (g, b) = (&layer.norm1.0, &layer.norm1.1);
            for_rows(h, hd, |_, row| ops::layer_norm(row, g, b, eps));
            std::mem::swap(&mut x, &mut h);

            // Feed-forward: up + bias + GELU, down + bias + residual, LayerNorm.
            // In blocks of FFN_ROWS tokens, so the [rows, I] intermediate stays in cache
            // between the two products (each row's result is the same either way).
            let isz = c.intermediate_size;
            probe(li, LinearKind::FfnUp, x, total);
            for r0 in (0..total).step_by(FFN_ROWS) {
                let rows = FFN_ROWS.min(total - r0);
                let (xr, ffn) = (&x[r0 * hd..(r0 + rows) * hd], &mut ffn[..rows * isz]);
                layer
                    .up
                    .apply(xr, rows, hd, ffn, isz, &layer.up_bias, Post::Gelu, q)?;
                probe(li, LinearKind::FfnDown, ffn, rows);
                let post = Post::Residual(xr, hd);
                let out = &mut h[r0 * hd..(r0 + rows) * hd];
                layer
                    .down
                    .apply(ffn, rows, isz, out, hd, &layer.down_bias, post, q)?;
            }
            let (g, b) = (&layer.norm2.0, &layer.norm2.1);
            for_rows(h, hd, |_, row| ops::layer_norm(row, g, b, eps));
            std::mem::swap(&mut x, &mut h);
        }
        Ok(&ws.x[..total * hd])
    }
}
