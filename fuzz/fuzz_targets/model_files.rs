//! The model loader of `quant`: the first byte picks a file of a tiny BERT directory
//! (config.json, sentence_bert_config.json, 1_Pooling/config.json, modules.json,
//! model.safetensors), the rest replaces it; the directory is then loaded. Nothing may
//! panic, and every error must format.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

const CONFIG: &str = r#"{"hidden_size": 4, "num_attention_heads": 2, "num_hidden_layers": 1,
 "intermediate_size": 8, "vocab_size": 16, "max_position_embeddings": 8}"#;
const FILES: [&str; 5] = [
    "config.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "modules.json",
    "model.safetensors",
];

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("gw-fuzz-model-{}", std::process::id()));
        std::fs::create_dir_all(d.join("1_Pooling")).unwrap();
        d
    })
}

fn reset(d: &std::path::Path) {
    std::fs::write(d.join("config.json"), CONFIG).unwrap();
    std::fs::write(d.join("sentence_bert_config.json"), r#"{"max_seq_length": 8}"#).unwrap();
    std::fs::write(
        d.join("1_Pooling/config.json"),
        r#"{"pooling_mode_mean_tokens": true}"#,
    )
    .unwrap();
    std::fs::write(d.join("modules.json"), r#"[{"type": "x.Normalize"}]"#).unwrap();
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let d = dir();
    reset(d);
    let file = FILES[pick as usize % FILES.len()];
    std::fs::write(d.join(file), body).unwrap();
    if file == "model.safetensors" {
        let config: quant::config::BertConfig = quant::config::ModelFiles::read(d).unwrap().config;
        if let Err(e) = quant::weights::BertWeights::load(&d.join(file), &config) {
            let _ = e.to_string();
        }
    } else if let Err(e) = quant::config::ModelFiles::read(d) {
        let _ = e.to_string();
    }
});
