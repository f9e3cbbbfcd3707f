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

/// A slice of one parameter, of its gradient and of each of its buffers.
type Task<'a> = (&'a mut [f32], &'a [f32], Vec<&'a mut [f32]>);

/// Runs `rule.update` over every parameter at once: each parameter (with its gradient and
/// buffers) cut into slices of [`UPDATE_SLICE`], all slices of all parameters one task list,
/// run on the current rayon pool when it has several threads and there is more than one
/// slice's work. Each element's update is independent of the others, so the split never
/// changes a result.
fn update_all<R: UpdateRule>(
    rule: &R,
    lr: f32,
    step: u64,
    ws: Vec<&mut [f32]>,
    gs: &[&[f32]],
    bufs: Vec<&mut Vec<Vec<f32>>>,
) {
    use rayon::prelude::*;
    let total: usize = gs.iter().map(|g| g.len()).sum();
    let mut tasks: Vec<Task<'_>> = Vec::new();
    for ((w, g), bufs) in ws.into_iter().zip(gs).zip(bufs) {
        let mut buf_slices: Vec<_> = bufs
            .iter_mut()
            .map(|b| b.chunks_mut(UPDATE_SLICE))
            .collect();
        for (w, g) in w.chunks_mut(UPDATE_SLICE).zip(g.chunks(UPDATE_SLICE)) {
            let b = buf_slices
                .iter_mut()
                .map(|it| it.next().expect("buffers have the parameter's length"))
                .collect();
            tasks.push((w, g, b));
        }
    }
    let run = |(w, g, mut b): Task<'_>| rule.update(lr, step, w, g, &mut b);
    if total < 2 * UPDATE_SLICE || rayon::current_num_threads() < 2 {
        tasks.into_iter().for_each(run);
    } else {
        tasks.into_par_iter().for_each(run);
    }
}

/// Calls `f` with the data of every tensor in `params` (leaves, distinct) borrowed mutably at
/// once, in order: each tensor's [`Tensor::update_data`] nested inside the previous one's.
fn with_data_mut<T>(
    params: &[&Tensor],
    held: Vec<&mut [f32]>,
    f: impl FnOnce(Vec<&mut [f32]>) -> T,
) -> core_tensor::Result<T> {
    match params.split_first() {
        None => Ok(f(held)),
        Some((p, rest)) => p.update_data(move |w| {
            // The borrows held so far outlive this one: the list narrows to its lifetime.
            let mut held: Vec<&mut [f32]> = held;
            held.push(w.as_slice_mut().expect("update_data gives standard layout"));
            with_data_mut(rest, held, f)
        })?,
    }
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
        // Everything is checked before anything changes: a mismatch updates nothing.
        if !self.state.is_empty() && self.state.len() != params.len() {
            return Err(OptimError::StateMismatch(format!(
                "{} has state for {} parameters, step() got {}",
                self.rule.name(),
                self.state.len(),
                params.len()
            )));
        }
        let nbuf = self.rule.buffers().len();
        let with_grad: Vec<(usize, &Tensor, Tensor)> = params
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.grad().map(|g| (i, p, g)))
            .collect();
        let mut ids = std::collections::HashSet::new();
        for &(i, p, _) in &with_grad {
            if !ids.insert(p.id()) {
                return Err(OptimError::Params(format!(
                    "parameter {i} appears twice in the list passed to step()"
                )));
            }
            if !p.is_leaf() {
                return Err(OptimError::Params(format!(
                    "parameter {i} was made by an op: only leaf tensors can be updated \
                     (use detach().with_grad() to make one)"
                )));
            }
            let bufs = self.state.get(i).map_or(&[][..], Vec::as_slice);
            if !bufs.is_empty() && bufs.iter().any(|b| b.len() != p.numel()) {
                return Err(OptimError::StateMismatch(format!(
                    "parameter {i} has {} elements but its saved buffers have {}",
                    p.numel(),
                    bufs[0].len()
                )));
            }
        }
        self.step += 1;
        if self.state.is_empty() {
            self.state = vec![Vec::new(); params.len()];
        }
        let arrays: Vec<_> = with_grad.iter().map(|(_, _, g)| g.array()).collect();
        let standard: Vec<_> = arrays.iter().map(|g| g.as_standard_layout()).collect();
        let gs: Vec<&[f32]> = standard
            .iter()
            .map(|g| g.as_slice().expect("standard layout is contiguous"))
            .collect();
        // The buffers of the parameters with a gradient, in order (made on first use).
        let mut has_grad = vec![false; params.len()];
        for &(i, _, _) in &with_grad {
            has_grad[i] = true;
        }
        let bufs: Vec<&mut Vec<Vec<f32>>> = self
            .state
            .iter_mut()
            .zip(params)
            .zip(has_grad)
            .filter(|(_, has)| *has)
            .map(|((state, p), _)| {
                if state.is_empty() {
                    *state = vec![vec![0.0; p.numel()]; nbuf];
                }
                state
            })
            .collect();
        let tensors: Vec<&Tensor> = with_grad.iter().map(|&(_, p, _)| p).collect();
        let (rule, lr, step) = (&self.rule, self.lr, self.step);
        with_data_mut(&tensors, Vec::new(), |ws| {
            update_all(rule, lr, step, ws, &gs, bufs)
        })?;
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

