//! Layers, losses, initialisers and metrics: gradient checks against finite differences,
//! values derived by hand (or matching PyTorch's documented results), and stability.

// `&[x.clone()]` reads better than `std::slice::from_ref(&x)` in these checks.
#![allow(clippy::cloned_ref_to_slice_refs)]

use core_tensor::{check_gradients, GradCheck, Rng, Tensor};
use nn::init::{self, Gain};
use nn::metrics::{accuracy, confusion_matrix, per_class_accuracy, predictions};
use nn::{loss, Activation, Dropout, LayerNorm, Linear, Module, Sequential};

fn check(name: &str, inputs: &[Tensor], f: impl Fn(&[Tensor]) -> core_tensor::Result<Tensor>) {
    let r = check_gradients(&f, inputs, &GradCheck::default()).unwrap();
    println!("gradcheck {name}: {r}");
    assert!(r.max_rel_error < 1e-3, "{name}: {r}");
}

fn ce(t: &[Tensor], y: &[usize], eps: f32) -> core_tensor::Result<Tensor> {
    Ok(loss::cross_entropy_smoothed(&t[0], y, eps)?)
}

#[test]
fn linear_and_layer_norm_gradients() {
    let mut rng = Rng::seed(1);
    let x = rng.normal(&[5, 4], 0.0, 1.0);
    let lin = Linear::new(4, 3, true, &mut rng).unwrap();
    let (w, b) = (lin.weight.clone(), lin.bias.clone().unwrap());
    check("linear", &[x.clone(), w, b], |t| {
        let l = Linear::from_tensors(t[1].clone(), Some(t[2].clone())).unwrap();
        Ok(l.forward(&t[0])
            .map_err(|e| core_tensor::TensorError::invalid("linear", e.to_string()))?
            .square())
    });
    let ln = LayerNorm::new(4, 1e-5);
    let g = rng.normal(&[4], 1.0, 0.2);
    let bb = rng.normal(&[4], 0.0, 0.2);
    // Rows with a larger spread keep the normalisation's curvature (~1/std^2) small next to the
    // finite-difference step, so the f32 central difference stays accurate.
    let xs = x.mul_scalar(3.0);
    check("layer_norm", &[xs, g, bb], |t| {
        let l = LayerNorm {
            weight: t[1].clone(),
            bias: t[2].clone(),
            eps: 1e-5,
        };
        let y = l
            .forward(&t[0])
            .map_err(|e| core_tensor::TensorError::invalid("ln", e.to_string()))?;
        y.mul(&y.add_scalar(0.3))
    });
    // Normalised rows: mean 0, population variance 1 (up to eps).
    let y = ln.forward(&x).unwrap();
    let m = y.mean(&[-1], false).unwrap().to_vec();
    let v = y.var(&[-1], 0, false).unwrap().to_vec();
    assert!(
        m.iter().all(|a| a.abs() < 1e-5) && v.iter().all(|a| (a - 1.0).abs() < 1e-3),
        "{m:?} {v:?}"
    );
}

