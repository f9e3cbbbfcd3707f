//! Optimizers that own their parameters: the same updates as the unbound optimizer, groups
//! with their own learning rate and weight decay equal to separate optimizers, schedules that
//! keep the groups' ratios, exact resume from saved state, and refused parameters.

use core_tensor::{Rng, Tensor};
use optim::{Adam, Optimizer, ParamGroup, Sgd};

fn params(seed: u64) -> (Tensor, Tensor) {
    let mut rng = Rng::seed(seed);
    (
        rng.normal(&[3, 2], 0.0, 1.0).with_grad(),
        rng.normal(&[2], 0.0, 1.0).with_grad(),
    )
}

/// Sets gradients as `loss` would; returns nothing (the loss is fixed per step `k`).
fn backward(w: &Tensor, b: &Tensor, k: usize) {
    let x = Rng::seed(100 + k as u64).normal(&[4, 3], 0.0, 1.0);
    x.matmul(w)
        .unwrap()
        .add(b)
        .unwrap()
        .tanh()
        .square()
        .mean_all()
        .unwrap()
        .backward()
        .unwrap();
}

#[test]
fn bound_steps_equal_unbound_steps_and_groups_equal_separate_optimizers() {
    // One group: the same as passing the parameters to step() by hand.
    let (w1, b1) = params(1);
    let (w2, b2) = (w1.detach().with_grad(), b1.detach().with_grad());
    let mut bound = Adam::new(0.01)
        .weight_decay(0.1)
        .bind([w1.clone(), b1.clone()])
        .unwrap();
    let mut plain = Adam::new(0.01).weight_decay(0.1).build().unwrap();
    for k in 0..5 {
        bound.zero_grad();
        backward(&w1, &b1, k);
        bound.step().unwrap();
        [&w2, &b2].iter().for_each(|p| p.zero_grad());
        backward(&w2, &b2, k);
        plain.step(&[w2.clone(), b2.clone()]).unwrap();
    }
    assert_eq!((w1.to_vec(), b1.to_vec()), (w2.to_vec(), b2.to_vec()));

    // Two groups (no decay and 10x the rate on the bias) = two separate optimizers.
    let (w1, b1) = params(2);
    let (w2, b2) = (w1.detach().with_grad(), b1.detach().with_grad());
    let mut grouped = Sgd::new(0.1)
        .momentum(0.9)
        .weight_decay(0.01)
        .bind_groups(vec![
            ParamGroup::new([w1.clone()]),
            ParamGroup::new([b1.clone()]).lr(1.0).weight_decay(0.0),
        ])
        .unwrap();
    let mut for_w = Sgd::new(0.1)
        .momentum(0.9)
        .weight_decay(0.01)
        .build()
        .unwrap();
    let mut for_b = Sgd::new(1.0).momentum(0.9).build().unwrap();
    for k in 0..5 {
        grouped.zero_grad();
        backward(&w1, &b1, k);
        grouped.step().unwrap();
        [&w2, &b2].iter().for_each(|p| p.zero_grad());
        backward(&w2, &b2, k);
        for_w.step(std::slice::from_ref(&w2)).unwrap();
        for_b.step(std::slice::from_ref(&b2)).unwrap();
    }
    assert_eq!((w1.to_vec(), b1.to_vec()), (w2.to_vec(), b2.to_vec()));

    // A schedule keeps each group's ratio to the base rate.
    grouped.set_lr(0.05);
    assert_eq!(grouped.lr(), 0.05);
    assert_eq!(grouped.state().lr, 0.05);
    assert_eq!(grouped.params().count(), 2);
}

#[test]
fn saved_state_resumes_exactly() {
    let (w1, b1) = params(3);
    let mut a = Adam::new(0.01)
        .bind_groups(vec![
            ParamGroup::new([w1.clone()]),
            ParamGroup::new([b1.clone()]).lr(0.1),
        ])
        .unwrap();
    for k in 0..3 {
        a.zero_grad();
        backward(&w1, &b1, k);
        a.step().unwrap();
    }
    let (w2, b2) = (w1.detach().with_grad(), b1.detach().with_grad());
    let mut b = Adam::new(0.01)
        .bind_groups(vec![
            ParamGroup::new([w2.clone()]),
            ParamGroup::new([b2.clone()]).lr(0.1),
        ])
        .unwrap();
    b.load_state(a.state()).unwrap();
    assert_eq!(b.steps(), 3);
    for k in 3..6 {
        a.zero_grad();
        backward(&w1, &b1, k);
        a.step().unwrap();
        b.zero_grad();
        backward(&w2, &b2, k);
        b.step().unwrap();
    }
    assert_eq!((w1.to_vec(), b1.to_vec()), (w2.to_vec(), b2.to_vec()));
    // Another parameter count is refused.
    let mut c = Adam::new(0.01).bind([w2.clone()]).unwrap();
    assert!(c
        .load_state(a.state())
        .unwrap_err()
        .to_string()
        .contains("state for 2 parameters"));
}

#[test]
fn parameters_an_optimizer_cannot_own_are_refused() {
    let (w, b) = params(4);
    let err = |r: optim::Result<optim::BoundOptim<Adam>>| r.err().expect("refused").to_string();
    assert_eq!(
        err(Adam::new(0.01).bind([w.mul_scalar(2.0)])),
        "optimizer parameters: parameter 0 (shape [3, 2]) is not a leaf: it was computed from other tensors, so no update would reach a weight; pass the weight itself"
    );
    assert_eq!(
        err(Adam::new(0.01).bind([w.clone(), Tensor::zeros(&[2])])),
        "optimizer parameters: parameter 1 (shape [2]) does not require gradients; mark it with `.with_grad()`"
    );
    assert_eq!(
        err(Adam::new(0.01).bind_groups(vec![ParamGroup::new([w.clone(), b.clone()]), ParamGroup::new([w.clone()])])),
        "optimizer parameters: parameter 2 is the same tensor as parameter 0: it would be updated twice per step"
    );
    assert_eq!(
        err(Adam::new(0.01).bind_groups(vec![ParamGroup::new([w.clone()]), ParamGroup::new([])])),
        "optimizer parameters: parameter group 1 is empty"
    );
    assert!(err(Adam::new(0.01).bind_groups(vec![ParamGroup::new([w]).lr(-1.0)])).contains("lr"));
}
