//! "Why is my loss oscillating, is this learning rate reasonable?" — for any [`Module`], its
//! batches and its loss, in one call: [`diagnose`].
//!
//! The science lives in [`optim::diagnose`] (spectrum, each rule's stability limit from its
//! characteristic roots, Adam's preconditioned sharpness, the probe run that tracks the
//! sharpness, the gradient noise scale, the checks by running); this module adapts a model
//! to it ([`optim::diagnose::Objective`], evaluated through [`Module::forward_with`] so the
//! model's own weights are never changed), reads a user's loss log ([`read_loss_log`]), and
//! defines the `diagnose` study ([`study`]).
//!
//! ```
//! use core_tensor::Rng;
//! use nn::{loss, Activation, Linear, Sequential};
//! use optim::diagnose::{DiagnoseOptions, OptimizerSpec, Regime};
//! use optim::Sgd;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut rng = Rng::seed(0);
//! let net = Sequential::new()
//!     .push(Linear::new(4, 16, true, &mut rng)?)
//!     .push(Activation::Tanh)
//!     .push(Linear::new(16, 3, true, &mut rng)?);
//! let xs = vec![rng.normal(&[32, 4], 0.0, 1.0), rng.normal(&[32, 4], 0.0, 1.0)];
//! let ys = vec![vec![0, 1, 2, 1].repeat(8), vec![2, 1, 0, 0].repeat(8)];
//! let opts = DiagnoseOptions { probe_steps: 40, check_steps: 40, long_steps: 80, range_steps: 30, ..Default::default() };
//! let d = nn::diagnose::diagnose(
//!     &net,
//!     &xs,
//!     |out, i| loss::cross_entropy(out, &ys[i]),
//!     &OptimizerSpec::Sgd(Sgd::new(0.1)),
//!     &opts,
//! )?;
//! println!("{}", d.verdict_text());
//! assert!(d.curvature.top[0] > 0.0 && d.limit > 19.9);
//! assert!(d.suggested_lr > 0.0);
//! # Ok(())
//! # }
//! ```

pub mod study;

use std::path::Path;

use core_tensor::Tensor;
use optim::diagnose::{DiagnoseOptions, Diagnosis, Objective, OptimizerSpec};

use crate::error::invalid;
use crate::module::Module;
use crate::Result;

/// A model, fixed input batches and a loss per batch, as optim's [`Objective`].
struct ModelObjective<'a, M: ?Sized, L> {
    model: &'a M,
    inputs: &'a [Tensor],
    loss: L,
}

impl<M, L> Objective for ModelObjective<'_, M, L>
where
    M: Module + ?Sized,
    L: Fn(&Tensor, usize) -> Result<Tensor>,
{
    fn parameters(&self) -> Vec<Tensor> {
        self.model.params()
    }

    fn batches(&self) -> usize {
        self.inputs.len()
    }

    fn batch_size(&self, i: usize) -> usize {
        self.inputs[i].shape().first().copied().unwrap_or(1)
    }

    fn batch_loss(&self, params: &[Tensor], i: usize) -> core_tensor::Result<Tensor> {
        let out = self.model.forward_with(params, &self.inputs[i])?;
        Ok((self.loss)(&out, i)?)
    }
}

/// Diagnoses training `model` with `spec` on the fixed batches `inputs` (the first axis of
/// each is its batch), `loss(output, batch_index)` the mean loss of a batch — e.g.
/// `|out, i| nn::loss::cross_entropy(out, &labels[i])`. See [`optim::diagnose`] for what is
/// measured; the model's weights are not changed.
///
/// # Errors
/// A model with no parameters, no batches, a loss that is not finite at the start, invalid
/// hyper-parameters (a learning rate ≤ 0) or options; the model's and the loss's errors.
pub fn diagnose<M, L>(
    model: &M,
    inputs: &[Tensor],
    loss: L,
    spec: &OptimizerSpec,
    opts: &DiagnoseOptions,
) -> Result<Diagnosis>
where
    M: Module + ?Sized,
    L: Fn(&Tensor, usize) -> Result<Tensor>,
{
    let obj = ModelObjective {
        model,
        inputs,
        loss,
    };
    Ok(optim::diagnose::diagnose(&obj, spec, opts)?)
}