#[test]
fn losses_match_hand_values_and_are_stable() {
    let close = |a: f32, b: f32| assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    let z = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[1, 3]).unwrap();
    // -log(e^3 / (e + e^2 + e^3)) = 0.40760596
    close(
        loss::cross_entropy(&z, &[2]).unwrap().item().unwrap(),
        0.407_605_96,
    );
    // eps = 0.1: q = [1/30, 1/30, 0.9 + 1/30]; logp = [-2.40760596, -1.40760596, -0.40760596]
    close(
        loss::cross_entropy_smoothed(&z, &[2], 0.1)
            .unwrap()
            .item()
            .unwrap(),
        0.507_605_96,
    );
    close(
        loss::nll_loss(&z.log_softmax(-1).unwrap(), &[2])
            .unwrap()
            .item()
            .unwrap(),
        0.407_605_96,
    );
    // Logits of +-1e4: finite loss (2e4) and finite gradient.
    let big = Tensor::from_vec(vec![1e4, -1e4], &[1, 2])
        .unwrap()
        .with_grad();
    let l = loss::cross_entropy(&big, &[1]).unwrap();
    close(l.item().unwrap(), 2e4);
    l.backward().unwrap();
    assert_eq!(big.grad().unwrap().to_vec(), vec![1.0, -1.0]);
    // BCE with logits: z = 0 -> ln 2; z = 1e4, t = 0 -> 1e4 (finite).
    let bz = Tensor::from_vec(vec![0.0, 1e4], &[2]).unwrap();
    let bt = Tensor::from_vec(vec![1.0, 0.0], &[2]).unwrap();
    close(
        loss::bce_with_logits(&bz, &bt).unwrap().item().unwrap(),
        (std::f32::consts::LN_2 + 1e4) / 2.0,
    );
    // Gaussian NLL: mu 0, t 1, var 2 -> 0.5 (ln 2 + 1/2).
    let g = loss::gaussian_nll(
        &Tensor::zeros(&[1]),
        &Tensor::ones(&[1]),
        &Tensor::full(&[1], 2.0),
        1e-6,
    )
    .unwrap();
    close(g.item().unwrap(), 0.5 * (2f32.ln() + 0.5));
    close(
        loss::mse(&Tensor::ones(&[2]), &Tensor::zeros(&[2]))
            .unwrap()
            .item()
            .unwrap(),
        1.0,
    );
    assert!(loss::cross_entropy(&z, &[3])
        .unwrap_err()
        .to_string()
        .contains("target 3 out of range for 3 classes"));
    assert!(loss::cross_entropy(&z, &[0, 1]).is_err());
}

#[test]
fn loss_gradients() {
    let mut rng = Rng::seed(2);
    let z = rng.normal(&[4, 5], 0.0, 2.0);
    let y = [0, 4, 2, 2];
    check("cross_entropy", &[z.clone()], |t| ce(t, &y, 0.0));
    check("cross_entropy smoothing", &[z.clone()], |t| ce(t, &y, 0.2));
    let tg = rng.bernoulli(&[4, 5], 0.5);
    check("bce_with_logits", &[z.clone()], |t| {
        loss::bce_with_logits(&t[0], &tg)
            .map_err(|e| core_tensor::TensorError::invalid("bce", e.to_string()))
    });
    let target = rng.normal(&[4, 5], 0.0, 1.0);
    let var = rng.uniform(&[4, 5], 0.5, 2.0);
    check("gaussian_nll", &[z.clone(), var], |t| {
        loss::gaussian_nll(&t[0], &target, &t[1], 1e-6)
            .map_err(|e| core_tensor::TensorError::invalid("gnll", e.to_string()))
    });
}

#[test]
fn dropout_trains_and_evaluates() {
    let mut d = Dropout::new(0.25, 3).unwrap();
    let x = Tensor::ones(&[100_000]);
    let y = d.forward(&x).unwrap().to_vec();
    let zeros = y.iter().filter(|&&v| v == 0.0).count() as f64 / y.len() as f64;
    assert!((zeros - 0.25).abs() < 0.01, "dropped {zeros}");
    assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
    let mean = y.iter().map(|&v| v as f64).sum::<f64>() / y.len() as f64;
    assert!(
        (mean - 1.0).abs() < 0.01,
        "inverted dropout keeps the mean: {mean}"
    );
    d.set_training(false);
    assert_eq!(d.forward(&x).unwrap().to_vec(), x.to_vec());
    assert!(Dropout::new(1.0, 0).is_err());
}

