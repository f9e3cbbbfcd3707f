//! Every model the project trains or serves, exported and run by the real runtime: the
//! checker (`full_check`) and strict shape inference pass, and ONNX Runtime's outputs match
//! groundwork's on the same inputs — max |Δ| ≤ 1e-4 for the `nn` networks and the VAE,
//! cosine ≥ 0.99999 for MiniLM FP32 embeddings; for the INT8 export, over the 512 shipped
//! sentences, the same fidelity to FP32 as groundwork's INT8 (mean cosine ≥ 0.998) and a
//! drift from it well inside INT8's own error (why it is not zero: the minilm test's
//! comment; that one layer gives our kernels' bits exactly: the crate's `bert::tests`).

mod common;

use common::{cosine, max_abs_diff, runtime, scratch, Input, Runtime};
use core_tensor::{no_grad, Rng, Tensor};
use lab::params::{Params, Table};
use nn::checkpoint::Snapshot;
use nn::study::{build_model, model_metadata, ClassifierConfig, InitKind, ModelKind};
use nn::{Activation, ConvConfig, Dropout, Embedding, Flatten, LayerNorm, Linear, Module};
use nn::{Reshape, Sequential};
use onnx::{export_checkpoint, export_module, BertExport, Part};
use vae::study::{build_vae, Arch, DataKind, VaeConfig};

