//! A BERT sentence encoder (all-MiniLM-L6-v2 or any model `quant` loads) as one ONNX graph:
//! token ids and attention mask in, **pooled and normalised sentence embeddings** out, so a
//! deployer needs only the tokenizer besides the `.onnx` file.
//!
//! Inputs `input_ids` and `attention_mask`, int64 `[batch, sequence]` (both axes dynamic;
//! pad with any id and mask 0, at most `groundwork.max_seq_length` tokens as the metadata
//! says); output `sentence_embedding`, f32 `[batch, hidden]`. Token type ids are all 0 (as
//! groundwork and sentence-transformers use them for single sentences), so there is no such
//! input. Padding changes nothing: masked keys get `-3.4e38` before the softmax (probability
//! exactly 0) and the pooling reads only masked-in tokens.
//!
//! **INT8** is groundwork's own dynamic quantisation ([`quant::int8`]), the same
//! integers as its kernels:
//!
//! ```text
//! weights (initialisers)   q_w = round(W / s_w), s_w = max|W_j| / 127 per output channel, s8
//! per token, in the graph  lo = min(0, ReduceMin x), hi = max(0, ReduceMax x)
//!                          s_a = (hi - lo) / top (1 if hi = lo), z = clip(round(-lo / s_a), 0, top)
//!                          q_a = QuantizeLinear(x · (1 / s_a), 1, z)  → u8 in [0, top]  (top = 255)
//! product                  acc = MatMulInteger(q_a, q_w^T) - z · colsum(q_w)     (exact i32)
//! epilogue                 y = (s_a · s_w) · acc + b
//! ```
//!
//! Every operation and its order is our kernel's, so one layer gives the same bits in ONNX
//! Runtime as in groundwork (tested). `QuantizeLinear` takes one zero point per row when the
//! activations are viewed as `[rows, K]` (per-axis, axis 0); it gets the scale already
//! applied — our quantiser multiplies by `1 / s_a` where `QuantizeLinear` would divide by
//! `s_a`, which rounds differently — and a unit scale. `MatMulInteger` runs without an
//! activation zero point (ONNX Runtime's CPU kernel takes a scalar one only) and the
//! `z · colsum` correction is subtracted in i32, as our kernels do.
//! The word-embedding table is stored as s8 with one scale per row, widened on lookup.
//! With `reduce_range`, activations use 7 bits (`top = 127`): what our AVX2 kernel does, and
//! what runtimes need on x86 CPUs without VNNI, whose `vpmaddubsw` saturates on 8-bit inputs.

use std::path::Path;

use quant::config::{ModelFiles, Pooling};
use quant::int8::{quantize_weight_row, quantize_weights};
use quant::weights::{BertWeights, Tensor as Weights};

use crate::error::Result;
use crate::graph::{Attr, Dim, Elem, Graph, OnnxModel};
use crate::module::gelu;

/// How to export a BERT encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BertExport {
    /// Every linear layer and the word embeddings in groundwork's INT8 (the default: FP32).
    pub int8: bool,
    /// INT8 activations in 7 bits instead of 8 (see the module's documentation).
    pub reduce_range: bool,
}

impl BertExport {
    /// The export's precision name (`fp32`, `int8`, `int8-reduce-range`).
    pub fn precision(&self) -> &'static str {
        match (self.int8, self.reduce_range) {
            (false, _) => "fp32",
            (true, false) => "int8",
            (true, true) => "int8-reduce-range",
        }
    }
}

const ORT_INT32: i64 = 6;
const ORT_UINT8: i64 = 2;
const ORT_FLOAT: i64 = 1;

struct Bert<'a> {
    g: Graph,
    opts: &'a BertExport,
    hidden: usize,
    /// The hidden states' leading axes as an int64 shape (`Shape(input_ids)`, `[B, S]`):
    /// where an INT8 product's `[rows, n]` result is viewed back.
    lead: String,
}

/// `W^T` of a row-major `[n, k]` matrix.
fn transpose<T: Copy + Default>(w: &[T], n: usize, k: usize) -> Vec<T> {
    let mut t = vec![T::default(); k * n];
    for (j, row) in w.chunks(k).enumerate() {
        for (p, &v) in row.iter().enumerate() {
            t[p * n + j] = v;
        }
    }
    t
}

