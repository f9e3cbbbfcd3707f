//! Building a graph node by node, and the finished model: bytes, metadata, an atomic save.

use std::path::Path;

use prost::Message;

use crate::error::{ExportError, Result};
use crate::proto::{
    attribute_type, data_type, AttributeProto, Dimension, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto, TensorTypeProto,
    TypeProto, ValueInfoProto,
};

/// The ONNX operator set the exporter targets (17: `LayerNormalization` is in it).
pub const OPSET: i64 = 17;
/// The IR version that goes with opset 17.
pub const IR_VERSION: i64 = 8;

/// An element type of a graph input or output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    /// `float`.
    F32,
    /// `int64` (token ids, masks).
    I64,
}

impl Elem {
    fn code(self) -> i32 {
        match self {
            Elem::F32 => data_type::FLOAT,
            Elem::I64 => data_type::INT64,
        }
    }
}

/// An axis of a graph input or output: fixed, or dynamic with a name (`batch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Fixed(usize),
    /// A size chosen at run time, named.
    Named(&'static str),
}

/// A node attribute.
#[derive(Clone)]
pub(crate) enum Attr {
    Int(&'static str, i64),
    Float(&'static str, f32),
    Ints(&'static str, Vec<i64>),
}

impl Attr {
    fn proto(self) -> AttributeProto {
        let mut a = AttributeProto::default();
        match self {
            Attr::Int(n, v) => {
                a.name = Some(n.into());
                a.r#type = Some(attribute_type::INT);
                a.i = Some(v);
            }
            Attr::Float(n, v) => {
                a.name = Some(n.into());
                a.r#type = Some(attribute_type::FLOAT);
                a.f = Some(v);
            }
            Attr::Ints(n, v) => {
                a.name = Some(n.into());
                a.r#type = Some(attribute_type::INTS);
                a.ints = v;
            }
        }
        a
    }
}

fn value_info(name: &str, elem: Elem, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => Dimension {
                dim_value: Some(*n as i64),
                dim_param: None,
            },
            Dim::Named(s) => Dimension {
                dim_value: None,
                dim_param: Some((*s).into()),
            },
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: Some(elem.code()),
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
        doc_string: None,
    }
}

/// A graph under construction: fresh names for every value, initialisers, nodes in order.
pub(crate) struct Graph {
    proto: GraphProto,
    next: usize,
    /// Small constants already declared, by (data type, dims, bytes): each scalar or short
    /// vector (a zero, a one, an axis list) is one initialiser however many layers use it.
    constants: std::collections::HashMap<(i32, Vec<usize>, Vec<u8>), String>,
}

/// Initialisers of at most this many bytes are constants, declared once per graph.
const CONSTANT_BYTES: usize = 64;

impl Graph {
    pub(crate) fn new(name: &str) -> Graph {
        Graph {
            proto: GraphProto {
                name: Some(name.into()),
                ..GraphProto::default()
            },
            next: 0,
            constants: std::collections::HashMap::new(),
        }
    }

    fn fresh(&mut self, hint: &str) -> String {
        self.next += 1;
        format!("{hint}_{}", self.next)
    }

    /// Declares a graph input.
    pub(crate) fn input(&mut self, name: &str, elem: Elem, dims: &[Dim]) -> String {
        self.proto.input.push(value_info(name, elem, dims));
        name.to_string()
    }

    /// Names `value` as the graph output `name` (through an `Identity` node).
    pub(crate) fn output(&mut self, value: &str, name: &str, elem: Elem, dims: &[Dim]) {
        self.proto.node.push(NodeProto {
            input: vec![value.into()],
            output: vec![name.into()],
            name: Some(format!("output_{name}")),
            op_type: Some("Identity".into()),
            ..NodeProto::default()
        });
        self.proto.output.push(value_info(name, elem, dims));
    }

    fn initializer(&mut self, hint: &str, dt: i32, dims: &[usize], raw: Vec<u8>) -> String {
        let key = (raw.len() <= CONSTANT_BYTES).then(|| (dt, dims.to_vec(), raw.clone()));
        if let Some(name) = key.as_ref().and_then(|k| self.constants.get(k)) {
            return name.clone();
        }
        let name = self.fresh(hint);
        if let Some(key) = key {
            self.constants.insert(key, name.clone());
        }
        self.proto.initializer.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(dt),
            name: Some(name.clone()),
            doc_string: None,
            raw_data: Some(raw),
        });
        name
    }

