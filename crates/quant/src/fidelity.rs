//! How close one set of sentence embeddings is to another (INT8 against FP32): per-sentence
//! cosine and L2 distance, and whether retrieval over the set still finds the same
//! neighbours.
//!
//! **Cosine and L2.** For unit vectors `a`, `b`: `|a - b|^2 = 2 - 2 cos(a, b)`, so the two
//! rank pairs identically and either can be computed from the other; [`compare`] measures
//! how far the stored embeddings are from that identity (`identity_error`), which is zero up
//! to rounding when both sides are normalised. They disagree only for vectors of unequal
//! norms: scaling `b` by `s` leaves the cosine alone while L2 grows with `|s - 1|`. That is
//! why cosine is the right check for a model whose consumers compare directions (a
//! `Normalize` module, cosine-similarity search), and why it is *not* a complete check for
//! un-normalised outputs, where a quantisation error that shrinks every vector would be
//! invisible to cosine and visible to L2.
//!
//! **Retrieval.** The neighbours of sentence `i` are the others ranked by cosine similarity;
//! `top1_agreement` is the fraction of sentences whose nearest neighbour is the same under
//! both sets, `top5_overlap` the mean fraction shared by the two top-5 sets. Whether a
//! neighbour flips depends on the error *and* on how close the runner-up was (the margin
//! between the reference's first and second similarity); [`Fidelity::margin`] keeps that
//! margin per sentence so the two explanations can be compared.

use serde::{Deserialize, Serialize};

/// Per-sentence and summary comparisons of `other` against `reference`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fidelity {
    /// Cosine similarity per sentence.
    pub cosine: Vec<f64>,
    /// L2 distance per sentence.
    pub l2: Vec<f64>,
    /// Per sentence: the fraction of its reference top-5 neighbours that `other` also ranks
    /// in its top 5.
    pub top5: Vec<f64>,
    /// Per sentence: whether its nearest neighbour is the same.
    pub top1: Vec<bool>,
    /// Per sentence: reference similarity to its nearest minus to its second neighbour.
    pub margin: Vec<f64>,
    /// The largest `| |a - b| - sqrt(2 - 2 cos) |` (0 up to rounding for unit vectors).
    pub identity_error: f64,
}

impl Fidelity {
    /// Mean cosine.
    pub fn mean_cosine(&self) -> f64 {
        mean(&self.cosine)
    }

    /// Smallest cosine.
    pub fn min_cosine(&self) -> f64 {
        self.cosine.iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// Mean L2 distance.
    pub fn mean_l2(&self) -> f64 {
        mean(&self.l2)
    }

    /// Largest L2 distance.
    pub fn max_l2(&self) -> f64 {
        self.l2.iter().copied().fold(0.0, f64::max)
    }

    /// Fraction of sentences whose nearest neighbour agrees.
    pub fn top1_agreement(&self) -> f64 {
        self.top1.iter().filter(|&&b| b).count() as f64 / self.top1.len().max(1) as f64
    }

    /// Mean top-5 overlap.
    pub fn top5_overlap(&self) -> f64 {
        mean(&self.top5)
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

/// Cosine similarity (in f64).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt()).max(f64::MIN_POSITIVE)
}

/// For each vector, the indices of the `k` others most similar by cosine, best first (ties
/// by lower index).
pub fn neighbours(embeddings: &[Vec<f32>], k: usize) -> Vec<Vec<usize>> {
    let sims = similarities(embeddings);
    (0..embeddings.len())
        .map(|i| top_k(&sims[i], i, k))
        .collect()
}

fn similarities(e: &[Vec<f32>]) -> Vec<Vec<f64>> {
    let norms: Vec<f64> = e
        .iter()
        .map(|v| dot(v, v).sqrt().max(f64::MIN_POSITIVE))
        .collect();
    (0..e.len())
        .map(|i| {
            (0..e.len())
                .map(|j| dot(&e[i], &e[j]) / (norms[i] * norms[j]))
                .collect()
        })
        .collect()
}

fn top_k(sims: &[f64], me: usize, k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..sims.len()).filter(|&j| j != me).collect();
    idx.sort_by(|&a, &b| sims[b].total_cmp(&sims[a]).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

/// Compares `other` with `reference`, sentence by sentence (same order, same width).
///
/// # Panics
/// When the two sets differ in length.
pub fn compare(reference: &[Vec<f32>], other: &[Vec<f32>]) -> Fidelity {
    assert_eq!(
        reference.len(),
        other.len(),
        "compare: sets of different sizes"
    );
    let cos: Vec<f64> = reference
        .iter()
        .zip(other)
        .map(|(a, b)| cosine(a, b))
        .collect();
    let l2: Vec<f64> = reference
        .iter()
        .zip(other)
        .map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    let identity_error = cos
        .iter()
        .zip(&l2)
        .map(|(c, d)| (d - (2.0 - 2.0 * c).max(0.0).sqrt()).abs())
        .fold(0.0, f64::max);
    let (sr, so) = (similarities(reference), similarities(other));
    let n = reference.len();
    let mut top1 = Vec::with_capacity(n);
    let mut top5 = Vec::with_capacity(n);
    let mut margin = Vec::with_capacity(n);
    for i in 0..n {
        let (r, o) = (top_k(&sr[i], i, 5), top_k(&so[i], i, 5));
        top1.push(r.first() == o.first());
        top5.push(r.iter().filter(|j| o.contains(j)).count() as f64 / r.len().max(1) as f64);
        margin.push(match (r.first(), r.get(1)) {
            (Some(&a), Some(&b)) => sr[i][a] - sr[i][b],
            _ => f64::NAN,
        });
    }
    Fidelity {
        cosine: cos,
        l2,
        top5,
        top1,
        margin,
        identity_error,
    }
}

/// Spearman's rank correlation of two samples (average ranks for ties); NaN when either is
/// constant or they have fewer than two points.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len(), "spearman: samples of different sizes");
    let (rx, ry) = (ranks(x), ranks(y));
    pearson(&rx, &ry)
}

/// Pearson's correlation; NaN when either sample is constant.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    if x.len() < 2 {
        return f64::NAN;
    }
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    if sxx == 0.0 || syy == 0.0 {
        return f64::NAN;
    }
    sxy / (sxx * syy).sqrt()
}

