#!/usr/bin/env python3
"""NumPy's and PyTorch's f32 matrix product on this machine, for `cargo xtask bench --peers`.

The shapes are the ones `cargo xtask bench` measures (square 128..2048 and the BERT-base
products), each on 1 and 2 threads; every figure is the median GFLOP/s of repeated calls
after a warm-up, each call allocating its output (as `a @ b` and our `a.matmul(&b)` do).
Needs numpy, torch and threadpoolctl:

    python3 -m venv /tmp/gw-peers && /tmp/gw-peers/bin/pip install numpy torch threadpoolctl
    /tmp/gw-peers/bin/python scripts/peers_f32_gemm.py OUT.json

Writes {"results": [{"lib", "dtype", "M", "K", "N", "threads", "gflops"}, ...]}.
"""
import json
import statistics
import sys
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

SHAPES = [(n, n, n) for n in (128, 256, 512, 1024, 2048)] + [
    (4096, 384, 1536),
    (4096, 1536, 384),
    (4096, 384, 384),
]


def gflops(fn, flop, seconds=1.0):
    """Median GFLOP/s over timed groups of calls filling about `seconds`."""
    for _ in range(3):
        fn()
    t = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t, 1e-6)
    calls = max(1, int(0.1 / one))
    rates = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(rates) < 5:
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        rates.append(flop * calls / (time.perf_counter() - t) / 1e9)
    return statistics.median(rates)


def main(out):
    rng = np.random.default_rng(0)
    results = []
    for m, k, n in SHAPES:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        flop = 2.0 * m * k * n
        for threads in (1, 2):
            with threadpool_limits(limits=threads):
                g = gflops(lambda: a @ b, flop)
            results.append(dict(lib="numpy", dtype="f32", M=m, K=k, N=n, threads=threads, gflops=g))
            torch.set_num_threads(threads)
            with torch.inference_mode():
                g = gflops(lambda: ta @ tb, flop)
            results.append(dict(lib="torch", dtype="f32", M=m, K=k, N=n, threads=threads, gflops=g))
            print(f"{m}x{k}x{n} {threads}t: numpy {results[-2]['gflops']:.1f}, torch {g:.1f} GFLOP/s",
                  file=sys.stderr)
    meta = dict(numpy=np.__version__, torch=torch.__version__)
    with open(out, "w") as f:
        json.dump(dict(versions=meta, results=results), f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