    /// An f32 initialiser (a weight or a constant).
    pub(crate) fn f32s(&mut self, hint: &str, dims: &[usize], v: &[f32]) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), v.len());
        let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.initializer(hint, data_type::FLOAT, dims, raw)
    }

    /// An f32 scalar.
    pub(crate) fn scalar(&mut self, hint: &str, v: f32) -> String {
        self.f32s(hint, &[], &[v])
    }

    /// An i64 initialiser (shapes, axes, indices).
    pub(crate) fn i64s(&mut self, hint: &str, v: &[i64]) -> String {
        let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.initializer(hint, data_type::INT64, &[v.len()], raw)
    }

    /// An i64 scalar.
    pub(crate) fn i64_scalar(&mut self, hint: &str, v: i64) -> String {
        self.initializer(hint, data_type::INT64, &[], v.to_le_bytes().to_vec())
    }

    /// A u8 scalar.
    pub(crate) fn u8_scalar(&mut self, hint: &str, v: u8) -> String {
        self.initializer(hint, data_type::UINT8, &[], vec![v])
    }

    /// An i8 initialiser (quantised weights).
    pub(crate) fn i8s(&mut self, hint: &str, dims: &[usize], v: &[i8]) -> String {
        let raw = v.iter().map(|&x| x as u8).collect();
        self.initializer(hint, data_type::INT8, dims, raw)
    }

    /// An i32 initialiser.
    pub(crate) fn i32s(&mut self, hint: &str, dims: &[usize], v: &[i32]) -> String {
        let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.initializer(hint, data_type::INT32, dims, raw)
    }

    /// A node with one output; returns the output's name.
    pub(crate) fn op(&mut self, op: &str, inputs: &[&str], attrs: Vec<Attr>) -> String {
        self.op_n(op, inputs, 1, attrs).remove(0)
    }

    /// A node with `outputs` outputs.
    pub(crate) fn op_n(
        &mut self,
        op: &str,
        inputs: &[&str],
        outputs: usize,
        attrs: Vec<Attr>,
    ) -> Vec<String> {
        let hint = op.to_ascii_lowercase();
        let out: Vec<String> = (0..outputs).map(|_| self.fresh(&hint)).collect();
        let name = format!("{op}_{}", self.next);
        self.proto.node.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: out.clone(),
            name: Some(name),
            op_type: Some(op.into()),
            attribute: attrs.into_iter().map(Attr::proto).collect(),
            ..NodeProto::default()
        });
        out
    }

    /// The finished model with its metadata.
    pub(crate) fn finish(self, doc: &str, metadata: Vec<(String, String)>) -> OnnxModel {
        OnnxModel {
            proto: ModelProto {
                ir_version: Some(IR_VERSION),
                opset_import: vec![OperatorSetIdProto {
                    domain: Some(String::new()),
                    version: Some(OPSET),
                }],
                producer_name: Some("groundwork".into()),
                producer_version: Some(env!("CARGO_PKG_VERSION").into()),
                domain: None,
                model_version: Some(1),
                doc_string: Some(doc.into()),
                graph: Some(self.proto),
                metadata_props: metadata
                    .into_iter()
                    .map(|(k, v)| StringStringEntryProto {
                        key: Some(k),
                        value: Some(v),
                    })
                    .collect(),
            },
        }
    }
}

/// An exported model: the ONNX protobuf, ready to write.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxModel {
    proto: ModelProto,
}

impl OnnxModel {
    /// The protobuf message (to inspect or post-process before writing).
    pub fn proto(&self) -> &ModelProto {
        &self.proto
    }

    /// The serialised file contents.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.proto.encode_to_vec()
    }

    /// Reads a model from its bytes (what [`OnnxModel::to_bytes`] wrote, or any ONNX file
    /// whose fields this crate declares).
    ///
    /// # Errors
    /// [`ExportError::Decode`] when the bytes are not an ONNX model.
    pub fn from_bytes(bytes: &[u8]) -> Result<OnnxModel> {
        ModelProto::decode(bytes)
            .map(|proto| OnnxModel { proto })
            .map_err(|e| ExportError::Decode(e.to_string()))
    }

    /// The graph's input names, in order.
    pub fn inputs(&self) -> Vec<&str> {
        let g = self.proto.graph.as_ref();
        g.map(|g| g.input.iter().filter_map(|v| v.name.as_deref()).collect())
            .unwrap_or_default()
    }

    /// The graph's output names, in order.
    pub fn outputs(&self) -> Vec<&str> {
        let g = self.proto.graph.as_ref();
        g.map(|g| g.output.iter().filter_map(|v| v.name.as_deref()).collect())
            .unwrap_or_default()
    }

    /// A metadata value (`groundwork.precision`, ...).
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.proto
            .metadata_props
            .iter()
            .find(|e| e.key.as_deref() == Some(key))
            .and_then(|e| e.value.as_deref())
    }

    /// Writes the model to `path` atomically: a temporary file in the same folder, synced,
    /// then renamed over `path`, so a failure leaves either the old file or none — never a
    /// half-written model.
    ///
    /// # Errors
    /// [`ExportError::Io`] naming the file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let io = |source| ExportError::Io {
            path: path.to_path_buf(),
            source,
        };
        let name = path.file_name().ok_or_else(|| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the path names no file",
            ))
        })?;
        let mut tmp_name = name.to_os_string();
        tmp_name.push(format!(".tmp{}", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        let write = || -> std::io::Result<()> {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&self.to_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_constants_are_declared_once_weights_are_not() {
        let mut g = Graph::new("t");
        let one = g.scalar("one", 1.0);
        assert_eq!(g.scalar("also_one", 1.0), one);
        assert_ne!(g.scalar("two", 2.0), one);
        // Same bytes, another type or shape: another constant.
        assert_ne!(g.i32s("one_i32", &[], &[1.0f32.to_bits() as i32]), one);
        assert_ne!(g.f32s("one_vec", &[1], &[1.0]), one);
        let axes = g.i64s("axes", &[0, 1]);
        assert_eq!(g.i64s("axes", &[0, 1]), axes);
        // A weight-sized initialiser is its own, even when equal to another.
        let w = vec![0.5f32; 64];
        assert_ne!(g.f32s("w", &[64], &w), g.f32s("w", &[64], &w));
        assert_eq!(g.proto.initializer.len(), 7);
    }
}
