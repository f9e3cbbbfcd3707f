//! Prints dSprites images as text: one per shape at a given orientation index.
//!
//! Run: `cargo run --release -p vae --example sprites -- [ORIENTATION 0..39]`

use vae::dsprites::{DSprites, SIZE};

fn main() {
    let o: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0)
        .min(39);
    let d = DSprites;
    let images: Vec<Vec<u8>> = (0..3)
        .map(|s| d.image(d.index_of([s, 5, o, 16, 16])))
        .collect();
    for row in (0..SIZE).step_by(2) {
        let line: Vec<String> = images
            .iter()
            .map(|img| {
                (0..SIZE)
                    .map(|c| if img[row * SIZE + c] == 1 { '#' } else { '.' })
                    .collect()
            })
            .collect();
        println!("{}", line.join("  "));
    }
}
