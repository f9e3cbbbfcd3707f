//! The disentanglement metrics on constructed codes whose answer is known: a perfectly
//! disentangled identity code, the same code rotated (every latent mixes every factor), and
//! a code that ignores a factor — over the dSprites factor grid.

// Matrix arithmetic reads best with indices.
#![allow(clippy::needless_range_loop)]

use vae::dsprites::FACTOR_SIZES;
use vae::metrics::{
    active_units, beta_vae_score, discrete_entropy, discrete_mutual_information, factor_vae_score,
    mig,
};

fn identity(f: &[Vec<usize>]) -> Vec<Vec<f64>> {
    f.iter()
        .map(|v| {
            v.iter()
                .zip(&FACTOR_SIZES)
                .map(|(&i, &n)| i as f64 / (n - 1) as f64)
                .collect()
        })
        .collect()
}

/// A fixed orthogonal 5x5 matrix: two Householder reflections.
fn rotation() -> Vec<Vec<f64>> {
    let mut q: Vec<Vec<f64>> = (0..5)
        .map(|i| (0..5).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    for u in [[1.0, 2.0, -1.0, 0.5, 1.5], [-0.5, 1.0, 2.0, 1.0, -1.0]] {
        let uu: f64 = u.iter().map(|x| x * x).sum();
        for col in 0..5 {
            let dot: f64 = (0..5).map(|i| u[i] * q[i][col]).sum();
            for i in 0..5 {
                q[i][col] -= 2.0 * u[i] * dot / uu;
            }
        }
    }
    q
}

fn rotated(f: &[Vec<usize>]) -> Vec<Vec<f64>> {
    let r = rotation();
    identity(f)
        .into_iter()
        .map(|z| {
            (0..5)
                .map(|i| (0..5).map(|j| r[i][j] * z[j]).sum())
                .collect()
        })
        .collect()
}

fn ignores_shape(f: &[Vec<usize>]) -> Vec<Vec<f64>> {
    identity(f)
        .into_iter()
        .map(|mut z| {
            z[0] = 0.0;
            z
        })
        .collect()
}

#[test]
fn information_by_hand() {
    // Two independent fair bits: I = 0; a copy: I = H = ln 2.
    let a = [0, 0, 1, 1];
    assert!((discrete_entropy(&a) - 2f64.ln()).abs() < 1e-12);
    assert!((discrete_mutual_information(&a, &a) - 2f64.ln()).abs() < 1e-12);
    assert!(discrete_mutual_information(&a, &[0, 1, 0, 1]).abs() < 1e-12);
}

#[test]
fn active_units_count_the_dimensions_that_vary() {
    let codes = ignores_shape(&vae::metrics::sample_factors(
        &FACTOR_SIZES,
        500,
        &mut core_tensor::Rng::seed(1),
    ));
    let (active, var) = active_units(&codes, 0.01);
    assert_eq!(active, 4, "{var:?}");
    assert_eq!(var[0], 0.0);
    // A uniform factor index over n values, scaled to [0, 1]: variance (n+1)/(12(n-1)).
    assert!((var[4] - 33.0 / (12.0 * 31.0)).abs() < 0.01, "{var:?}");
}

#[test]
fn mig_is_high_for_the_identity_low_rotated_and_zero_for_an_ignored_factor() {
    let m = mig(&FACTOR_SIZES, &identity, 4000, 20, 0);
    // Shape and scale are resolved exactly by 20 bins (gap = H); orientation and position
    // (40 and 32 values) lose what 20 bins cannot hold (about ln 20 / ln 32).
    assert!(m.per_factor[0] > 0.98 && m.per_factor[1] > 0.98, "{m:?}");
    assert!(m.score > 0.85, "{m:?}");
    let r = mig(&FACTOR_SIZES, &rotated, 4000, 20, 0);
    assert!(
        r.score < 0.35 && r.score < m.score / 2.0,
        "rotated {}",
        r.score
    );
    let i = mig(&FACTOR_SIZES, &ignores_shape, 4000, 20, 0);
    assert!(i.per_factor[0] < 0.02, "{:?}", i.per_factor);
    assert!((i.score - (m.score - m.per_factor[0] / 5.0)).abs() < 0.02);
    // Seeded.
    assert_eq!(
        mig(&FACTOR_SIZES, &identity, 500, 20, 3),
        mig(&FACTOR_SIZES, &identity, 500, 20, 3)
    );
}

#[test]
fn beta_vae_score_is_perfect_for_the_identity() {
    let s = beta_vae_score(&FACTOR_SIZES, &identity, 16, 300, 200, 0);
    assert!(s.train > 0.97 && s.eval > 0.97, "{s:?}");
    let r = beta_vae_score(&FACTOR_SIZES, &rotated, 16, 300, 200, 0);
    assert!((0.0..=1.0).contains(&r.eval), "{r:?}");
}

#[test]
fn factor_vae_score_is_perfect_for_the_identity_and_misses_an_ignored_factor() {
    let s = factor_vae_score(&FACTOR_SIZES, &identity, 32, 300, 300, 2000, 0);
    assert!(s.train > 0.99 && s.eval > 0.99, "{s:?}");
    // Shape is in no latent: its votes go to random latents, which the majority vote
    // assigns to their own factors, so about 1/5 of the votes are lost.
    let i = factor_vae_score(&FACTOR_SIZES, &ignores_shape, 32, 300, 600, 2000, 0);
    assert!((i.eval - 0.8).abs() < 0.06, "{i:?}");
}
