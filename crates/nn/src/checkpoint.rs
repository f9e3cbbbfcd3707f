//! Checkpoints as safetensors files: every named parameter as an `F32` tensor under its
//! PyTorch-style name (`0.weight`), and optionally the optimizer state as
//! `optimizer.<param index>.<buffer>` tensors plus metadata (rule, step, lr, buffer names) —
//! so PyTorch and Hugging Face tools open the file, and training resumes exactly.
//!
//! `examples/mlp_checkpoint.rs` trains, saves, reloads and resumes in one short program.
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

use crate::error::{NnError, Result};
use crate::module::Module;

fn le_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn ck(path: &Path, message: impl Into<String>) -> NnError {
    NnError::Checkpoint {
        path: path.to_path_buf(),
        problems: vec![message.into()],
    }
}

/// Writes `model`'s parameters (and the optimizer state, if given) to `path` atomically:
/// `save("mlp.safetensors", &net, Some(&opt.state()))`.
///
/// # Errors
/// [`NnError::Checkpoint`] for I/O or encoding errors, naming the file.
pub fn save(
    path: impl AsRef<Path>,
    model: &dyn Module,
    optimizer: Option<&OptimizerState>,
) -> Result<()> {
    save_named(path.as_ref(), &model.parameters(), optimizer)
}

/// Loads `path` into `model` (parameters matched by name) and returns the saved optimizer
/// state, if any: `let state = load_into("mlp.safetensors", &net)?;`. Nothing is changed
/// unless everything matches.
///
/// # Errors
/// As [`load`].
pub fn load_into(path: impl AsRef<Path>, model: &dyn Module) -> Result<Option<OptimizerState>> {
    load(path.as_ref(), &model.parameters())
}

/// Writes named `params` (and the optimizer state, if given) to `path` atomically.
///
/// # Errors
/// [`NnError::Checkpoint`] for I/O or encoding errors, naming the file.
pub fn save_named(
    path: &Path,
    params: &[(String, Tensor)],
    optimizer: Option<&OptimizerState>,
) -> Result<()> {
    let bytes = encode(path, &Snapshot::of(params, &[]).tensors, optimizer, &[])?;
    let tmp = path.with_extension("safetensors.tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| ck(path, format!("writing: {e}")))
}

/// A model's parameters copied out at one moment, with metadata entries of the caller's:
/// what a study keeps of a trained model to write beside its results
/// (`Record::file("model.safetensors", snapshot.to_bytes()?)`), with the configuration that
/// rebuilds the architecture under `groundwork.*` keys. Equality compares the bits.
#[derive(Clone, Default, PartialEq)]
pub struct Snapshot {
    tensors: Vec<(String, Vec<usize>, Vec<u8>)>,
    metadata: Vec<(String, String)>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes: usize = self.tensors.iter().map(|t| t.2.len()).sum();
        write!(f, "Snapshot({} tensors, {bytes} bytes)", self.tensors.len())
    }
}

impl Snapshot {
    /// Copies `params` (names as [`Module::parameters`] gives them) and the metadata.
    pub fn of(params: &[(String, Tensor)], metadata: &[(&str, String)]) -> Snapshot {
        Snapshot {
            tensors: params
                .iter()
                .map(|(n, t)| (n.clone(), t.shape().to_vec(), le_bytes(&t.to_vec())))
                .collect(),
            metadata: metadata
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    /// Whether it holds no tensor (a run that kept no model).
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// The run-folder file a study leaves for it — `model.safetensors` with
    /// [`Snapshot::to_bytes`] — or nothing when the snapshot is empty or does not encode.
    pub fn run_file(&self) -> Vec<(String, Vec<u8>)> {
        match self.to_bytes() {
            Ok(bytes) if !self.is_empty() => vec![("model.safetensors".to_string(), bytes)],
            _ => Vec::new(),
        }
    }

    /// The checkpoint file's bytes (what [`load`] reads, and [`metadata`] from them).
    ///
    /// # Errors
    /// [`NnError::Checkpoint`] for a metadata key the format reserves (`format`,
    /// `optimizer…`).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let extra: Vec<(&str, String)> = self
            .metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        encode(Path::new("(snapshot)"), &self.tensors, None, &extra)
    }
}

/// The metadata of a checkpoint's header (`format`, `groundwork.*`, the optimizer's entries)
/// from the file's bytes ([`read_file`]); `path` is only used in messages. Read the file once
/// and pass the same bytes to [`load_bytes`].
///
/// # Errors
/// [`NnError::Checkpoint`] when the bytes are not safetensors.
pub fn metadata(path: &Path, bytes: &[u8]) -> Result<HashMap<String, String>> {
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| ck(path, format!("not a valid safetensors file: {e}")))?;
    Ok(header.metadata().clone().unwrap_or_default())
}

/// A checkpoint file's bytes: only a regular file of at most [`MAX_CHECKPOINT_BYTES`] is
/// read (what [`load`] reads).
///
/// # Errors
/// [`NnError::Checkpoint`] naming the file.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    lab::files::read_regular(path, MAX_CHECKPOINT_BYTES).map_err(|e| match e {
        lab::files::FileError::Io(e) => ck(path, format!("reading: {e}")),
        lab::files::FileError::NotRegular => ck(path, "not a regular file"),
        too_large => ck(path, format!("{too_large} for a checkpoint")),
    })
}

