//! The command line against hostile input, as a user meets it: exit codes (0 success, 1 a
//! claim or a run failed, 2 bad input) and the message for each case — files that are not
//! files, results folders that cannot be made, datasets that are bombs or of the wrong
//! shape, runs that fail without the file saying they may.

use std::path::{Path, PathBuf};
use std::process::Command;

use nn::data::encode_idx;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `xtask ARGS` with `GROUNDWORK_DATA=data`; exit code and stderr + stdout.
fn xtask(args: &[&str], data: Option<&Path>) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(args).env("RUST_BACKTRACE", "0");
    if let Some(d) = data {
        cmd.env("GROUNDWORK_DATA", d);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// A Fashion-MNIST folder whose images are `side x side` (8 train, 4 test).
fn dataset(root: &Path, side: usize, train_dims: Option<Vec<u8>>) -> PathBuf {
    let dir = root.join("fashion-mnist");
    std::fs::create_dir_all(&dir).unwrap();
    for (split, n) in [("train", 8), ("t10k", 4)] {
        let images = train_dims
            .clone()
            .filter(|_| split == "train")
            .unwrap_or_else(|| encode_idx(&[n, side, side], &vec![3; n * side * side]));
        std::fs::write(dir.join(format!("{split}-images-idx3-ubyte")), images).unwrap();
        let labels: Vec<u8> = (0..n as u8).collect();
        std::fs::write(
            dir.join(format!("{split}-labels-idx1-ubyte")),
            encode_idx(&[n], &labels),
        )
        .unwrap();
    }
    root.to_path_buf()
}

const CLASSIFIER: &str = "[experiment]\nname = \"tiny\"\ndescription = \"d\"\nkind = \"classifier\"\n\n[params]\nmodel = \"mlp\"\noptimizer = \"adam\"\nlr = 0.001\nepochs = 1\nbatch = 4\nsharpness_every = 0\n\n[[expect]]\nmetric = \"test_accuracy\"\nop = \">=\"\nvalue = 0\n";

#[test]
fn hostile_inputs_get_their_exit_code_and_message() {
    let dir = scratch("cli");
    let file = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let fifo = dir.join("fifo.toml");
    let has_fifo = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    let quick = "experiments/quickstart.toml";
    let root = xtask::fsutil::project_root();
    let quick = root.join(quick).display().to_string();
    let blocker = file("not-a-folder", "");
    let out_under_file = format!("{blocker}/results");

    let small = dataset(&scratch("cli-10x10"), 10, None);
    let bomb = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut e, &encode_idx(&[8, 28, 28], &[0; 8 * 784])).unwrap();
        std::io::Write::write_all(&mut e, &vec![0u8; 8 << 20]).unwrap();
        e.finish().unwrap()
    };
    let bombed = dataset(&scratch("cli-bomb"), 28, None);
    let imgs = bombed.join("fashion-mnist/train-images-idx3-ubyte");
    std::fs::remove_file(&imgs).unwrap();
    std::fs::write(imgs.with_extension("gz"), bomb).unwrap();
    let huge = dataset(
        &scratch("cli-huge"),
        28,
        Some(
            [
                vec![0u8, 0, 8, 3],
                0u32.to_be_bytes().to_vec(),
                u32::MAX.to_be_bytes().to_vec(),
                u32::MAX.to_be_bytes().to_vec(),
            ]
            .concat(),
        ),
    );
    let tiny = file("tiny.toml", CLASSIFIER);
    let tiny_expected = file(
        "tiny-expected.toml",
        CLASSIFIER
            .replace(
                "kind = \"classifier\"",
                "kind = \"classifier\"\nexpect_failures = true",
            )
            .split("[[expect]]")
            .next()
            .unwrap(),
    );
    let out = dir.join("out").display().to_string();

    /// What, the arguments, `$GROUNDWORK_DATA`, the exit code, what the output must say.
    type Case<'a> = (&'a str, Vec<&'a str>, Option<&'a Path>, i32, Vec<&'a str>);
    let mut cases: Vec<Case<'_>> = vec![
        ("/dev/zero as an experiment", vec!["check", "/dev/zero"], None, 2,
         vec!["error: /dev/zero: not a regular file"]),
        ("a results folder under a file", vec!["run-experiment", &quick, "--quick", "--out", &out_under_file], None, 2,
         vec!["cannot create the results folder", "not-a-folder/results/quickstart: Not a directory"]),
        ("images of the wrong size: runs fail, the command says so", vec!["run-experiment", &tiny, "--out", &out], Some(&small), 1,
         vec!["the classifier's models take 28x28 images; this dataset's are 10x10", "cli-10x10/fashion-mnist", "1 runs failed (set experiment.expect_failures = true if that is the point)"]),
        ("the same failure, declared expected (and no claim on it)", vec!["run-experiment", &tiny_expected, "--out", &out], Some(&small), 0,
         vec!["run seed-0 failed: "]),
        ("a gzip bomb in the dataset folder", vec!["fetch-data", "fashion-mnist"], Some(&bombed), 1,
         vec!["train-images-idx3-ubyte.gz: the data runs past the 6288 bytes the IDX header implies (shape [8, 28, 28]): trailing data, not decompressed further"]),
        ("IDX dimensions [0, 2^32-1, 2^32-1]", vec!["fetch-data", "fashion-mnist"], Some(&huge), 1,
         vec!["train-images-idx3-ubyte: the IDX header promises shape [0, 4294967295, 4294967295], more than the 1073741824-byte limit"]),
    ];
    let fifo_s = fifo.display().to_string();
    if has_fifo {
        cases.push((
            "a FIFO as an experiment",
            vec!["check", &fifo_s],
            None,
            2,
            vec!["fifo.toml: not a regular file"],
        ));
    }
    for (what, args, data, code, wants) in cases {
        let (got, text) = xtask(&args, data);
        assert_eq!(got, code, "{what}: exit code; output:\n{text}");
        for want in wants {
            assert!(text.contains(want), "{what}: no {want:?} in:\n{text}");
        }
    }
}

