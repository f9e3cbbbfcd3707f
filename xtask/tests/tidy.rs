//! Repository policy as a test (rust-analyzer's "tidy"): every Rust file opens with a `//!`
//! paragraph; `unsafe` appears only in `kernels/` modules and the one FFI file, and every
//! library crate root denies it elsewhere; no test is ignored or marked should-panic; no
//! unfinished-code macros; README and ARCHITECTURE exist.

use std::path::{Path, PathBuf};

use xtask::fsutil::project_root;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&p, out);
            }
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

fn files() -> Vec<(String, String)> {
    let root = project_root();
    let mut paths = Vec::new();
    for d in ["crates", "xtask", "benches"] {
        rust_files(&root.join(d), &mut paths);
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// Files allowed to hold `unsafe`: kernel modules and the CBLAS loader.
fn may_be_unsafe(path: &str) -> bool {
    path.contains("/kernels/") || path == "crates/bench-harness/src/blas.rs"
}

#[test]
fn every_file_opens_with_a_module_doc() {
    let missing: Vec<String> = files()
        .into_iter()
        .filter(|(_, text)| !text.trim_start().starts_with("//!"))
        .map(|(p, _)| p)
        .collect();
    assert!(
        missing.is_empty(),
        "files without a //! paragraph: {missing:?}"
    );
}

#[test]
fn unsafe_lives_only_in_kernels_and_the_ffi_file() {
    // Built from pieces so that this file does not match itself.
    let word = ["un", "safe"].concat();
    let offenders: Vec<String> = files()
        .into_iter()
        .filter(|(p, _)| !may_be_unsafe(p) && !p.ends_with("tests/tidy.rs"))
        .filter(|(_, text)| {
            text.lines().any(|l| {
                let code = l.split("//").next().unwrap_or("");
                code.contains(&format!("{word} ")) || code.contains(&format!("{word}{{"))
            })
        })
        .map(|(p, _)| p)
        .collect();
    // `#![deny(unsafe_code)]` and `#[allow(unsafe_code)]` mention the lint, not the keyword.
    assert!(
        offenders.is_empty(),
        "unsafe outside kernels/: {offenders:?}"
    );
    for (path, text) in files() {
        let is_root = path.ends_with("src/lib.rs") || path == "xtask/src/main.rs";
        if is_root {
            assert!(
                text.contains("#![deny(unsafe_code)]"),
                "{path}: a crate root must deny unsafe_code (allow it on kernel modules only)"
            );
        }
    }
}

#[test]
fn no_ignored_or_should_panic_tests_and_no_stubs() {
    let banned = [
        ["#[", "ignore]"].concat(),
        ["#[", "should_panic"].concat(),
        ["to", "do!("].concat(),
        ["unimple", "mented!("].concat(),
    ];
    for (path, text) in files() {
        for b in &banned {
            assert!(!text.contains(b.as_str()), "{path} contains {b}");
        }
    }
}

#[test]
fn the_top_level_documents_exist() {
    for f in ["README.md", "ARCHITECTURE.md", "docs/studies.md", ".ci/run"] {
        assert!(project_root().join(f).exists(), "{f} is missing");
    }
}