impl Bert<'_> {
    fn op(&mut self, op: &str, inputs: &[&str]) -> String {
        self.g.op(op, inputs, vec![])
    }

    /// `x W^T + b` for `W: [n, k]`, in the export's precision; `post` (GELU) after the bias.
    fn linear(&mut self, x: &str, w: &Weights, b: &Weights, gelu_after: bool) -> String {
        let (n, k) = (w.shape[0], w.shape[1]);
        let y = if self.opts.int8 {
            self.linear_i8(x, &w.data, n, k)
        } else {
            let wt = self.g.f32s("weight_t", &[k, n], &transpose(&w.data, n, k));
            self.op("MatMul", &[x, &wt])
        };
        let b = self.g.f32s("bias", &[n], &b.data);
        let y = self.op("Add", &[&y, &b]);
        if gelu_after {
            gelu(&mut self.g, &y)
        } else {
            y
        }
    }

    /// The INT8 product `s_a s_w (q_a q_w^T - z colsum)`, without the bias. The activations
    /// are viewed as rows `[M, K]` (all leading axes flattened) so that `QuantizeLinear` can
    /// take one zero point per row (per-axis, axis 0); the result is viewed back.
    fn linear_i8(&mut self, x: &str, w: &[f32], n: usize, k: usize) -> String {
        let q = quantize_weights(w, n, k);
        let qt = transpose(&q.codes, n, k);
        let top = if self.opts.reduce_range { 127.0 } else { 255.0 };
        let g = &mut self.g;
        let (zero, one, topv) = (
            g.scalar("zero", 0.0),
            g.scalar("one", 1.0),
            g.scalar("top", top),
        );
        let rows_shape = g.i64s("rows_shape", &[-1, k as i64]);
        let flat = g.i64s("flat", &[-1]);
        let x2 = g.op("Reshape", &[x, &rows_shape], vec![]);
        let keep = || vec![Attr::Ints("axes", vec![1]), Attr::Int("keepdims", 1)];
        let lo = g.op("ReduceMin", &[&x2], keep());
        let lo = g.op("Min", &[&lo, &zero], vec![]);
        let hi = g.op("ReduceMax", &[&x2], keep());
        let hi = g.op("Max", &[&hi, &zero], vec![]);
        let range = g.op("Sub", &[&hi, &lo], vec![]);
        let scale = g.op("Div", &[&range, &topv], vec![]);
        let spread = g.op("Greater", &[&hi, &lo], vec![]);
        let scale = g.op("Where", &[&spread, &scale, &one], vec![]);
        let neg_lo = g.op("Neg", &[&lo], vec![]);
        let z = g.op("Div", &[&neg_lo, &scale], vec![]);
        let z = g.op("Round", &[&z], vec![]);
        let z = g.op("Clip", &[&z, &zero, &topv], vec![]);
        // 1 / s_a with a numerator computed at run time (s_a / s_a = 1 exactly: s_a > 0):
        // with a constant 1, ONNX Runtime's DivMulFusion rewrites x · (1 / s_a) as x / s_a,
        // which rounds differently from our kernel's multiply and changes some codes.
        let unit = g.op("Div", &[&scale, &scale], vec![]);
        let inv = g.op("Div", &[&unit, &scale], vec![]);
        let xs = g.op("Mul", &[&x2, &inv], vec![]);
        // QuantizeLinear(v, 1, z) = clip(round(v) + z, 0, 255): our rounding, then the zero
        // point, in one pass (the scale was applied by the multiply above, as our kernel does).
        let ones = g.op("Reshape", &[&unit, &flat], vec![]);
        let zu = g.op("Reshape", &[&z, &flat], vec![]);
        let zu = g.op("Cast", &[&zu], vec![Attr::Int("to", ORT_UINT8)]);
        let xq = g.op(
            "QuantizeLinear",
            &[&xs, &ones, &zu],
            vec![Attr::Int("axis", 0)],
        );
        let xq = if self.opts.reduce_range {
            // 7 bits: the codes must stay in [0, 127].
            let top_u8 = g.u8_scalar("top_u8", 127);
            g.op("Min", &[&xq, &top_u8], vec![])
        } else {
            xq
        };
        let wq = g.i8s("weight_s8_t", &[k, n], &qt);
        let acc = g.op("MatMulInteger", &[&xq, &wq], vec![]);
        let colsum = g.i32s("colsum", &[n], &q.colsums);
        let zi = g.op("Cast", &[&z], vec![Attr::Int("to", ORT_INT32)]);
        let corr = g.op("Mul", &[&zi, &colsum], vec![]);
        let acc = g.op("Sub", &[&acc, &corr], vec![]);
        let acc = g.op("Cast", &[&acc], vec![Attr::Int("to", ORT_FLOAT)]);
        let sw = g.f32s("weight_scale", &[n], &q.scales);
        let s = g.op("Mul", &[&scale, &sw], vec![]);
        let y = g.op("Mul", &[&s, &acc], vec![]);
        // Back to x's leading axes: lead ++ [n].
        let width = g.i64s("width", &[n as i64]);
        let out_shape = g.op("Concat", &[&self.lead, &width], vec![Attr::Int("axis", 0)]);
        g.op("Reshape", &[&y, &out_shape], vec![])
    }

    fn layer_norm(&mut self, x: &str, gb: &(Weights, Weights), eps: f64) -> String {
        let h = self.hidden;
        let w = self.g.f32s("ln_weight", &[h], &gb.0.data);
        let b = self.g.f32s("ln_bias", &[h], &gb.1.data);
        self.g.op(
            "LayerNormalization",
            &[x, &w, &b],
            vec![Attr::Int("axis", -1), Attr::Float("epsilon", eps as f32)],
        )
    }

    /// The word embeddings of `ids`: an f32 table, or s8 codes times a per-row scale.
    fn words(&mut self, table: &Weights, ids: &str) -> String {
        let (v, h) = (table.shape[0], table.shape[1]);
        let gather = vec![Attr::Int("axis", 0)];
        if !self.opts.int8 {
            let t = self.g.f32s("word_embeddings", &[v, h], &table.data);
            return self.g.op("Gather", &[&t, ids], gather);
        }
        let mut codes = vec![0i8; v * h];
        let scales: Vec<f32> = table
            .data
            .chunks(h)
            .zip(codes.chunks_mut(h))
            .map(|(row, out)| quantize_weight_row(row, out))
            .collect();
        let codes = self.g.i8s("word_embeddings_s8", &[v, h], &codes);
        let scales = self.g.f32s("word_embeddings_scale", &[v, 1], &scales);
        let c = self.g.op("Gather", &[&codes, ids], gather.clone());
        let c = self.g.op("Cast", &[&c], vec![Attr::Int("to", ORT_FLOAT)]);
        let s = self.g.op("Gather", &[&scales, ids], gather);
        self.op("Mul", &[&c, &s])
    }
}

