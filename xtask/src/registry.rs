//! The studies `cargo xtask` can run: adding one is its `Study` impl in its crate (as
//! `nn::diagnose::study`) and one line here.

use lab::study::Registry;

/// Every study, by `experiment.kind`.
pub fn registry() -> Registry {
    Registry::new()
        .with(optim::study::QuadraticStudy)
        .with(optim::paths::PathsStudy)
        .with(nn::study::ClassifierStudy)
        .with(quant::study::MiniLmStudy)
        .with(serve::study::ServingStudy)
        .with(vae::study::BetaVaeStudy)
        .with(nn::diagnose::study::DiagnoseStudy)
        .with(rl::study::RlStudy)
}
