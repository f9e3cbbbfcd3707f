//! Text into the real model (all-minilm-l6-v2; `cargo xtask fetch-model all-minilm-l6-v2`
//! first): arbitrary UTF-8 is tokenized (special tokens, truncation to 256) and, when short,
//! embedded. Nothing may panic; ids stay in the vocabulary and within the length limit.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use quant::{Model, Precision, Workspace};

fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        quant::load_model("all-minilm-l6-v2", Precision::int8())
            .expect("the tokenize target needs the model: cargo xtask fetch-model all-minilm-l6-v2")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let m = model();
    let t = m.tokenize(text).unwrap();
    assert!(t.ids.len() >= 2 && t.ids.len() <= m.max_seq_length());
    if t.ids.len() <= 16 {
        let mut ws = Workspace::default();
        let v = m.embed_tokens(&[&t.ids], &mut ws).unwrap();
        assert!(v.iter().all(|x| x.is_finite()));
    }
});
