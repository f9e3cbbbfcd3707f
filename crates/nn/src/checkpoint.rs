//! Checkpoints as safetensors files: every named parameter as an `F32` tensor under its
//! PyTorch-style name (`0.weight`), and optionally the optimizer state as
//! `optimizer.<param index>.<buffer>` tensors plus metadata (rule, step, lr, buffer names) —
//! so PyTorch and Hugging Face tools open the file, and training resumes exactly.
//!
//! Loading checks every name, shape and dtype against the model and reports *all*
//! mismatches in one error, naming the file.

use std::collections::HashMap;
use std::path::Path;

use core_tensor::ndarray::{ArrayD, IxDyn};
use core_tensor::Tensor;
use optim::OptimizerState;
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

use crate::error::{invalid, NnError, Result};

fn le_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn ck(path: &Path, message: impl Into<String>) -> NnError {
    NnError::Checkpoint {
        path: path.to_path_buf(),
        problems: vec![message.into()],
    }
}

/// Writes `params` (and the optimizer state, if given) to `path` atomically.
///
/// # Errors
/// [`NnError::Checkpoint`] for I/O or encoding errors, naming the file.
pub fn save(
    path: &Path,
    params: &[(String, Tensor)],
    optimizer: Option<&OptimizerState>,
) -> Result<()> {
    let mut blobs: Vec<(String, Vec<usize>, Vec<u8>)> = params
        .iter()
        .map(|(n, t)| (n.clone(), t.shape().to_vec(), le_bytes(&t.to_vec())))
        .collect();
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "groundwork".to_string());
    if let Some(st) = optimizer {
        meta.insert("optimizer".into(), st.name.clone());
        meta.insert("optimizer.step".into(), st.step.to_string());
        meta.insert("optimizer.lr".into(), st.lr.to_string());
        meta.insert("optimizer.buffers".into(), st.buffer_names.join(","));
        meta.insert("optimizer.params".into(), st.buffers.len().to_string());
        for (i, bufs) in st.buffers.iter().enumerate() {
            for (name, b) in st.buffer_names.iter().zip(bufs) {
                blobs.push((format!("optimizer.{i}.{name}"), vec![b.len()], le_bytes(b)));
            }
        }
    }
    let views: Vec<(String, TensorView<'_>)> = blobs
        .iter()
        .map(|(n, s, b)| TensorView::new(Dtype::F32, s.clone(), b).map(|v| (n.clone(), v)))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| ck(path, format!("encoding: {e}")))?;
    let bytes = safetensors::serialize(views, Some(meta))
        .map_err(|e| ck(path, format!("encoding: {e}")))?;
    let tmp = path.with_extension("safetensors.tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| ck(path, format!("writing: {e}")))
}

/// Loads `path` into `params` (matched by name) and returns the saved optimizer state, if any.
/// Nothing is modified unless every parameter matches.
///
/// # Errors
/// [`NnError::Checkpoint`] listing every missing, unexpected, mis-shaped or non-F32 tensor,
/// or a file that is not safetensors.
pub fn load(path: &Path, params: &[(String, Tensor)]) -> Result<Option<OptimizerState>> {
    let bytes = std::fs::read(path).map_err(|e| ck(path, format!("reading: {e}")))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| ck(path, format!("not a valid safetensors file: {e}")))?;
    let mut problems = Vec::new();
    let mut staged = Vec::new();
    for (name, t) in params {
        match st.tensor(name) {
            Err(_) => problems.push(format!(
                "missing tensor `{name}` (expected shape {:?})",
                t.shape()
            )),
            Ok(v) => {
                if v.dtype() != Dtype::F32 {
                    problems.push(format!("`{name}` has dtype {:?}, expected F32", v.dtype()));
                } else if v.shape() != t.shape() {
                    problems.push(format!(
                        "`{name}` has shape {:?}, the model expects {:?}",
                        v.shape(),
                        t.shape()
                    ));
                } else {
                    let vals: Vec<f32> = v
                        .data()
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect();
                    staged.push((
                        t.clone(),
                        ArrayD::from_shape_vec(IxDyn(t.shape()), vals).expect("shape checked"),
                    ));
                }
            }
        }
    }
    for name in st.names() {
        if !name.starts_with("optimizer.") && !params.iter().any(|(n, _)| n == name) {
            problems.push(format!(
                "unexpected tensor `{name}` (the model has no such parameter)"
            ));
        }
    }
    if !problems.is_empty() {
        problems.sort();
        return Err(NnError::Checkpoint {
            path: path.to_path_buf(),
            problems,
        });
    }
    for (t, a) in staged {
        t.set_data(a.into_shared())?;
    }
    let (_, meta) =
        SafeTensors::read_metadata(&bytes).map_err(|e| ck(path, format!("metadata: {e}")))?;
    let meta = meta.metadata().clone().unwrap_or_default();
    let Some(name) = meta.get("optimizer") else {
        return Ok(None);
    };
    let get = |k: &str| {
        meta.get(k)
            .cloned()
            .ok_or_else(|| ck(path, format!("optimizer state without `{k}` metadata")))
    };
    let step: u64 = get("optimizer.step")?
        .parse()
        .map_err(|_| ck(path, "bad optimizer.step"))?;
    let lr: f32 = get("optimizer.lr")?
        .parse()
        .map_err(|_| ck(path, "bad optimizer.lr"))?;
    let names: Vec<String> = get("optimizer.buffers")?
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let count: usize = get("optimizer.params")?
        .parse()
        .map_err(|_| ck(path, "bad optimizer.params"))?;
    let mut buffers = Vec::with_capacity(count);
    for i in 0..count {
        let mut bufs = Vec::new();
        for b in &names {
            match st.tensor(&format!("optimizer.{i}.{b}")) {
                Ok(v) => bufs.push(
                    v.data()
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                ),
                Err(_) => {
                    // A parameter never updated has no buffers yet.
                    bufs.clear();
                    break;
                }
            }
        }
        buffers.push(bufs);
    }
    if buffers.len() != count {
        return Err(invalid("checkpoint", "optimizer buffer count mismatch"));
    }
    Ok(Some(OptimizerState {
        name: name.clone(),
        step,
        lr,
        buffer_names: names,
        buffers,
    }))
}
