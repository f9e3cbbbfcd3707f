//! The models the studies train, exported from the checkpoints they leave
//! (`results/<experiment>/<run>/model.safetensors`).
//!
//! A study's checkpoint carries `groundwork.study` and `groundwork.config` in its metadata
//! ([`nn::study::model_metadata`]): the architecture is rebuilt from that configuration with
//! the study's own builder, the weights are loaded by name (every shape checked), and the
//! network is exported. A checkpoint of a network of your own has no such entry: build the
//! network in code, load it with [`nn::checkpoint::load_into`], and call
//! [`crate::export_module`].

use std::path::Path;

use core_tensor::Rng;
use lab::params::{Params, Table};
use nn::study::{build_model, ClassifierConfig, IMAGE_SHAPE};
use nn::Module;
use vae::study::{build_vae, VaeConfig};

use crate::error::{ExportError, Result};
use crate::graph::OnnxModel;
use crate::module::{export_module, export_vae_decoder, export_vae_encoder};

/// Which half of a VAE to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Images to `mu`, `logvar`.
    Encoder,
    /// Latents to the mean image.
    Decoder,
}

fn config<P: Params>(path: &Path, text: &str) -> Result<P> {
    let bad = |message: String| ExportError::Metadata {
        path: path.to_path_buf(),
        message,
    };
    let table: Table = text
        .parse()
        .map_err(|e| bad(format!("groundwork.config is not TOML: {e}")))?;
    P::from_table(&table).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        bad(format!("groundwork.config: {}", list.join("; ")))
    })
}

/// Exports the trained model in a study's checkpoint: the classifier's network (input
/// `[batch, 784]`, Fashion-MNIST images flattened, logits out), or one half of a VAE
/// (`part` is required for a VAE and ignored otherwise).
///
/// # Errors
/// [`ExportError::Metadata`] for a checkpoint without the study's metadata, of a study
/// that saves no model, or a VAE without `part`; [`ExportError::Checkpoint`] when the
/// weights do not fit the architecture the configuration describes (each tensor named).
pub fn export_checkpoint(path: &Path, part: Option<Part>) -> Result<OnnxModel> {
    // Read once: the metadata and then the weights come from the same bytes.
    let bytes = nn::checkpoint::read_file(path)?;
    let meta = nn::checkpoint::metadata(path, &bytes)?;
    let missing = |what: &str| ExportError::Metadata {
        path: path.to_path_buf(),
        message: format!(
            "no `{what}` in the checkpoint's metadata: not a model saved by a groundwork \
             study (classifier or vae). For a network of your own, load it in code and call \
             onnx::export_module"
        ),
    };
    let study = meta
        .get("groundwork.study")
        .ok_or_else(|| missing("groundwork.study"))?;
    let text = meta
        .get("groundwork.config")
        .ok_or_else(|| missing("groundwork.config"))?;
    let mut rng = Rng::seed(0);
    match study.as_str() {
        "classifier" => {
            let cfg: ClassifierConfig = config(path, text)?;
            let net = build_model(cfg.model, cfg.init, &mut rng)?;
            nn::checkpoint::load_bytes(path, &bytes, &net.parameters())?;
            let name = match cfg.model {
                nn::study::ModelKind::Mlp => "fashion-mnist-mlp",
                nn::study::ModelKind::Cnn => "fashion-mnist-cnn",
            };
            export_module(&net, &[IMAGE_SHAPE.0 * IMAGE_SHAPE.1], name)
        }
        "vae" => {
            let cfg: VaeConfig = config(path, text)?;
            let vae = build_vae(&cfg, &mut rng)?;
            nn::checkpoint::load_bytes(path, &bytes, &vae.named_parameters())?;
            let data = match cfg.dataset {
                vae::study::DataKind::Dsprites => "dsprites",
                vae::study::DataKind::FashionMnist => "fashion-mnist",
            };
            match part {
                Some(Part::Encoder) => export_vae_encoder(&vae, &format!("vae-{data}-encoder")),
                Some(Part::Decoder) => export_vae_decoder(&vae, &format!("vae-{data}-decoder")),
                None => Err(ExportError::Metadata {
                    path: path.to_path_buf(),
                    message: "a VAE checkpoint holds an encoder and a decoder: say which to \
                              export (--part encoder or --part decoder)"
                        .into(),
                }),
            }
        }
        other => Err(ExportError::Metadata {
            path: path.to_path_buf(),
            message: format!(
                "groundwork.study = \"{other}\": only the classifier and vae studies save models"
            ),
        }),
    }
}
