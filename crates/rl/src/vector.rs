//! `N` copies of an environment stepped together, with Gymnasium's vector semantics.
//!
//! **Autoreset (next step):** when a copy's episode ends, the step that ended it returns its
//! last observation with the flags set; the *next* `step` resets that copy — its action is
//! ignored, it returns the reset observation with reward 0 and both flags false — as
//! Gymnasium's vector environments do by default (`AutoresetMode.NEXT_STEP`). `reset(seed)`
//! seeds copy `i` with `seed + i`.
//!
//! Copies are stepped in order on the calling thread, or split over rayon's pool when there
//! are at least [`PAR_MIN_ENVS`] of them (a classic-control step is tens of nanoseconds;
//! fewer copies than that cost more to hand out than to step). Either way each copy's
//! trajectory depends only on its own seed and actions.

use rayon::prelude::*;

use crate::env::{Checked, Env};
use crate::error::{invalid, Result};

/// Copies from which stepping is split over threads.
pub const PAR_MIN_ENVS: usize = 256;

/// The results of one vector step, one entry per copy.
#[derive(Debug, Clone, PartialEq)]
pub struct VecStep<O> {
    /// Observations.
    pub obs: Vec<O>,
    /// Rewards.
    pub rewards: Vec<f64>,
    /// Terminated flags.
    pub terminated: Vec<bool>,
    /// Truncated flags.
    pub truncated: Vec<bool>,
}

/// `N` checked copies of an environment.
pub struct VecEnv<E: Env> {
    envs: Vec<Checked<E>>,
    needs_reset: Vec<bool>,
}

impl<E: Env> VecEnv<E> {
    /// `n` copies made by `make(i)`.
    ///
    /// # Errors
    /// `n == 0`.
    pub fn new(n: usize, make: impl Fn(usize) -> E) -> Result<VecEnv<E>> {
        if n == 0 {
            return Err(invalid("VecEnv", "needs at least one environment"));
        }
        Ok(VecEnv {
            envs: (0..n).map(|i| Checked::new(make(i))).collect(),
            needs_reset: vec![false; n],
        })
    }

    /// Number of copies.
    pub fn len(&self) -> usize {
        self.envs.len()
    }

    /// Always false (there is at least one copy).
    pub fn is_empty(&self) -> bool {
        self.envs.is_empty()
    }

    /// The copies.
    pub fn envs(&self) -> &[Checked<E>] {
        &self.envs
    }

    /// Resets every copy (copy `i` with `seed + i` when a seed is given).
    ///
    /// # Errors
    /// The first copy's error.
    pub fn reset(&mut self, seed: Option<u64>) -> Result<Vec<E::Obs>> {
        self.needs_reset.fill(false);
        self.envs
            .iter_mut()
            .enumerate()
            .map(|(i, e)| e.reset(seed.map(|s| s.wrapping_add(i as u64))))
            .collect()
    }

    /// Steps every copy with its action (a copy whose episode ended at the previous step is
    /// reset instead; see the module documentation).
    ///
    /// # Errors
    /// A wrong number of actions, or the first copy's error (an action outside the space,
    /// a bad observation).
    pub fn step(&mut self, actions: &[E::Action]) -> Result<VecStep<E::Obs>> {
        if actions.len() != self.envs.len() {
            return Err(invalid(
                "VecEnv::step",
                format!(
                    "{} actions for {} environments",
                    actions.len(),
                    self.envs.len()
                ),
            ));
        }
        let one = |((env, again), action): ((&mut Checked<E>, &mut bool), &E::Action)| -> Result<(E::Obs, f64, bool, bool)> {
            if *again {
                *again = false;
                return Ok((env.reset(None)?, 0.0, false, false));
            }
            let s = env.step(action)?;
            *again = s.done();
            Ok((s.obs, s.reward, s.terminated, s.truncated))
        };
        let results: Vec<Result<_>> = if self.envs.len() >= PAR_MIN_ENVS {
            self.envs
                .par_iter_mut()
                .zip(self.needs_reset.par_iter_mut())
                .zip(actions.par_iter())
                .map(one)
                .collect()
        } else {
            self.envs
                .iter_mut()
                .zip(self.needs_reset.iter_mut())
                .zip(actions.iter())
                .map(one)
                .collect()
        };
        let mut out = VecStep {
            obs: Vec::with_capacity(actions.len()),
            rewards: Vec::with_capacity(actions.len()),
            terminated: Vec::with_capacity(actions.len()),
            truncated: Vec::with_capacity(actions.len()),
        };
        for r in results {
            let (o, r, te, tr) = r?;
            out.obs.push(o);
            out.rewards.push(r);
            out.terminated.push(te);
            out.truncated.push(tr);
        }
        Ok(out)
    }
}
