//! Optimizers that own their parameters, as in PyTorch: `Adam::new(1e-3).bind(params)?`, then
//! `opt.step()?` and `opt.zero_grad()` with nothing passed around, and parameter groups with
//! their own learning rate and weight decay (PyTorch's `param_groups`, e.g. no decay on
//! biases and norms).
//!
//! Binding checks the parameters once: each must be a leaf that requires a gradient (a
//! tensor computed from others would be updated nowhere — PyTorch raises "can't optimize a
//! non-leaf Tensor" for the same reason), and none may appear twice (it would be updated
//! twice per step).
//!
//! ```
//! use core_tensor::{Rng, Tensor};
//! use optim::{Adam, ParamGroup};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut rng = Rng::seed(0);
//! let (w, b) = (rng.normal(&[3, 2], 0.0, 1.0).with_grad(), Tensor::zeros(&[2]).with_grad());
//! let mut opt = Adam::new(1e-2).weight_decay(0.1).bind_groups(vec![
//!     ParamGroup::new([w.clone()]),
//!     ParamGroup::new([b.clone()]).weight_decay(0.0), // no decay on the bias
//! ])?;
//! let x = rng.normal(&[4, 3], 0.0, 1.0);
//! for _ in 0..3 {
//!     opt.zero_grad();
//!     x.matmul(&w)?.add(&b)?.square().mean_all()?.backward()?;
//!     opt.step()?;
//! }
//! assert_eq!(opt.steps(), 3);
//! // A computed tensor cannot be optimized.
//! assert!(Adam::new(1e-2).bind([w.mul_scalar(2.0)]).is_err());
//! # Ok(())
//! # }
//! ```

use core_tensor::{Tensor, TensorId};

use crate::error::{OptimError, Result};
use crate::optimizer::{Optim, Optimizer, OptimizerState, UpdateRule};
use crate::{AdaGrad, Adam, RmsProp, Sgd};

/// Parameters that share a learning rate and weight decay (unset: the optimizer's own).
#[derive(Debug, Clone)]
pub struct ParamGroup {
    params: Vec<Tensor>,
    lr: Option<f32>,
    weight_decay: Option<f32>,
}

impl ParamGroup {
    /// A group of `params` with the optimizer's learning rate and weight decay.
    pub fn new(params: impl IntoIterator<Item = Tensor>) -> ParamGroup {
        ParamGroup {
            params: params.into_iter().collect(),
            lr: None,
            weight_decay: None,
        }
    }

    /// This group's learning rate.
    pub fn lr(mut self, lr: f32) -> ParamGroup {
        self.lr = Some(lr);
        self
    }

    /// This group's weight decay (`0.0`: none).
    pub fn weight_decay(mut self, weight_decay: f32) -> ParamGroup {
        self.weight_decay = Some(weight_decay);
        self
    }
}

/// A rule whose weight decay a parameter group can override.
pub trait WithWeightDecay: UpdateRule + Clone {
    /// The same rule with weight decay `wd`.
    fn with_weight_decay(&self, wd: f32) -> Self;
}

/// An optimizer bound to its parameters: [`BoundOptim::step`] updates them,
/// [`BoundOptim::zero_grad`] clears their gradients. Build one with `bind` or `bind_groups`
/// on a rule ([`Adam`], [`Sgd`], [`RmsProp`], [`AdaGrad`]).
pub struct BoundOptim<R: UpdateRule> {
    /// Each group: its parameters, its optimizer, its learning rate when bound.
    groups: Vec<(Vec<Tensor>, Optim<R>, f32)>,
    /// The base learning rate now, and when bound.
    lr: f32,
    bound_lr: f32,
}

impl<R: WithWeightDecay> BoundOptim<R> {
    /// Binds `rule` (base learning rate `lr`) to `groups`.
    ///
    /// # Errors
    /// [`OptimError::Params`] for an empty group, a parameter that is not a leaf requiring
    /// gradients, or one given twice; [`OptimError::InvalidParameter`] for a learning rate
    /// or weight decay out of range.
    pub fn new(lr: f32, rule: R, groups: Vec<ParamGroup>) -> Result<Self> {
        let mut seen: Vec<(TensorId, usize)> = Vec::new();
        let mut index = 0;
        let mut out = Vec::with_capacity(groups.len());
        if groups.is_empty() {
            return Err(OptimError::Params("no parameter groups".into()));
        }
        for (g, group) in groups.into_iter().enumerate() {
            if group.params.is_empty() {
                return Err(OptimError::Params(format!("parameter group {g} is empty")));
            }
            for p in &group.params {
                if !p.is_leaf() {
                    return Err(OptimError::Params(format!(
                        "parameter {index} (shape {:?}) is not a leaf: it was computed from other \
                         tensors, so no update would reach a weight; pass the weight itself",
                        p.shape()
                    )));
                }
                if !p.requires_grad() {
                    return Err(OptimError::Params(format!(
                        "parameter {index} (shape {:?}) does not require gradients; mark it \
                         with `.with_grad()`",
                        p.shape()
                    )));
                }
                if let Some(&(_, first)) = seen.iter().find(|(id, _)| *id == p.id()) {
                    return Err(OptimError::Params(format!(
                        "parameter {index} is the same tensor as parameter {first}: it would be \
                         updated twice per step"
                    )));
                }
                seen.push((p.id(), index));
                index += 1;
            }
            let group_lr = group.lr.unwrap_or(lr);
            let rule = match group.weight_decay {
                Some(wd) => rule.with_weight_decay(wd),
                None => rule.clone(),
            };
            out.push((group.params, Optim::new(group_lr, rule)?, group_lr));
        }
        Ok(BoundOptim {
            groups: out,
            lr,
            bound_lr: lr,
        })
    }

