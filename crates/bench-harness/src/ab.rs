//! Two implementations of the same work, timed in alternating rounds in one process.
//!
//! On a shared machine the speed available to a process changes from one second to the next
//! (another tenant on the same physical core, turbo, cache contention), so two programs timed
//! one after the other can differ by more than the code does. Here each round times a group
//! of calls of side A and a group of side B, in alternating order, each after the same pause,
//! and the ratio is taken round by round: a slow phase slows both sides of a round alike. The
//! comparison is the median of the rounds' ratios, with its smallest and largest round.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::stats::Stats;

/// How long each side's group of calls lasts, and how many rounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AbConfig {
    /// Rounds (each: one group of A, one of B, in alternating order).
    pub rounds: usize,
    /// Seconds a group of calls should last (at least one call).
    pub group_seconds: f64,
    /// Pause before each group, so that the other side's threads have gone to sleep: OpenBLAS's
    /// threads spin 2^28 cycles (about 0.1 s at 2.5 GHz) after a call by default, on the cores
    /// the next group needs; rayon's threads spin far less.
    pub pause: Duration,
}

impl AbConfig {
    /// For quick runs: 5 rounds of 0.1 s groups.
    pub fn quick() -> AbConfig {
        AbConfig {
            rounds: 5,
            group_seconds: 0.1,
            pause: Duration::from_millis(300),
        }
    }

    /// The full comparison: 15 rounds of 0.25 s groups (about +-3% on a noisy 2-core VM).
    pub fn standard() -> AbConfig {
        AbConfig {
            rounds: 15,
            group_seconds: 0.25,
            pause: Duration::from_millis(300),
        }
    }
}

/// The outcome of an alternating comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AbResult {
    /// Side A's work per second (`work` units / s), median over the rounds.
    pub a: f64,
    /// Side B's, likewise.
    pub b: f64,
    /// Each round's (A's rate / B's rate), summarised: `median` is the comparison, `min` and
    /// `max` its spread, `n` the number of rounds.
    pub ratio: Stats,
}

/// Times `a` against `b` in `cfg.rounds` alternating rounds; `work` is what one call does
/// (FLOP, items) so that the rates come out in work per second.
///
/// Both sides are warmed up and their group sizes set from two calls each. Round `i` runs A
/// first when `i` is even and B first when odd.
///
/// # Errors
/// The first error a side returns; an error when no round could be summarised.
pub fn compare<E>(
    cfg: &AbConfig,
    work: f64,
    a: &mut dyn FnMut() -> Result<(), E>,
    b: &mut dyn FnMut() -> Result<(), E>,
) -> Result<Option<AbResult>, E> {
    fn per_call<E>(side: &mut dyn FnMut() -> Result<(), E>, calls: usize) -> Result<f64, E> {
        let t = Instant::now();
        for _ in 0..calls {
            side()?;
        }
        Ok(t.elapsed().as_secs_f64() / calls as f64)
    }
    let group = |side: &mut dyn FnMut() -> Result<(), E>| -> Result<usize, E> {
        let one = per_call(side, 2)?;
        Ok(((cfg.group_seconds / one.max(1e-9)).ceil() as usize).max(1))
    };
    let (na, nb) = (group(a)?, group(b)?);
    let rate = |side: &mut dyn FnMut() -> Result<(), E>, calls: usize| -> Result<f64, E> {
        std::thread::sleep(cfg.pause);
        Ok(work / per_call(side, calls)?)
    };
    let (ra, rb) = alternate(cfg.rounds, &mut || rate(a, na), &mut || rate(b, nb))?;
    let ratios: Vec<f64> = ra.iter().zip(&rb).map(|(x, y)| x / y).collect();
    let median = |v: &[f64]| Stats::from_samples(v).map(|s| s.median);
    Ok(
        match (median(&ra), median(&rb), Stats::from_samples(&ratios)) {
            (Some(a), Some(b), Some(ratio)) => Some(AbResult { a, b, ratio }),
            _ => None,
        },
    )
}

/// `rounds` rounds of one measurement of each side, A first in even rounds and B first in odd
/// ones (so a slow stretch of the machine lands on both sides): every round's value of A and
/// of B, in round order. The alternation of [`compare`], for callers that keep every value.
///
/// # Errors
/// The first error a side returns.
pub fn alternate<E>(
    rounds: usize,
    a: &mut dyn FnMut() -> Result<f64, E>,
    b: &mut dyn FnMut() -> Result<f64, E>,
) -> Result<(Vec<f64>, Vec<f64>), E> {
    let (mut va, mut vb) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for round in 0..rounds {
        if round % 2 == 0 {
            va.push(a()?);
            vb.push(b()?);
        } else {
            vb.push(b()?);
            va.push(a()?);
        }
    }
    Ok((va, vb))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternation_order_and_ratio() {
        let cfg = AbConfig {
            rounds: 4,
            group_seconds: 0.0,
            pause: Duration::ZERO,
        };
        let order = std::cell::RefCell::new(Vec::new());
        let mut a = || -> Result<(), ()> {
            order.borrow_mut().push('a');
            std::thread::sleep(Duration::from_millis(1));
            Ok(())
        };
        let mut b = || -> Result<(), ()> {
            order.borrow_mut().push('b');
            std::thread::sleep(Duration::from_millis(4));
            Ok(())
        };
        let r = compare(&cfg, 1.0, &mut a, &mut b).unwrap().unwrap();
        // Two warm-up calls each, then one call per group: a b | b a | a b | b a.
        let got: String = order.borrow().iter().collect();
        assert_eq!(got, "aabbabbaabba");
        // A sleeps a quarter of B's time per call: whatever the scheduler adds, its rate is
        // the higher one (no timing is asserted beyond that direction).
        assert!(r.ratio.median > 1.0 && r.a > r.b, "{r:?}");
        assert_eq!(r.ratio.n, 4);
    }

    #[test]
    fn a_failing_side_stops_the_comparison() {
        let cfg = AbConfig::quick();
        let mut a = || -> Result<(), &str> { Ok(()) };
        let mut b = || -> Result<(), &str> { Err("broken") };
        assert_eq!(compare(&cfg, 1.0, &mut a, &mut b), Err("broken"));
    }

    /// The round summary is the median (the mean of the middle two for an even count).
    #[test]
    fn median_of_even_and_odd_counts() {
        let median = |v: &[f64]| Stats::from_samples(v).unwrap().median;
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
