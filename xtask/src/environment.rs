//! `environment.json`: what machine and code produced a result — git commit, the
//! bench-harness machine fingerprint (CPU model, cores, caches, instruction-set features,
//! rustc), thread counts and crate versions.

use serde_json::{json, Value};

fn command(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd)
        .args(args)
        .current_dir(crate::fsutil::project_root())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Collects the environment description.
pub fn collect(jobs: usize) -> Value {
    let fp = bench_harness::fingerprint::Fingerprint::detect();
    json!({
        "git_commit": command("git", &["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into()),
        "git_dirty": command("git", &["status", "--porcelain"]).map(|s| !s.is_empty()),
        "cpu_model": fp.cpu_model,
        "cpu_features": fp.features,
        "logical_cores": fp.logical_cores,
        "physical_cores": fp.physical_cores,
        "caches": fp.caches,
        "jobs": jobs,
        "rustc": fp.rustc,
        "crate_versions": { "xtask": env!("CARGO_PKG_VERSION"), "core-tensor": env!("CARGO_PKG_VERSION"), "optim": env!("CARGO_PKG_VERSION") },
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
    })
}

/// A one-line summary for report headers.
pub fn one_line(env: &Value) -> String {
    let commit = env["git_commit"].as_str().unwrap_or("unknown");
    format!(
        "Commit {}, {} ({}), {} cores, {}.",
        &commit[..commit.len().min(10)],
        env["cpu_model"].as_str().unwrap_or("?"),
        env["cpu_features"]
            .as_array()
            .map(|a| a
                .iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(" "))
            .unwrap_or_default(),
        env["logical_cores"],
        env["rustc"].as_str().unwrap_or("?")
    )
}
