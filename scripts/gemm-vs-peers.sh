#!/usr/bin/env bash
# Our f32 GEMM against NumPy's and PyTorch's on this machine, alternated N times (default 5)
# so that a noisy machine treats both sides alike; prints the median of each side per shape
# and the median of the per-run ratios (ours / faster peer).
#
#   PY=/path/to/venv/python scripts/gemm-vs-peers.sh [N]
#
# PY is a Python with numpy, torch and threadpoolctl (scripts/peers_f32_gemm.py says how to
# make one). Runs land in results/gemm-vs-peers/.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
py=${PY:-python3}
out=results/gemm-vs-peers
mkdir -p "$out"
cargo build --release -q -p xtask
for i in $(seq 1 "$runs"); do
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$py" scripts/peers_f32_gemm.py "$out/peers-$i.json" >/dev/null
    target/release/xtask bench --filter gemm/ --peers "$out/peers-$i.json" >/dev/null 2>&1
    cp results/bench/results.json "$out/ours-$i.json"
    echo "run $i of $runs done" >&2
done
python3 - "$out" "$runs" <<'PY'
import json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
# `cargo xtask bench --peers` pairs each GEMM measurement with the peers' figures for the same
# shape and thread count (`against_peers` in results.json); this only takes medians over runs.
rows = {}
for i in range(1, runs + 1):
    for r in json.load(open(f"{out}/ours-{i}.json"))["against_peers"]:
        rows.setdefault(r["name"], []).append((r["ours"], r["numpy"], r["torch"], r["ratio"]))
roofs = [next(p for p in json.load(open(f"{out}/ours-{i}.json"))["peaks"] if p["kind"] == "f32-fma")
         for i in range(1, runs + 1)]
per_core = sorted(r["per_core"] / 1e9 for r in roofs)
all_cores = sorted(r["all_cores"] / 1e9 for r in roofs)
print(f"f32 FMA roof: {per_core[0]:.1f}-{per_core[-1]:.1f} GFLOP/s per core, "
      f"{all_cores[0]:.1f}-{all_cores[-1]:.1f} on all cores (median {statistics.median(all_cores):.1f})")
print(f"{'measurement':32s} {'ours':>7s} {'numpy':>7s} {'torch':>7s} {'ours/best':>9s}   (medians of {runs})")
for name, v in rows.items():
    med = lambda i: statistics.median(x[i] for x in v if x[i] is not None)
    print(f"{name:32s} {med(0):7.1f} {med(1):7.1f} {med(2):7.1f} {med(3):8.2f}x")
PY
