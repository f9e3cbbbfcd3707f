//! Prints the cosine similarity of two sentences under all-MiniLM-L6-v2 (or the model in
//! `$MODEL`, a known name or a directory).
//!
//! Run: `cargo run --release -p quant --example similarity -- "a sentence" "another"`
//! (the model first: `cargo xtask fetch-model all-minilm-l6-v2`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [a, b] = args.as_slice() else {
        return Err("give two sentences: similarity \"a sentence\" \"another\"".into());
    };
    let name = std::env::var("MODEL").unwrap_or_else(|_| "all-minilm-l6-v2".into());
    let model = quant::Model::load(quant::find_model(&name)?)?;
    let v = model.embed(&[a.as_str(), b.as_str()], 2)?;
    let dot: f64 = v[0]
        .iter()
        .zip(&v[1])
        .map(|(x, y)| *x as f64 * *y as f64)
        .sum();
    let norm = |u: &[f32]| u.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    println!("{:.4}", dot / (norm(&v[0]) * norm(&v[1])));
    Ok(())
}
