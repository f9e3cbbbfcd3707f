//! `cargo xtask export`: a model as an ONNX file — the sentence encoder (`--model`, FP32 or
//! groundwork's INT8) or a model a study trained (`--checkpoint`) — via the `onnx` crate.

use std::path::PathBuf;
use std::process::ExitCode;

/// Which half of a VAE checkpoint to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PartArg {
    /// Images to `mu`, `logvar`.
    Encoder,
    /// Latents to the mean image.
    Decoder,
}

/// The command line of `export`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// A known model (all-minilm-l6-v2) or a model directory: exports the sentence encoder,
    /// token ids and attention mask in, pooled and normalised embeddings out.
    #[arg(
        long,
        conflicts_with = "checkpoint",
        required_unless_present = "checkpoint"
    )]
    pub model: Option<String>,
    /// A model a study saved: `results/<experiment>/<run>/model.safetensors` (the
    /// classifier's network, or a VAE's encoder or decoder with --part).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// With --model: groundwork's INT8 (s8 per-channel weights, per-token u8 activations
    /// quantised in the graph, MatMulInteger): the integers our kernels compute.
    #[arg(long, requires = "model")]
    pub int8: bool,
    /// With --int8: 7-bit activations, for runtimes on x86 CPUs without VNNI (whose u8 x s8
    /// instruction saturates on 8-bit inputs).
    #[arg(long, requires = "int8")]
    pub reduce_range: bool,
    /// With a VAE checkpoint: the half to export.
    #[arg(long, value_enum)]
    pub part: Option<PartArg>,
    /// The .onnx file to write (atomically: a failure leaves no partial file).
    #[arg(long)]
    pub out: PathBuf,
}

/// `cargo xtask export`: exit 0 with the file written, 2 on bad input.
pub fn export(args: &ExportArgs) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &ExportArgs) -> Result<(), String> {
    let model = match (&args.model, &args.checkpoint) {
        (Some(name), _) => {
            let dir = quant::find_model(name)?;
            let label = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| name.clone());
            let opts = onnx::BertExport {
                int8: args.int8,
                reduce_range: args.reduce_range,
            };
            onnx::export_bert(&dir, &label, &opts).map_err(|e| e.to_string())?
        }
        (None, Some(path)) => {
            let part = args.part.map(|p| match p {
                PartArg::Encoder => onnx::Part::Encoder,
                PartArg::Decoder => onnx::Part::Decoder,
            });
            onnx::export_checkpoint(path, part).map_err(|e| e.to_string())?
        }
        (None, None) => return Err("say what to export: --model NAME or --checkpoint FILE".into()),
    };
    model.save(&args.out).map_err(|e| e.to_string())?;
    let bytes = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    println!(
        "wrote {} ({:.1} MB): {} ({}), inputs {}, outputs {}, opset {}",
        args.out.display(),
        bytes as f64 / 1e6,
        model.metadata("groundwork.model").unwrap_or("model"),
        model.metadata("groundwork.precision").unwrap_or("fp32"),
        model.inputs().join(", "),
        model.outputs().join(", "),
        onnx::OPSET
    );
    Ok(())
}
