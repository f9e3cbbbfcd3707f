#!/usr/bin/env python3
"""groundwork's INT8 export of all-MiniLM-L6-v2 on ONNX Runtime, against ONNX Runtime's own
INT8 (quantize_dynamic, per-channel), for speed and fidelity, in one sitting.

    cargo xtask export --model all-minilm-l6-v2 --out /tmp/minilm-fp32.onnx
    cargo xtask export --model all-minilm-l6-v2 --int8 --out /tmp/minilm-int8.onnx
    PY scripts/onnx-int8-on-ort.py /tmp/minilm-fp32.onnx /tmp/minilm-int8.onnx

(PY: a Python with onnxruntime, onnx, numpy and tokenizers, outside the project.)

Models, all run by ONNX Runtime's CPU provider at ORT_ENABLE_ALL with --threads threads:
  fp32           groundwork's FP32 export (the reference: it equals groundwork's FP32 to
                 cosine 1.0000000, crates/onnx/tests/ort.rs).
  ort-int8-pc    ONNX Runtime's own dynamic quantisation of that FP32 export, set up as its
                 documentation recommends: `onnxruntime.quantization.preprocess` (shape
                 inference and graph optimisation; with skip_symbolic_shape=True when its
                 symbolic shape inference gives up, as it suggests) then
                 quantize_dynamic(per_channel=True,
                 weight_type=QInt8) — s8 per-channel weights, u8 activations per tensor.
  ort-int8       the same with per_channel=False (quantize_dynamic's default).
  groundwork-int8  groundwork's INT8 export: s8 per-channel weights, u8 activations per token.

Method: the 512 shipped sentences (crates/quant/data/sentences.txt) tokenised up front (not
timed) with the model's tokenizer.json, truncated at 256 tokens; sorted by length and cut into
batches of B, each padded to its own longest (what sentence-transformers does). Per batch
size, the models alternate pass by pass (a pass = all 512 sentences) for --rounds rounds after
one warm-up pass each; sentences/s = 512 / median pass time. Fidelity: cosine of each model's
embeddings to the fp32 model's, mean and min over the 512 sentences (batch 32).
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic
from tokenizers import Tokenizer

PREPROCESS = []  # how ONNX Runtime's preprocessing went (printed with the results)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def session(path, threads):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def ort_quantized(fp32, workdir, per_channel):
    pre = os.path.join(workdir, "fp32-pre.onnx")
    if not os.path.exists(pre):
        from onnxruntime.quantization.shape_inference import quant_pre_process

        # It writes temporary files into the current directory: keep them in the work dir.
        os.chdir(workdir)

        try:
            quant_pre_process(fp32, pre)
            PREPROCESS.append("full")
        except Exception as e:  # its symbolic shape inference gives up on some graphs
            print(f"note: quant_pre_process: {e}; retrying with skip_symbolic_shape=True",
                  file=sys.stderr)
            try:
                quant_pre_process(fp32, pre, skip_symbolic_shape=True)
                PREPROCESS.append("skip_symbolic_shape")
            except Exception as e:
                print(f"note: quant_pre_process failed ({e}); quantising the export as it is",
                      file=sys.stderr)
                PREPROCESS.append("none")
                pre = fp32
    out = os.path.join(workdir, f"ort-int8-{'pc' if per_channel else 'pt'}.onnx")
    quantize_dynamic(pre, out, per_channel=per_channel, weight_type=QuantType.QInt8)
    return out


def batches(tokens, size):
    order = sorted(range(len(tokens)), key=lambda i: -len(tokens[i]))
    out = []
    for start in range(0, len(order), size):
        idx = order[start:start + size]
        width = max(len(tokens[i]) for i in idx)
        ids = np.zeros((len(idx), width), dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for r, i in enumerate(idx):
            ids[r, :len(tokens[i])] = tokens[i]
            mask[r, :len(tokens[i])] = 1
        out.append((idx, {"input_ids": ids, "attention_mask": mask}))
    return out


def embed_all(sess, bs, n):
    out = np.zeros((n, sess.get_outputs()[0].shape[1]), dtype=np.float32)
    for idx, feeds in bs:
        out[idx] = sess.run(None, feeds)[0]
    return out


def profile(path, threads, bs):
    """Shares of kernel time by operator type over one pass of `bs`."""
    import collections

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.enable_profiling = True
    opts.profile_file_prefix = os.path.join(os.path.dirname(path), "profile")
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    for _, feeds in bs:
        sess.run(None, feeds)
    trace = sess.end_profiling()
    total = collections.Counter()
    for e in json.load(open(trace)):
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            total[e["args"]["op_name"]] += e["dur"]
    os.remove(trace)
    whole = sum(total.values()) or 1
    return [(op, 100.0 * t / whole) for op, t in total.most_common(8)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("fp32")
    ap.add_argument("int8")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", default="1,8,32,128")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", help="write the results here too")
    ap.add_argument("--profile", action="store_true",
                    help="also print each model's time by operator type at batch 32 "
                         "(ONNX Runtime's profiler)")
    args = ap.parse_args()
    args.fp32, args.int8 = os.path.abspath(args.fp32), os.path.abspath(args.int8)
    if args.json:
        args.json = os.path.abspath(args.json)

    tok = Tokenizer.from_file(os.path.join(ROOT, "data/models/all-minilm-l6-v2/tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(256)
    sentences = [l for l in open(os.path.join(ROOT, "crates/quant/data/sentences.txt"),
                                 encoding="utf-8").read().splitlines() if l]
    tokens = [e.ids for e in tok.encode_batch(sentences)]
    n = len(tokens)

    work = tempfile.mkdtemp(prefix="onnx-int8-on-ort-")
    paths = {
        "fp32": args.fp32,
        "ort-int8-pc": ort_quantized(args.fp32, work, True),
        "ort-int8": ort_quantized(args.fp32, work, False),
        "groundwork-int8": args.int8,
    }
    sessions = {k: session(p, args.threads) for k, p in paths.items()}

    ref = embed_all(sessions["fp32"], batches(tokens, 32), n)
    fidelity = {}
    for name, sess in sessions.items():
        e = embed_all(sess, batches(tokens, 32), n)
        cos = (e * ref).sum(1) / (np.linalg.norm(e, axis=1) * np.linalg.norm(ref, axis=1))
        fidelity[name] = (float(cos.mean()), float(cos.min()))

    speed = {name: {} for name in sessions}
    for size in [int(b) for b in args.batches.split(",")]:
        bs = batches(tokens, size)
        times = {name: [] for name in sessions}
        for sess in sessions.values():
            embed_all(sess, bs, n)  # warm-up
        for _ in range(args.rounds):
            for name, sess in sessions.items():
                t = time.perf_counter()
                embed_all(sess, bs, n)
                times[name].append(time.perf_counter() - t)
        for name in sessions:
            speed[name][size] = n / statistics.median(times[name])

    sizes = [int(b) for b in args.batches.split(",")]
    print(f"ONNX Runtime {ort.__version__}, {args.threads} threads, {n} sentences, "
          f"length-sorted batches, median of {args.rounds} alternating passes; "
          f"ORT preprocessing: {PREPROCESS[0] if PREPROCESS else 'n/a'}")
    print("| model on ONNX Runtime | " + " | ".join(f"b{s}" for s in sizes)
          + " | cosine to FP32 (mean / min) | file |")
    print("| --- |" + " --- |" * (len(sizes) + 2))
    for name in sessions:
        size_mb = os.path.getsize(paths[name]) / 1e6
        cells = " | ".join(f"{speed[name][s]:.0f}" for s in sizes)
        m, lo = fidelity[name]
        print(f"| {name} | {cells} | {m:.5f} / {lo:.5f} | {size_mb:.1f} MB |")
    if args.profile:
        for name in ("groundwork-int8", "ort-int8-pc"):
            shares = profile(paths[name], args.threads, batches(tokens, 32))
            print(f"{name} at b32: " + ", ".join(f"{op} {p:.0f}%" for op, p in shares))
    shutil.rmtree(work, ignore_errors=True)
    if args.json:
        json.dump({"onnxruntime": ort.__version__, "threads": args.threads,
                   "preprocess": PREPROCESS[:1], "sentences_per_second": speed,
                   "fidelity_mean_min": fidelity},
                  open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
