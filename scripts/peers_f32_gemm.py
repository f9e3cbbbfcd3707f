#!/usr/bin/env python3
"""The f32 half of ../shared/peers/gemm_bench.py (its own bench() and SHAPES, NumPy and
PyTorch on 1 and 2 threads; no int8), written as JSON in the same format, for
`cargo xtask bench --peers`. Takes about 35 s instead of the full script's 13 minutes.

Usage: peers_f32_gemm.py PEERS_DIR OUT.json
"""
import json
import sys

peers_dir, out = sys.argv[1], sys.argv[2]
sys.path.insert(0, peers_dir)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import quiet  # noqa: E402
from gemm_bench import SHAPES, bench  # noqa: E402

rng = np.random.default_rng(0)
results = []
for name, m, k, n in SHAPES:
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = np.empty((m, n), dtype=np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    flops = 2.0 * m * n * k
    for threads in (1, 2):
        with threadpool_limits(limits=threads):
            g_np = bench(lambda: np.matmul(a, b, out=c), flops)[0]
        torch.set_num_threads(threads)
        with torch.inference_mode():
            g_t = bench(lambda: torch.matmul(ta, tb), flops)[0]
        for lib, g in (("numpy", g_np), ("torch", g_t)):
            results.append({"lib": lib, "dtype": "f32", "shape": name, "M": m, "K": k, "N": n,
                            "threads": threads, "gflops": g})
        print(f"{name:32s} t={threads} numpy {g_np:6.1f} torch {g_t:6.1f}", flush=True)
meta = {"numpy": np.__version__, "torch": torch.__version__, "guard": dict(quiet.stats)}
with open(out, "w") as f:
    json.dump({"results": results, **meta}, f, indent=1)
