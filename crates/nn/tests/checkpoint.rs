//! Checkpoints: round trip with optimizer state (training resumes identically), every
//! mismatch reported, and a file PyTorch's safetensors reader can parse (checked here by
//! reading it back with the safetensors crate's own parser and header).

use std::path::{Path, PathBuf};

use core_tensor::Rng;
use nn::checkpoint::{load, save};
use nn::parameter_tensors;
use nn::{loss, Activation, Linear, Module, NnError, Sequential};
use optim::{Adam, Optimizer};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn net(seed: u64) -> Sequential {
    let mut rng = Rng::seed(seed);
    Sequential::new()
        .push(Linear::new(6, 5, true, &mut rng).unwrap())
        .push(Activation::Tanh)
        .push(Linear::new(5, 3, true, &mut rng).unwrap())
}

fn train_steps(net: &Sequential, opt: &mut dyn Optimizer, steps: usize) -> Vec<f32> {
    let mut rng = Rng::seed(77);
    let x = rng.normal(&[8, 6], 0.0, 1.0);
    let y = [0, 1, 2, 1, 0, 2, 2, 1];
    let params = parameter_tensors(net);
    (0..steps)
        .map(|_| {
            let l = loss::cross_entropy(&net.forward(&x).unwrap(), &y).unwrap();
            l.backward().unwrap();
            opt.step(&params).unwrap();
            params.iter().for_each(|p| p.zero_grad());
            l.item().unwrap()
        })
        .collect()
}

#[test]
fn round_trip_resumes_training_exactly() {
    let dir = scratch("ckpt");
    let a = net(1);
    let mut opt = Adam::new(0.01).build().unwrap();
    train_steps(&a, &mut opt, 5);
    let path = dir.join("model.safetensors");
    save(&path, &a, Some(&opt.state())).unwrap();
    let continued = train_steps(&a, &mut opt, 5);

    let b = net(2); // different weights, same architecture
    let state = load(&path, &b.parameters())
        .unwrap()
        .expect("optimizer state saved");
    let mut opt_b = Adam::new(0.01).build().unwrap();
    opt_b.load_state(state).unwrap();
    assert_eq!(
        train_steps(&b, &mut opt_b, 5),
        continued,
        "resumed training must match bit for bit"
    );

    // The file is standard safetensors: header names, dtypes and shapes as PyTorch expects.
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let w = st.tensor("0.weight").unwrap();
    assert_eq!(
        (w.dtype(), w.shape().to_vec()),
        (safetensors::Dtype::F32, vec![5, 6])
    );
    assert!(st
        .names()
        .iter()
        .any(|n| n.starts_with("optimizer.0.exp_avg")));
}

#[test]
fn every_mismatch_is_reported_and_nothing_is_loaded() {
    let dir = scratch("ckpt-bad");
    let path = dir.join("m.safetensors");
    let a = net(1);
    save(&path, &a, None).unwrap();
    // Another architecture: 6 -> 4 -> 3 and an extra layer.
    let mut rng = Rng::seed(3);
    let other = Sequential::new()
        .push(Linear::new(6, 4, true, &mut rng).unwrap())
        .push(Activation::Tanh)
        .push(Linear::new(4, 3, false, &mut rng).unwrap())
        .push(Linear::new(3, 3, true, &mut rng).unwrap());
    let before: Vec<Vec<f32>> = other.parameters().iter().map(|(_, t)| t.to_vec()).collect();
    let err = load(&path, &other.parameters()).unwrap_err();
    let NnError::Checkpoint { problems, .. } = &err else {
        panic!("{err}")
    };
    let text = err.to_string();
    assert!(text.starts_with(&path.display().to_string()), "{text}");
    for want in [
        "`0.weight` has shape [5, 6], the model expects [4, 6]",
        "`0.bias` has shape [5], the model expects [4]",
        "`2.weight` has shape [3, 5], the model expects [3, 4]",
        "missing tensor `3.weight` (expected shape [3, 3])",
        "missing tensor `3.bias` (expected shape [3])",
        "unexpected tensor `2.bias` (the model has no such parameter)",
    ] {
        assert!(
            problems.iter().any(|p| p == want),
            "missing problem {want:?} in {problems:?}"
        );
    }
    let after: Vec<Vec<f32>> = other.parameters().iter().map(|(_, t)| t.to_vec()).collect();
    assert_eq!(before, after, "a failed load changes nothing");
    std::fs::write(dir.join("junk.safetensors"), b"not a checkpoint").unwrap();
    assert!(load(&dir.join("junk.safetensors"), &a.parameters())
        .unwrap_err()
        .to_string()
        .contains("not a valid safetensors file"));
}

#[test]
fn flush_to_zero_leaves_the_losses_unchanged() {
    // Training with FTZ/DAZ on must give the same losses as without (denormals are below
    // 1.2e-38 and never reach a loss at this scale); only the speed may differ.
    let plain = {
        let n = net(5);
        let mut opt = Adam::new(0.01).build().unwrap();
        train_steps(&n, &mut opt, 30)
    };
    let flushed = core_tensor::with_flush_denormals(|| {
        assert!(core_tensor::flush_denormals_enabled());
        let n = net(5);
        let mut opt = Adam::new(0.01).build().unwrap();
        train_steps(&n, &mut opt, 30)
    });
    assert_eq!(plain, flushed);
}

