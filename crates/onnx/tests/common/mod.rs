//! Running exported models in ONNX Runtime (through `scripts/onnx_check.py`) for the tests.
//!
//! The Python that has `onnx` and `onnxruntime` is `GROUNDWORK_PYTHON` (CI's virtualenv)
//! or `python3`. Without it a test prints a skip line — and fails under
//! `GROUNDWORK_REQUIRE_ASSETS=1`, as every asset-dependent test does.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A graph input's values.
pub enum Input {
    F32(Vec<usize>, Vec<f32>),
    I64(Vec<usize>, Vec<i64>),
}

/// One output as ONNX Runtime computed it.
pub struct Output {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

pub struct Runtime {
    python: String,
}

/// The runtime, or `None` after a skip line (a panic under `GROUNDWORK_REQUIRE_ASSETS=1`).
pub fn runtime(test: &str) -> Option<Runtime> {
    let python = std::env::var("GROUNDWORK_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import onnx, onnxruntime"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let found = if ok {
        Ok(Runtime { python })
    } else {
        Err(format!(
            "{python} cannot import onnx and onnxruntime (set GROUNDWORK_PYTHON to a Python that can)"
        ))
    };
    lab::assets::or_skip(test, found)
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/onnx_check.py")
}

/// A fresh scratch folder for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gw-onnx-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

impl Runtime {
    /// Checks `model` (checker with `full_check`, strict shape inference) and runs it on
    /// `inputs`; panics with the script's stderr if anything fails.
    pub fn run(&self, model: &Path, inputs: &[(&str, Input)]) -> Vec<Output> {
        let dir = model.with_extension("case");
        std::fs::create_dir_all(&dir).expect("case folder");
        let mut list = Vec::new();
        for (name, input) in inputs {
            let file = dir.join(format!("{name}.in"));
            let (dtype, shape, bytes): (&str, &Vec<usize>, Vec<u8>) = match input {
                Input::F32(s, v) => ("f32", s, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
                Input::I64(s, v) => ("i64", s, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            };
            std::fs::write(&file, bytes).expect("input file");
            list.push(serde_json::json!({
                "name": name, "dtype": dtype, "shape": shape, "file": file,
            }));
        }
        let result = dir.join("result.json");
        let case = serde_json::json!({
            "model": model, "inputs": list, "result": result, "dir": dir,
        });
        let case_file = dir.join("case.json");
        std::fs::write(&case_file, case.to_string()).expect("case file");
        let out = Command::new(&self.python)
            .arg(script())
            .arg(&case_file)
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "onnx_check.py failed on {}:\n{}",
            model.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let result: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&result).expect("result")).unwrap();
        result["outputs"]
            .as_array()
            .expect("outputs")
            .iter()
            .map(|o| {
                let bytes = std::fs::read(o["file"].as_str().unwrap()).expect("output file");
                Output {
                    name: o["name"].as_str().unwrap().to_string(),
                    shape: o["shape"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|d| d.as_u64().unwrap() as usize)
                        .collect(),
                    values: bytes
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                }
            })
            .collect()
    }
}

/// The largest `|a - b|`.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Cosine similarity, in f64.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
    let na: f64 = a.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
    dot / (na * nb).max(1e-30)
}