    /// One update of every parameter that has a gradient (gradients are not cleared).
    ///
    /// Parameters are updated in place when nothing else shares their storage. A graph that
    /// is still alive does (a Linear layer's `W.t()` is a view of `W`), and then each weight
    /// is copied before its update so that the graph keeps the old values: drop the loss and
    /// the forward pass's tensors before stepping (a block around forward and backward, as
    /// PyTorch frees its graph at backward) to save that copy.
    ///
    /// # Errors
    /// As [`Optimizer::step`].
    pub fn step(&mut self) -> Result<()> {
        for (params, opt, _) in &mut self.groups {
            opt.step(params)?;
        }
        Ok(())
    }

    /// Clears every parameter's gradient.
    pub fn zero_grad(&self) {
        self.params().for_each(Tensor::zero_grad);
    }

    /// The parameters, group by group.
    pub fn params(&self) -> impl Iterator<Item = &Tensor> {
        self.groups.iter().flat_map(|(p, _, _)| p)
    }

    /// The base learning rate.
    pub fn lr(&self) -> f32 {
        self.lr
    }

    /// Sets the base learning rate; each group keeps its ratio to it (what a schedule
    /// needs).
    pub fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
        let rates: Vec<f32> = self.groups.iter().map(|g| self.group_lr(g.2)).collect();
        for ((_, opt, _), lr) in self.groups.iter_mut().zip(rates) {
            opt.set_lr(lr);
        }
    }

    /// A group's rate at base rate `self.lr`: exactly its own rate at the bound base rate.
    fn group_lr(&self, bound: f32) -> f32 {
        if self.lr == self.bound_lr {
            bound
        } else {
            bound * (self.lr / self.bound_lr)
        }
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.groups[0].1.steps()
    }

    /// The state of every group as one [`OptimizerState`] (buffers in parameter order), for
    /// checkpoints.
    pub fn state(&self) -> OptimizerState {
        let mut state = self.groups[0].1.state();
        state.lr = self.lr;
        state.buffers = self
            .groups
            .iter()
            .flat_map(|(_, opt, _)| opt.state().buffers)
            .collect();
        state
    }

    /// Restores a state saved by [`BoundOptim::state`] (or by an unbound optimizer of the
    /// same rule over the same parameters).
    ///
    /// # Errors
    /// [`OptimError::StateMismatch`] for another rule or another number of parameters.
    pub fn load_state(&mut self, state: OptimizerState) -> Result<()> {
        let total: usize = self.groups.iter().map(|(p, _, _)| p.len()).sum();
        let saved = state.buffers.len();
        if saved != 0 && saved != total {
            return Err(OptimError::StateMismatch(format!(
                "state for {saved} parameters, the optimizer has {total}"
            )));
        }
        self.lr = state.lr;
        let rates: Vec<f32> = self.groups.iter().map(|g| self.group_lr(g.2)).collect();
        let OptimizerState {
            name,
            step,
            buffer_names,
            buffers,
            ..
        } = state;
        // Each group takes its own parameters' buffers (none when none were saved): moved,
        // not copied once per group.
        let mut buffers = buffers.into_iter();
        for ((params, opt, _), lr) in self.groups.iter_mut().zip(rates) {
            opt.load_state(OptimizerState {
                name: name.clone(),
                step,
                lr,
                buffer_names: buffer_names.clone(),
                buffers: buffers.by_ref().take(params.len()).collect(),
            })?;
        }
        Ok(())
    }
}

macro_rules! bindable {
    ($($rule:ident),*) => {$(
        impl WithWeightDecay for $rule {
            fn with_weight_decay(&self, wd: f32) -> Self {
                $rule { weight_decay: wd, ..*self }
            }
        }

        impl $rule {
            /// This optimizer bound to `params` (see [`BoundOptim`]).
            ///
            /// # Errors
            /// As [`BoundOptim::new`].
            pub fn bind(self, params: impl IntoIterator<Item = Tensor>) -> Result<BoundOptim<$rule>> {
                BoundOptim::new(self.lr, self, vec![ParamGroup::new(params)])
            }

            /// This optimizer bound to parameter groups, each with its own learning rate and
            /// weight decay if it sets them (see [`BoundOptim`]).
            ///
            /// # Errors
            /// As [`BoundOptim::new`].
            pub fn bind_groups(self, groups: Vec<ParamGroup>) -> Result<BoundOptim<$rule>> {
                BoundOptim::new(self.lr, self, groups)
            }
        }
    )*};
}

bindable!(Sgd, Adam, RmsProp, AdaGrad);
