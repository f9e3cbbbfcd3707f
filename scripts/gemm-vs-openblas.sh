#!/usr/bin/env bash
# Our f32 GEMM against the OpenBLAS that NumPy ships and calls, both timed in one process in
# alternating rounds (`cargo xtask bench --blas`): on a machine whose speed changes from
# second to second this is a much steadier ratio than two programs timed one after the other
# (scripts/gemm-vs-peers.sh, which also covers PyTorch).
#
#   PY=/path/to/venv/python scripts/gemm-vs-openblas.sh [xtask bench arguments]
#
# PY is a Python with NumPy (`python3 -m venv V && V/bin/pip install numpy`); without arguments it runs every
# GEMM shape (`--filter gemm/`, about 5 minutes), e.g. `--quick` or `--filter gemm/square-1024`
# instead. The table lands in results/bench/report.md and results.json (`against_blas`).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PY:-python3}
lib=$("$py" - <<'PY'
import glob, os
import numpy
libs = os.path.join(os.path.dirname(os.path.dirname(numpy.__file__)), "numpy.libs")
found = sorted(glob.glob(os.path.join(libs, "lib*openblas*.so*")))
if not found:
    raise SystemExit(f"no OpenBLAS under {libs}: this NumPy does not ship its own")
print(found[0])
PY
)
echo "NumPy's OpenBLAS: $lib" >&2
if [ $# -eq 0 ]; then
    set -- --filter gemm/
fi
cargo build --release -q -p xtask
# Some machines set these two variables for old OpenBLAS builds; they slow a current one down.
exec env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE target/release/xtask bench --blas "$lib" "$@"