/// The largest loss log [`read_loss_log`] reads.
pub const MAX_LOG_BYTES: u64 = 256 << 20;

/// Reads a loss history from a file: CSV with a header that has a `loss` column, JSON lines
/// with a numeric `"loss"` field, or one number per line. Blank lines and `#` comments are
/// skipped. Read it with [`optim::diagnose::analyse_history`].
///
/// # Errors
/// A file that is missing, not a regular file, over [`MAX_LOG_BYTES`], or has a line without
/// a readable loss (the line number is named); an empty log.
pub fn read_loss_log(path: &Path) -> Result<Vec<f64>> {
    let what = "read_loss_log";
    let text = lab::files::read_regular_string(path, MAX_LOG_BYTES)
        .map_err(|e| invalid(what, format!("{}: {e}", path.display())))?;
    parse_loss_log(&text).map_err(|m| invalid(what, format!("{}: {m}", path.display())))
}

/// [`read_loss_log`] on text already read.
///
/// # Errors
/// A message naming the first line without a readable loss, or an empty log.
pub fn parse_loss_log(text: &str) -> std::result::Result<Vec<f64>, String> {
    let mut column: Option<(usize, char)> = None;
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || format!("line {}: no loss value in {line:?}", n + 1);
        let value = if line.starts_with('{') {
            json_loss(line).ok_or_else(bad)?
        } else if let Some((col, sep)) = column {
            let cell = line.split(sep).nth(col).ok_or_else(bad)?;
            cell.trim().parse::<f64>().map_err(|_| bad())?
        } else if let Ok(v) = line.parse::<f64>() {
            v
        } else {
            // A CSV header: find the loss column.
            let sep = if line.contains('\t') { '\t' } else { ',' };
            let col = line
                .split(sep)
                .position(|h| h.trim().trim_matches('"').eq_ignore_ascii_case("loss"))
                .ok_or_else(|| {
                    format!("line {}: a header without a `loss` column: {line:?}", n + 1)
                })?;
            column = Some((col, sep));
            continue;
        };
        out.push(value);
    }
    if out.is_empty() {
        return Err("no loss values".into());
    }
    Ok(out)
}

/// The number after `"loss":` in a flat JSON object line.
fn json_loss(line: &str) -> Option<f64> {
    let at = line.find("\"loss\"")? + "\"loss\"".len();
    let rest = line[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
        .unwrap_or(rest.len());
    let token = &rest[..end];
    if token.is_empty() {
        // JSON has no NaN or infinity; a logger that writes them quoted is read as such.
        let quoted = rest.strip_prefix('"')?;
        let word = &quoted[..quoted.find('"')?];
        return word.parse::<f64>().ok();
    }
    token.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_logs_in_three_formats_read_the_same() {
        let want = vec![2.3, 1.5, 0.9];
        assert_eq!(parse_loss_log("2.3\n1.5\n\n# note\n0.9\n").unwrap(), want);
        assert_eq!(
            parse_loss_log("step,loss,lr\n0,2.3,0.1\n1,1.5,0.1\n2,0.9,0.1\n").unwrap(),
            want
        );
        let jsonl = "{\"step\": 0, \"loss\": 2.3}\n{\"loss\":1.5,\"step\":1}\n{\"step\":2, \"loss\" : 9e-1}\n";
        assert_eq!(parse_loss_log(jsonl).unwrap(), want);
        assert!(parse_loss_log("{\"loss\": \"NaN\"}").unwrap()[0].is_nan());
    }

    #[test]
    fn a_bad_log_names_its_line() {
        let e = parse_loss_log("step,acc\n0,0.5\n").unwrap_err();
        assert!(e.contains("line 1") && e.contains("loss"), "{e}");
        let e = parse_loss_log("1.0\n0.5\nabc\n").unwrap_err();
        assert!(e.contains("line 3"), "{e}");
        let e = parse_loss_log("{\"step\": 3}\n").unwrap_err();
        assert!(e.contains("line 1"), "{e}");
        assert!(parse_loss_log("\n# empty\n").is_err());
        let dir = std::env::temp_dir();
        assert!(read_loss_log(&dir)
            .unwrap_err()
            .to_string()
            .contains("not a regular file"));
    }
}
