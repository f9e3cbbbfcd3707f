//! Losses, each the mean over the batch (PyTorch's `reduction = "mean"`), written with
//! core-tensor ops so their gradients (and second derivatives) come from autodiff.
//!
//! * cross-entropy with optional label smoothing `eps` over `C` classes:
//!   `L = -(1/N) sum_n sum_c q_nc log_softmax(z_n)_c`, `q = (1 - eps) onehot(y) + eps / C`;
//!   fused with the stable log-softmax, so logits of +-1e4 give finite losses and gradients.
//! * NLL: `-(1/N) sum_n logp[n, y_n]`.
//! * MSE: `(1/numel) sum (p - t)^2`.
//! * BCE with logits: `mean(softplus(z) - z t)` — equal to `-t log s(z) - (1-t) log(1-s(z))`
//!   and stable for any `z`.
//! * Gaussian NLL (PyTorch, `full = false`): `mean(0.5 (log v + (t - mu)^2 / v))`,
//!   `v = max(var, eps)`.

use core_tensor::ndarray::{ArrayD, IxDyn};
use core_tensor::Tensor;

use crate::error::{invalid, Result};

fn check_targets(what: &'static str, logits: &Tensor, targets: &[usize]) -> Result<(usize, usize)> {
    let s = logits.shape();
    if s.len() != 2 {
        return Err(invalid(
            what,
            format!("expects logits of shape [batch, classes], got {s:?}"),
        ));
    }
    if targets.len() != s[0] {
        return Err(invalid(
            what,
            format!(
                "{} targets for a batch of {} (logits {s:?})",
                targets.len(),
                s[0]
            ),
        ));
    }
    if let Some(&t) = targets.iter().find(|&&t| t >= s[1]) {
        return Err(invalid(
            what,
            format!("target {t} out of range for {} classes", s[1]),
        ));
    }
    Ok((s[0], s[1]))
}

/// Softmax cross-entropy of `logits` (`[N, C]`) against class indices, averaged over the
/// batch: `mean_i [logsumexp(z_i) - z_i[y_i]]` (fused with log-softmax, stable for any
/// logits). [`cross_entropy_smoothed`] adds label smoothing.
///
/// # Errors
/// [`NnError::Invalid`](crate::NnError::Invalid) for a shape/target mismatch.
pub fn cross_entropy(logits: &Tensor, targets: &[usize]) -> Result<Tensor> {
    cross_entropy_smoothed(logits, targets, 0.0)
}

/// Cross-entropy against targets smoothed towards uniform: the true class gets
/// `1 - eps + eps/C`, every other `eps/C` (PyTorch's `label_smoothing`), `eps` in `[0, 1)`.
///
/// # Errors
/// [`NnError::Invalid`](crate::NnError::Invalid) for a shape/target mismatch or `eps` outside
/// `[0, 1)`.
pub fn cross_entropy_smoothed(
    logits: &Tensor,
    targets: &[usize],
    label_smoothing: f32,
) -> Result<Tensor> {
    let (n, c) = check_targets("cross_entropy", logits, targets)?;
    if !(0.0..1.0).contains(&label_smoothing) {
        return Err(invalid(
            "cross_entropy",
            format!("label_smoothing must be in [0, 1), got {label_smoothing}"),
        ));
    }
    let off = label_smoothing / c as f32;
    let mut q = vec![off; n * c];
    for (i, &t) in targets.iter().enumerate() {
        q[i * c + t] += 1.0 - label_smoothing;
    }
    let q = Tensor::from_vec(q, &[n, c])?;
    Ok(logits
        .log_softmax(-1)?
        .mul(&q)?
        .sum_all()?
        .mul_scalar(-1.0 / n as f32))
}

/// Negative log-likelihood of log-probabilities (`[N, C]`) at the targets.
///
/// # Errors
/// As [`cross_entropy`].
pub fn nll_loss(log_probs: &Tensor, targets: &[usize]) -> Result<Tensor> {
    let (n, _) = check_targets("nll_loss", log_probs, targets)?;
    let idx = ArrayD::from_shape_vec(IxDyn(&[n, 1]), targets.to_vec()).expect("n targets");
    Ok(log_probs.gather(1, &idx)?.mean_all()?.neg())
}

/// Mean squared error.
///
/// # Errors
/// A shape error when `pred` and `target` differ in shape.
pub fn mse(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    if pred.shape() != target.shape() {
        return Err(invalid(
            "mse",
            format!(
                "prediction {:?} and target {:?} differ",
                pred.shape(),
                target.shape()
            ),
        ));
    }
    Ok(pred.sub(target)?.square().mean_all()?)
}

/// Mean binary cross-entropy on logits, stable for any logit: one fused op
/// ([`Tensor::bce_with_logits`]), `mean(max(x, 0) − x t + ln(1 + e^−|x|))`, gradient
/// `(σ(x) − t) / n`.
///
/// # Errors
/// A shape error when `logits` and `targets` differ in shape.
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    if logits.shape() != targets.shape() {
        return Err(invalid(
            "bce_with_logits",
            format!(
                "logits {:?} and targets {:?} differ",
                logits.shape(),
                targets.shape()
            ),
        ));
    }
    Ok(logits.bce_with_logits(targets)?)
}

/// Gaussian negative log-likelihood (without the constant): `mean(0.5 (log v + (t - mu)^2 / v))`
/// with `v = max(var, eps)`.
///
/// # Errors
/// A shape error when the three tensors differ in shape, or `eps <= 0`.
pub fn gaussian_nll(mean: &Tensor, target: &Tensor, var: &Tensor, eps: f32) -> Result<Tensor> {
    if mean.shape() != target.shape() || var.shape() != mean.shape() {
        return Err(invalid(
            "gaussian_nll",
            format!(
                "mean {:?}, target {:?} and var {:?} must share a shape",
                mean.shape(),
                target.shape(),
                var.shape()
            ),
        ));
    }
    if eps <= 0.0 {
        return Err(invalid(
            "gaussian_nll",
            format!("eps must be > 0, got {eps}"),
        ));
    }
    let v = var.maximum(&Tensor::scalar(eps))?;
    let sq = target.sub(mean)?.square().div(&v)?;
    Ok(v.log().add(&sq)?.mul_scalar(0.5).mean_all()?)
}
