//! `cargo xtask embed --model NAME|PATH [--batch N] [--threads N] FILE|-`: one text per input
//! line in, one JSON array of floats per output line out, in input order.
//!
//! Input is read and embedded `batch` lines at a time, so memory stays bounded for any
//! input length. An empty line is embedded as the empty text (the vector of `[CLS] [SEP]`);
//! a line longer than the model's `max_seq_length` tokens is truncated to it. Both are
//! counted, with their line numbers, on stderr — nothing is dropped. A progress bar on
//! stderr (when it is a terminal) and the throughput at the end.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

/// The command line of `embed`.
#[derive(Debug, Clone, clap::Args)]
pub struct EmbedArgs {
    /// A known model (all-minilm-l6-v2) or a model directory.
    #[arg(long, default_value = "all-minilm-l6-v2")]
    pub model: String,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Threads (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Run the linear layers and the word embeddings in INT8 (dynamic quantisation;
    /// mean cosine to FP32 0.9988 on the shipped sentences).
    #[arg(long)]
    pub int8: bool,
    /// Run the linear layers in BF16 (mean cosine to FP32 0.99999 on the shipped
    /// sentences; faster than FP32 where the CPU has AMX, not with AVX512-BF16 alone).
    #[arg(long, conflicts_with = "int8")]
    pub bf16: bool,
    /// The input file, one text per line, or - for standard input.
    pub input: String,
}

/// Line numbers, shown briefly.
fn lines_list(v: &[usize]) -> String {
    let shown: Vec<String> = v.iter().take(10).map(|n| n.to_string()).collect();
    let more = if v.len() > 10 {
        format!(" and {} more", v.len() - 10)
    } else {
        String::new()
    };
    format!("{}{more}", shown.join(", "))
}

/// `cargo xtask embed`.
pub fn embed(args: &EmbedArgs) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &EmbedArgs) -> Result<(), String> {
    let model = quant::load_model(
        &args.model,
        quant::Precision::from_flags(args.int8, args.bf16),
    )?;
    let threads = args.threads.unwrap_or_else(crate::fsutil::cores);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| e.to_string())?;
    let (reader, total): (Box<dyn BufRead>, Option<u64>) = if args.input == "-" {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let path = Path::new(&args.input);
        let count = std::fs::read(path)
            .map(|b| bytecount(&b))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        (Box::new(std::io::BufReader::new(file)), Some(count))
    };
    let bar = match total {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} texts ({per_sec}, eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {pos} texts ({per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    let started = Instant::now();
    let (mut done, mut tokens) = (0usize, 0usize);
    let (mut empty, mut truncated) = (Vec::new(), Vec::new());
    let mut ws = quant::Workspace::default();
    let mut lines = reader.lines();
    loop {
        let mut chunk = Vec::with_capacity(args.batch);
        for line in lines.by_ref().take(args.batch.max(1)) {
            chunk.push(
                line.map_err(|e| format!("{}: line {}: {e}", args.input, done + chunk.len() + 1))?,
            );
        }
        if chunk.is_empty() {
            break;
        }
        let mut ids = Vec::with_capacity(chunk.len());
        for (i, text) in chunk.iter().enumerate() {
            let t = model.tokenize(text).map_err(|e| e.to_string())?;
            if text.trim().is_empty() {
                empty.push(done + i + 1);
            }
            if t.truncated {
                truncated.push(done + i + 1);
            }
            tokens += t.ids.len();
            ids.push(t.ids);
        }
        let batch: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        let vectors = pool
            .install(|| model.embed_tokens(&batch, &mut ws))
            .map_err(|e| e.to_string())?;
        for v in vectors.chunks(model.dim()) {
            serde_json::to_writer(&mut out, v).map_err(|e| e.to_string())?;
            out.write_all(b"\n").map_err(|e| e.to_string())?;
        }
        done += chunk.len();
        bar.set_position(done as u64);
    }
    out.flush().map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    if !empty.is_empty() {
        eprintln!(
            "{} empty lines, embedded as the empty text: lines {}",
            empty.len(),
            lines_list(&empty)
        );
    }
    if !truncated.is_empty() {
        eprintln!(
            "{} lines longer than {} tokens, truncated: lines {}",
            truncated.len(),
            model.max_seq_length(),
            lines_list(&truncated)
        );
    }
    eprintln!(
        "embedded {done} texts ({tokens} tokens) with {} on {threads} threads in {secs:.2} s: {:.1} texts/s, {:.0} tokens/s",
        model.dir().display(),
        done as f64 / secs,
        tokens as f64 / secs
    );
    Ok(())
}

/// Lines in a file (a last line without a newline counts).
fn bytecount(b: &[u8]) -> u64 {
    let n = b.iter().filter(|&&c| c == b'\n').count() as u64;
    n + u64::from(!b.is_empty() && b.last() != Some(&b'\n'))
}
