//! Every command the documents tell a user to type names something that exists: each
//! `cargo xtask CMD` a subcommand of the binary, each `-p NAME` a package of the workspace,
//! each `--example NAME` an example of the package the same line names, and each
//! `experiments/*.toml` and `scripts/*` file mentioned a file in the tree (outside blocks of
//! program output). A commit once deleted an example README still told users to run, and
//! nothing noticed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use xtask::fsutil::project_root;

/// The documents users read: README, ARCHITECTURE, everything under docs/, fuzz's README.
fn documents() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    let root = project_root();
    let mut paths: Vec<PathBuf> = ["README.md", "ARCHITECTURE.md", "fuzz/README.md"]
        .iter()
        .map(|f| root.join(f))
        .collect();
    walk(&root.join("docs"), &mut paths);
    paths
        .into_iter()
        .filter(|p| p.exists())
        .map(|p| {
            let rel = p.strip_prefix(&root).unwrap().display().to_string();
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// Package name -> its directory, from every Cargo.toml of the workspace.
fn packages() -> BTreeMap<String, PathBuf> {
    let root = project_root();
    let mut dirs: Vec<PathBuf> = vec![root.join("xtask"), root.join("benches")];
    for e in std::fs::read_dir(root.join("crates")).unwrap().flatten() {
        dirs.push(e.path());
    }
    let mut out = BTreeMap::new();
    for d in dirs {
        let Ok(text) = std::fs::read_to_string(d.join("Cargo.toml")) else {
            continue;
        };
        let name = text
            .lines()
            .skip_while(|l| l.trim() != "[package]")
            .find_map(|l| l.trim().strip_prefix("name = "))
            .map(|v| v.trim_matches('"').to_string());
        if let Some(name) = name {
            out.insert(name, d);
        }
    }
    out
}

/// The word after `flag` on `line` (the characters a name may have).
fn words_after<'a>(line: &'a str, flag: &str) -> Vec<&'a str> {
    line.match_indices(flag)
        .map(|(i, _)| {
            let rest = &line[i + flag.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Paths starting with `prefix` on `line`, up to the first character a path here never has.
fn paths_on<'a>(line: &'a str, prefix: &str) -> Vec<&'a str> {
    line.match_indices(prefix)
        .filter(|(i, _)| {
            *i == 0 || !line[..*i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '/')
        })
        .map(|(i, _)| {
            let rest = &line[i..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')))
                .unwrap_or(rest.len());
            rest[..end].trim_end_matches('.')
        })
        .collect()
}

#[test]
fn every_documented_command_names_something_that_exists() {
    let root = project_root();
    let packages = packages();
    let mut problems = Vec::new();
    let mut subcommands = std::collections::BTreeSet::new();
    let mut checked = 0;
    for (doc, text) in documents() {
        // Blocks fenced as ```text show a program's output (error messages naming files
        // that do not exist, on purpose), not commands.
        let mut output_block = false;
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("```") {
                output_block = line.trim_start() == "```text";
                continue;
            }
            if output_block {
                continue;
            }
            let at = format!("{doc}:{}", n + 1);
            for cmd in words_after(line, "cargo xtask ") {
                subcommands.insert((cmd.to_string(), at.clone()));
            }
            let package = words_after(line, " -p ").into_iter().next();
            for p in words_after(line, " -p ") {
                checked += 1;
                if !packages.contains_key(p) {
                    problems.push(format!("{at}: no package `{p}`"));
                }
            }
            for ex in words_after(line, "--example ") {
                checked += 1;
                let found = package
                    .and_then(|p| packages.get(p))
                    .is_some_and(|d| d.join("examples").join(format!("{ex}.rs")).exists());
                if !found {
                    problems.push(format!("{at}: no example `{ex}` in package {package:?}"));
                }
            }
            for prefix in ["experiments/", "scripts/"] {
                for path in paths_on(line, prefix) {
                    if path == prefix || path.contains('*') {
                        continue;
                    }
                    checked += 1;
                    if !root.join(path).exists() {
                        problems.push(format!("{at}: no file `{path}`"));
                    }
                }
            }
        }
    }
    let exe = env!("CARGO_BIN_EXE_xtask");
    let mut known = BTreeMap::new();
    for (cmd, at) in &subcommands {
        checked += 1;
        let ok = *known.entry(cmd.clone()).or_insert_with(|| {
            Command::new(exe)
                .args([cmd.as_str(), "--help"])
                .output()
                .is_ok_and(|o| o.status.success())
        });
        if !ok {
            problems.push(format!("{at}: `cargo xtask {cmd}` is not a command"));
        }
    }
    assert!(
        checked > 20,
        "only {checked} names found: is the scan broken?"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_scan_finds_what_it_should() {
    assert_eq!(
        words_after(
            "cargo run --release -p quant --example similarity -- a b",
            " -p "
        ),
        ["quant"]
    );
    assert_eq!(
        words_after(
            "`cargo xtask run-experiment experiments/x.toml`",
            "cargo xtask "
        ),
        ["run-experiment"]
    );
    assert_eq!(
        paths_on(
            "see `experiments/quickstart.toml`, and scripts/peers_minilm.py.",
            "experiments/"
        ),
        ["experiments/quickstart.toml"]
    );
    assert_eq!(
        paths_on("results/experiments/x and scripts/a.sh", "scripts/"),
        ["scripts/a.sh"]
    );
    assert!(paths_on("results/experiments/x", "experiments/").is_empty());
}