/// Exports the BERT sentence encoder in the model directory `dir` (the layout `quant`
/// loads: `config.json`, `model.safetensors`, the pooling and normalisation settings).
/// `name` goes into the metadata (`groundwork.model`) with the precision, pooling,
/// normalisation and maximum sequence length.
///
/// # Errors
/// [`crate::ExportError::Model`] for a missing or damaged model file.
pub fn export_bert(dir: &Path, name: &str, opts: &BertExport) -> Result<OnnxModel> {
    let files = ModelFiles::read(dir)?;
    let c = &files.config;
    let w = BertWeights::load(&dir.join("model.safetensors"), c)?;
    let (h, heads) = (c.hidden_size, c.num_attention_heads);
    let d = c.head_dim();
    let mut g = Graph::new(name);
    let seq = [Dim::Named("batch"), Dim::Named("sequence")];
    let ids = g.input("input_ids", Elem::I64, &seq);
    let mask = g.input("attention_mask", Elem::I64, &seq);
    let shape = g.op("Shape", &[&ids], vec![]);
    let mut b = Bert {
        g,
        opts,
        hidden: h,
        lead: shape.clone(),
    };

    // Embeddings: word + position[0..S] + token_type[0], then LayerNorm.
    let word = b.words(&w.word, &ids);
    let pos_table =
        b.g.f32s("position_embeddings", &w.position.shape, &w.position.data);
    let (one_i, two_i, zero_i) = (
        b.g.i64s("one", &[1]),
        b.g.i64s("two", &[2]),
        b.g.i64s("zero", &[0]),
    );
    let len = b.op("Slice", &[&shape, &one_i, &two_i]);
    let pos = b.op("Slice", &[&pos_table, &zero_i, &len, &zero_i]);
    let typ = b.g.f32s("token_type_0", &[h], &w.token_type.data[..h]);
    let x = b.op("Add", &[&word, &pos]);
    let x = b.op("Add", &[&x, &typ]);
    let eps = c.layer_norm_eps;
    let mut x = b.layer_norm(&x, &w.embed_norm, eps);

    // The additive mask, [B, 1, 1, S]: 0 where attended, the lowest f32 where padded.
    let maskf = b.g.op("Cast", &[&mask], vec![Attr::Int("to", ORT_FLOAT)]);
    let one = b.g.scalar("one", 1.0);
    let low = b.g.scalar("lowest", f32::MIN);
    let padded = b.op("Sub", &[&one, &maskf]);
    let bias = b.op("Mul", &[&padded, &low]);
    let axes12 = b.g.i64s("axes", &[1, 2]);
    let bias = b.op("Unsqueeze", &[&bias, &axes12]);

    let heads_shape = b.g.i64s("heads_shape", &[0, 0, heads as i64, d as i64]);
    let merged_shape = b.g.i64s("merged_shape", &[0, 0, h as i64]);
    let scale = b.g.scalar("attention_scale", 1.0 / (d as f32).sqrt());
    let split = b.g.i64s("split", &[h as i64; 3]);
    for l in &w.layers {
        // Q, K and V as one [3H, H] product (one activation quantisation, as ours).
        let cat = |t: [&Weights; 3]| -> Weights {
            Weights {
                shape: vec![3 * t[0].shape[0], t[0].shape.get(1).copied().unwrap_or(1)],
                data: t.iter().flat_map(|t| t.data.iter().copied()).collect(),
            }
        };
        let wqkv = cat([&l.query.0, &l.key.0, &l.value.0]);
        let mut bqkv = cat([&l.query.1, &l.key.1, &l.value.1]);
        bqkv.shape = vec![3 * h];
        let qkv = b.linear(&x, &wqkv, &bqkv, false);
        let parts =
            b.g.op_n("Split", &[&qkv, &split], 3, vec![Attr::Int("axis", -1)]);
        let per_head = |b: &mut Bert<'_>, t: &str, perm: Vec<i64>| {
            let r = b.op("Reshape", &[t, &heads_shape]);
            b.g.op("Transpose", &[&r], vec![Attr::Ints("perm", perm)])
        };
        let q = per_head(&mut b, &parts[0], vec![0, 2, 1, 3]);
        let k = per_head(&mut b, &parts[1], vec![0, 2, 3, 1]);
        let v = per_head(&mut b, &parts[2], vec![0, 2, 1, 3]);
        let s = b.op("MatMul", &[&q, &k]);
        let s = b.op("Mul", &[&s, &scale]);
        let s = b.op("Add", &[&s, &bias]);
        let p = b.g.op("Softmax", &[&s], vec![Attr::Int("axis", -1)]);
        let ctx = b.op("MatMul", &[&p, &v]);
        let ctx = b.g.op(
            "Transpose",
            &[&ctx],
            vec![Attr::Ints("perm", vec![0, 2, 1, 3])],
        );
        let ctx = b.op("Reshape", &[&ctx, &merged_shape]);
        let a = b.linear(&ctx, &l.attn_out.0, &l.attn_out.1, false);
        let a = b.op("Add", &[&a, &x]);
        let a = b.layer_norm(&a, &l.attn_norm, eps);
        let f = b.linear(&a, &l.ffn_up.0, &l.ffn_up.1, true);
        let f = b.linear(&f, &l.ffn_down.0, &l.ffn_down.1, false);
        let f = b.op("Add", &[&f, &a]);
        x = b.layer_norm(&f, &l.ffn_norm, eps);
    }

    // Pooling over the attended tokens.
    let pooled = match files.pooling {
        Pooling::Cls => {
            let first = b.g.i64_scalar("first", 0);
            b.g.op("Gather", &[&x, &first], vec![Attr::Int("axis", 1)])
        }
        Pooling::Mean => {
            let last = b.g.i64s("last_axis", &[-1]);
            let m = b.op("Unsqueeze", &[&maskf, &last]);
            let xm = b.op("Mul", &[&x, &m]);
            let axis1 = b.g.i64s("token_axis", &[1]);
            let sum =
                b.g.op("ReduceSum", &[&xm, &axis1], vec![Attr::Int("keepdims", 0)]);
            let count =
                b.g.op("ReduceSum", &[&m, &axis1], vec![Attr::Int("keepdims", 0)]);
            let tiny = b.g.scalar("min_count", 1e-9);
            let count = b.op("Max", &[&count, &tiny]);
            b.op("Div", &[&sum, &count])
        }
        Pooling::Max => {
            let last = b.g.i64s("last_axis", &[-1]);
            let pad = b.op("Unsqueeze", &[&padded, &last]);
            let pad = b.op("Mul", &[&pad, &low]);
            let xm = b.op("Add", &[&x, &pad]);
            b.g.op(
                "ReduceMax",
                &[&xm],
                vec![Attr::Ints("axes", vec![1]), Attr::Int("keepdims", 0)],
            )
        }
    };
    let out = if files.normalize {
        let norm = b.g.op(
            "ReduceL2",
            &[&pooled],
            vec![Attr::Ints("axes", vec![-1]), Attr::Int("keepdims", 1)],
        );
        let tiny = b.g.scalar("min_norm", 1e-12);
        let norm = b.op("Max", &[&norm, &tiny]);
        b.op("Div", &[&pooled, &norm])
    } else {
        pooled
    };
    b.g.output(
        &out,
        "sentence_embedding",
        Elem::F32,
        &[Dim::Named("batch"), Dim::Fixed(h)],
    );
    let pooling = match files.pooling {
        Pooling::Mean => "mean",
        Pooling::Cls => "cls",
        Pooling::Max => "max",
    };
    let doc = format!(
        "{name} sentence encoder ({}), exported by groundwork: token ids and attention mask \
         in, {}pooled sentence embeddings out.",
        opts.precision(),
        if files.normalize {
            "L2-normalised "
        } else {
            ""
        }
    );
    let metadata = vec![
        ("groundwork.model".to_string(), name.to_string()),
        ("groundwork.precision".into(), opts.precision().into()),
        ("groundwork.pooling".into(), pooling.into()),
        ("groundwork.normalize".into(), files.normalize.to_string()),
        (
            "groundwork.max_seq_length".into(),
            files.max_seq_length.to_string(),
        ),
    ];
    Ok(b.g.finish(&doc, metadata))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ort_common::{runtime, scratch, Input};
    use quant::int8::{default_family, gemm_i8, PackedI8, QuantizedRows};

    /// One INT8 linear layer, exported and run in ONNX Runtime on the same floats as our
    /// kernel: the same codes, the same integer sums, the same epilogue — bit for bit.
    #[test]
    fn an_int8_linear_layer_computes_our_kernels_bits_in_onnxruntime() {
        let Some(rt) = runtime("an_int8_linear_layer_computes_our_kernels_bits_in_onnxruntime")
        else {
            return;
        };
        let family = default_family();
        let (rows, k, n) = (10, 64, 48);
        let mut seed = 0x9e37_79b9u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as f32 / u32::MAX as f32 * 2.0 - 1.0
        };
        let w: Vec<f32> = (0..n * k).map(|_| next() * 0.1).collect();
        let bias: Vec<f32> = (0..n).map(|_| next()).collect();
        let mut x: Vec<f32> = (0..rows * k).map(|_| next() * 3.0).collect();
        // Rows that exercise the range rules: all zero, all positive, all negative, one
        // outlier.
        x[..k].fill(0.0);
        x[k..2 * k].iter_mut().for_each(|v| *v = v.abs() + 0.5);
        x[2 * k..3 * k].iter_mut().for_each(|v| *v = -v.abs());
        x[3 * k] = 40.0;

        let mut q = QuantizedRows::default();
        q.quantize(&x, rows, k, k, family);
        let packed = PackedI8::new(&w, n, k, family);
        let mut ours = vec![0.0f32; rows * n];
        gemm_i8(&q, rows, &packed, &mut ours, n, Some(&bias), None);

        let opts = BertExport {
            int8: true,
            reduce_range: quant::int8::max_activation(&family) == 127,
        };
        let mut g = Graph::new("int8-linear");
        let dims = [Dim::Named("batch"), Dim::Fixed(k)];
        let input = g.input("x", Elem::F32, &dims);
        let shape = g.op("Shape", &[&input], vec![]);
        let (start, end) = (g.i64s("start", &[0]), g.i64s("end", &[-1]));
        let lead = g.op("Slice", &[&shape, &start, &end], vec![]);
        let mut b = Bert {
            g,
            opts: &opts,
            hidden: k,
            lead,
        };
        let wt = Weights {
            shape: vec![n, k],
            data: w,
        };
        let bt = Weights {
            shape: vec![n],
            data: bias,
        };
        let y = b.linear(&input, &wt, &bt, false);
        b.g.output(&y, "y", Elem::F32, &[Dim::Named("batch"), Dim::Fixed(n)]);
        let dir = scratch("int8-linear");
        let path = dir.join("int8-linear.onnx");
        b.g.finish("one int8 linear", Vec::new())
            .save(&path)
            .unwrap();
        let out = rt.run(&path, &[("x", Input::F32(vec![rows, k], x))]);
        let theirs = &out[0].values;
        let differ = ours
            .iter()
            .zip(theirs)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        assert_eq!(
            differ,
            0,
            "{differ} of {} outputs differ in bits",
            ours.len()
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
