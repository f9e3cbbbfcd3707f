//! A tiny random BERT (2 layers, hidden size 32, 4 heads) written by the test in the
//! sentence-transformers layout: the encoder against a plain f64 forward pass written here
//! from the definitions (embeddings, attention, GELU, LayerNorm, mean/CLS/max pooling,
//! normalisation); f16 weights; and every damaged file named in its error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use quant::{Model, QuantError, Workspace};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

const H: usize = 32;
const HEADS: usize = 4;
const LAYERS: usize = 2;
const I: usize = 64;
const VOCAB: [&str; 14] = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "sat", "on", "mat", "##s", "a", "dog", ".",
    "big",
];
const P: usize = 16;

/// Tensors by name: (shape, values).
type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Seeded values in [-scale, scale].
fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

fn tensors() -> Tensors {
    let mut t = BTreeMap::new();
    let mut seed = 1;
    let mut add = |name: String, shape: Vec<usize>, scale: f32, offset: f32| {
        seed += 1;
        let n = shape.iter().product();
        let v = values(n, seed, scale)
            .into_iter()
            .map(|x| x + offset)
            .collect();
        t.insert(name, (shape, v));
    };
    add(
        "embeddings.word_embeddings.weight".into(),
        vec![VOCAB.len(), H],
        1.0,
        0.0,
    );
    add(
        "embeddings.position_embeddings.weight".into(),
        vec![P, H],
        0.5,
        0.0,
    );
    add(
        "embeddings.token_type_embeddings.weight".into(),
        vec![2, H],
        0.5,
        0.0,
    );
    add("embeddings.LayerNorm.weight".into(), vec![H], 0.2, 1.0);
    add("embeddings.LayerNorm.bias".into(), vec![H], 0.1, 0.0);
    for l in 0..LAYERS {
        let p = format!("encoder.layer.{l}");
        for (name, out, inp) in [
            ("attention.self.query", H, H),
            ("attention.self.key", H, H),
            ("attention.self.value", H, H),
            ("attention.output.dense", H, H),
            ("intermediate.dense", I, H),
            ("output.dense", H, I),
        ] {
            add(format!("{p}.{name}.weight"), vec![out, inp], 0.3, 0.0);
            add(format!("{p}.{name}.bias"), vec![out], 0.1, 0.0);
        }
        for norm in ["attention.output.LayerNorm", "output.LayerNorm"] {
            add(format!("{p}.{norm}.weight"), vec![H], 0.2, 1.0);
            add(format!("{p}.{norm}.bias"), vec![H], 0.1, 0.0);
        }
    }
    t
}

fn tokenizer_json() -> String {
    let vocab: serde_json::Map<String, serde_json::Value> = VOCAB
        .iter()
        .enumerate()
        .map(|(i, w)| (w.to_string(), serde_json::json!(i)))
        .collect();
    let special = |id: usize, s: &str| {
        serde_json::json!({"id": id, "special": true, "content": s, "single_word": false,
            "lstrip": false, "rstrip": false, "normalized": false})
    };
    serde_json::json!({
        "version": "1.0",
        "truncation": {"max_length": 8, "strategy": "LongestFirst", "stride": 0},
        "padding": {"strategy": {"Fixed": 12}, "direction": "Right", "pad_to_multiple_of": null,
                    "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"},
        "added_tokens": [special(0, "[PAD]"), special(1, "[UNK]"), special(2, "[CLS]"), special(3, "[SEP]")],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                               "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab}
    })
    .to_string()
}

/// Options for writing the model directory.
#[derive(Clone, Copy, Default)]
struct Write {
    f16: bool,
    pooling: Option<&'static str>,
    normalize: bool,
}

fn config_json() -> String {
    serde_json::json!({
        "hidden_size": H, "num_attention_heads": HEADS, "num_hidden_layers": LAYERS,
        "intermediate_size": I, "vocab_size": VOCAB.len(), "max_position_embeddings": P,
        "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu"
    })
    .to_string()
}

