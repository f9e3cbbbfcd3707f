//! Behaviour of the autodiff engine through the public API: accumulation, no-grad, detach,
//! `grad()` and exact Hessian-vector products, deep graphs, and the errors users see.

use core_tensor::{grad, no_grad, GradOptions, Rng, Tensor, TensorError};

fn close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "element {i}: {x} vs {y}"
        );
    }
}

#[test]
fn closed_form_gradients() {
    // f(x) = sum(x^2 + x): shared input used twice, df/dx = 2x + 1.
    let x = Tensor::from_vec(vec![1.0, -2.0, 0.5], &[3])
        .unwrap()
        .with_grad();
    let f = x.mul(&x).unwrap().add(&x).unwrap().sum_all().unwrap();
    f.backward().unwrap();
    close(&x.grad().unwrap().to_vec(), &[3.0, -3.0, 2.0], 1e-6);

    // f(W) = sum(A W) for A: 2x3, W: 3x2  =>  df/dW[p, j] = sum_i A[i, p].
    let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
    let w = Tensor::ones(&[3, 2]).with_grad();
    a.matmul(&w).unwrap().sum_all().unwrap().backward().unwrap();
    close(
        &w.grad().unwrap().to_vec(),
        &[5.0, 5.0, 7.0, 7.0, 9.0, 9.0],
        1e-6,
    );
}

#[test]
fn backward_accumulates_until_zero_grad() {
    let x = Tensor::from_vec(vec![2.0], &[1]).unwrap().with_grad();
    for _ in 0..3 {
        x.mul_scalar(5.0).sum_all().unwrap().backward().unwrap();
    }
    assert_eq!(x.grad().unwrap().to_vec(), vec![15.0]);
    x.zero_grad();
    assert!(x.grad().is_none());
    x.square().sum_all().unwrap().backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec(), vec![4.0]);
}

#[test]
fn no_grad_records_nothing_and_detach_cuts() {
    let x = Tensor::ones(&[4]).with_grad();
    let y = no_grad(|| x.exp().sum_all().unwrap());
    assert!(!y.requires_grad() && y.is_leaf());
    assert!(matches!(y.backward(), Err(TensorError::Autodiff(_))));
    assert!(core_tensor::is_grad_enabled());

    // z = x * detach(x): only the first factor carries gradient, dz/dx = detach(x) = 1.
    let z = x.mul(&x.detach()).unwrap().sum_all().unwrap();
    z.backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec(), vec![1.0; 4]);
}

#[test]
fn grad_leaves_grad_slots_alone_and_zero_fills_unused_inputs() {
    let x = Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap().with_grad();
    let unused = Tensor::ones(&[3]).with_grad();
    let y = x.powf(3.0).sum_all().unwrap();
    let g = grad(&y, &[&x, &unused], None, GradOptions::default()).unwrap();
    close(&g[0].to_vec(), &[3.0, 12.0], 1e-6);
    assert_eq!(g[1].to_vec(), vec![0.0; 3]);
    assert!(x.grad().is_none());
    assert!(
        !g[0].requires_grad(),
        "without create_graph the gradient is a constant"
    );
}

#[test]
fn hessian_vector_product_is_exact() {
    // f(x) = sum(x^3) + 1/2 x^T A x with A symmetric  =>  H v = 6 x * v + A v.
    let n = 6;
    let mut rng = Rng::seed(5);
    let m = rng.normal(&[n, n], 0.0, 1.0);
    let a = m.add(&m.t()).unwrap();
    let x = rng.normal(&[n, 1], 0.0, 1.0).with_grad();
    let v = rng.normal(&[n, 1], 0.0, 1.0);
    let f = x
        .powf(3.0)
        .sum_all()
        .unwrap()
        .add(
            &x.t()
                .matmul(&a.matmul(&x).unwrap())
                .unwrap()
                .mul_scalar(0.5),
        )
        .unwrap()
        .sum_all()
        .unwrap();
    let g = grad(&f, &[&x], None, GradOptions::create_graph()).unwrap();
    assert!(g[0].requires_grad());
    let gv = g[0].mul(&v).unwrap().sum_all().unwrap();
    let hv = grad(&gv, &[&x], None, GradOptions::default()).unwrap();
    let expect = x
        .detach()
        .mul(&v)
        .unwrap()
        .mul_scalar(6.0)
        .add(&a.matmul(&v).unwrap())
        .unwrap();
    close(&hv[0].to_vec(), &expect.to_vec(), 1e-5);
}

#[test]
fn deep_chains_do_not_overflow_the_stack() {
    let x = Tensor::from_vec(vec![0.5], &[1]).unwrap().with_grad();
    let mut y = x.clone();
    for _ in 0..20_000 {
        y = y.mul_scalar(1.0001).add_scalar(-0.00005);
    }
    y.sum_all().unwrap().backward().unwrap();
    let expect = 1.0001f64.powi(20_000) as f32;
    close(&x.grad().unwrap().to_vec(), &[expect], 1e-3);
    drop(y);
}