#[test]
fn initialisers_have_their_variances() {
    let mut rng = Rng::seed(4);
    let var = |t: &Tensor| {
        let v = t.to_vec();
        let m = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / v.len() as f64
    };
    let shape = [256, 784];
    // He: Var = 2 / fan_in for ReLU, uniform and normal.
    for t in [
        init::kaiming_uniform(&shape, Gain::Relu, &mut rng).unwrap(),
        init::kaiming_normal(&shape, Gain::Relu, &mut rng).unwrap(),
    ] {
        assert!((var(&t) / (2.0 / 784.0) - 1.0).abs() < 0.02, "{}", var(&t));
    }
    // Glorot: Var = 2 / (fan_in + fan_out).
    for t in [
        init::xavier_uniform(&shape, Gain::Linear, &mut rng).unwrap(),
        init::xavier_normal(&shape, Gain::Linear, &mut rng).unwrap(),
    ] {
        assert!((var(&t) / (2.0 / 1040.0) - 1.0).abs() < 0.02, "{}", var(&t));
    }
    let u = init::kaiming_uniform(&shape, Gain::Relu, &mut rng).unwrap();
    let bound = (6.0f32 / 784.0).sqrt();
    assert!(u.to_vec().iter().all(|v| v.abs() <= bound));
    assert_eq!(init::fans(&[8, 3, 5, 5]).unwrap(), (75, 200));
    assert!(init::fans(&[3]).is_err());
}

#[test]
fn metrics_by_hand() {
    let s = Tensor::from_vec(
        vec![0.1, 0.9, 0.0, 0.8, 0.1, 0.1, 0.2, 0.2, 0.6, 0.5, 0.5, 0.0],
        &[4, 3],
    )
    .unwrap();
    assert_eq!(predictions(&s).unwrap(), vec![1, 0, 2, 0]);
    assert_eq!(accuracy(&s, &[1, 0, 1, 1]).unwrap(), 0.5);
    let m = confusion_matrix(&[1, 0, 2, 0], &[1, 0, 1, 1], 3).unwrap();
    assert_eq!(m, vec![vec![1, 0, 0], vec![1, 1, 1], vec![0, 0, 0]]);
    let pc = per_class_accuracy(&m);
    assert_eq!(pc[0], 1.0);
    assert!((pc[1] - 1.0 / 3.0).abs() < 1e-12 && pc[2].is_nan());
}

#[test]
fn convolution_gradients_and_shapes() {
    use nn::{Conv2d, ConvTranspose2d};
    let mut rng = Rng::seed(9);
    let x = rng.normal(&[2, 3, 5, 5], 0.0, 1.0);
    let conv = Conv2d::new(3, 4, 3, 2, 1, true, &mut rng).unwrap();
    assert_eq!(conv.forward(&x).unwrap().shape(), &[2, 4, 3, 3]);
    let (w, b) = (conv.weight.clone(), conv.bias.clone().unwrap());
    check("conv2d", &[x.clone(), w, b], |t| {
        let c = Conv2d::from_tensors(t[1].clone(), Some(t[2].clone()), 2, 1).unwrap();
        Ok(c.forward(&t[0])
            .map_err(|e| core_tensor::TensorError::invalid("conv", e.to_string()))?
            .square())
    });
    let up = ConvTranspose2d::new(3, 2, 4, 2, 1, true, &mut rng).unwrap();
    assert_eq!(up.forward(&x).unwrap().shape(), &[2, 2, 10, 10]);
    let (w, b) = (up.weight.clone(), up.bias.clone().unwrap());
    check("conv_transpose2d", &[x.clone(), w, b], |t| {
        let c = ConvTranspose2d::from_tensors(t[1].clone(), Some(t[2].clone()), 2, 1).unwrap();
        Ok(c.forward(&t[0])
            .map_err(|e| core_tensor::TensorError::invalid("convT", e.to_string()))?
            .square())
    });
    // The transposed convolution is the adjoint of the convolution with the same weights:
    // <conv(x), y> = <x, convT(y)> (no bias).
    let wt = rng.normal(&[4, 3, 3, 3], 0.0, 1.0);
    let c = Conv2d::from_tensors(wt.clone(), None, 2, 1).unwrap();
    let ct = ConvTranspose2d::from_tensors(wt, None, 2, 1).unwrap();
    let y = rng.normal(&[2, 4, 3, 3], 0.0, 1.0);
    let dot = |a: &Tensor, b: &Tensor| {
        a.to_vec()
            .iter()
            .zip(b.to_vec())
            .map(|(p, q)| *p as f64 * q as f64)
            .sum::<f64>()
    };
    let lhs = dot(&c.forward(&x).unwrap(), &y);
    let rhs = dot(&x, &ct.forward(&y).unwrap());
    assert!(
        (lhs - rhs).abs() < 1e-3 * lhs.abs().max(1.0),
        "{lhs} vs {rhs}"
    );
}

