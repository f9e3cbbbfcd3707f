//! The optimizer machinery shared by every update rule.
//!
//! An [`UpdateRule`] is the math of one optimizer as a pure function of (parameter, gradient,
//! per-parameter buffers, step count), applied in **one fused pass** over each parameter's
//! buffers — no temporary tensors per step. [`Optim`] wraps a rule with the bookkeeping: the
//! step counter, lazily allocated buffers, and saving/restoring that state ([`OptimizerState`])
//! so a run can resume exactly. [`Optimizer`] is the object-safe trait users hold.

use core_tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{check, OptimError, Result};

/// One optimizer's update, as a pure function on flat buffers.
///
/// The update must be elementwise — element `i` of the result depends only on element `i`
/// of the parameter, the gradient and each buffer — because [`Optim`] applies it to slices of
/// a large parameter on several threads at once (results are bit-identical for any thread
/// count: each element is computed the same way wherever its slice runs).
pub trait UpdateRule: Send + Sync {
    /// Short name (`"adam"`), used in saved state and messages.
    fn name(&self) -> &'static str;

    /// Names of the per-parameter buffers this rule keeps (`["exp_avg", "exp_avg_sq"]`).
    fn buffers(&self) -> &'static [&'static str];

    /// Checks the hyper-parameters other than the learning rate, which [`Optim::new`] checks
    /// (`lr > 0`, finite) for every rule.
    ///
    /// # Errors
    /// [`OptimError::InvalidParameter`] naming the first invalid one.
    fn validate(&self) -> Result<()>;

    /// Updates `param` in place given `grad` at learning rate `lr` (the optimizer's current
    /// rate: the rule itself keeps none, so schedules change it in one place); `step` counts
    /// from 1; `buffers` holds one zero-initialised vector per name in
    /// [`UpdateRule::buffers`], each of `param.len()` (`param` may be a slice of a larger
    /// parameter, with the matching slices of its gradient and buffers).
    fn update(
        &self,
        lr: f32,
        step: u64,
        param: &mut [f32],
        grad: &[f32],
        buffers: &mut [&mut [f32]],
    );
}

/// Elements per slice when a parameter's update is spread over threads (a large parameter,
/// such as a 4096 x 1200 weight, is memory-bound: one thread cannot saturate the bandwidth).
const UPDATE_SLICE: usize = 1 << 15;

/// `rule.update` over `w`, in slices of [`UPDATE_SLICE`] on the current rayon pool when the
/// parameter spans several slices and the pool has more than one thread.
fn update_in_slices<R: UpdateRule>(
    rule: &R,
    lr: f32,
    step: u64,
    w: &mut [f32],
    g: &[f32],
    bufs: &mut [Vec<f32>],
) {
    use rayon::prelude::*;
    if w.len() < 2 * UPDATE_SLICE || rayon::current_num_threads() < 2 {
        let mut b: Vec<&mut [f32]> = bufs.iter_mut().map(Vec::as_mut_slice).collect();
        rule.update(lr, step, w, g, &mut b);
        return;
    }
    let mut buf_slices: Vec<_> = bufs
        .iter_mut()
        .map(|b| b.chunks_mut(UPDATE_SLICE))
        .collect();
    /// A slice of the parameter, of its gradient and of each buffer.
    type Task<'a> = (&'a mut [f32], &'a [f32], Vec<&'a mut [f32]>);
    let tasks: Vec<Task<'_>> = w
        .chunks_mut(UPDATE_SLICE)
        .zip(g.chunks(UPDATE_SLICE))
        .map(|(ws, gs)| {
            let bs = buf_slices
                .iter_mut()
                .map(|it| it.next().expect("buffers have the parameter's length"))
                .collect();
            (ws, gs, bs)
        })
        .collect();
    tasks
        .into_par_iter()
        .for_each(|(ws, gs, mut bs)| rule.update(lr, step, ws, gs, &mut bs));
}

/// An optimizer over a list of parameters.
pub trait Optimizer: Send {
    /// Short name of the rule.
    fn name(&self) -> &'static str;

    /// Applies one update to every parameter that has a gradient (parameters whose `grad()`
    /// is `None` are skipped, as in PyTorch). Does not clear the gradients.
    ///
    /// # Errors
    /// [`OptimError::StateMismatch`] when `params` differs in count or sizes from the
    /// parameters this optimizer has state for.
    fn step(&mut self, params: &[Tensor]) -> Result<()>;

    /// The current learning rate.
    fn lr(&self) -> f32;

    /// Sets the learning rate.
    fn set_lr(&mut self, lr: f32);

    /// Number of steps taken.
    fn steps(&self) -> u64;

    /// A copy of the optimizer state (for checkpoints and resume).
    fn state(&self) -> OptimizerState;

    /// Restores a state saved by [`Optimizer::state`].
    ///
    /// # Errors
    /// [`OptimError::StateMismatch`] when the state belongs to another rule or buffer layout.
    fn load_state(&mut self, state: OptimizerState) -> Result<()>;
}

