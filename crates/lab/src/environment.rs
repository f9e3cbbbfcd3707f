//! `environment.json`: what machine and code produced a result — git commit, the
//! bench-harness machine fingerprint (CPU model, cores, caches, instruction-set features,
//! rustc), the jobs setting, and when the results were finalised.

use std::path::Path;

use serde_json::{json, Value};

fn command(dir: &Path, cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `YYYY-MM-DD HH:MM` (UTC) of a Unix time, by the civil-from-days algorithm (Hinnant).
pub fn utc_minute(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let secs = unix_seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        secs / 3600,
        (secs % 3600) / 60
    )
}

/// Collects the environment description; `dir` is where git is asked (the experiment's
/// folder).
pub fn collect(jobs: usize, dir: &Path) -> Value {
    let fp = bench_harness::fingerprint::Fingerprint::detect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    json!({
        "git_commit": command(dir, "git", &["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into()),
        "git_dirty": command(dir, "git", &["status", "--porcelain"]).map(|s| !s.is_empty()),
        "cpu_model": fp.cpu_model,
        "cpu_features": fp.features,
        "logical_cores": fp.logical_cores,
        "physical_cores": fp.physical_cores,
        "caches": fp.caches,
        "jobs": jobs,
        "rustc": fp.rustc,
        "lab_version": env!("CARGO_PKG_VERSION"),
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "finished": utc_minute(now),
    })
}

/// A one-line summary for report headers.
pub fn one_line(env: &Value) -> String {
    let commit = env["git_commit"].as_str().unwrap_or("unknown");
    format!(
        "Commit {}, {} ({}), {} cores, {}; finished {} UTC.",
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
        env["rustc"].as_str().unwrap_or("?"),
        env["finished"].as_str().unwrap_or("?")
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn unix_time_to_civil_date() {
        assert_eq!(super::utc_minute(0), "1970-01-01 00:00");
        assert_eq!(super::utc_minute(951_782_400), "2000-02-29 00:00");
        assert_eq!(super::utc_minute(1_795_773_600 + 3_660), "2026-11-27 11:01");
    }
}
