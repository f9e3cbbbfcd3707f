//! The studies `cargo xtask` can run: adding one is its `Study` impl in its crate (as
//! `nn::diagnose::study`, `optim::study`, `optim::paths`) and one line here.

use lab::study::Registry;

use crate::studies::{classifier::Classifier, minilm::MiniLm, serving::Serving, vae::BetaVae};

/// Every study, by `experiment.kind`.
pub fn registry() -> Registry {
    Registry::new()
        .with(optim::study::QuadraticStudy)
        .with(optim::paths::PathsStudy)
        .with(Classifier)
        .with(MiniLm)
        .with(Serving)
        .with(BetaVae)
        .with(nn::diagnose::study::DiagnoseStudy)
}