/// Ranks from 1, ties sharing their average rank.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Counts of `values` in `bins` equal bins over `[lo, hi]` (values outside go to the end
/// bins).
pub fn histogram(values: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<usize> {
    let mut h = vec![0; bins.max(1)];
    for &v in values {
        let t = ((v - lo) / (hi - lo) * bins as f64).floor();
        let b = if t.is_nan() {
            0
        } else {
            t.clamp(0.0, bins as f64 - 1.0) as usize
        };
        h[b] += 1;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn identical_sets_agree_completely() {
        let e: Vec<Vec<f32>> = (0..8)
            .map(|i| unit(&[i as f32, 1.0, (i * i) as f32 * 0.1, -1.0]))
            .collect();
        let f = compare(&e, &e);
        assert!((f.mean_cosine() - 1.0).abs() < 1e-12);
        assert_eq!(f.max_l2(), 0.0);
        assert_eq!(f.top1_agreement(), 1.0);
        assert_eq!(f.top5_overlap(), 1.0);
        assert!(f.identity_error < 1e-6);
    }

    #[test]
    fn l2_and_cosine_agree_for_unit_vectors_and_not_for_scaled_ones() {
        let a = vec![unit(&[1.0, 0.0, 0.0]), unit(&[0.0, 1.0, 0.0])];
        let b = vec![unit(&[1.0, 1.0, 0.0]), unit(&[0.0, 1.0, 0.0])];
        let f = compare(&a, &b);
        // cos 45 degrees; |a - b| = sqrt(2 - sqrt 2).
        assert!((f.cosine[0] - 0.5f64.sqrt()).abs() < 1e-7);
        assert!((f.l2[0] - (2.0 - 2f64.sqrt()).sqrt()).abs() < 1e-7);
        assert!(f.identity_error < 1e-6);
        // Halving a vector: cosine 1, L2 0.5.
        let c = vec![a[0].iter().map(|x| x * 0.5).collect(), a[1].clone()];
        let g = compare(&a, &c);
        assert!((g.cosine[0] - 1.0).abs() < 1e-12);
        assert!((g.l2[0] - 0.5).abs() < 1e-7);
        assert!((g.identity_error - 0.5).abs() < 1e-6);
    }

    #[test]
    fn a_swapped_neighbour_is_counted() {
        // 0's neighbours: 1 (closest), then 2; in `other` 2 moves closer than 1.
        let r = vec![
            unit(&[1.0, 0.0]),
            unit(&[0.9, 0.1]),
            unit(&[0.8, 0.3]),
            unit(&[0.0, 1.0]),
        ];
        let mut o = r.clone();
        o[2] = unit(&[0.95, 0.02]);
        let f = compare(&r, &o);
        assert!(!f.top1[0]);
        assert!(f.margin[0] > 0.0);
        assert_eq!(neighbours(&r, 2)[0], vec![1, 2]);
        assert_eq!(neighbours(&o, 2)[0], vec![2, 1]);
    }

    #[test]
    fn spearman_by_hand() {
        assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 1.0, 0.0]) + 1.0).abs() < 1e-12);
        // x ranks 1 2 3 4, y ranks 1 3 2 4: 1 - 6 * 2 / (4 * 15) = 0.8.
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[1.0, 5.0, 3.0, 9.0]) - 0.8).abs() < 1e-12);
        // Ties share ranks: y = (1, 1, 2) has ranks (1.5, 1.5, 3).
        let s = spearman(&[1.0, 2.0, 3.0], &[1.0, 1.0, 2.0]);
        assert!((s - pearson(&[1.0, 2.0, 3.0], &[1.5, 1.5, 3.0])).abs() < 1e-12);
        assert!(spearman(&[1.0, 1.0], &[1.0, 2.0]).is_nan());
    }

    #[test]
    fn histogram_counts_and_clamps() {
        let h = histogram(&[0.0, 0.1, 0.5, 0.99, 1.0, 2.0, -1.0], 0.0, 1.0, 4);
        assert_eq!(h, vec![3, 0, 1, 3]);
    }
}