#[test]
fn diagnose_reads_a_loss_log_and_refuses_a_bad_one() {
    let dir = scratch("diagnose-log");
    let log = dir.join("loss.csv");
    let mut text = String::from("step,loss\n");
    for t in 0..200 {
        let wiggle = if t % 2 == 0 { 0.05 } else { -0.05 };
        text.push_str(&format!(
            "{t},{}\n",
            1.0 + (-0.01 * t as f64).exp() + wiggle
        ));
    }
    std::fs::write(&log, text).unwrap();
    let (code, out) = xtask(&["diagnose", log.to_str().unwrap()], None);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("200 losses, oscillating with period 2"),
        "{out}"
    );
    std::fs::write(&log, "step,acc\n0,0.5\n").unwrap();
    let (code, out) = xtask(&["diagnose", log.to_str().unwrap()], None);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("without a `loss` column"), "{out}");
}

/// Needs the full build's `onnx` to read the file back.
#[cfg(feature = "full")]
#[test]
fn export_writes_a_studys_model_and_refuses_what_it_cannot_export() {
    use lab::params::Params;
    let dir = scratch("export");
    // A classifier run's checkpoint, as the runner leaves it.
    let mut table = lab::params::Table::new();
    table.insert("model".into(), "mlp".into());
    table.insert("optimizer".into(), "sgd".into());
    table.insert("lr".into(), 0.1.into());
    let cfg = nn::study::ClassifierConfig::from_table(&table).unwrap();
    let net = nn::study::build_model(cfg.model, cfg.init, &mut core_tensor::Rng::seed(0)).unwrap();
    let snapshot = nn::checkpoint::Snapshot::of(
        &nn::Module::parameters(&net),
        &nn::study::model_metadata("classifier", &cfg),
    );
    let ckpt = dir.join("model.safetensors");
    std::fs::write(&ckpt, snapshot.to_bytes().unwrap()).unwrap();
    let out = dir.join("mlp.onnx");
    let (code, text) = xtask(
        &[
            "export",
            "--checkpoint",
            ckpt.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("fashion-mnist-mlp (fp32), inputs input, outputs output"),
        "{text}"
    );
    let model = onnx::OnnxModel::from_bytes(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        model.metadata("groundwork.model"),
        Some("fashion-mnist-mlp")
    );

    // A checkpoint without the study's metadata, an output folder that does not exist, no
    // source at all: exit 2 with the reason, nothing written.
    let plain = dir.join("plain.safetensors");
    nn::checkpoint::save(&plain, &net, None).unwrap();
    let (code, text) = xtask(
        &[
            "export",
            "--checkpoint",
            plain.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("groundwork.study"), "{text}");
    let nowhere = dir.join("missing").join("x.onnx");
    let (code, text) = xtask(
        &[
            "export",
            "--checkpoint",
            ckpt.to_str().unwrap(),
            "--out",
            nowhere.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("missing"), "{text}");
    let (code, text) = xtask(&["export", "--out", out.to_str().unwrap()], None);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("--model"), "{text}");
}
