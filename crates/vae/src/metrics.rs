//! Disentanglement metrics, each a function of a *representation* — a map from ground-truth
//! factor indices to latent codes (for a VAE: render the factors' image, take the encoder's
//! mean) — so that each can be tested on constructed codes whose answer is known.
//!
//! * [`active_units`] — dimensions whose posterior mean varies across the data:
//!   `A_d = Cov_x(E_q[z_d | x]) > 0.01` (Burda et al. 2016).
//! * [`mig`] — the Mutual Information Gap (Chen et al. 2018): for each factor `v_k`, the gap
//!   between the two latents most informative about it, normalised by its entropy,
//!   `MIG = 1/K Σ_k (I(z_(1); v_k) − I(z_(2); v_k)) / H(v_k)`, with each latent discretised
//!   into equal-width bins over its range (disentanglement_lib: 20 bins, 10,000 points).
//! * [`beta_vae_score`] — Higgins et al. (2017): pick a factor, draw `L` pairs that share it,
//!   average `|z₁ − z₂|`; a linear (softmax) classifier predicts the factor from that vector;
//!   the score is its accuracy on held-out points (disentanglement_lib: `L` = 64, 10,000
//!   training and 5,000 evaluation points, sklearn's logistic regression with `C` = 1).
//! * [`factor_vae_score`] — Kim & Mnih (2018): codes divided by their global standard
//!   deviation; pick a factor, draw `L` points sharing it, vote for the latent of least
//!   variance; a majority-vote classifier maps latents to factors; the score is its accuracy
//!   (disentanglement_lib: `L` = 64, 10,000 / 5,000 points, 10,000 for the global variances,
//!   latents of zero variance pruned).
//!
//! All are seeded: the same representation and seed give the same score.

use core_tensor::Rng;

/// A representation: factor-index tuples in, one latent code per tuple out.
pub type Representation<'a> = dyn Fn(&[Vec<usize>]) -> Vec<Vec<f64>> + 'a;

/// `n` factor tuples drawn uniformly from the grid `sizes`.
pub fn sample_factors(sizes: &[usize], n: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
    (0..n)
        .map(|_| sizes.iter().map(|&s| rng.below(s)).collect())
        .collect()
}

/// Per-dimension variance of the codes (population variance) and the number of dimensions
/// above `threshold` (0.01 in the literature).
pub fn active_units(codes: &[Vec<f64>], threshold: f64) -> (usize, Vec<f64>) {
    let var = variances(codes, 0);
    (var.iter().filter(|&&v| v > threshold).count(), var)
}

fn variances(codes: &[Vec<f64>], ddof: usize) -> Vec<f64> {
    let d = codes.first().map_or(0, Vec::len);
    let n = codes.len() as f64;
    (0..d)
        .map(|j| {
            let mean = codes.iter().map(|c| c[j]).sum::<f64>() / n;
            codes.iter().map(|c| (c[j] - mean).powi(2)).sum::<f64>() / (n - ddof as f64)
        })
        .collect()
}

/// Bins each value into one of `bins` equal-width bins over `[min, max]` of its column.
fn discretise(codes: &[Vec<f64>], bins: usize) -> Vec<Vec<usize>> {
    let d = codes.first().map_or(0, Vec::len);
    let ranges: Vec<(f64, f64)> = (0..d)
        .map(|j| {
            codes
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), c| {
                    (lo.min(c[j]), hi.max(c[j]))
                })
        })
        .collect();
    codes
        .iter()
        .map(|c| {
            c.iter()
                .zip(&ranges)
                .map(|(&v, &(lo, hi))| {
                    if hi > lo {
                        (((v - lo) / (hi - lo) * bins as f64) as usize).min(bins - 1)
                    } else {
                        0
                    }
                })
                .collect()
        })
        .collect()
}

/// Mutual information (nats) between two discrete variables given as paired labels.
pub fn discrete_mutual_information(a: &[usize], b: &[usize]) -> f64 {
    let n = a.len() as f64;
    let (na, nb) = (
        a.iter().max().map_or(0, |m| m + 1),
        b.iter().max().map_or(0, |m| m + 1),
    );
    let mut joint = vec![0.0; na * nb];
    let (mut pa, mut pb) = (vec![0.0; na], vec![0.0; nb]);
    for (&x, &y) in a.iter().zip(b) {
        joint[x * nb + y] += 1.0;
        pa[x] += 1.0;
        pb[y] += 1.0;
    }
    let mut mi = 0.0;
    for x in 0..na {
        for y in 0..nb {
            let j = joint[x * nb + y];
            if j > 0.0 {
                mi += j / n * (j * n / (pa[x] * pb[y])).ln();
            }
        }
    }
    mi
}