#[test]
fn in_place_updates_only_on_leaves_and_copy_on_write() {
    let w = Tensor::ones(&[2, 2]).with_grad();
    let alias = w.detach(); // shares storage
    w.update_data(|d| d.mapv_inplace(|v| v * 3.0)).unwrap();
    assert_eq!(w.to_vec(), vec![3.0; 4]);
    assert_eq!(
        alias.to_vec(),
        vec![1.0; 4],
        "a detached copy never sees in-place updates"
    );
    let y = w.exp();
    assert!(matches!(
        y.update_data(|_| ()),
        Err(TensorError::Autodiff(_))
    ));
    assert!(matches!(
        w.set_data(Tensor::zeros(&[3]).array()),
        Err(TensorError::ShapeMismatch { .. })
    ));
}

#[test]
fn errors_name_op_and_shapes() {
    let a = Tensor::zeros(&[2, 3]);
    let b = Tensor::zeros(&[4, 5]);
    assert_eq!(
        a.matmul(&b).unwrap_err().to_string(),
        "matmul: shapes [2, 3] and [4, 5] are incompatible (inner dimensions 3 and 4 differ)"
    );
    assert_eq!(
        a.add(&b).unwrap_err().to_string(),
        "add: shapes [2, 3] and [4, 5] are incompatible (axis 0 of the broadcast result has \
         sizes 2 and 4; broadcasting needs equal sizes or 1)"
    );
    assert_eq!(
        a.sum(&[2], false).unwrap_err().to_string(),
        "sum: axis 2 is out of range for a tensor of rank 2 (shape [2, 3])"
    );
    assert_eq!(
        Tensor::from_vec(vec![1.0; 5], &[2, 3])
            .unwrap_err()
            .to_string(),
        "from_vec: 5 values cannot fill shape [2, 3] (6 elements)"
    );
    let x = Tensor::ones(&[3]).with_grad();
    assert!(matches!(x.exp().backward(), Err(TensorError::Autodiff(_))));
    assert!(matches!(
        Tensor::zeros(&[3]).matmul(&a),
        Err(TensorError::InvalidArgument { .. })
    ));
    assert!(matches!(
        a.clamp(1.0, 0.0),
        Err(TensorError::InvalidArgument { .. })
    ));
    assert!(matches!(
        a.var(&[0], 2, false),
        Err(TensorError::InvalidArgument { .. })
    ));
}

#[test]
fn forward_values_broadcast_like_numpy() {
    let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
    let col = Tensor::from_vec(vec![10.0, 20.0], &[2, 1]).unwrap();
    assert_eq!(
        a.add(&col).unwrap().to_vec(),
        vec![11.0, 12.0, 13.0, 24.0, 25.0, 26.0]
    );
    assert_eq!(a.sum(&[0], false).unwrap().to_vec(), vec![5.0, 7.0, 9.0]);
    assert_eq!(a.max(&[1], true).unwrap().shape(), &[2, 1]);
    close(&a.var(&[1], 1, false).unwrap().to_vec(), &[1.0, 1.0], 1e-6);
    close(&a.mean_all().unwrap().to_vec(), &[3.5], 1e-6);
    let gelu = Tensor::from_vec(vec![-1.0, 0.0, 1.0], &[3]).unwrap().gelu();
    // torch.nn.functional.gelu([-1, 0, 1]) = [-0.158655, 0, 0.841345]
    close(&gelu.to_vec(), &[-0.158_655_25, 0.0, 0.841_344_7], 1e-6);
    let nan = Tensor::from_vec(vec![1.0, f32::NAN, 3.0], &[3]).unwrap();
    assert!(
        nan.max(&[0], false).unwrap().to_vec()[0].is_nan(),
        "NaN must propagate through max"
    );
}

#[test]
fn matmul_agrees_with_naive_and_is_thread_count_independent() {
    let mut rng = Rng::seed(9);
    for &(m, k, n) in &[(1, 7, 1), (33, 65, 17), (200, 150, 180)] {
        let a = rng.normal(&[m, k], 0.0, 1.0);
        let b = rng.normal(&[k, n], 0.0, 1.0);
        let (av, bv) = (a.to_vec(), b.to_vec());
        let mut naive = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                naive[i * n + j] = (0..k)
                    .map(|p| av[i * k + p] as f64 * bv[p * n + j] as f64)
                    .sum::<f64>() as f32;
            }
        }
        close(&a.matmul(&b).unwrap().to_vec(), &naive, 1e-4);
    }
    let a = rng.normal(&[3, 257, 129], 0.0, 1.0);
    let b = rng.normal(&[3, 129, 300], 0.0, 1.0);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            (
                a.matmul(&b).unwrap().to_vec(),
                a.matmul(&b.narrow(2, 0, 5).unwrap()).unwrap().to_vec(),
            )
        })
    };
    assert_eq!(run(1), run(2));
    assert_eq!(run(1), run(4));
}

