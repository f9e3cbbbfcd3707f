//! The model loader of `quant`: the first byte picks a file of a tiny BERT directory
//! (config.json, sentence_bert_config.json, 1_Pooling/config.json, modules.json,
//! model.safetensors, tokenizer.json), the rest replaces it; the directory is then loaded
//! with `Model::load` and, when it loads, a sentence is embedded. Nothing may panic, and
//! every error must format.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use safetensors::tensor::{Dtype, TensorView};

const CONFIG: &str = r#"{"hidden_size": 4, "num_attention_heads": 2, "num_hidden_layers": 1,
 "intermediate_size": 8, "vocab_size": 8, "max_position_embeddings": 8}"#;
const TOKENIZER: &str = r###"{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
 "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
   "strip_accents": null, "lowercase": true},
 "pre_tokenizer": {"type": "BertPreTokenizer"},
 "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
 "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
 "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
   "max_input_chars_per_word": 100,
   "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "the": 4, "cat": 5, "sat": 6, "##s": 7}}}"###;
const FILES: [&str; 6] = [
    "config.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "modules.json",
    "model.safetensors",
    "tokenizer.json",
];

/// The tiny model's weights (hidden 4, one layer, vocabulary 8, 8 positions).
fn weights() -> Vec<u8> {
    let (h, i) = (4usize, 8usize);
    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        ("embeddings.word_embeddings.weight".into(), vec![8, h]),
        ("embeddings.position_embeddings.weight".into(), vec![8, h]),
        ("embeddings.token_type_embeddings.weight".into(), vec![2, h]),
        ("embeddings.LayerNorm.weight".into(), vec![h]),
        ("embeddings.LayerNorm.bias".into(), vec![h]),
    ];
    let l = "encoder.layer.0";
    for (n, o, k) in [
        ("attention.self.query", h, h),
        ("attention.self.key", h, h),
        ("attention.self.value", h, h),
        ("attention.output.dense", h, h),
        ("intermediate.dense", i, h),
        ("output.dense", h, i),
    ] {
        shapes.push((format!("{l}.{n}.weight"), vec![o, k]));
        shapes.push((format!("{l}.{n}.bias"), vec![o]));
    }
    for n in ["attention.output.LayerNorm", "output.LayerNorm"] {
        shapes.push((format!("{l}.{n}.weight"), vec![h]));
        shapes.push((format!("{l}.{n}.bias"), vec![h]));
    }
    let blobs: Vec<(String, Vec<usize>, Vec<u8>)> = shapes
        .into_iter()
        .map(|(n, s)| {
            let len: usize = s.iter().product();
            let b = (0..len)
                .flat_map(|k| (0.01 * k as f32).to_le_bytes())
                .collect();
            (n, s, b)
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = blobs
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("gw-fuzz-model-{}", std::process::id()));
        std::fs::create_dir_all(d.join("1_Pooling")).unwrap();
        d
    })
}

fn reset(d: &Path) {
    static WEIGHTS: OnceLock<Vec<u8>> = OnceLock::new();
    std::fs::write(d.join("config.json"), CONFIG).unwrap();
    std::fs::write(
        d.join("sentence_bert_config.json"),
        r#"{"max_seq_length": 8}"#,
    )
    .unwrap();
    std::fs::write(
        d.join("1_Pooling/config.json"),
        r#"{"pooling_mode_mean_tokens": true}"#,
    )
    .unwrap();
    std::fs::write(d.join("modules.json"), r#"[{"type": "x.Normalize"}]"#).unwrap();
    std::fs::write(d.join("model.safetensors"), WEIGHTS.get_or_init(weights)).unwrap();
    std::fs::write(d.join("tokenizer.json"), TOKENIZER).unwrap();
}

fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys's panic hook aborts on every panic, even one the loader catches and turns
    // into an error (the tokenizers crate panics on some malformed files; quant catches that).
    // The default hook lets a caught panic stay caught; one that escapes the target is still
    // caught by libfuzzer-sys and reported as a crash.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| drop(std::panic::take_hook()));
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let d = dir();
    reset(d);
    std::fs::write(d.join(FILES[pick as usize % FILES.len()]), body).unwrap();
    match quant::Model::load(d) {
        Ok(m) => {
            let v = m.embed(&["the cats sat"], 1).unwrap();
            assert_eq!(v.len(), 1);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
