//! The KL decomposition on posteriors whose answer is known: a collapsed code (everything
//! zero), independent and perfectly correlated codes (total correlation zero vs large), a
//! code that identifies each example (information at its ceiling ln N), and the closed-form
//! KL per dimension by hand.

use core_tensor::Rng;
use vae::kl::{decompose, kl_per_dimension};

#[test]
fn closed_form_kl_per_dimension() {
    // KL(N(1, e^0) || N(0, 1)) = 1/2; KL(N(0, e^2) || N(0, 1)) = (e^2 - 2 - 1)/2.
    let kl = kl_per_dimension(&[vec![1.0, 0.0]], &[vec![0.0, 2.0]]);
    assert!((kl[0] - 0.5).abs() < 1e-12);
    assert!((kl[1] - (2f64.exp() - 3.0) / 2.0).abs() < 1e-12);
}

#[test]
fn a_collapsed_code_carries_nothing() {
    let (mu, lv) = (vec![vec![0.0; 4]; 200], vec![vec![0.0; 4]; 200]);
    let k = decompose(&mu, &lv, 2, 0);
    for v in [
        k.index_code_mi,
        k.total_correlation,
        k.dimension_wise_kl,
        k.total_kl,
        k.monte_carlo_kl,
    ] {
        assert!(v.abs() < 1e-9, "{k:?}");
    }
}

#[test]
fn total_correlation_sees_dependence_between_latents() {
    let mut rng = Rng::seed(1);
    let n = 400;
    let lv = vec![vec![(0.1f64).ln(); 2]; n];
    let a: Vec<f64> = (0..n).map(|_| rng.next_normal()).collect();
    let b: Vec<f64> = (0..n).map(|_| rng.next_normal()).collect();
    let independent: Vec<Vec<f64>> = (0..n).map(|i| vec![a[i], b[i]]).collect();
    let correlated: Vec<Vec<f64>> = (0..n).map(|i| vec![a[i], a[i]]).collect();
    let ind = decompose(&independent, &lv, 2, 0);
    let cor = decompose(&correlated, &lv, 2, 0);
    // Two N(0, 1.1) marginals: (near) independent gives TC ~ 0 up to the finite-N bias;
    // identical coordinates share I = ½ ln(1 + 1/0.1) ~ 1.2 nats.
    assert!(ind.total_correlation.abs() < 0.15, "{ind:?}");
    assert!(cor.total_correlation > 0.8, "{cor:?}");
    // The marginals are the same in both, so the dimension-wise KL is too.
    assert!((ind.dimension_wise_kl - cor.dimension_wise_kl).abs() < 0.1);
    // The three terms sum to the Monte Carlo KL, which estimates the closed form.
    for k in [&ind, &cor] {
        let sum = k.index_code_mi + k.total_correlation + k.dimension_wise_kl;
        assert!((sum - k.monte_carlo_kl).abs() < 1e-9);
        assert!(
            (k.monte_carlo_kl - k.total_kl).abs() < 0.1 * k.total_kl,
            "{k:?}"
        );
    }
}

#[test]
fn information_is_capped_at_ln_n() {
    // Sharp, well-separated posteriors: each code identifies its example.
    let n = 64;
    let mu: Vec<Vec<f64>> = (0..n).map(|i| vec![i as f64 * 0.5 - 16.0]).collect();
    let lv = vec![vec![(1e-4f64).ln()]; n];
    let k = decompose(&mu, &lv, 1, 0);
    assert!((k.index_code_mi - (n as f64).ln()).abs() < 1e-6, "{k:?}");
}
