//! Observation and action spaces (Gymnasium's `Discrete` and `Box`), and the values that live
//! in them.

use core_tensor::Rng;

/// A set of observations or actions.
#[derive(Debug, Clone, PartialEq)]
pub enum Space {
    /// `{0, 1, ..., n - 1}`.
    Discrete(usize),
    /// The box `low[i] <= x[i] <= high[i]` (bounds may be infinite), f32 values.
    Box {
        /// Lower bounds.
        low: Vec<f32>,
        /// Upper bounds.
        high: Vec<f32>,
    },
}

impl std::fmt::Display for Space {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Space::Discrete(n) => write!(f, "Discrete({n})"),
            Space::Box { low, high } => write!(f, "Box(low={low:?}, high={high:?})"),
        }
    }
}

impl Space {
    /// A box with the same bounds on every axis.
    pub fn uniform_box(dim: usize, low: f32, high: f32) -> Space {
        Space::Box {
            low: vec![low; dim],
            high: vec![high; dim],
        }
    }

    /// The number of elements of a discrete space, or the dimension of a box.
    pub fn size(&self) -> usize {
        match self {
            Space::Discrete(n) => *n,
            Space::Box { low, .. } => low.len(),
        }
    }
}

/// A value that can be checked against a [`Space`] and drawn from one: what environments
/// use as observations and actions (`usize` for discrete spaces, f32 arrays or vectors for
/// boxes).
pub trait SpaceValue: Clone + Send + Sync + std::fmt::Debug + 'static {
    /// `None` when the value is in `space`, else what is wrong (a NaN, a bound crossed, a
    /// wrong length or kind).
    fn problem(&self, space: &Space) -> Option<String>;

    /// A value drawn uniformly from `space` (a box with infinite bounds draws from a unit
    /// normal on those axes).
    ///
    /// # Panics
    /// `space` of the wrong kind for this type.
    fn sample(space: &Space, rng: &mut Rng) -> Self;
}

impl SpaceValue for usize {
    fn problem(&self, space: &Space) -> Option<String> {
        match space {
            Space::Discrete(n) if self < n => None,
            Space::Discrete(n) => Some(format!("{self} is not below {n}")),
            Space::Box { .. } => Some("a discrete value for a box space".into()),
        }
    }

    fn sample(space: &Space, rng: &mut Rng) -> usize {
        match space {
            Space::Discrete(n) => rng.below(*n),
            Space::Box { .. } => panic!("usize values live in discrete spaces"),
        }
    }
}

fn box_problem(v: &[f32], space: &Space) -> Option<String> {
    let Space::Box { low, high } = space else {
        return Some("a vector for a discrete space".into());
    };
    if v.len() != low.len() {
        return Some(format!("of {} values for a box of {}", v.len(), low.len()));
    }
    for (i, ((&x, &lo), &hi)) in v.iter().zip(low).zip(high).enumerate() {
        if !x.is_finite() {
            return Some(format!("with a non-finite value at index {i}: {x}"));
        }
        if x < lo || x > hi {
            return Some(format!(
                "outside the box at index {i}: {x} not in [{lo}, {hi}]"
            ));
        }
    }
    None
}

fn box_sample(space: &Space, rng: &mut Rng, out: &mut [f32]) {
    let Space::Box { low, high } = space else {
        panic!("vector values live in box spaces");
    };
    for ((o, &lo), &hi) in out.iter_mut().zip(low).zip(high) {
        *o = if lo.is_finite() && hi.is_finite() {
            lo + (hi - lo) * rng.next_f32()
        } else {
            rng.next_normal() as f32
        };
    }
}

impl SpaceValue for Vec<f32> {
    fn problem(&self, space: &Space) -> Option<String> {
        box_problem(self, space)
    }

    fn sample(space: &Space, rng: &mut Rng) -> Vec<f32> {
        let mut v = vec![0.0; space.size()];
        box_sample(space, rng, &mut v);
        v
    }
}

impl<const N: usize> SpaceValue for [f32; N] {
    fn problem(&self, space: &Space) -> Option<String> {
        box_problem(self, space)
    }

    fn sample(space: &Space, rng: &mut Rng) -> [f32; N] {
        let mut v = [0.0; N];
        box_sample(space, rng, &mut v);
        v
    }
}

/// The index of the largest value, the first of equal ones (0 for an empty slice): greedy
/// action selection everywhere in the crate.
pub(crate) fn argmax<T: PartialOrd + Copy>(v: &[T]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// An index drawn with the given probabilities (in order; the last index if rounding leaves
/// the sum below the uniform draw): sampling a transition, a start state or an action.
pub(crate) fn draw(rng: &mut Rng, probs: impl Iterator<Item = f64>) -> usize {
    let u = rng.next_f64();
    let mut acc = 0.0;
    let mut last = 0;
    for (i, p) in probs.enumerate() {
        acc += p;
        last = i;
        if u < acc {
            return i;
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_against_their_space() {
        let d = Space::Discrete(3);
        assert_eq!(2usize.problem(&d), None);
        assert!(3usize.problem(&d).unwrap().contains("not below 3"));
        let b = Space::Box {
            low: vec![-1.0, f32::NEG_INFINITY],
            high: vec![1.0, f32::INFINITY],
        };
        assert_eq!([0.5f32, 1e9].problem(&b), None);
        assert!([f32::NAN, 0.0].problem(&b).unwrap().contains("non-finite"));
        assert!([2.0f32, 0.0].problem(&b).unwrap().contains("outside"));
        assert!(vec![0.0f32].problem(&b).unwrap().contains("of 1 values"));
        let mut rng = Rng::seed(0);
        for _ in 0..100 {
            assert_eq!(<[f32; 2]>::sample(&b, &mut rng).problem(&b), None);
            assert!(usize::sample(&d, &mut rng) < 3);
        }
    }
}
