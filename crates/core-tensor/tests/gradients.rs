//! Every differentiable op of core-tensor against central finite differences, first order
//! (`check_gradients`) and second order (`check_gradgrad`, which is what exact Hessian-vector
//! products rely on). Broadcasting binary ops are checked on both operands and several
//! broadcast patterns; reductions over each axis, with and without `keepdim`.
//!
//! Each check writes one line with its worst relative error straight to stderr, so the
//! figures appear in the output of a plain `cargo test`.

// `&[x.clone()]` reads better than `std::slice::from_ref(&x)` in these tables of checks.
#![allow(clippy::cloned_ref_to_slice_refs)]

use std::io::Write;

use core_tensor::ndarray::{ArrayD, IxDyn};
use core_tensor::{check_gradgrad, check_gradients, GradCheck, Patches, Result, Rng, Tensor};

/// f32 first-order checks must agree to this relative error.
const TOL: f64 = 1e-3;
/// Second-order checks difference a computed gradient, so they carry a little more noise.
const TOL2: f64 = 2e-3;

fn report(kind: &str, name: &str, err: f64, detail: &str) {
    let line = format!("gradcheck {kind:<6} {name:<34} worst rel err {err:.2e}  {detail}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

fn check(name: &str, inputs: &[Tensor], f: impl Fn(&[Tensor]) -> Result<Tensor>) {
    let r = check_gradients(&f, inputs, &GradCheck::default()).unwrap();
    report(
        "grad",
        name,
        r.max_rel_error,
        &format!("({} elements)", r.checked),
    );
    assert!(r.max_rel_error < TOL, "{name}: {r}");
}

fn check2(name: &str, inputs: &[Tensor], f: impl Fn(&[Tensor]) -> Result<Tensor>) {
    check(name, inputs, &f);
    let r = check_gradgrad(&f, inputs, &GradCheck::default()).unwrap();
    report(
        "grad2",
        name,
        r.max_rel_error,
        &format!("({} elements)", r.checked),
    );
    assert!(r.max_rel_error < TOL2, "{name} (second order): {r}");
}

fn normal(seed: u64, shape: &[usize]) -> Tensor {
    Rng::seed(seed).normal(shape, 0.0, 1.0)
}

fn positive(seed: u64, shape: &[usize]) -> Tensor {
    Rng::seed(seed).uniform(shape, 0.5, 2.0)
}

/// Values at least 0.2 away from zero (for ops with a kink at 0).
fn away_from_zero(seed: u64, shape: &[usize]) -> Tensor {
    let u = Rng::seed(seed).uniform(shape, -1.0, 1.0).to_vec();
    let v = u.iter().map(|&a| a.signum() * (0.2 + a.abs())).collect();
    Tensor::from_vec(v, shape).unwrap()
}

/// Distinct values spaced 0.1 apart in random order (so max/min have no near-ties).
fn spaced(seed: u64, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let p = Rng::seed(seed).permutation(n);
    let v = p
        .iter()
        .map(|&i| i as f32 * 0.1 - n as f32 * 0.05)
        .collect();
    Tensor::from_vec(v, shape).unwrap()
}

#[test]
fn unary_ops() {
    let x = normal(1, &[3, 4]);
    let p = positive(2, &[3, 4]);
    let k = away_from_zero(3, &[3, 4]);
    check2("neg", &[x.clone()], |a| a[0].neg().mul(&a[0]));
    check2("exp", &[x.clone()], |a| Ok(a[0].exp()));
    check2("log", &[p.clone()], |a| Ok(a[0].log()));
    check2("sqrt", &[p.clone()], |a| Ok(a[0].sqrt()));
    check2("abs", &[k.clone()], |a| a[0].abs().mul(&a[0]));
    check2("relu", &[k.clone()], |a| Ok(a[0].relu().square()));
    check2("leaky_relu", &[k.clone()], |a| {
        Ok(a[0].leaky_relu(0.1).square())
    });
    check2("sigmoid", &[x.clone()], |a| Ok(a[0].sigmoid()));
    check2("tanh", &[x.clone()], |a| Ok(a[0].tanh()));
    check2("erf", &[x.clone()], |a| Ok(a[0].erf()));
    check2("gelu", &[x.clone()], |a| Ok(a[0].gelu()));
    check2("softplus", &[x.clone()], |a| Ok(a[0].softplus()));
    check2("powf(3)", &[x.clone()], |a| Ok(a[0].powf(3.0)));
    check2("powf(-1.5)", &[p.clone()], |a| Ok(a[0].powf(-1.5)));
    check2("square", &[x.clone()], |a| Ok(a[0].square()));
    check2("add_scalar", &[x.clone()], |a| {
        Ok(a[0].add_scalar(2.5).square())
    });
    check2("sub_scalar", &[x.clone()], |a| {
        Ok(a[0].sub_scalar(2.5).square())
    });
    check2("mul_scalar", &[x.clone()], |a| {
        Ok(a[0].mul_scalar(-3.0).square())
    });
    check2("div_scalar", &[x.clone()], |a| {
        Ok(a[0].div_scalar(4.0).square())
    });
    // Clamp bounds at least 0.1 from every input value, so no FD step crosses a bound.
    let c = Tensor::from_vec(
        vec![
            -1.2, -0.9, -0.5, -0.3, 0.0, 0.2, 0.45, 0.6, 0.8, 1.0, 1.3, -0.7,
        ],
        &[3, 4],
    )
    .unwrap();
    check2("clamp", &[c], |a| Ok(a[0].clamp(-0.6, 0.7)?.square()));
}

#[test]
fn binary_ops_with_broadcasting() {
    // (lhs shape, rhs shape): equal, trailing vector, column, leading axis, rank-0.
    let patterns: [(&[usize], &[usize]); 5] = [
        (&[3, 4], &[3, 4]),
        (&[3, 4], &[4]),
        (&[3, 4], &[3, 1]),
        (&[2, 1, 4], &[3, 4]),
        (&[3, 4], &[]),
    ];
    for (i, (sa, sb)) in patterns.iter().enumerate() {
        let s = i as u64 * 10;
        let (a, b) = (normal(s + 1, sa), normal(s + 2, sb));
        // Denominators in [1, 2]: the FD truncation error of a/b grows like 1/b^5.
        let pa = Rng::seed(s + 3).uniform(sa, 1.0, 2.0);
        let pb = Rng::seed(s + 4).uniform(sb, 1.0, 2.0);
        let tag = format!("{sa:?}.{sb:?}");
        check2(&format!("add {tag}"), &[a.clone(), b.clone()], |t| {
            Ok(t[0].add(&t[1])?.square())
        });
        check2(&format!("sub {tag}"), &[a.clone(), b.clone()], |t| {
            Ok(t[0].sub(&t[1])?.square())
        });
        check2(&format!("mul {tag}"), &[a.clone(), b.clone()], |t| {
            t[0].mul(&t[1])
        });
        check2(&format!("div {tag}"), &[a.clone(), pb.clone()], |t| {
            t[0].div(&t[1])
        });
        check2(&format!("div(rhs) {tag}"), &[pa.clone(), pb.clone()], |t| {
            t[1].div(&t[0])
        });
    }
    // max/min with operands at least 0.2 apart everywhere (no ties within the FD step).
    let a = normal(50, &[3, 4]);
    let d = away_from_zero(51, &[3, 4]);
    let b_vals: Vec<f32> = a
        .to_vec()
        .iter()
        .zip(d.to_vec())
        .map(|(x, y)| x + y)
        .collect();
    let b = Tensor::from_vec(b_vals, &[3, 4]).unwrap();
    check2("maximum", &[a.clone(), b.clone()], |t| {
        Ok(t[0].maximum(&t[1])?.square())
    });
    check2("minimum", &[a.clone(), b.clone()], |t| {
        Ok(t[0].minimum(&t[1])?.square())
    });
    let row = Tensor::from_vec(vec![-5.0, 5.0, -5.0, 5.0], &[4]).unwrap();
    check2("maximum bcast", &[a.clone(), row.clone()], |t| {
        Ok(t[0].maximum(&t[1])?.square())
    });
}

#[test]
fn reductions_over_each_axis() {
    let x = normal(7, &[2, 3, 4]);
    let s = spaced(8, &[2, 3, 4]);
    let axes_list: [&[isize]; 6] = [&[0], &[1], &[2], &[-1], &[0, 2], &[0, 1, 2]];
    for axes in axes_list {
        for keepdim in [false, true] {
            let tag = format!("{axes:?} keepdim={keepdim}");
            check2(&format!("sum {tag}"), &[x.clone()], |t| {
                Ok(t[0].sum(axes, keepdim)?.square())
            });
            check2(&format!("mean {tag}"), &[x.clone()], |t| {
                Ok(t[0].mean(axes, keepdim)?.square())
            });
            check2(&format!("max {tag}"), &[s.clone()], |t| {
                Ok(t[0].max(axes, keepdim)?.square())
            });
            check2(&format!("min {tag}"), &[s.clone()], |t| {
                Ok(t[0].min(axes, keepdim)?.square())
            });
            check2(&format!("var(c=1) {tag}"), &[x.clone()], |t| {
                t[0].var(axes, 1, keepdim)
            });
        }
    }
    check2("var(c=0) [1]", &[x.clone()], |t| t[0].var(&[1], 0, false));
    check2("sum_all", &[x.clone()], |t| Ok(t[0].sum_all()?.square()));
    check2("mean_all", &[x.clone()], |t| Ok(t[0].mean_all()?.square()));
}

#[test]
fn softmax_family() {
    let x = normal(9, &[3, 5]).mul_scalar(2.0);
    for axis in [0, 1, -1] {
        check2(&format!("softmax axis {axis}"), &[x.clone()], |t| {
            t[0].softmax(axis)
        });
        check2(&format!("log_softmax axis {axis}"), &[x.clone()], |t| {
            t[0].log_softmax(axis)
        });
        for keepdim in [false, true] {
            check2(
                &format!("logsumexp axis {axis} keepdim={keepdim}"),
                &[x.clone()],
                |t| t[0].logsumexp(axis, keepdim),
            );
        }
    }
    let x3 = normal(10, &[2, 3, 4]);
    check2("softmax rank-3 axis 1", &[x3.clone()], |t| t[0].softmax(1));
}

#[test]
fn fused_bce_with_logits() {
    // Both arguments, a transposed (non-contiguous) view, and logits of several scales.
    let x = normal(30, &[4, 6]).mul_scalar(3.0);
    let t = Rng::seed(31).uniform(&[4, 6], 0.0, 1.0);
    check2("bce_with_logits (x, t)", &[x.clone(), t.clone()], |v| {
        v[0].bce_with_logits(&v[1])
    });
    check2("bce_with_logits transposed", &[x.clone(), t.clone()], |v| {
        v[0].t().bce_with_logits(&v[1].t())
    });
    // Inside a larger expression (the VAE's use: scaled and added).
    check2("bce_with_logits * 7 + sum", &[x.clone()], |v| {
        v[0].bce_with_logits(&t)?
            .mul_scalar(7.0)
            .add(&v[0].sum_all()?)
    });
}

#[test]
fn layout_ops() {
    let x = normal(11, &[2, 3, 4]);
    let sq = |t: Tensor| t.mul(&t);
    check2("reshape", &[x.clone()], |t| sq(t[0].reshape(&[6, 4])?));
    check2("flatten_from", &[x.clone()], |t| sq(t[0].flatten_from(1)?));
    check2("permute", &[x.clone()], |t| sq(t[0].permute(&[2, 0, 1])?));
    check2("transpose", &[x.clone()], |t| sq(t[0].transpose(0, 2)?));
    check2("t", &[x.clone()], |t| sq(t[0].t()));
    check2("unsqueeze/squeeze", &[x.clone()], |t| {
        sq(t[0].unsqueeze(1)?.squeeze(1)?)
    });
    let b = normal(12, &[3, 1]);
    check2("broadcast_to", &[b.clone()], |t| {
        sq(t[0].broadcast_to(&[2, 3, 4])?)
    });
    check2("slice", &[x.clone()], |t| {
        sq(t[0].slice(&[0..2, 1..3, 1..4])?)
    });
    check2("narrow", &[x.clone()], |t| sq(t[0].narrow(-1, 1, 2)?));
    check2("pad", &[x.clone()], |t| {
        sq(t[0].pad(&[(1, 0), (0, 2), (1, 1)])?)
    });
    let y = normal(13, &[2, 2, 4]);
    check2("concat", &[x.clone(), y.clone()], |t| {
        sq(Tensor::concat(&[t[0].clone(), t[1].clone()], 1)?)
    });
    let z = normal(14, &[2, 3, 4]);
    check2("stack", &[x.clone(), z.clone()], |t| {
        sq(Tensor::stack(&[t[0].clone(), t[1].clone()], 1)?)
    });
    let table = normal(15, &[5, 3]);
    check2("index_select (repeats)", &[table.clone()], |t| {
        sq(t[0].index_select(0, &[4, 0, 4, 2])?)
    });
    check2("index_select axis 1", &[table.clone()], |t| {
        sq(t[0].index_select(1, &[2, 2, 0])?)
    });
    let idx =
        ArrayD::from_shape_vec(IxDyn(&[5, 2]), vec![0usize, 2, 1, 1, 2, 0, 0, 0, 1, 2]).unwrap();
    check2("gather axis 1", &[table.clone()], |t| {
        sq(t[0].gather(1, &idx)?)
    });
    let idx0 = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![4usize, 0, 1, 1, 1, 3]).unwrap();
    check2("gather axis 0", &[table.clone()], |t| {
        sq(t[0].gather(0, &idx0)?)
    });
}

#[test]
fn matmul_shapes() {
    let a = normal(20, &[4, 3]);
    let b = normal(21, &[3, 5]);
    let sq = |t: Tensor| t.mul(&t);
    check2("matmul 2d", &[a.clone(), b.clone()], |t| t[0].matmul(&t[1]));
    check2("matmul 2d squared", &[a.clone(), b.clone()], |t| {
        sq(t[0].matmul(&t[1])?)
    });
    let at = normal(22, &[3, 4]);
    let bt = normal(23, &[5, 3]);
    check2("matmul a.t() @ b.t()", &[at.clone(), bt.clone()], |t| {
        sq(t[0].t().matmul(&t[1].t())?)
    });
    let a3 = normal(24, &[2, 4, 3]);
    let b3 = normal(25, &[2, 3, 5]);
    check2("matmul batched 3d", &[a3.clone(), b3.clone()], |t| {
        sq(t[0].matmul(&t[1])?)
    });
    check2("matmul 3d @ 2d", &[a3.clone(), b.clone()], |t| {
        sq(t[0].matmul(&t[1])?)
    });
    let a4 = normal(26, &[2, 2, 3, 2]);
    let b4 = normal(27, &[1, 2, 2, 3]);
    check2(
        "matmul 4d broadcast batch",
        &[a4.clone(), b4.clone()],
        |t| sq(t[0].matmul(&t[1])?),
    );
    let q = normal(28, &[2, 3, 4]);
    check2("attention q k^T", &[q.clone()], |t| {
        sq(t[0].matmul(&t[0].t())?.softmax(-1)?)
    });
}

#[test]
fn composite_two_layer_network() {
    let mut rng = Rng::seed(30);
    let x = rng.normal(&[6, 4], 0.0, 1.0);
    let w1 = rng.normal(&[4, 8], 0.0, 0.5);
    let b1 = rng.normal(&[8], 0.0, 0.1);
    let w2 = rng.normal(&[8, 3], 0.0, 0.5);
    let targets = ArrayD::from_shape_vec(IxDyn(&[6, 1]), vec![0usize, 2, 1, 1, 0, 2]).unwrap();
    let loss = |t: &[Tensor]| -> Result<Tensor> {
        let h = x.matmul(&t[0])?.add(&t[1])?.gelu();
        let logits = h.matmul(&t[2])?;
        Ok(logits
            .log_softmax(-1)?
            .gather(1, &targets)?
            .mean_all()?
            .neg())
    };
    check2("mlp cross-entropy", &[w1, b1, w2], loss);
}

#[test]
fn unfold_and_fold() {
    let x = normal(40, &[2, 3, 5, 4]);
    for p in [
        Patches {
            kh: 3,
            kw: 3,
            stride: 1,
            padding: 1,
        },
        Patches {
            kh: 2,
            kw: 3,
            stride: 2,
            padding: 0,
        },
        Patches {
            kh: 3,
            kw: 2,
            stride: 2,
            padding: 1,
        },
    ] {
        let tag = format!("{}x{} s{} p{}", p.kh, p.kw, p.stride, p.padding);
        check2(&format!("unfold2d {tag}"), &[x.clone()], |t| {
            let u = t[0].unfold2d(p)?;
            u.mul(&u)
        });
        let cols = x.unfold2d(p).unwrap();
        let c = normal(41, cols.shape());
        check2(&format!("fold2d {tag}"), &[c], |t| {
            let f = t[0].fold2d(p, 5, 4)?;
            f.mul(&f)
        });
    }
}