fn compare(
    rt: &Runtime,
    model: &onnx::OnnxModel,
    name: &str,
    inputs: &[(&str, Tensor)],
    expected: &[Tensor],
) {
    let dir = scratch(name);
    let path = dir.join(format!("{name}.onnx"));
    model.save(&path).unwrap();
    let feeds: Vec<(&str, Input)> = inputs
        .iter()
        .map(|(n, t)| (*n, Input::F32(t.shape().to_vec(), t.to_vec())))
        .collect();
    let outs = rt.run(&path, &feeds);
    assert_eq!(outs.len(), expected.len(), "{name}: outputs");
    for (o, e) in outs.iter().zip(expected) {
        assert_eq!(o.shape, e.shape(), "{name}: shape of {}", o.name);
        let d = max_abs_diff(&o.values, &e.to_vec());
        assert!(
            d <= 1e-4,
            "{name}: {} differs by {d} from groundwork's",
            o.name
        );
        println!("{name}: {} {:?} max |diff| {d:.2e}", o.name, o.shape);
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn every_nn_layer_runs_in_onnxruntime_as_here() {
    let Some(rt) = runtime("every_nn_layer_runs_in_onnxruntime_as_here") else {
        return;
    };
    let mut rng = Rng::seed(7);
    let mut net = Sequential::new()
        .push(Reshape(vec![1, 8, 8]))
        .push(
            ConvConfig::new(1, 4, 3)
                .stride(2)
                .padding(1)
                .conv(&mut rng)
                .unwrap(),
        )
        .push(Activation::Relu)
        .push(
            ConvConfig::new(4, 2, 4)
                .stride(2)
                .padding(1)
                .transposed(&mut rng)
                .unwrap(),
        )
        .push(Activation::LeakyRelu(0.1))
        .push(Flatten)
        .push(
            Sequential::new()
                .push(Linear::new(128, 16, true, &mut rng).unwrap())
                .push(LayerNorm::new(16, 1e-5))
                .push(Activation::Gelu),
        )
        .push(Dropout::new(0.5, 3).unwrap())
        .push(Activation::Tanh)
        .push(Linear::new(16, 5, false, &mut rng).unwrap())
        .push(Activation::Sigmoid);
    net.set_training(false);
    let x = rng.normal(&[3, 64], 0.0, 1.0);
    let y = no_grad(|| net.forward(&x)).unwrap();
    let model = export_module(&net, &[64], "every-layer").unwrap();
    compare(&rt, &model, "every-layer", &[("input", x)], &[y]);

    let table = Sequential::new()
        .push(Embedding::new(10, 6, &mut rng))
        .push(Flatten)
        .push(Linear::new(24, 3, true, &mut rng).unwrap());
    let ids = Tensor::from_vec((0..20).map(|i| (i * 7 % 10) as f32).collect(), &[5, 4]).unwrap();
    let y = no_grad(|| table.forward(&ids)).unwrap();
    let model = export_module(&table, &[4], "embedding").unwrap();
    compare(&rt, &model, "embedding", &[("input", ids)], &[y]);
}

/// A study's checkpoint as the runner writes it (`model.safetensors` with the metadata).
fn study_checkpoint<P: Params>(
    dir: &std::path::Path,
    study: &str,
    cfg: &P,
    params: &[(String, Tensor)],
) -> std::path::PathBuf {
    let path = dir.join(format!("{study}.safetensors"));
    let bytes = Snapshot::of(params, &model_metadata(study, cfg))
        .to_bytes()
        .unwrap();
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn the_classifier_studys_networks_export_from_their_checkpoints() {
    let Some(rt) = runtime("the_classifier_studys_networks_export_from_their_checkpoints") else {
        return;
    };
    let dir = scratch("classifier-checkpoints");
    for kind in [ModelKind::Mlp, ModelKind::Cnn] {
        let mut table = Table::new();
        table.insert("model".into(), format!("{kind:?}").to_lowercase().into());
        table.insert("optimizer".into(), "adam".into());
        table.insert("lr".into(), 1e-3.into());
        let cfg = ClassifierConfig::from_table(&table).unwrap();
        let net = build_model(kind, InitKind::He, &mut Rng::seed(11)).unwrap();
        let path = study_checkpoint(&dir, "classifier", &cfg, &net.parameters());
        let model = export_checkpoint(&path, None).unwrap();
        let x = Rng::seed(12).uniform(&[4, 784], 0.0, 1.0);
        let y = no_grad(|| net.forward(&x)).unwrap();
        compare(
            &rt,
            &model,
            &format!("classifier-{kind:?}"),
            &[("input", x)],
            &[y],
        );
    }
}

#[test]
fn the_vaes_encoders_and_decoders_export_from_their_checkpoints() {
    let Some(rt) = runtime("the_vaes_encoders_and_decoders_export_from_their_checkpoints") else {
        return;
    };
    let dir = scratch("vae-checkpoints");
    let configs = [
        VaeConfig::default(),
        VaeConfig {
            model: Arch::Conv,
            ..VaeConfig::default()
        },
        VaeConfig {
            dataset: DataKind::FashionMnist,
            latent: 2,
            likelihood: vae::model::Likelihood::Gaussian,
            ..VaeConfig::default()
        },
    ];
    for (i, cfg) in configs.iter().enumerate() {
        let vae = build_vae(cfg, &mut Rng::seed(20 + i as u64)).unwrap();
        let path = study_checkpoint(&dir, "vae", cfg, &vae.named_parameters());
        let x = Rng::seed(30).uniform(&[3, vae.pixels()], 0.0, 1.0);
        let (mu, logvar) = no_grad(|| vae.encode(&x)).unwrap();
        let model = export_checkpoint(&path, Some(Part::Encoder)).unwrap();
        assert_eq!(model.outputs(), ["mu", "logvar"]);
        compare(
            &rt,
            &model,
            &format!("vae{i}-encoder"),
            &[("x", x)],
            &[mu, logvar],
        );
        let z = Rng::seed(31).normal(&[3, vae.latent()], 0.0, 1.0);
        let mean = no_grad(|| vae.reconstruct_mean(&z)).unwrap();
        let model = export_checkpoint(&path, Some(Part::Decoder)).unwrap();
        compare(
            &rt,
            &model,
            &format!("vae{i}-decoder"),
            &[("z", z)],
            &[mean],
        );
    }
}

/// The first `count` of the 512 shipped sentences as padded `input_ids` and `attention_mask`, and groundwork's
/// own embeddings of them.
fn minilm_case(model: &quant::Model, count: usize) -> (Vec<(&'static str, Input)>, Vec<Vec<f32>>) {
    let texts: Vec<&str> = quant::study::BENCH_SENTENCES
        .lines()
        .filter(|l| !l.is_empty())
        .take(count)
        .collect();
    let tokens: Vec<Vec<u32>> = texts
        .iter()
        .map(|t| model.tokenize(t).unwrap().ids)
        .collect();
    let len = tokens.iter().map(Vec::len).max().unwrap();
    let (mut ids, mut mask) = (Vec::new(), Vec::new());
    for t in &tokens {
        for p in 0..len {
            ids.push(t.get(p).map_or(0, |&id| id as i64));
            mask.push(i64::from(p < t.len()));
        }
    }
    let shape = vec![tokens.len(), len];
    let ours = model.embed(&texts, 32).unwrap();
    (
        vec![
            ("input_ids", Input::I64(shape.clone(), ids)),
            ("attention_mask", Input::I64(shape, mask)),
        ],
        ours,
    )
}

fn run_minilm(
    rt: &Runtime,
    dir: &std::path::Path,
    model_dir: &std::path::Path,
    opts: BertExport,
    inputs: &[(&str, Input)],
) -> Vec<Vec<f32>> {
    let model = onnx::export_bert(model_dir, "all-minilm-l6-v2", &opts).unwrap();
    assert_eq!(model.inputs(), ["input_ids", "attention_mask"]);
    assert_eq!(
        model.metadata("groundwork.precision"),
        Some(opts.precision())
    );
    let path = dir.join(format!("minilm-{}.onnx", opts.precision()));
    model.save(&path).unwrap();
    let out = rt.run(&path, inputs);
    assert_eq!(out[0].name, "sentence_embedding");
    let dim = out[0].shape[1];
    out[0].values.chunks(dim).map(<[f32]>::to_vec).collect()
}

fn cosines(a: &[Vec<f32>], b: &[Vec<f32>]) -> (f64, f64) {
    let c: Vec<f64> = a.iter().zip(b).map(|(x, y)| cosine(x, y)).collect();
    let mean = c.iter().sum::<f64>() / c.len() as f64;
    (mean, c.iter().copied().fold(f64::INFINITY, f64::min))
}

#[test]
fn minilm_runs_in_onnxruntime_as_here_in_fp32_and_int8() {
    let name = "minilm_runs_in_onnxruntime_as_here_in_fp32_and_int8";
    let Some(model_dir) = quant::model_for_tests("all-minilm-l6-v2") else {
        return;
    };
    let Some(rt) = runtime(name) else {
        return;
    };
    let dir = scratch("minilm");
    let fp32 = quant::Model::load(&model_dir).unwrap();
    let (inputs, ours_fp32) = minilm_case(&fp32, 512);

    let ort_fp32 = run_minilm(&rt, &dir, &model_dir, BertExport::default(), &inputs);
    let (mean, min) = cosines(&ort_fp32, &ours_fp32);
    println!("fp32: ONNX Runtime vs groundwork cosine mean {mean:.7} min {min:.7}");
    assert!(min >= 0.99999, "FP32 export: min cosine {min} < 0.99999");

    // The export's activation range is the one this CPU's INT8 kernel uses (7 bits on AVX2
    // without VNNI), so both sides compute the same integers from the same floats (bit for
    // bit: `bert::tests` in the crate). End to end they drift apart a little: ONNX Runtime's
    // LayerNorm, erf and softmax round differently from ours in the last bit, a code near a
    // rounding boundary flips, and the flips compound over six layers. So the claims are:
    // the drift is well inside INT8's own error, and the exported model is exactly as
    // faithful to FP32 as ours.
    let int8 = quant::Model::load_with(&model_dir, quant::Precision::int8()).unwrap();
    let (_, ours_int8) = minilm_case(&int8, 512);
    let family = quant::int8::default_family();
    let opts = BertExport {
        int8: true,
        reduce_range: quant::int8::max_activation(&family) == 127,
    };
    let ort_int8 = run_minilm(&rt, &dir, &model_dir, opts, &inputs);
    let (ours_mean, ours_min) = cosines(&ours_int8, &ours_fp32);
    let (ort_mean, ort_min) = cosines(&ort_int8, &ours_fp32);
    let (drift_mean, drift_min) = cosines(&ort_int8, &ours_int8);
    println!(
        "{} ({}): to groundwork FP32, ours mean {ours_mean:.5} min {ours_min:.5}, ONNX Runtime \
         mean {ort_mean:.5} min {ort_min:.5}; ONNX Runtime to ours mean {drift_mean:.5} min \
         {drift_min:.5}",
        opts.precision(),
        family.name
    );
    assert!(
        1.0 - drift_mean <= 0.5 * (1.0 - ours_mean),
        "the exported INT8 drifts from ours (mean cosine {drift_mean}) by more than half of \
         INT8's own error (mean cosine to FP32 {ours_mean})"
    );
    assert!(
        (ort_mean - ours_mean).abs() <= 1e-4,
        "fidelity to FP32: ONNX Runtime {ort_mean} vs ours {ours_mean}"
    );
    if !opts.reduce_range {
        assert!(
            ort_mean >= 0.998,
            "INT8 export vs FP32: mean cosine {ort_mean} < 0.998"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// CLS and max pooling (other sentence-transformers models use them): the same model with
/// its pooling file changed, exported, against groundwork's own pooling.
#[test]
fn cls_and_max_pooling_export_as_groundwork_pools() {
    let name = "cls_and_max_pooling_export_as_groundwork_pools";
    let Some(model_dir) = quant::model_for_tests("all-minilm-l6-v2") else {
        return;
    };
    let Some(rt) = runtime(name) else {
        return;
    };
    for mode in ["cls", "max"] {
        let dir = scratch(&format!("pooling-{mode}"));
        let copy = dir.join("model");
        std::fs::create_dir_all(copy.join("1_Pooling")).unwrap();
        for entry in std::fs::read_dir(&model_dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
            }
        }
        let pooling = format!(
            "{{\"word_embedding_dimension\": 384, \"pooling_mode_cls_token\": {}, \"pooling_mode_mean_tokens\": false, \"pooling_mode_max_tokens\": {}}}",
            mode == "cls",
            mode == "max"
        );
        std::fs::write(copy.join("1_Pooling/config.json"), pooling).unwrap();
        let model = quant::Model::load(&copy).unwrap();
        let (inputs, ours) = minilm_case(&model, 64);
        let theirs = run_minilm(&rt, &dir, &copy, BertExport::default(), &inputs);
        let (mean, min) = cosines(&theirs, &ours);
        println!("{mode} pooling: cosine mean {mean:.7} min {min:.7}");
        assert!(min >= 0.99999, "{mode} pooling: min cosine {min}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