fn safetensors_bytes(t: &Tensors, f16: bool) -> Vec<u8> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = t
        .iter()
        .map(|(k, (shape, v))| {
            let b = if f16 {
                v.iter()
                    .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
                    .collect()
            } else {
                v.iter().flat_map(|x| x.to_le_bytes()).collect()
            };
            (k.clone(), shape.clone(), b)
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(k, s, b)| {
            let dtype = if f16 { Dtype::F16 } else { Dtype::F32 };
            (k.clone(), TensorView::new(dtype, s.clone(), b).unwrap())
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

fn write_model(dir: &Path, t: &Tensors, w: Write) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
    std::fs::write(dir.join("config.json"), config_json()).unwrap();
    std::fs::write(dir.join("tokenizer.json"), tokenizer_json()).unwrap();
    std::fs::write(dir.join("model.safetensors"), safetensors_bytes(t, w.f16)).unwrap();
    std::fs::write(
        dir.join("sentence_bert_config.json"),
        r#"{"max_seq_length": 10}"#,
    )
    .unwrap();
    let mode = w.pooling.unwrap_or("mean");
    std::fs::write(
        dir.join("1_Pooling/config.json"),
        format!(r#"{{"word_embedding_dimension": 32, "pooling_mode_{mode}_tokens": true}}"#)
            .replace("cls_tokens", "cls_token"),
    )
    .unwrap();
    let modules = if w.normalize {
        r#"[{"type": "sentence_transformers.models.Transformer"}, {"type": "sentence_transformers.models.Pooling"}, {"type": "sentence_transformers.models.Normalize"}]"#
    } else {
        r#"[{"type": "sentence_transformers.models.Transformer"}, {"type": "sentence_transformers.models.Pooling"}]"#
    };
    std::fs::write(dir.join("modules.json"), modules).unwrap();
}

fn scratch(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// The forward pass from the definitions, in f64, one sequence at a time.
fn reference(t: &Tensors, ids: &[u32], pooling: &str, normalize: bool) -> Vec<f64> {
    let w = |n: &str| t[n].1.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let len = ids.len();
    let linear = |x: &[Vec<f64>], name: &str, out: usize| -> Vec<Vec<f64>> {
        let (wt, b) = (w(&format!("{name}.weight")), w(&format!("{name}.bias")));
        let inp = x[0].len();
        x.iter()
            .map(|row| {
                (0..out)
                    .map(|o| b[o] + (0..inp).map(|i| row[i] * wt[o * inp + i]).sum::<f64>())
                    .collect()
            })
            .collect()
    };
    let norm = |x: &mut Vec<Vec<f64>>, name: &str| {
        let (g, b) = (w(&format!("{name}.weight")), w(&format!("{name}.bias")));
        for row in x.iter_mut() {
            let mean = row.iter().sum::<f64>() / H as f64;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / H as f64;
            for (j, v) in row.iter_mut().enumerate() {
                *v = (*v - mean) / (var + 1e-12).sqrt() * g[j] + b[j];
            }
        }
    };
    let (word, pos, typ) = (
        w("embeddings.word_embeddings.weight"),
        w("embeddings.position_embeddings.weight"),
        w("embeddings.token_type_embeddings.weight"),
    );
    let mut x: Vec<Vec<f64>> = ids
        .iter()
        .enumerate()
        .map(|(p, &id)| {
            (0..H)
                .map(|j| word[id as usize * H + j] + pos[p * H + j] + typ[j])
                .collect()
        })
        .collect();
    norm(&mut x, "embeddings.LayerNorm");
    let d = H / HEADS;
    for l in 0..LAYERS {
        let p = format!("encoder.layer.{l}");
        let q = linear(&x, &format!("{p}.attention.self.query"), H);
        let k = linear(&x, &format!("{p}.attention.self.key"), H);
        let v = linear(&x, &format!("{p}.attention.self.value"), H);
        let mut ctx = vec![vec![0.0; H]; len];
        for h in 0..HEADS {
            for i in 0..len {
                let s: Vec<f64> = (0..len)
                    .map(|j| {
                        (0..d)
                            .map(|c| q[i][h * d + c] * k[j][h * d + c])
                            .sum::<f64>()
                            / (d as f64).sqrt()
                    })
                    .collect();
                let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
                let z: f64 = e.iter().sum();
                for c in 0..d {
                    ctx[i][h * d + c] = (0..len).map(|j| e[j] / z * v[j][h * d + c]).sum();
                }
            }
        }
        let mut a = linear(&ctx, &format!("{p}.attention.output.dense"), H);
        for (ar, xr) in a.iter_mut().zip(&x) {
            ar.iter_mut().zip(xr).for_each(|(a, x)| *a += x);
        }
        norm(&mut a, &format!("{p}.attention.output.LayerNorm"));
        let mut f = linear(&a, &format!("{p}.intermediate.dense"), I);
        for v in f.iter_mut().flatten() {
            *v = 0.5 * *v * (1.0 + libm::erf(*v / 2f64.sqrt()));
        }
        let mut o = linear(&f, &format!("{p}.output.dense"), H);
        for (or, ar) in o.iter_mut().zip(&a) {
            or.iter_mut().zip(ar).for_each(|(o, a)| *o += a);
        }
        norm(&mut o, &format!("{p}.output.LayerNorm"));
        x = o;
    }
    let mut out: Vec<f64> = match pooling {
        "cls" => x[0].clone(),
        "max" => (0..H)
            .map(|j| x.iter().map(|r| r[j]).fold(f64::NEG_INFINITY, f64::max))
            .collect(),
        _ => (0..H)
            .map(|j| x.iter().map(|r| r[j]).sum::<f64>() / len as f64)
            .collect(),
    };
    if normalize {
        let n = out.iter().map(|v| v * v).sum::<f64>().sqrt();
        out.iter_mut().for_each(|v| *v /= n);
    }
    out
}

#[test]
fn the_encoder_matches_the_definitions_for_every_pooling() {
    let t = tensors();
    for (pooling, normalize) in [("mean", true), ("cls", false), ("max", false)] {
        let dir = scratch(&format!("tiny-{pooling}"));
        write_model(
            &dir,
            &t,
            Write {
                pooling: Some(pooling),
                normalize,
                ..Write::default()
            },
        );
        let model = Model::load(&dir).unwrap();
        assert_eq!((model.dim(), model.max_seq_length()), (32, 10));
        let texts = ["The cat sat on the mat.", "A big dog", "cats", "zebra"];
        let tokens: Vec<Vec<u32>> = texts
            .iter()
            .map(|s| model.tokenize(s).unwrap().ids)
            .collect();
        assert_eq!(
            tokens[0],
            [2, 4, 5, 6, 7, 4, 8, 12, 3],
            "the file's padding is off"
        );
        assert_eq!(tokens[2], [2, 5, 9, 3], "word pieces");
        assert_eq!(tokens[3], [2, 1, 3], "unknown word");
        // The file's own truncation (8) is replaced by max_seq_length (10).
        let long = model
            .tokenize("the cat the cat the cat the cat the cat")
            .unwrap();
        assert!(long.truncated && long.ids.len() == 10 && long.ids[9] == 3);
        // Truncated from the left, a long text keeps its end, [CLS] and [SEP] in place.
        let text = "a big dog sat on the mat the cat sat on the mat";
        let right = model.tokenize(text).unwrap();
        let left = model.tokenize_left(text).unwrap();
        assert_eq!(right.ids, [2, 10, 13, 11, 6, 7, 4, 8, 4, 3]);
        assert_eq!(left.ids, [2, 4, 8, 4, 5, 6, 7, 4, 8, 3]);
        assert!(right.truncated && left.truncated);
        assert_eq!(
            model.tokenize_left("cats").unwrap(),
            model.tokenize("cats").unwrap()
        );
        // Longer than twice the window (64 bytes per kept token): tokenised in a window at
        // the kept end, with the same tokens.
        let many = "a big dog ".repeat(200);
        assert_eq!(
            model.tokenize(&many).unwrap().ids,
            [2, 10, 13, 11, 10, 13, 11, 10, 13, 3]
        );
        assert_eq!(
            model.tokenize_left(&many).unwrap().ids,
            [2, 13, 11, 10, 13, 11, 10, 13, 11, 3]
        );
        // ... and where the window does not overflow (a run of spaces), the whole text.
        let sparse = format!("a{}dog", " ".repeat(3000));
        let whole = model.tokenize(&sparse).unwrap();
        assert_eq!((whole.ids, whole.truncated), (vec![2, 10, 11, 3], false));
        let whole = model.tokenize_left(&sparse).unwrap();
        assert_eq!((whole.ids, whole.truncated), (vec![2, 10, 11, 3], false));
        let got = model.embed(&texts, 3).unwrap();
        for (ids, g) in tokens.iter().zip(&got) {
            let want = reference(&t, ids, pooling, normalize);
            for (a, b) in g.iter().zip(&want) {
                assert!(
                    (*a as f64 - b).abs() < 2e-5 * (1.0 + b.abs()),
                    "{pooling}: {a} vs {b}"
                );
            }
        }
    }
}

#[test]
fn f16_weights_are_widened_exactly() {
    let t = tensors();
    let rounded: Tensors = t
        .iter()
        .map(|(k, (s, v))| {
            (
                k.clone(),
                (
                    s.clone(),
                    v.iter().map(|x| half::f16::from_f32(*x).to_f32()).collect(),
                ),
            )
        })
        .collect();
    let (d16, d32) = (scratch("tiny-f16"), scratch("tiny-f32-rounded"));
    write_model(
        &d16,
        &t,
        Write {
            f16: true,
            ..Write::default()
        },
    );
    write_model(&d32, &rounded, Write::default());
    let ids: &[u32] = &[2, 4, 5, 6, 3];
    let a = Model::load(&d16)
        .unwrap()
        .embed_tokens(&[ids], &mut Workspace::default())
        .unwrap();
    let b = Model::load(&d32)
        .unwrap()
        .embed_tokens(&[ids], &mut Workspace::default())
        .unwrap();
    assert_eq!(a, b, "f16 weights give exactly what their f32 values give");
}

#[test]
fn bad_inputs_to_the_encoder_are_errors() {
    let dir = scratch("tiny-inputs");
    write_model(&dir, &tensors(), Write::default());
    let model = Model::load(&dir).unwrap();
    let mut ws = Workspace::default();
    let mut err = |batch: &[&[u32]]| model.embed_tokens(batch, &mut ws).unwrap_err().to_string();
    let mut ws2 = Workspace::default();
    assert!(err(&[&[]]).contains("sequence 0 has 0 tokens (expected 1..=16)"));
    assert!(err(&[&[2, 3], &[2, 99, 3]])
        .contains("sequence 1: token id 99 is outside the vocabulary of 14"));
    let long: Vec<u32> = vec![4; 17];
    assert!(model.embed_tokens(&[&long], &mut ws2).is_err());
}

/// Each damaged file, and the error that must name it.
#[test]
fn every_damaged_file_is_named_with_what_was_expected() {
    let t = tensors();
    type Damage = Box<dyn Fn(&Path)>;
    let with_tensors = |f: fn(&mut Tensors)| -> Damage {
        let mut t = tensors();
        f(&mut t);
        Box::new(move |dir: &Path| {
            std::fs::write(dir.join("model.safetensors"), safetensors_bytes(&t, false)).unwrap()
        })
    };
    let cases: Vec<(&str, Damage, &str)> = vec![
        ("no config.json", Box::new(|d: &Path| std::fs::remove_file(d.join("config.json")).unwrap()),
         "config.json: No such file"),
        ("config.json is not JSON", Box::new(|d: &Path| std::fs::write(d.join("config.json"), "{hidden").unwrap()),
         "config.json: not the JSON expected here"),
        ("heads do not divide the width", Box::new(|d: &Path| {
            std::fs::write(d.join("config.json"), config_json().replace("\"num_attention_heads\":4", "\"num_attention_heads\":5")).unwrap()
        }), "config.json: num_attention_heads = 5 must divide hidden_size = 32"),
        ("a huge hidden size is refused before any allocation", Box::new(|d: &Path| {
            std::fs::write(d.join("config.json"), config_json().replace("\"hidden_size\":32", "\"hidden_size\":1000000000")).unwrap()
        }), "config.json: hidden_size = 1000000000 (expected 1..=16384)"),
        ("an activation we do not run", Box::new(|d: &Path| {
            std::fs::write(d.join("config.json"), config_json().replace("\"gelu\"", "\"relu\"")).unwrap()
        }), "only \"gelu\" (the erf form BERT uses) is supported"),
        ("no tokenizer.json", Box::new(|d: &Path| std::fs::remove_file(d.join("tokenizer.json")).unwrap()),
         "tokenizer.json: file not found"),
        ("tokenizer.json does not parse", Box::new(|d: &Path| std::fs::write(d.join("tokenizer.json"), "{\"model\": 3}").unwrap()),
         "tokenizer.json: tokenizer:"),
        // Found by the property test below: the tokenizers crate panics (`expect("Helper")`) on
        // a number out of range anywhere in the decoder.
        ("a decoder the tokenizers crate panics on", Box::new(|d: &Path| {
            std::fs::write(d.join("tokenizer.json"), tokenizer_json().replace(r###""decoder":{"cleanup":true,"prefix":"##","type":"WordPiece"}"###, r###""decoder":{"cleanup":1e309,"prefix":"##","type":"WordPiece"}"###)).unwrap()
        }), "tokenizer.json: tokenizer: the tokenizers crate could not read it (it panicked: Helper: Error(\"number out of range\""),
        // Found by cargo fuzz: a vocabulary without its unknown token loaded, then failed on
        // the first word outside it (or, with [UNK] an added token, produced id 14 of 14).
        ("an unknown token outside the vocabulary", Box::new(|d: &Path| {
            std::fs::write(d.join("tokenizer.json"), tokenizer_json().replace(r#""unk_token":"[UNK]""#, r#""unk_token":"[NOPE]""#)).unwrap()
        }), "tokenizer.json: tokenizer: it cannot tokenize text: WordPiece error: Missing [UNK] token from the vocabulary"),
        ("an added token beyond the embedding table", Box::new(|d: &Path| {
            std::fs::write(d.join("tokenizer.json"), tokenizer_json().replace(r#""[UNK]":1"#, r#""[U`K]":1"#)).unwrap()
        }), "tokenizer.json: tokenizer: token id 14, but config.json's vocab_size is 14"),
        ("a special token beyond the embedding table", Box::new(|d: &Path| {
            std::fs::write(d.join("tokenizer.json"), tokenizer_json().replace(r#""ids":[3]"#, r#""ids":[14]"#)).unwrap()
        }), "tokenizer.json: tokenizer: it produces token id 14, but config.json's vocab_size is 14"),
        ("more tokens than the embedding table", Box::new(|d: &Path| {
            std::fs::write(d.join("config.json"), config_json().replace(&format!("\"vocab_size\":{}", VOCAB.len()), "\"vocab_size\":10")).unwrap()
        }), "tokenizer.json: tokenizer: token id 13, but config.json's vocab_size is 10"),
        ("no model.safetensors", Box::new(|d: &Path| std::fs::remove_file(d.join("model.safetensors")).unwrap()),
         "model.safetensors: No such file"),
        ("a truncated safetensors file", Box::new(|d: &Path| {
            let p = d.join("model.safetensors");
            let b = std::fs::read(&p).unwrap();
            std::fs::write(&p, &b[..b.len() / 2]).unwrap();
        }), "model.safetensors: not a valid safetensors file"),
        ("a header claiming more bytes than the file has", Box::new(|d: &Path| {
            let p = d.join("model.safetensors");
            let mut b = std::fs::read(&p).unwrap();
            b[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
            std::fs::write(&p, &b).unwrap();
        }), "model.safetensors: not a valid safetensors file"),
        ("a missing tensor", with_tensors(|t| { t.remove("encoder.layer.1.output.dense.bias"); }),
         "tensor `encoder.layer.1.output.dense.bias`: missing (expected shape [32])"),
        ("a tensor of the wrong shape", with_tensors(|t| {
            t.insert("encoder.layer.0.intermediate.dense.weight".into(), (vec![I, H + 1], vec![0.0; I * (H + 1)]));
        }), "tensor `encoder.layer.0.intermediate.dense.weight`: shape [64, 33], expected [64, 32] (from config.json)"),
        ("a non-finite weight", with_tensors(|t| { t.get_mut("embeddings.LayerNorm.weight").unwrap().1[3] = f32::NAN; }),
         "tensor `embeddings.LayerNorm.weight`: element 3 is NaN (weights must be finite)"),
        ("a pooling mode we do not run", Box::new(|d: &Path| {
            std::fs::write(d.join("1_Pooling/config.json"), r#"{"pooling_mode_mean_sqrt_len_tokens": true}"#).unwrap()
        }), "1_Pooling/config.json: exactly one of"),
        ("max_seq_length beyond the positions", Box::new(|d: &Path| {
            std::fs::write(d.join("sentence_bert_config.json"), r#"{"max_seq_length": 512}"#).unwrap()
        }), "sentence_bert_config.json: max_seq_length = 512 (expected 2..=16, the position embeddings)"),
    ];
    for (what, damage, want) in cases {
        let dir = scratch("tiny-damaged");
        write_model(&dir, &t, Write::default());
        damage(&dir);
        let err = Model::load(&dir).expect_err(what);
        let msg = err.to_string();
        assert!(
            msg.contains(want),
            "{what}: got `{msg}`, expected it to contain `{want}`"
        );
        assert!(
            msg.contains(dir.to_str().unwrap()),
            "{what}: the message names the file: {msg}"
        );
        assert!(!matches!(err, QuantError::Input(_)), "{what}");
    }
    // A tensor of another dtype.
    let dir = scratch("tiny-dtype");
    write_model(&dir, &t, Write::default());
    let mut t2: Vec<(String, Vec<usize>, Vec<u8>)> = t
        .iter()
        .map(|(k, (s, v))| {
            (
                k.clone(),
                s.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    t2.retain(|(k, _, _)| k != "embeddings.position_embeddings.weight");
    t2.push((
        "embeddings.position_embeddings.weight".into(),
        vec![P, H],
        vec![],
    ));
    let mut views: Vec<(String, TensorView<'_>)> = t2
        .iter()
        .filter(|(_, _, b)| !b.is_empty())
        .map(|(k, s, b)| {
            (
                k.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let wide: Vec<u8> = (0..P * H).flat_map(|x| (x as i64).to_le_bytes()).collect();
    views.push((
        "embeddings.position_embeddings.weight".into(),
        TensorView::new(Dtype::I64, vec![P, H], &wide).unwrap(),
    ));
    std::fs::write(
        dir.join("model.safetensors"),
        safetensors::serialize(views, None).unwrap(),
    )
    .unwrap();
    let msg = Model::load(&dir).unwrap_err().to_string();
    assert!(
        msg.contains(
            "tensor `embeddings.position_embeddings.weight`: dtype I64, expected F32, F16 or BF16"
        ),
        "{msg}"
    );
}

/// One linear layer alone is `x W^T + b`; the diagnostics see every linear layer's input,
/// and their statistics and SQNR are what their definitions say.
#[test]
fn single_linear_layers_and_the_int8_diagnostics_follow_their_definitions() {
    use quant::diagnostics::diagnose;
    use quant::Scratch;
    use quant::{LinearKind, Precision};

    let t = tensors();
    let dir = scratch("tiny-diagnostics");
    write_model(
        &dir,
        &t,
        Write {
            normalize: true,
            ..Write::default()
        },
    );
    let fp32 = Model::load_with(&dir, Precision::fp32()).unwrap();
    let int8 = Model::load_with(&dir, Precision::int8()).unwrap();
    let texts = [
        "The cat sat on the mat.",
        "A big dog",
        "cats",
        "the dog sat",
    ];
    let tokens: Vec<Vec<u32>> = texts
        .iter()
        .map(|s| fp32.tokenize(s).unwrap().ids)
        .collect();
    let batch: Vec<&[u32]> = tokens.iter().map(Vec::as_slice).collect();

    // Capture layer 1's FFN-down input through the probe.
    let mut ws = Workspace::default();
    let mut seen = Vec::new();
    let mut captured = Vec::new();
    fp32.encoder()
        .forward_probed(&batch, &mut ws, &mut |layer, kind, x, rows| {
            seen.push((layer, kind, rows));
            if (layer, kind) == (1, LinearKind::FfnDown) {
                captured = x.to_vec();
            }
        })
        .unwrap();
    let rows: usize = tokens.iter().map(Vec::len).sum();
    assert_eq!(seen.len(), LAYERS * 4);
    assert!(seen.iter().all(|&(_, _, r)| r == rows));
    assert_eq!(captured.len(), rows * I);

    // FP32 linear = x W^T + b from the file's tensors.
    let (mut y, mut q) = (Vec::new(), Scratch::default());
    let n = fp32
        .encoder()
        .linear(1, LinearKind::FfnDown, &captured, rows, &mut y, &mut q)
        .unwrap();
    assert_eq!(n, H);
    let (w, b) = (
        &t["encoder.layer.1.output.dense.weight"].1,
        &t["encoder.layer.1.output.dense.bias"].1,
    );
    for r in 0..rows {
        for j in 0..H {
            let want: f64 = b[j] as f64
                + (0..I)
                    .map(|p| captured[r * I + p] as f64 * w[j * I + p] as f64)
                    .sum::<f64>();
            assert!((y[r * H + j] as f64 - want).abs() < 1e-4, "row {r} col {j}");
        }
    }

    // The diagnostics of that site: statistics of `captured`, SQNR of INT8 against FP32.
    let sites = diagnose(fp32.encoder(), int8.encoder(), std::slice::from_ref(&batch)).unwrap();
    assert_eq!(sites.len(), LAYERS * 4);
    let s = sites
        .iter()
        .find(|s| (s.layer, s.kind) == (1, LinearKind::FfnDown))
        .unwrap();
    let v: Vec<f64> = captured.iter().map(|&x| x as f64).collect();
    let nv = v.len() as f64;
    let mu = v.iter().sum::<f64>() / nv;
    let var = v.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / nv;
    let kurt = v.iter().map(|x| (x - mu).powi(4)).sum::<f64>() / nv / (var * var);
    let max = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let mean_abs = v.iter().map(|x| x.abs()).sum::<f64>() / nv;
    let beyond = v
        .iter()
        .filter(|x| (*x - mu).abs() > 6.0 * var.sqrt())
        .count() as f64
        / nv;
    assert!(
        (s.kurtosis - kurt).abs() < 1e-6 * kurt,
        "{} vs {kurt}",
        s.kurtosis
    );
    assert!((s.max_abs - max).abs() < 1e-12);
    assert!((s.max_over_mean_abs - max / mean_abs).abs() < 1e-9);
    assert_eq!(s.beyond_6_sigma, beyond);
    let (mut y8, mut q8) = (Vec::new(), Scratch::default());
    int8.encoder()
        .linear(1, LinearKind::FfnDown, &captured, rows, &mut y8, &mut q8)
        .unwrap();
    let signal: f64 = y.iter().map(|&a| (a as f64).powi(2)).sum();
    let noise: f64 = y
        .iter()
        .zip(&y8)
        .map(|(&a, &c)| (a as f64 - c as f64).powi(2))
        .sum();
    let sqnr = 10.0 * (signal / noise).log10();
    assert!((s.sqnr_db - sqnr).abs() < 1e-9, "{} vs {sqnr}", s.sqnr_db);
    // 8 bits on both operands: well above 20 dB everywhere, far below FP32's ~140 dB.
    assert!(
        sites.iter().all(|s| s.sqnr_db > 20.0 && s.sqnr_db < 80.0),
        "{sites:?}"
    );

    // And the whole INT8 model stays close to FP32.
    let (a, c) = (
        fp32.embed(&texts, 4).unwrap(),
        int8.embed(&texts, 4).unwrap(),
    );
    let f = quant::fidelity::compare(&a, &c);
    assert!(f.min_cosine() > 0.99, "{f:?}");
}

mod fuzz {
    //! Property tests over hostile model files and text: each file of the tiny model with
    //! bytes flipped, cut, or JSON values swapped for extremes, loaded; and arbitrary text
    //! tokenized and embedded. Whatever the input: a model or an error naming a file of the
    //! directory, no panic; embeddings finite and ids bounded by the length limit. The
    //! coverage-guided twin is `fuzz/` (`cargo fuzz`).

    use super::*;
    use proptest::prelude::*;

    const FILES: [&str; 6] = [
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "sentence_bert_config.json",
        "1_Pooling/config.json",
        "modules.json",
    ];
    const EXTREMES: [&str; 8] = [
        "0",
        "-1",
        "1e309",
        "18446744073709551616",
        "null",
        "\"\"",
        "[]",
        "4294967296",
    ];

    fn damage(bytes: &[u8], how: usize, at: usize, x: u8) -> Vec<u8> {
        let mut b = bytes.to_vec();
        let n = b.len().max(1);
        match how % 3 {
            0 => {
                if !b.is_empty() {
                    b[at % n] ^= x.max(1)
                }
            }
            1 => b.truncate(at % n),
            _ => {
                // Replace the first number after the at-th ':' with an extreme.
                let text = String::from_utf8_lossy(&b).into_owned();
                let colons: Vec<usize> = text.match_indices(':').map(|(i, _)| i).collect();
                if let Some(&c) = colons.get(at % colons.len().max(1)) {
                    let end = text[c + 1..]
                        .find([',', '}', ']'])
                        .map_or(text.len(), |e| c + 1 + e);
                    b = format!(
                        "{}: {}{}",
                        &text[..c],
                        EXTREMES[x as usize % EXTREMES.len()],
                        &text[end..]
                    )
                    .into_bytes();
                }
            }
        }
        b
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed), ..ProptestConfig::default() })]

        #[test]
        fn damaged_model_files_load_or_name_the_file(file in 0..FILES.len(), how in 0..3usize, at in 0..100_000usize, x in any::<u8>()) {
            let dir = scratch(&format!("fuzz-model-{}", std::process::id()));
            write_model(&dir, &tensors(), Write { f16: false, pooling: None, normalize: true });
            let path = dir.join(FILES[file]);
            let bytes = std::fs::read(&path).unwrap();
            std::fs::write(&path, damage(&bytes, how, at, x)).unwrap();
            match Model::load(&dir) {
                Ok(m) => {
                    let v = m.embed(&["the cat sat"], 1).unwrap();
                    prop_assert_eq!(v.len(), 1);
                }
                Err(e) => prop_assert!(e.to_string().contains(dir.to_str().unwrap()), "{}", e),
            }
        }

        #[test]
        fn any_text_tokenizes_within_limits_and_embeds(text in "\\PC{0,80}") {
            let dir = scratch("fuzz-text");
            static WRITTEN: std::sync::Once = std::sync::Once::new();
            WRITTEN.call_once(|| write_model(&dir, &tensors(), Write { f16: false, pooling: None, normalize: true }));
            let m = Model::load(&dir).unwrap();
            let t = m.tokenize(&text).unwrap();
            prop_assert!(t.ids.len() >= 2 && t.ids.len() <= m.max_seq_length());
            let v = m.embed(&[text.as_str()], 1).unwrap();
            prop_assert!(v[0].iter().all(|x| x.is_finite()));
        }
    }
}
