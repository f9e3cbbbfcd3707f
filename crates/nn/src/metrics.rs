//! Classification metrics: accuracy, the confusion matrix and per-class accuracy.

use core_tensor::Tensor;

use crate::error::{invalid, Result};

/// The arg-max class of each row of `[N, C]` scores (the first maximum on ties).
///
/// # Errors
/// [`NnError::Invalid`](crate::NnError::Invalid) for a tensor that is not `[N, C]`.
pub fn predictions(scores: &Tensor) -> Result<Vec<usize>> {
    let s = scores.shape();
    if s.len() != 2 || s[1] == 0 {
        return Err(invalid(
            "predictions",
            format!("expects scores of shape [batch, classes >= 1], got {s:?}"),
        ));
    }
    let v = scores.to_vec();
    Ok(v.chunks_exact(s[1])
        .map(|row| {
            row.iter()
                .enumerate()
                .fold(0, |best, (i, &x)| if x > row[best] { i } else { best })
        })
        .collect())
}

/// Fraction of correct predictions.
///
/// # Errors
/// As [`predictions`], or when the target count differs.
pub fn accuracy(scores: &Tensor, targets: &[usize]) -> Result<f64> {
    let p = predictions(scores)?;
    if p.len() != targets.len() || p.is_empty() {
        return Err(invalid(
            "accuracy",
            format!("{} predictions for {} targets", p.len(), targets.len()),
        ));
    }
    Ok(p.iter().zip(targets).filter(|(a, b)| a == b).count() as f64 / p.len() as f64)
}

/// `m[true][predicted]` counts over `classes` classes.
///
/// # Errors
/// When the lengths differ or a class is out of range.
pub fn confusion_matrix(
    predicted: &[usize],
    targets: &[usize],
    classes: usize,
) -> Result<Vec<Vec<usize>>> {
    if predicted.len() != targets.len() {
        return Err(invalid(
            "confusion_matrix",
            format!(
                "{} predictions for {} targets",
                predicted.len(),
                targets.len()
            ),
        ));
    }
    let mut m = vec![vec![0usize; classes]; classes];
    for (&p, &t) in predicted.iter().zip(targets) {
        if p >= classes || t >= classes {
            return Err(invalid(
                "confusion_matrix",
                format!("class {} out of range for {classes} classes", p.max(t)),
            ));
        }
        m[t][p] += 1;
    }
    Ok(m)
}

/// Accuracy within each true class (NaN for a class with no examples).
pub fn per_class_accuracy(confusion: &[Vec<usize>]) -> Vec<f64> {
    confusion
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let total: usize = row.iter().sum();
            if total == 0 {
                f64::NAN
            } else {
                row[i] as f64 / total as f64
            }
        })
        .collect()
}