#[cfg(test)]
pub(crate) mod tests {
    use core_tensor::cpu::{detected_level, Level};

    use super::*;

    /// Every `multiversion!` level this CPU runs.
    pub(crate) fn levels() -> Vec<Level> {
        [Level::Generic, Level::Avx2, Level::Avx512]
            .into_iter()
            .filter(|&l| l <= detected_level())
            .collect()
    }

    /// Parameter, gradient and buffer values over a wide range (including zeros), 1,003
    /// elements so that every vector width leaves a remainder.
    pub(crate) fn sample(seed: u64) -> (Vec<f32>, Vec<f32>, Vec<Vec<f32>>) {
        let n = 1003;
        let mut rng = core_tensor::Rng::seed(seed);
        let p = rng.normal(&[n], 0.0, 2.0).to_vec();
        let mut g = rng.normal(&[n], 0.0, 0.5).to_vec();
        g[7] = 0.0;
        let b = vec![
            rng.normal(&[n], 0.0, 0.1).to_vec(),
            rng.uniform(&[n], 0.0, 0.3).to_vec(),
            rng.uniform(&[n], 0.0, 0.4).to_vec(),
        ];
        (p, g, b)
    }

    /// Runs `update(level, …)` at every level on the same inputs (three steps, so that the
    /// bias corrections and momentum take several values) and checks the bits agree.
    pub(crate) fn same_bits_at_every_level(
        name: &str,
        buffers: usize,
        update: impl Fn(Level, u64, &mut [f32], &[f32], &mut [&mut [f32]]),
    ) {
        let run = |level| {
            let (mut p, g, mut b) = sample(5);
            b.truncate(buffers);
            for step in 1..=3 {
                let mut views: Vec<&mut [f32]> = b.iter_mut().map(Vec::as_mut_slice).collect();
                update(level, step, &mut p, &g, &mut views);
            }
            (p, b)
        };
        let want = run(Level::Generic);
        for level in levels() {
            let got = run(level);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&got.0),
                bits(&want.0),
                "{name} at {level:?}: parameters"
            );
            for (b, w) in got.1.iter().zip(&want.1) {
                assert_eq!(bits(b), bits(w), "{name} at {level:?}: buffers");
            }
        }
    }

    #[test]
    fn a_bad_step_changes_nothing() {
        let a = Tensor::ones(&[3]).with_grad();
        let b = Tensor::ones(&[2]).with_grad();
        for t in [&a, &b] {
            t.set_grad(Some(Tensor::ones(t.shape()))).unwrap();
        }
        let mut opt = crate::Sgd::new(0.1).build().unwrap();
        let err = opt.step(&[a.clone(), b.clone(), a.clone()]).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
        let made = a.mul_scalar(2.0);
        made.set_grad(Some(Tensor::ones(&[3]))).unwrap();
        let err = opt.step(&[b.clone(), made]).unwrap_err();
        assert!(err.to_string().contains("leaf"), "{err}");
        assert_eq!(a.to_vec(), vec![1.0; 3]);
        assert_eq!(b.to_vec(), vec![1.0; 2]);
        assert_eq!(opt.steps(), 0);
        opt.step(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(b.to_vec(), vec![0.9; 2]);
    }
}
