//! What the exporter refuses, and what it writes, without a runtime: errors that name the
//! layer or the file, nothing half-written, and the file's own structure (opset, metadata,
//! dynamic axes) read back.

use core_tensor::{Rng, Tensor};
use nn::checkpoint::Snapshot;
use nn::study::model_metadata;
use nn::{Activation, Linear, Module, Sequential};
use onnx::{export_checkpoint, export_module, ExportError, OnnxModel, Part};
use vae::study::{build_vae, VaeConfig};

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gw-onnx-export-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A layer of the user's own that does not describe itself.
struct Doubler;

impl Module for Doubler {
    fn forward(&self, x: &Tensor) -> nn::Result<Tensor> {
        Ok(x.mul_scalar(2.0))
    }
}

fn mlp() -> Sequential {
    let mut rng = Rng::seed(1);
    Sequential::new()
        .push(Linear::new(4, 8, true, &mut rng).unwrap())
        .push(Activation::Relu)
        .push(Linear::new(8, 2, true, &mut rng).unwrap())
}

#[test]
fn a_layer_without_a_translation_is_named() {
    let mut rng = Rng::seed(2);
    let net = Sequential::new()
        .push(Linear::new(4, 4, true, &mut rng).unwrap())
        .push(Sequential::new().push(Activation::Tanh).push(Doubler));
    let err = export_module(&net, &[4], "custom").unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, ExportError::Unsupported { layer, .. } if layer == "1.1"),
        "{text}"
    );
    assert!(text.contains("Doubler"), "the error names the type: {text}");
}

#[test]
fn an_input_shape_the_network_rejects_is_an_error_before_anything_is_built() {
    let err = export_module(&mlp(), &[5], "mlp").unwrap_err();
    assert!(matches!(err, ExportError::Shape { .. }), "{err}");
    assert!(err.to_string().contains("[2, 5]"), "{err}");
}

#[test]
fn the_file_reads_back_with_opset_17_metadata_and_a_dynamic_batch() {
    let model = export_module(&mlp(), &[4], "mlp").unwrap();
    let dir = scratch("roundtrip");
    let path = dir.join("mlp.onnx");
    model.save(&path).unwrap();
    let back = OnnxModel::from_bytes(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(back, model);
    let p = back.proto();
    assert_eq!(p.ir_version, Some(onnx::IR_VERSION));
    assert_eq!(p.opset_import[0].version, Some(onnx::OPSET));
    assert_eq!(p.producer_name.as_deref(), Some("groundwork"));
    assert_eq!(back.metadata("groundwork.model"), Some("mlp"));
    let input = &p.graph.as_ref().unwrap().input[0];
    let shape = input.r#type.as_ref().unwrap().tensor_type.as_ref().unwrap();
    let dims = &shape.shape.as_ref().unwrap().dim;
    assert_eq!(dims[0].dim_param.as_deref(), Some("batch"));
    assert_eq!(dims[1].dim_value, Some(4));
    // Only the model is left in the folder: the temporary file was renamed.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["mlp.onnx"]);
    assert!(matches!(
        OnnxModel::from_bytes(b"not a model \xff\xff"),
        Err(ExportError::Decode(_))
    ));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_failed_save_names_the_file_and_leaves_nothing() {
    let dir = scratch("failed-save");
    let path = dir.join("missing-folder").join("mlp.onnx");
    let err = export_module(&mlp(), &[4], "mlp")
        .unwrap()
        .save(&path)
        .unwrap_err();
    assert!(matches!(err, ExportError::Io { .. }), "{err}");
    assert!(err.to_string().contains("missing-folder"), "{err}");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing left behind"
    );
    // An existing file is replaced whole or kept: a folder in the way keeps the old file.
    let keep = dir.join("keep.onnx");
    std::fs::write(&keep, b"old").unwrap();
    std::fs::create_dir(dir.join(format!("keep.onnx.tmp{}", std::process::id()))).unwrap();
    assert!(export_module(&mlp(), &[4], "mlp")
        .unwrap()
        .save(&keep)
        .is_err());
    assert_eq!(std::fs::read(&keep).unwrap(), b"old");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn checkpoints_say_what_is_missing() {
    let dir = scratch("checkpoints");
    // A plain checkpoint has no study metadata.
    let plain = dir.join("plain.safetensors");
    nn::checkpoint::save(&plain, &mlp(), None).unwrap();
    let err = export_checkpoint(&plain, None).unwrap_err();
    assert!(err.to_string().contains("export_module"), "{err}");

    // A VAE checkpoint needs a part.
    let cfg = VaeConfig {
        dataset: vae::study::DataKind::FashionMnist,
        ..VaeConfig::default()
    };
    let vae = build_vae(&cfg, &mut Rng::seed(3)).unwrap();
    let path = dir.join("vae.safetensors");
    let bytes = Snapshot::of(&vae.named_parameters(), &model_metadata("vae", &cfg));
    std::fs::write(&path, bytes.to_bytes().unwrap()).unwrap();
    let err = export_checkpoint(&path, None).unwrap_err();
    assert!(err.to_string().contains("--part"), "{err}");
    assert!(export_checkpoint(&path, Some(Part::Decoder)).is_ok());

    // Weights that do not fit the configuration's architecture: each tensor named.
    let wrong = dir.join("wrong.safetensors");
    let bytes = Snapshot::of(&mlp().parameters(), &model_metadata("vae", &cfg));
    std::fs::write(&wrong, bytes.to_bytes().unwrap()).unwrap();
    let err = export_checkpoint(&wrong, Some(Part::Encoder)).unwrap_err();
    assert!(matches!(err, ExportError::Checkpoint(_)), "{err}");
    assert!(err.to_string().contains("encoder.0.weight"), "{err}");

    // A configuration that does not parse.
    let bad = dir.join("bad.safetensors");
    let meta = [
        ("groundwork.study", "vae".to_string()),
        ("groundwork.config", "latent = \"ten\"".to_string()),
    ];
    std::fs::write(
        &bad,
        Snapshot::of(&mlp().parameters(), &meta).to_bytes().unwrap(),
    )
    .unwrap();
    let err = export_checkpoint(&bad, Some(Part::Encoder)).unwrap_err();
    assert!(err.to_string().contains("latent"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_missing_model_directory_is_named() {
    let err = onnx::export_bert(
        std::path::Path::new("/nonexistent/minilm"),
        "minilm",
        &onnx::BertExport::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/minilm"), "{err}");
}
