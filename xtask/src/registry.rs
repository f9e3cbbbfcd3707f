//! The studies `cargo xtask` can run: adding one is its module under `studies/` and one line
//! here.

use lab::study::Registry;

use crate::studies::{
    classifier::Classifier, minilm::MiniLm, paths::Paths, quadratic::Quadratic, serving::Serving,
    vae::BetaVae,
};

/// Every study, by `experiment.kind`.
pub fn registry() -> Registry {
    Registry::new()
        .with(Quadratic)
        .with(Paths)
        .with(Classifier)
        .with(MiniLm)
        .with(Serving)
        .with(BetaVae)
        .with(nn::diagnose::study::DiagnoseStudy)
}