/// The saved state of an optimizer: enough to continue bit-identically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerState {
    /// The rule's name.
    pub name: String,
    /// Steps taken.
    pub step: u64,
    /// Learning rate at the time of saving.
    pub lr: f32,
    /// Buffer names, in order.
    pub buffer_names: Vec<String>,
    /// `buffers[param][buffer]`: the values (empty until the parameter's first update).
    pub buffers: Vec<Vec<Vec<f32>>>,
}

/// An [`UpdateRule`] with its state: the type every optimizer constructor returns.
pub struct Optim<R: UpdateRule> {
    rule: R,
    lr: f32,
    step: u64,
    state: Vec<Vec<Vec<f32>>>,
}

impl<R: UpdateRule> Optim<R> {
    /// Wraps a validated rule, starting at learning rate `lr`.
    ///
    /// # Errors
    /// [`OptimError::InvalidParameter`] for a learning rate that is not positive and finite,
    /// or from the rule's own validation.
    pub fn new(lr: f32, rule: R) -> Result<Self> {
        check(
            lr > 0.0 && lr.is_finite(),
            rule.name(),
            "lr",
            lr as f64,
            "must be > 0",
        )?;
        rule.validate()?;
        Ok(Optim {
            rule,
            lr,
            step: 0,
            state: Vec::new(),
        })
    }

    /// The rule (hyper-parameters).
    pub fn rule(&self) -> &R {
        &self.rule
    }
}

impl<R: UpdateRule> Optimizer for Optim<R> {
    fn name(&self) -> &'static str {
        self.rule.name()
    }

    fn step(&mut self, params: &[Tensor]) -> Result<()> {
        if self.state.is_empty() {
            self.state = vec![Vec::new(); params.len()];
        }
        if self.state.len() != params.len() {
            return Err(OptimError::StateMismatch(format!(
                "{} has state for {} parameters, step() got {}",
                self.rule.name(),
                self.state.len(),
                params.len()
            )));
        }
        self.step += 1;
        let nbuf = self.rule.buffers().len();
        for (i, p) in params.iter().enumerate() {
            let Some(g) = p.grad() else { continue };
            let g = g.array();
            let g = g.as_standard_layout();
            let g = g.as_slice().expect("standard layout is contiguous");
            let bufs = &mut self.state[i];
            if bufs.is_empty() {
                *bufs = vec![vec![0.0; g.len()]; nbuf];
            }
            if bufs.iter().any(|b| b.len() != g.len()) {
                return Err(OptimError::StateMismatch(format!(
                    "parameter {i} has {} elements but its saved buffers have {}",
                    g.len(),
                    bufs[0].len()
                )));
            }
            let (rule, lr, step) = (&self.rule, self.lr, self.step);
            p.update_data(|w| {
                let w = w.as_slice_mut().expect("update_data gives standard layout");
                update_in_slices(rule, lr, step, w, g, bufs);
            })?;
        }
        Ok(())
    }

    fn lr(&self) -> f32 {
        self.lr
    }

    fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }

    fn steps(&self) -> u64 {
        self.step
    }

    fn state(&self) -> OptimizerState {
        OptimizerState {
            name: self.rule.name().to_string(),
            step: self.step,
            lr: self.lr,
            buffer_names: self.rule.buffers().iter().map(|s| s.to_string()).collect(),
            buffers: self.state.clone(),
        }
    }

    fn load_state(&mut self, state: OptimizerState) -> Result<()> {
        let names: Vec<String> = self.rule.buffers().iter().map(|s| s.to_string()).collect();
        if state.name != self.rule.name() || state.buffer_names != names {
            return Err(OptimError::StateMismatch(format!(
                "state of `{}` with buffers {:?} cannot be loaded into `{}` with buffers {:?}",
                state.name,
                state.buffer_names,
                self.rule.name(),
                names
            )));
        }
        self.step = state.step;
        self.lr = state.lr;
        self.state = state.buffers;
        Ok(())
    }
}

/// Scales all gradients so that their global L2 norm `sqrt(sum_p |g_p|^2)` is at most
/// `max_norm` (PyTorch's `clip_grad_norm_`: factor `max_norm / (norm + 1e-6)` when the norm
/// exceeds `max_norm`). Returns the norm before clipping (accumulated in f64).
///
/// # Errors
/// [`OptimError::InvalidParameter`] when `max_norm` is not positive.
pub fn clip_grad_norm(params: &[Tensor], max_norm: f32) -> Result<f32> {
    crate::error::check(
        max_norm > 0.0,
        "clip_grad_norm",
        "max_norm",
        max_norm as f64,
        "must be > 0",
    )?;
    let total: f64 = params
        .iter()
        .filter_map(Tensor::grad)
        .map(|g| g.array().iter().map(|&v| v as f64 * v as f64).sum::<f64>())
        .sum();
    let norm = total.sqrt() as f32;
    if norm > max_norm {
        let scale = max_norm / (norm + 1e-6);
        for p in params {
            if let Some(g) = p.grad() {
                let scaled = Tensor::from_array(g.array().mapv(|v| v * scale).into_shared());
                p.set_grad(Some(scaled))?;
            }
        }
    }
    Ok(norm)
}