/// A checkpoint of `net(1)`'s parameters with hand-written optimizer metadata and buffers.
fn forged(meta: &[(&str, &str)], buffers: &[(&str, Vec<usize>)]) -> Vec<u8> {
    use safetensors::tensor::{Dtype, TensorView};
    let params = net(1).parameters();
    let mut blobs: Vec<(String, Vec<usize>, Vec<u8>)> = params
        .iter()
        .map(|(n, t)| (n.clone(), t.shape().to_vec(), vec![0u8; 4 * t.numel()]))
        .collect();
    for (name, shape) in buffers {
        let n: usize = shape.iter().product();
        blobs.push((name.to_string(), shape.clone(), vec![0u8; 4 * n]));
    }
    let views: Vec<(String, TensorView<'_>)> = blobs
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let meta = meta
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    safetensors::serialize(views, Some(meta)).unwrap()
}

#[test]
fn hostile_optimizer_metadata_is_bounded_and_changes_nothing() {
    let dir = scratch("ckpt-hostile");
    let ok = [
        ("optimizer", "adam"),
        ("optimizer.step", "3"),
        ("optimizer.lr", "0.01"),
        ("optimizer.buffers", "exp_avg"),
        ("optimizer.params", "4"),
    ];
    let with = |k: &str, v: &str| -> Vec<(&'static str, String)> {
        ok.iter()
            .map(|&(a, b)| (a, if a == k { v.to_string() } else { b.to_string() }))
            .filter(|(_, b)| !b.is_empty())
            .collect()
    };
    let exp_avg = |i: usize, shape: Vec<usize>| (format!("optimizer.{i}.exp_avg"), shape);
    type Case<'a> = (
        &'a str,
        Vec<(&'a str, String)>,
        Vec<(String, Vec<usize>)>,
        &'a str,
    );
    let cases: Vec<Case<'_>> = vec![
        // The count that fed Vec::with_capacity unchecked: a small file could abort the process.
        (
            "huge count",
            with("optimizer.params", "1000000000000000000"),
            vec![],
            "optimizer.params = 1000000000000000000, but the model has 4 parameters",
        ),
        (
            "count not a number",
            with("optimizer.params", "-1"),
            vec![],
            "bad optimizer.params `-1`: expected an integer",
        ),
        (
            "lr not finite",
            with("optimizer.lr", "NaN"),
            vec![],
            "bad optimizer.lr `NaN`: expected a finite number",
        ),
        (
            "step missing",
            with("optimizer.step", ""),
            vec![],
            "optimizer state without `optimizer.step` metadata",
        ),
        (
            "more buffer names than tensors",
            with("optimizer.buffers", &"b,".repeat(100)),
            vec![],
            "optimizer.buffers names 100 buffers; the file holds 4 tensors in all",
        ),
        (
            "a buffer of the wrong size",
            ok.iter().map(|&(a, b)| (a, b.to_string())).collect(),
            vec![exp_avg(0, vec![30]), exp_avg(1, vec![4])],
            "`optimizer.1.exp_avg` is F32 of shape [4]; parameter `0.bias` needs F32 [5]",
        ),
    ];
    for (what, meta, buffers, want) in cases {
        let meta: Vec<(&str, &str)> = meta.iter().map(|(a, b)| (*a, b.as_str())).collect();
        let buffers: Vec<(&str, Vec<usize>)> = buffers
            .iter()
            .map(|(a, b)| (a.as_str(), b.clone()))
            .collect();
        let path = dir.join("forged.safetensors");
        std::fs::write(&path, forged(&meta, &buffers)).unwrap();
        let target = net(2);
        let before: Vec<Vec<f32>> = target
            .parameters()
            .iter()
            .map(|(_, t)| t.to_vec())
            .collect();
        let err = load(&path, &target.parameters()).unwrap_err();
        let NnError::Checkpoint { problems, .. } = &err else {
            panic!("{what}: {err}")
        };
        assert_eq!(problems, &[want.to_string()], "{what}");
        assert!(
            err.to_string().starts_with(&path.display().to_string()),
            "{what}"
        );
        let after: Vec<Vec<f32>> = target
            .parameters()
            .iter()
            .map(|(_, t)| t.to_vec())
            .collect();
        assert_eq!(
            before, after,
            "{what}: a refused checkpoint changes nothing"
        );
    }
    // A well-formed forged state loads.
    let path = dir.join("fine.safetensors");
    std::fs::write(&path, forged(&ok, &[("optimizer.0.exp_avg", vec![30])])).unwrap();
    let st = load(&path, &net(2).parameters()).unwrap().unwrap();
    assert_eq!(
        (st.step, st.buffers.len(), st.buffers[0][0].len()),
        (3, 4, 30)
    );
    // Not a regular file: refused without blocking.
    let fifo = dir.join("fifo.safetensors");
    if std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success())
    {
        let err = load(&fifo, &net(2).parameters()).unwrap_err().to_string();
        assert!(err.ends_with("not a regular file"), "{err}");
    }
}
