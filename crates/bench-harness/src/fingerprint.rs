//! The machine a measurement was taken on: CPU model, logical and physical cores, caches
//! (from sysfs where present), instruction-set features, compiler and thread count.

use serde::{Deserialize, Serialize};

/// One CPU cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cache {
    /// 1, 2, 3.
    pub level: u32,
    /// `Data`, `Instruction` or `Unified`.
    pub kind: String,
    /// Size in KiB.
    pub size_kib: u64,
}

/// What a result was measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: String,
    /// Logical CPUs (hardware threads).
    pub logical_cores: usize,
    /// Physical cores (distinct `physical id`/`core id` pairs; logical count when unknown).
    pub physical_cores: usize,
    /// Caches of CPU 0.
    pub caches: Vec<Cache>,
    /// Instruction-set features detected at run time.
    pub features: Vec<String>,
    /// The compiler that built the binary.
    pub rustc: String,
    /// rayon threads in use.
    pub threads: usize,
}

/// Instruction-set features relevant to groundwork's kernels that this CPU has.
pub fn cpu_features() -> Vec<String> {
    #[allow(unused_mut)]
    let mut f: Vec<String> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! probe {
            ($($name:tt),*) => { $( if std::arch::is_x86_feature_detected!($name) { f.push($name.to_string()); } )* };
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
        // AMX is not exposed by is_x86_feature_detected on stable; read /proc/cpuinfo.
        if let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") {
            if info
                .lines()
                .any(|l| l.starts_with("flags") && l.split_whitespace().any(|w| w == "amx_tile"))
            {
                f.push("amx-tile".into());
            }
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            f.push("neon".into());
        }
    }
    f
}

fn caches() -> Vec<Cache> {
    let mut out = Vec::new();
    for i in 0..8 {
        let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{i}");
        let read = |f: &str| {
            std::fs::read_to_string(format!("{dir}/{f}"))
                .ok()
                .map(|s| s.trim().to_string())
        };
        let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size"))
        else {
            break;
        };
        let size_kib = if let Some(k) = size.strip_suffix('K') {
            k.parse().unwrap_or(0)
        } else if let Some(m) = size.strip_suffix('M') {
            m.parse::<u64>().unwrap_or(0) * 1024
        } else {
            size.parse::<u64>().unwrap_or(0) / 1024
        };
        out.push(Cache {
            level: level.parse().unwrap_or(0),
            kind,
            size_kib,
        });
    }
    out
}

impl Fingerprint {
    /// Reads this machine's fingerprint.
    pub fn detect() -> Fingerprint {
        let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |line: &str| line.split(':').nth(1).map(|v| v.trim().to_string());
        let cpu_model = info
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(field)
            .unwrap_or_else(|| "unknown".into());
        let logical = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let mut cores = std::collections::BTreeSet::new();
        let mut phys = String::new();
        for l in info.lines() {
            if l.starts_with("physical id") {
                phys = field(l).unwrap_or_default();
            } else if l.starts_with("core id") {
                cores.insert((phys.clone(), field(l).unwrap_or_default()));
            }
        }
        Fingerprint {
            cpu_model,
            logical_cores: logical,
            physical_cores: if cores.is_empty() {
                logical
            } else {
                cores.len()
            },
            caches: caches(),
            features: cpu_features(),
            rustc: env!("GW_RUSTC_VERSION").to_string(),
            threads: rayon::current_num_threads(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_reads_something_plausible() {
        let f = Fingerprint::detect();
        assert!(
            f.logical_cores >= 1 && f.physical_cores >= 1 && f.physical_cores <= f.logical_cores
        );
        assert!(f.rustc.starts_with("rustc") || f.rustc == "unknown");
        assert!(f.caches.iter().all(|c| c.level >= 1 && c.size_kib > 0));
        let json = serde_json::to_string(&f).unwrap();
        assert!(json.contains("cpu_model"));
    }
}