fn encode(
    path: &Path,
    tensors: &[(String, Vec<usize>, Vec<u8>)],
    optimizer: Option<&OptimizerState>,
    extra: &[(&str, String)],
) -> Result<Vec<u8>> {
    let mut blobs = Vec::new();
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "groundwork".to_string());
    for (k, v) in extra {
        if *k == "format" || k.starts_with("optimizer") {
            return Err(ck(path, format!("metadata key `{k}` is reserved")));
        }
        meta.insert(k.to_string(), v.clone());
    }
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
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .chain(&blobs)
        .map(|(n, s, b)| TensorView::new(Dtype::F32, s.clone(), b).map(|v| (n.clone(), v)))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| ck(path, format!("encoding: {e}")))?;
    safetensors::serialize(views, Some(meta)).map_err(|e| ck(path, format!("encoding: {e}")))
}

/// Checkpoint files larger than this are refused before they are read (16 GiB).
pub const MAX_CHECKPOINT_BYTES: u64 = 1 << 34;

/// Loads `path` into `params` (matched by name) and returns the saved optimizer state, if any.
/// Nothing is modified unless every parameter and the optimizer state check out. Only a
/// regular file of at most [`MAX_CHECKPOINT_BYTES`] is read.
///
/// # Errors
/// [`NnError::Checkpoint`] naming the file and listing every missing, unexpected, mis-shaped
/// or non-F32 tensor and every inconsistency of the optimizer state, or saying that the
/// file is not safetensors.
pub fn load(path: &Path, params: &[(String, Tensor)]) -> Result<Option<OptimizerState>> {
    load_bytes(path, &read_file(path)?, params)
}

/// [`load`] from the file's bytes (`path` is only used in messages).
///
/// # Errors
/// As [`load`].
pub fn load_bytes(
    path: &Path,
    bytes: &[u8],
    params: &[(String, Tensor)],
) -> Result<Option<OptimizerState>> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| ck(path, format!("not a valid safetensors file: {e}")))?;
    let floats = |v: &TensorView<'_>| -> Vec<f32> {
        v.data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
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
                    staged.push((
                        t.clone(),
                        ArrayD::from_shape_vec(IxDyn(t.shape()), floats(&v))
                            .expect("shape checked"),
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
    let (_, header) =
        SafeTensors::read_metadata(bytes).map_err(|e| ck(path, format!("metadata: {e}")))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let state = match meta.get("optimizer") {
        None => None,
        Some(name) => optimizer_state(name, &meta, &st, params, &floats, &mut problems),
    };
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
    Ok(state)
}

/// Reads the optimizer state from the metadata and `optimizer.<i>.<buffer>` tensors. Every
/// count is checked against what exists — at most one state per model parameter, buffers
/// that are F32 vectors of their parameter's size — before anything is allocated for it.
fn optimizer_state(
    name: &str,
    meta: &HashMap<String, String>,
    st: &SafeTensors<'_>,
    params: &[(String, Tensor)],
    floats: &dyn Fn(&TensorView<'_>) -> Vec<f32>,
    problems: &mut Vec<String>,
) -> Option<OptimizerState> {
    let before = problems.len();
    let mut get = |k: &str| -> Option<String> {
        let v = meta.get(k).cloned();
        if v.is_none() {
            problems.push(format!("optimizer state without `{k}` metadata"));
        }
        v
    };
    let (step, lr, names, count) = (
        get("optimizer.step"),
        get("optimizer.lr"),
        get("optimizer.buffers"),
        get("optimizer.params"),
    );
    let (Some(step), Some(lr), Some(names), Some(count)) = (step, lr, names, count) else {
        return None;
    };
    let step = step.parse::<u64>().ok();
    let lr = lr.parse::<f32>().ok().filter(|lr| lr.is_finite());
    let count = count.parse::<usize>().ok();
    let names: Vec<String> = names
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if step.is_none() {
        problems.push(format!(
            "bad optimizer.step `{}`: expected an integer",
            meta["optimizer.step"]
        ));
    }
    if lr.is_none() {
        problems.push(format!(
            "bad optimizer.lr `{}`: expected a finite number",
            meta["optimizer.lr"]
        ));
    }
    match count {
        None => problems.push(format!(
            "bad optimizer.params `{}`: expected an integer",
            meta["optimizer.params"]
        )),
        Some(c) if c > params.len() => problems.push(format!(
            "optimizer.params = {c}, but the model has {} parameters",
            params.len()
        )),
        _ => {}
    }
    if names.len() > st.len() {
        problems.push(format!(
            "optimizer.buffers names {} buffers; the file holds {} tensors in all",
            names.len(),
            st.len()
        ));
    }
    if problems.len() > before {
        return None;
    }
    let (step, lr, count) = (step?, lr?, count?);
    let mut buffers = Vec::with_capacity(count);
    for (i, (pname, p)) in params.iter().enumerate().take(count) {
        let mut bufs = Vec::new();
        for b in &names {
            let key = format!("optimizer.{i}.{b}");
            match st.tensor(&key) {
                Ok(v) if v.dtype() == Dtype::F32 && v.shape() == [p.numel()] => {
                    bufs.push(floats(&v))
                }
                Ok(v) => problems.push(format!(
                    "`{key}` is {:?} of shape {:?}; parameter `{pname}` needs F32 [{}]",
                    v.dtype(),
                    v.shape(),
                    p.numel()
                )),
                // A parameter never updated has no buffers yet.
                Err(_) => {
                    bufs.clear();
                    break;
                }
            }
        }
        buffers.push(bufs);
    }
    (problems.len() == before).then(|| OptimizerState {
        name: name.to_string(),
        step,
        lr,
        buffer_names: names,
        buffers,
    })
}
