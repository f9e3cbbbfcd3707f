//! Adapters from study crates to xtask: parameters, metrics, series and report sections.

pub mod classifier;
pub mod minilm;
pub mod serving;
pub mod vae;

use std::path::PathBuf;
use std::sync::OnceLock;

use nn::data::{find_dataset, load_splits, Dataset};

/// Fashion-MNIST as found on this machine.
pub struct FashionMnist {
    /// The folder it was read from.
    pub dir: PathBuf,
    /// The 60,000 training images.
    pub train: Dataset,
    /// The 10,000 test images.
    pub test: Dataset,
}

/// Fashion-MNIST, loaded once per process and shared by every run of every study.
///
/// # Errors
/// The dataset is missing or damaged (the message names the file).
pub fn fashion_mnist() -> Result<&'static FashionMnist, String> {
    static DATA: OnceLock<Result<FashionMnist, String>> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = find_dataset("fashion-mnist").map_err(|e| e.to_string())?;
        let (train, test) = load_splits(&dir).map_err(|e| e.to_string())?;
        Ok(FashionMnist { dir, train, test })
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// The mean of each window of `window` points, placed at the window's middle x plus one (a
/// step count starting at 0 then has a place on a logarithmic axis).
pub fn smooth(pts: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    pts.chunks(window.max(1))
        .map(|c| {
            (
                c[c.len() / 2].0 + 1.0,
                c.iter().map(|p| p.1).sum::<f64>() / c.len() as f64,
            )
        })
        .collect()
}
