//! `environment.json`: what machine and code produced a result — git commit, CPU model and
//! instruction-set features, thread counts, crate versions and rustc.

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

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn features() -> Vec<&'static str> {
    #[allow(unused_mut)]
    let mut f = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! probe {
            ($($name:tt),*) => { $( if std::arch::is_x86_feature_detected!($name) { f.push($name); } )* };
        }
        probe!(
            "sse4.2",
            "avx",
            "avx2",
            "fma",
            "f16c",
            "avx512f",
            "avx512bw",
            "avx512vl",
            "avx512vnni",
            "avxvnni"
        );
    }
    f
}

/// Collects the environment description.
pub fn collect(jobs: usize) -> Value {
    json!({
        "git_commit": command("git", &["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into()),
        "git_dirty": command("git", &["status", "--porcelain"]).map(|s| !s.is_empty()),
        "cpu_model": cpu_model(),
        "cpu_features": features(),
        "logical_cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "jobs": jobs,
        "rustc": command("rustc", &["--version"]).unwrap_or_else(|| "unknown".into()),
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