#[test]
fn convolution_by_unfold_matches_a_direct_loop() {
    use core_tensor::Patches;
    let mut rng = Rng::seed(12);
    let (n, c, h, w, o, k) = (2, 3, 6, 5, 4, 3);
    let x = rng.normal(&[n, c, h, w], 0.0, 1.0);
    let wt = rng.normal(&[o, c, k, k], 0.0, 1.0);
    let p = Patches {
        kh: k,
        kw: k,
        stride: 2,
        padding: 1,
    };
    let (oh, ow) = p.grid("test", h, w).unwrap();
    // y = W_flat @ unfold(x): [o, c*k*k] @ [n, c*k*k, L] -> [n, o, L]
    let cols = x.unfold2d(p).unwrap();
    let y = wt
        .reshape(&[o, c * k * k])
        .unwrap()
        .unsqueeze(0)
        .unwrap()
        .broadcast_to(&[n, o, c * k * k])
        .unwrap()
        .matmul(&cols)
        .unwrap();
    let (xv, wv, yv) = (x.to_vec(), wt.to_vec(), y.to_vec());
    for b in 0..n {
        for oc in 0..o {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = 0.0f64;
                    for ic in 0..c {
                        for i in 0..k {
                            for j in 0..k {
                                let (iy, ix) =
                                    ((oy * 2 + i) as isize - 1, (ox * 2 + j) as isize - 1);
                                if iy >= 0 && iy < h as isize && ix >= 0 && ix < w as isize {
                                    s += xv[((b * c + ic) * h + iy as usize) * w + ix as usize]
                                        as f64
                                        * wv[((oc * c + ic) * k + i) * k + j] as f64;
                                }
                            }
                        }
                    }
                    let got = yv[(b * o + oc) * oh * ow + oy * ow + ox];
                    assert!((got as f64 - s).abs() < 1e-4, "{got} vs {s}");
                }
            }
        }
    }
    // fold is the adjoint of unfold: <unfold(x), c> = <x, fold(c)>.
    let cvec = rng.normal(cols.shape(), 0.0, 1.0);
    let lhs: f64 = cols
        .to_vec()
        .iter()
        .zip(cvec.to_vec())
        .map(|(a, b)| *a as f64 * b as f64)
        .sum();
    let rhs: f64 = x
        .to_vec()
        .iter()
        .zip(cvec.fold2d(p, h, w).unwrap().to_vec())
        .map(|(a, b)| *a as f64 * b as f64)
        .sum();
    assert!((lhs - rhs).abs() < 1e-3, "{lhs} vs {rhs}");
}

/// `backward()` frees the graph it walked (PyTorch's default): a second pass is a clear error,
/// `retain_graph` keeps it, and the tensors a caller holds keep their values.
#[test]
fn backward_frees_the_graph_unless_retained() {
    let x = Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap().with_grad();
    let h = x.exp();
    let y = h.sum_all().unwrap();
    y.backward().unwrap();
    let e = [1f32.exp(), 2f32.exp()];
    close(&x.grad().unwrap().to_vec(), &e, 1e-6);
    // The intermediate the caller held keeps its value and is still no leaf.
    close(&h.to_vec(), &e, 1e-6);
    assert!(!h.is_leaf());
    let err = y.backward().unwrap_err();
    assert!(
        matches!(&err, TensorError::Autodiff(m) if m.contains("retain_graph")),
        "{err}"
    );
    // The failed pass accumulated nothing.
    close(&x.grad().unwrap().to_vec(), &e, 1e-6);

    x.zero_grad();
    let y = x.exp().sum_all().unwrap();
    y.backward_with(None, GradOptions::retain_graph()).unwrap();
    y.backward().unwrap();
    close(&x.grad().unwrap().to_vec(), &[2.0 * e[0], 2.0 * e[1]], 1e-6);
    assert!(y.backward().is_err());
    // grad() frees the same way; create_graph keeps the graph (it is differentiated again).
    let y = x.square().sum_all().unwrap();
    grad(&y, &[&x], None, GradOptions::create_graph()).unwrap();
    grad(&y, &[&x], None, GradOptions::default()).unwrap();
    assert!(grad(&y, &[&x], None, GradOptions::default()).is_err());
    // A non-scalar output needs a seed.
    assert!(x.exp().backward_with(None, GradOptions::default()).is_err());
}

/// Once the graph is freed, the views of a weight that the forward made (`W.t()`) are gone,
/// so the optimizer's in-place update does not copy the weight; a retained graph still shares
/// its storage, and the update copies rather than change what the graph saw.
#[test]
fn a_freed_graph_lets_the_update_run_in_place() {
    let x = Rng::seed(1).normal(&[4, 3], 0.0, 1.0);
    let w = Rng::seed(2).normal(&[5, 3], 0.0, 1.0).with_grad();
    let storage = |w: &Tensor| w.array().as_ptr();
    let before = storage(&w);
    x.matmul(&w.t())
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    w.update_data(|d| d[[0, 0]] += 1.0).unwrap();
    assert_eq!(storage(&w), before, "the update copied the weight");

    let y = x.matmul(&w.t()).unwrap().sum_all().unwrap();
    y.backward_with(None, GradOptions::retain_graph()).unwrap();
    let before = storage(&w);
    w.update_data(|d| d[[0, 0]] += 1.0).unwrap();
    assert_ne!(
        storage(&w),
        before,
        "a live graph's view of the weight changed"
    );
}