#[test]
fn the_hessian_of_a_model_in_one_call_matches_the_hand_written_function() {
    use optim::hessian::{dense_matrix, symmetric_eigen, HessianOperator, LinearOperator};
    let mut rng = Rng::seed(3);
    let x = rng.normal(&[8, 3], 0.0, 1.0);
    let y = rng.normal(&[8, 1], 0.0, 1.0);
    let (a, b) = (rng.normal(&[3, 4], 0.0, 0.7), rng.normal(&[4, 1], 0.0, 0.7));
    // The function by hand (optim's test checks it against finite differences) ...
    let by_hand = HessianOperator::new(
        |p: &[Tensor]| {
            x.matmul(&p[0])?
                .tanh()
                .matmul(&p[1])?
                .sub(&y)?
                .square()
                .mean_all()
        },
        &[a.clone(), b.clone()],
    );
    // ... and the same network as modules (Linear stores W as [out, in]).
    let net = Sequential::new()
        .push(Linear::from_tensors(a.t().detach(), None).unwrap())
        .push(Activation::Tanh)
        .push(Linear::from_tensors(b.t().detach(), None).unwrap());
    let op = nn::hessian::hessian_operator(&net, &x, |out| loss::mse(out, &y));
    assert_eq!(op.dim(), by_hand.dim());
    // The parameter order differs by a transpose, so compare spectra.
    let (mine, theirs) = (
        symmetric_eigen(&dense_matrix(&op).unwrap()).0,
        symmetric_eigen(&dense_matrix(&by_hand).unwrap()).0,
    );
    for (m, t) in mine.iter().zip(&theirs) {
        assert!((m - t).abs() < 1e-5 * theirs[15].abs(), "{m} vs {t}");
    }
    // The model's own parameters were neither changed nor given gradients.
    assert!(net.parameters().iter().all(|(_, t)| t.grad().is_none()));

    // Substitutes of the wrong count or shape are refused by name.
    let p = nn::parameter_tensors(&net);
    let err = net.forward_with(&p[..1], &x).unwrap_err().to_string();
    assert_eq!(err, "Sequential: forward_with needs 2 parameters, got 1");
    let err = net
        .forward_with(&[p[0].clone(), Tensor::zeros(&[2, 4])], &x)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "Sequential: forward_with: `2.weight` must have shape [1, 4], got [2, 4]"
    );
}

#[test]
fn conv_config_defaults_and_builders_match_the_positional_constructors() {
    use nn::{Conv2d, ConvConfig, ConvTranspose2d};
    let a = ConvConfig::new(3, 8, 3)
        .stride(2)
        .padding(1)
        .conv(&mut Rng::seed(1))
        .unwrap();
    let b = Conv2d::new(3, 8, 3, 2, 1, true, &mut Rng::seed(1)).unwrap();
    assert_eq!(a.weight.to_vec(), b.weight.to_vec());
    let x = Rng::seed(2).normal(&[1, 3, 9, 9], 0.0, 1.0);
    assert_eq!(
        a.forward(&x).unwrap().to_vec(),
        b.forward(&x).unwrap().to_vec()
    );
    let plain = ConvConfig::new(3, 8, 3);
    assert_eq!((plain.stride, plain.padding, plain.bias), (1, 0, true));
    let t = plain.bias(false).transposed(&mut Rng::seed(1)).unwrap();
    let u = ConvTranspose2d::new(3, 8, 3, 1, 0, false, &mut Rng::seed(1)).unwrap();
    assert_eq!(
        (t.weight.to_vec(), t.bias.is_none()),
        (u.weight.to_vec(), true)
    );
}
