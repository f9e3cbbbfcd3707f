//! argmax/argmin, comparison masks, plain-Rust views, `Display` and the operators: values
//! by hand, errors that name the shapes, and operators that record the same graph as the
//! named methods (checked by their gradients).

use core_tensor::{check_gradients, GradCheck, Rng, Tensor};

fn t(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(v, shape).unwrap()
}

#[test]
fn argmax_and_argmin_along_either_axis() {
    let x = t(&[1.0, 5.0, 5.0, -2.0, 0.0, 3.0], &[2, 3]);
    assert_eq!(x.argmax(-1).unwrap(), vec![1, 2]); // a tie goes to the first index
    assert_eq!(x.argmin(1).unwrap(), vec![0, 0]);
    assert_eq!(x.argmax(0).unwrap(), vec![0, 0, 0]);
    assert_eq!(x.argmin(0).unwrap(), vec![1, 1, 1]);
    let with_nan = t(&[1.0, f32::NAN, 9.0], &[3]);
    assert_eq!(with_nan.argmax(0).unwrap(), vec![1]);
    assert_eq!(with_nan.argmin(0).unwrap(), vec![1]);
    assert!(x.argmax(2).unwrap_err().to_string().contains("axis"));
    assert!(Tensor::zeros(&[2, 0])
        .argmax(1)
        .unwrap_err()
        .to_string()
        .contains("empty"));
}

#[test]
fn comparisons_are_broadcast_constant_masks() {
    let x = t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]).with_grad();
    let c = t(&[2.5], &[1]);
    assert_eq!(x.gt(&c).unwrap().to_vec(), vec![0.0, 0.0, 1.0, 1.0]);
    assert_eq!(
        x.ge(&t(&[2.0], &[1])).unwrap().to_vec(),
        vec![0.0, 1.0, 1.0, 1.0]
    );
    assert_eq!(x.lt(&c).unwrap().to_vec(), vec![1.0, 1.0, 0.0, 0.0]);
    assert_eq!(
        x.le(&t(&[3.0], &[1])).unwrap().to_vec(),
        vec![1.0, 1.0, 1.0, 0.0]
    );
    let row = t(&[1.0, 4.0], &[2]);
    assert_eq!(x.eq(&row).unwrap().to_vec(), vec![1.0, 0.0, 0.0, 1.0]);
    assert_eq!(x.ne(&row).unwrap().to_vec(), vec![0.0, 1.0, 1.0, 0.0]);
    assert!(!x.gt(&c).unwrap().requires_grad());
    let err = x.gt(&t(&[1.0, 2.0, 3.0], &[3])).unwrap_err().to_string();
    assert!(err.contains("[2, 2]") && err.contains("[3]"), "{err}");
    // Accuracy from a mask, the everyday use.
    let logits = t(&[0.1, 0.9, 0.8, 0.2], &[2, 2]);
    assert_eq!(logits.argmax(-1).unwrap(), vec![1, 0]);
}

#[test]
fn plain_rust_views() {
    let x = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    assert_eq!(
        x.to_vec2().unwrap(),
        vec![vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]]
    );
    assert_eq!(t(&[7.0, 8.0], &[2]).to_vec1().unwrap(), vec![7.0, 8.0]);
    assert_eq!(Tensor::scalar(2.5).to_scalar().unwrap(), 2.5);
    assert_eq!(t(&[4.0], &[1, 1]).to_scalar().unwrap(), 4.0);
    assert!(x.to_vec1().unwrap_err().to_string().contains("[2, 3]"));
    assert!(t(&[1.0], &[1]).to_vec2().is_err());
    assert!(x.to_scalar().is_err());
}

#[test]
fn display_is_clipped_like_pytorch() {
    let x = t(&[0.5, -1.0, 2.25, 3.0], &[2, 2]);
    assert_eq!(
        x.to_string(),
        "tensor([[0.5000, -1.0000],\n        [2.2500, 3.0000]], shape=[2, 2])"
    );
    let long = Tensor::arange(10);
    assert_eq!(
        long.to_string(),
        "tensor([0.0000, 1.0000, 2.0000, ..., 7.0000, 8.0000, 9.0000], shape=[10])"
    );
    assert_eq!(
        Tensor::scalar(1.0).with_grad().to_string(),
        "tensor(1.0000, shape=[], requires_grad=true)"
    );
    assert_eq!(
        Tensor::zeros(&[0, 3]).to_string(),
        "tensor([], shape=[0, 3])"
    );
    let big = Tensor::zeros(&[100, 100]).to_string();
    assert_eq!(big.lines().count(), 7, "{big}");
}

#[test]
fn operators_match_the_methods_and_their_gradients() {
    let mut rng = Rng::seed(1);
    let a = rng.normal(&[3, 4], 0.0, 1.0);
    let b = rng.normal(&[4], 0.0, 1.0);
    let by_ops = ((&a + &b).unwrap() * 2.0 - 1.0).to_vec();
    let by_methods = a.add(&b).unwrap().mul_scalar(2.0).sub_scalar(1.0).to_vec();
    assert_eq!(by_ops, by_methods);
    assert_eq!((-&a).to_vec(), a.neg().to_vec());
    assert_eq!((1.0 - &a).to_vec(), a.neg().add_scalar(1.0).to_vec());
    assert_eq!((3.0 * &a).to_vec(), (&a * 3.0).to_vec());
    assert_eq!(
        (&a / &a.abs().add_scalar(1.0)).unwrap().to_vec(),
        a.div(&a.abs().add_scalar(1.0)).unwrap().to_vec()
    );
    assert!(
        (&a + &t(&[1.0, 2.0], &[2])).is_err(),
        "shapes that do not broadcast"
    );
    // The operators record the graph: gradients of an expression written with them.
    let f = |p: &[Tensor]| -> core_tensor::Result<Tensor> {
        let z = ((&p[0] * &p[1])? - 0.5 * &p[0])? / 4.0;
        (-(z.tanh() + 1.0)).sum_all()
    };
    let r = check_gradients(
        f,
        &[a, rng.normal(&[3, 4], 0.0, 1.0)],
        &GradCheck::default(),
    )
    .unwrap();
    assert!(r.max_rel_error < 1e-3, "{r}");
}

#[test]
fn t_cannot_fail() {
    // Rank 2 and above: the last two axes swap; rank 0 and 1: unchanged, as PyTorch's .t().
    let m = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    assert_eq!(
        m.t().to_vec2().unwrap(),
        vec![vec![1.0, 4.0], vec![2.0, 5.0], vec![3.0, 6.0]]
    );
    assert_eq!(Tensor::zeros(&[4, 2, 3]).t().shape(), &[4, 3, 2]);
    assert_eq!(t(&[1.0, 2.0], &[2]).t().to_vec(), vec![1.0, 2.0]);
    assert_eq!(Tensor::scalar(3.0).t().to_scalar().unwrap(), 3.0);
}
