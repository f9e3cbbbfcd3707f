//! The studies `cargo xtask` can run: adding one is its `Study` impl in its crate (as
//! `nn::diagnose::study`) and one line here (under the `full` feature when its crate
//! needs the sentence encoder or the server).

use lab::study::Registry;

/// Every study, by `experiment.kind`.
pub fn registry() -> Registry {
    let studies = Registry::new()
        .with(optim::study::QuadraticStudy)
        .with(optim::paths::PathsStudy)
        .with(nn::study::ClassifierStudy)
        .with(vae::study::BetaVaeStudy)
        .with(nn::diagnose::study::DiagnoseStudy)
        .with(rl::study::RlStudy);
    #[cfg(feature = "full")]
    let studies = studies
        .with(quant::study::MiniLmStudy)
        .with(serve::study::ServingStudy);
    studies
}