/// Entropy (nats) of a discrete variable given as labels.
pub fn discrete_entropy(a: &[usize]) -> f64 {
    let n = a.len() as f64;
    let mut counts = vec![0.0; a.iter().max().map_or(0, |m| m + 1)];
    for &x in a {
        counts[x] += 1.0;
    }
    -counts
        .iter()
        .filter(|&&c| c > 0.0)
        .map(|&c| c / n * (c / n).ln())
        .sum::<f64>()
}

/// The Mutual Information Gap and what it is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Mig {
    /// The mean normalised gap over factors, in `[0, 1]`.
    pub score: f64,
    /// The normalised gap of each factor.
    pub per_factor: Vec<f64>,
    /// `mutual_information[j][k] = I(z_j; v_k)` in nats.
    pub mutual_information: Vec<Vec<f64>>,
}

/// MIG of `repr` over `n` uniformly drawn factor tuples, latents discretised into `bins`.
pub fn mig(sizes: &[usize], repr: &Representation<'_>, n: usize, bins: usize, seed: u64) -> Mig {
    let mut rng = Rng::seed(seed);
    let factors = sample_factors(sizes, n, &mut rng);
    let codes = discretise(&repr(&factors), bins);
    let d = codes.first().map_or(0, Vec::len);
    let column = |rows: &[Vec<usize>], j: usize| rows.iter().map(|r| r[j]).collect::<Vec<_>>();
    let mutual_information: Vec<Vec<f64>> = (0..d)
        .map(|j| {
            (0..sizes.len())
                .map(|k| discrete_mutual_information(&column(&codes, j), &column(&factors, k)))
                .collect()
        })
        .collect();
    let per_factor: Vec<f64> = (0..sizes.len())
        .map(|k| {
            let mut m: Vec<f64> = mutual_information.iter().map(|row| row[k]).collect();
            m.sort_by(|a, b| b.total_cmp(a));
            let h = discrete_entropy(&column(&factors, k));
            let gap = m.first().copied().unwrap_or(0.0) - m.get(1).copied().unwrap_or(0.0);
            if h > 0.0 {
                gap / h
            } else {
                0.0
            }
        })
        .collect();
    Mig {
        score: per_factor.iter().sum::<f64>() / per_factor.len() as f64,
        per_factor,
        mutual_information,
    }
}

/// A classifier's accuracy on the points it was trained on and on held-out points.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Score {
    /// Accuracy on the training points.
    pub train: f64,
    /// Accuracy on the evaluation points (the metric).
    pub eval: f64,
}

/// The β-VAE metric: `batch` pairs per point, `n_train` and `n_eval` points.
pub fn beta_vae_score(
    sizes: &[usize],
    repr: &Representation<'_>,
    batch: usize,
    n_train: usize,
    n_eval: usize,
    seed: u64,
) -> Score {
    let mut rng = Rng::seed(seed);
    let mut points = |n: usize| -> (Vec<Vec<f64>>, Vec<usize>) {
        (0..n)
            .map(|_| {
                let k = rng.below(sizes.len());
                let a = sample_factors(sizes, batch, &mut rng);
                let mut b = sample_factors(sizes, batch, &mut rng);
                for (x, y) in a.iter().zip(&mut b) {
                    y[k] = x[k];
                }
                let (za, zb) = (repr(&a), repr(&b));
                let d = za[0].len();
                let feature = (0..d)
                    .map(|j| {
                        za.iter()
                            .zip(&zb)
                            .map(|(p, q)| (p[j] - q[j]).abs())
                            .sum::<f64>()
                            / batch as f64
                    })
                    .collect();
                (feature, k)
            })
            .unzip()
    };
    let (xt, yt) = points(n_train);
    let (xe, ye) = points(n_eval);
    let model = SoftmaxRegression::fit(&xt, &yt, sizes.len(), 1.0);
    Score {
        train: model.accuracy(&xt, &yt),
        eval: model.accuracy(&xe, &ye),
    }
}

