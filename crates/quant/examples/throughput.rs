//! Embeds the 512 bench sentences in batches of B on a pool of `THREADS` (default 2), in
//! `PRECISION` (fp32 or int8), and prints
//! sentences/s (a quick probe for profiling; `cargo xtask bench --filter minilm` is the
//! measurement).
//!
//! Run: `THREADS=2 cargo run --release -p quant --example throughput -- [batch] [passes]`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let batch: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(32);
    let passes: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let precision = match std::env::var("PRECISION").as_deref() {
        Ok("int8") => quant::Precision::int8(),
        _ => quant::Precision::fp32(),
    };
    let model = quant::Model::load_with(quant::find_model("all-minilm-l6-v2")?, precision)?;
    let tokens: Vec<Vec<u32>> = quant::BENCH_SENTENCES
        .lines()
        .map(|s| model.tokenize(s).map(|t| t.ids))
        .collect::<Result<_, _>>()?;
    let mut ws = quant::Workspace::default();
    let threads: usize = std::env::var("THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    pool.install(|| run(&model, &tokens, batch, passes, &mut ws))?;
    Ok(())
}

fn run(
    model: &quant::Model,
    tokens: &[Vec<u32>],
    batch: usize,
    passes: usize,
    ws: &mut quant::Workspace,
) -> quant::Result<()> {
    for pass in 0..=passes {
        let t = std::time::Instant::now();
        for chunk in tokens.chunks(batch) {
            let ids: Vec<&[u32]> = chunk.iter().map(Vec::as_slice).collect();
            std::hint::black_box(model.embed_tokens(&ids, ws)?);
        }
        if pass > 0 {
            println!(
                "batch {batch}: {:.1} sentences/s",
                tokens.len() as f64 / t.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
