//! Peer figures measured by another program (NumPy's and PyTorch's GEMM from a JSON file),
//! matched to our measurements shape by shape.

use std::path::Path;

use crate::sweep::Measurement;

/// One peer GEMM figure: library, shape, threads, GFLOP/s.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerGemm {
    /// `numpy` or `torch`.
    pub lib: String,
    /// (m, k, n).
    pub shape: (usize, usize, usize),
    /// Threads the peer ran on.
    pub threads: usize,
    /// Measured GFLOP/s.
    pub gflops: f64,
}

/// Reads the f32 GEMM figures from the JSON `scripts/peers_f32_gemm.py` writes (`results`: objects with
/// `lib`, `dtype`, `M`, `K`, `N`, `threads`, `gflops`; other entries, such as int8, are skipped).
///
/// # Errors
/// The file cannot be read, is not JSON, or has no `results` list with f32 entries; the
/// message names the file.
pub fn read_peers(path: &Path) -> std::io::Result<Vec<PeerGemm>> {
    let bad = |what: String| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: {what}", path.display()),
        )
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let results = json
        .get("results")
        .and_then(|r| r.as_array())
        .ok_or_else(|| {
            bad("no `results` list (expected the output of scripts/peers_f32_gemm.py)".into())
        })?;
    let peers: Vec<PeerGemm> = results
        .iter()
        .filter(|r| r.get("dtype").and_then(|d| d.as_str()) == Some("f32"))
        .filter_map(|r| {
            let num = |k: &str| r.get(k).and_then(|v| v.as_u64()).map(|v| v as usize);
            Some(PeerGemm {
                lib: r.get("lib")?.as_str()?.to_string(),
                shape: (num("M")?, num("K")?, num("N")?),
                threads: num("threads")?,
                gflops: r.get("gflops")?.as_f64()?,
            })
        })
        .collect();
    if peers.is_empty() {
        return Err(bad(
            "no f32 entries with lib, M, K, N, threads and gflops".into()
        ));
    }
    Ok(peers)
}

/// One GEMM measurement beside the peers' figures for the same shape and thread count
/// (GFLOP/s); `ratio` is ours over the faster peer.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PeerRow {
    /// Our measurement's name (`gemm/square-1024/2t`).
    pub name: String,
    /// Our GFLOP/s.
    pub ours: f64,
    /// NumPy's GFLOP/s, if the peers' file has this shape.
    pub numpy: Option<f64>,
    /// PyTorch's GFLOP/s, if the peers' file has this shape.
    pub torch: Option<f64>,
    /// `ours / max(numpy, torch)`.
    pub ratio: f64,
}

/// Our GEMM measurements that a peer also measured, beside the peers' figures.
pub fn peer_rows(results: &[Measurement], peers: &[PeerGemm]) -> Vec<PeerRow> {
    let mut rows = Vec::new();
    for r in results.iter().filter(|r| r.name.starts_with("gemm/")) {
        let Some(shape) = gemm_shape(&r.name) else {
            continue;
        };
        let find = |lib: &str| {
            peers
                .iter()
                .find(|p| p.lib == lib && p.shape == shape && p.threads == r.threads)
                .map(|p| p.gflops)
        };
        let (numpy, torch) = (find("numpy"), find("torch"));
        let best = numpy.into_iter().chain(torch).fold(f64::NAN, f64::max);
        if best.is_nan() {
            continue;
        }
        let ours = r.flops() / 1e9;
        rows.push(PeerRow {
            name: r.name.clone(),
            ours,
            numpy,
            torch,
            ratio: ours / best,
        });
    }
    rows
}

/// (m, k, n) of a GEMM measurement name: `gemm/square-1024/2t`, `gemm/bert-4096x384x1536/1t`.
pub fn gemm_shape(name: &str) -> Option<(usize, usize, usize)> {
    let label = name.split('/').nth(1)?;
    if let Some(n) = label.strip_prefix("square-") {
        let n = n.parse().ok()?;
        return Some((n, n, n));
    }
    let dims: Vec<usize> = label
        .strip_prefix("bert-")?
        .split('x')
        .map(|d| d.parse().ok())
        .collect::<Option<_>>()?;
    match dims[..] {
        [m, k, n] => Some((m, k, n)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_names_give_their_shapes() {
        assert_eq!(gemm_shape("gemm/square-1024/2t"), Some((1024, 1024, 1024)));
        assert_eq!(
            gemm_shape("gemm/bert-4096x384x1536/1t"),
            Some((4096, 384, 1536))
        );
        assert_eq!(gemm_shape("mlp-step/1t"), None);
        assert_eq!(gemm_shape("gemm/bert-4x5/1t"), None);
    }

    #[test]
    fn peers_are_read_and_compared_shape_by_shape() {
        let dir = std::env::temp_dir().join(format!("gw-peers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gemm_results.json");
        std::fs::write(
            &path,
            r#"{"results": [
                {"lib": "numpy", "dtype": "f32", "shape": "sq1024", "M": 1024, "K": 1024, "N": 1024, "threads": 2, "gflops": 100.0},
                {"lib": "torch", "dtype": "f32", "shape": "sq1024", "M": 1024, "K": 1024, "N": 1024, "threads": 2, "gflops": 125.0},
                {"lib": "torch", "dtype": "int8->int32 (_int_mm)", "M": 1024, "K": 1024, "N": 1024, "threads": 2, "gops": 900.0}
            ]}"#,
        )
        .unwrap();
        let peers = read_peers(&path).unwrap();
        assert_eq!(peers.len(), 2);
        let stats = crate::stats::Stats::from_samples(&[0.016]).unwrap();
        let ours = Measurement {
            name: "gemm/square-1024/2t".into(),
            seconds: stats,
            items: 1.0,
            flop: 2.0e9,
            threads: 2,
        };
        let rows = peer_rows(&[ours], &peers);
        assert_eq!(
            rows,
            vec![PeerRow {
                name: "gemm/square-1024/2t".into(),
                ours: 125.0,
                numpy: Some(100.0),
                torch: Some(125.0),
                ratio: 1.0,
            }]
        );
        std::fs::write(&path, r#"{"loadavg": [0, 0, 0]}"#).unwrap();
        let err = read_peers(&path).unwrap_err().to_string();
        assert!(
            err.contains("gemm_results.json") && err.contains("no `results` list"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