/// The FactorVAE metric: `batch` points per vote, `n_train` and `n_eval` votes, `n_variance`
/// points for the global variances.
pub fn factor_vae_score(
    sizes: &[usize],
    repr: &Representation<'_>,
    batch: usize,
    n_train: usize,
    n_eval: usize,
    n_variance: usize,
    seed: u64,
) -> Score {
    let mut rng = Rng::seed(seed);
    let global = variances(&repr(&sample_factors(sizes, n_variance, &mut rng)), 1);
    let active: Vec<usize> = (0..global.len()).filter(|&j| global[j] > 0.0).collect();
    if active.is_empty() {
        return Score {
            train: 0.0,
            eval: 0.0,
        };
    }
    let mut votes = |n: usize| -> Vec<Vec<f64>> {
        let mut v = vec![vec![0.0; sizes.len()]; active.len()];
        for _ in 0..n {
            let k = rng.below(sizes.len());
            let mut f = sample_factors(sizes, batch, &mut rng);
            let fixed = f[0][k];
            f.iter_mut().for_each(|row| row[k] = fixed);
            let local = variances(&repr(&f), 1);
            let (best, _) = active
                .iter()
                .enumerate()
                .map(|(i, &j)| (i, local[j] / global[j]))
                .fold((0, f64::INFINITY), |b, c| if c.1 < b.1 { c } else { b });
            v[best][k] += 1.0;
        }
        v
    };
    let (train, eval) = (votes(n_train), votes(n_eval));
    // Majority vote: each latent predicts the factor it most often won for.
    let classifier: Vec<usize> = train.iter().map(|row| argmax(row)).collect();
    let accuracy = |v: &[Vec<f64>]| {
        let total: f64 = v.iter().flatten().sum();
        v.iter()
            .zip(&classifier)
            .map(|(row, &k)| row[k])
            .sum::<f64>()
            / total
    };
    Score {
        train: accuracy(&train),
        eval: accuracy(&eval),
    }
}

fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .fold(
            (0, f64::NEG_INFINITY),
            |b, (i, &x)| if x > b.1 { (i, x) } else { b },
        )
        .0
}

/// Multinomial logistic regression `p(k | x) = softmax(W x + b)_k`, fitted by full-batch
/// gradient descent with Adam on `mean CE + ‖W‖² / (2 C n)` — sklearn's objective
/// (`C Σ CE + ‖W‖²/2`) divided by `C n`.
struct SoftmaxRegression {
    w: Vec<Vec<f64>>,
    b: Vec<f64>,
}

impl SoftmaxRegression {
    fn fit(x: &[Vec<f64>], y: &[usize], classes: usize, c: f64) -> SoftmaxRegression {
        let d = x.first().map_or(0, Vec::len);
        let n = x.len() as f64;
        let mut m = SoftmaxRegression {
            w: vec![vec![0.0; d]; classes],
            b: vec![0.0; classes],
        };
        let lambda = 1.0 / (c * n);
        let (lr, b1, b2, eps) = (0.05, 0.9, 0.999, 1e-8);
        let size = classes * (d + 1);
        let (mut m1, mut m2) = (vec![0.0; size], vec![0.0; size]);
        for t in 1..=500 {
            let mut g = vec![0.0; size];
            for (xi, &yi) in x.iter().zip(y) {
                let p = m.probabilities(xi);
                for k in 0..classes {
                    let e = (p[k] - f64::from(u8::from(k == yi))) / n;
                    for j in 0..d {
                        g[k * (d + 1) + j] += e * xi[j];
                    }
                    g[k * (d + 1) + d] += e;
                }
            }
            for k in 0..classes {
                for j in 0..d {
                    g[k * (d + 1) + j] += lambda * m.w[k][j];
                }
            }
            for (i, gi) in g.iter().enumerate() {
                m1[i] = b1 * m1[i] + (1.0 - b1) * gi;
                m2[i] = b2 * m2[i] + (1.0 - b2) * gi * gi;
                let step =
                    lr * (m1[i] / (1.0 - b1.powi(t))) / ((m2[i] / (1.0 - b2.powi(t))).sqrt() + eps);
                let (k, j) = (i / (d + 1), i % (d + 1));
                if j == d {
                    m.b[k] -= step;
                } else {
                    m.w[k][j] -= step;
                }
            }
        }
        m
    }

    fn probabilities(&self, x: &[f64]) -> Vec<f64> {
        let logits: Vec<f64> = self
            .w
            .iter()
            .zip(&self.b)
            .map(|(w, b)| w.iter().zip(x).map(|(a, v)| a * v).sum::<f64>() + b)
            .collect();
        let top = logits.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let e: Vec<f64> = logits.iter().map(|l| (l - top).exp()).collect();
        let s: f64 = e.iter().sum();
        e.into_iter().map(|v| v / s).collect()
    }

    fn accuracy(&self, x: &[Vec<f64>], y: &[usize]) -> f64 {
        let hits = x
            .iter()
            .zip(y)
            .filter(|(xi, &yi)| argmax(&self.probabilities(xi)) == yi)
            .count();
        hits as f64 / x.len() as f64
    }
}
