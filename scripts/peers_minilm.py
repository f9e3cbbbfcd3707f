#!/usr/bin/env python3
"""The peers of the MiniLM tables in README.md: all-MiniLM-L6-v2 in PyTorch (FP32 and dynamic
INT8) and ONNX Runtime (FP32 and quantize_dynamic INT8, each also as the fused graph of
onnxruntime.transformers), on the 512 sentences groundwork ships.

    python3 -m venv /tmp/peers-venv   # outside the project
    /tmp/peers-venv/bin/pip install numpy torch transformers onnx onnxruntime onnxscript
    cargo xtask fetch-model all-minilm-l6-v2
    /tmp/peers-venv/bin/python scripts/peers_minilm.py bench --threads 2
    /tmp/peers-venv/bin/python scripts/peers_minilm.py fidelity

bench: sentences/s at batch 1, 8, 32 and 128 — every batch padded to its longest sentence
(what these engines need), tokenisation not timed, one warm-up pass then the median of three
passes over all sentences. fidelity: mean/min cosine and top-1 nearest-neighbour agreement
of every INT8 engine against PyTorch FP32. Compare with `cargo xtask bench --filter minilm`
and `experiments/minilm-int8.toml` run in the same sitting on the same machine.
"""

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "data", "models", "all-minilm-l6-v2")
SENTENCES = os.path.join(ROOT, "crates", "quant", "data", "sentences.txt")
BATCHES = [1, 8, 32, 128]


def sentences():
    with open(SENTENCES, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def batches(tok, texts, size):
    out = []
    for i in range(0, len(texts), size):
        enc = tok(texts[i:i + size], padding=True, truncation=True, max_length=256,
                  return_tensors="np")
        out.append({k: enc[k].astype(np.int64) for k in
                    ("input_ids", "attention_mask", "token_type_ids")})
    return out


def pool(hidden, mask):
    """Mean over real tokens, then L2 normalisation (the model's Pooling + Normalize)."""
    m = mask[..., None].astype(np.float32)
    v = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def torch_engine(int8):
    import torch
    from transformers import AutoModel
    model = AutoModel.from_pretrained(MODEL).eval()
    if int8:
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear},
                                                       dtype=torch.qint8)

    def run(b):
        with torch.inference_mode():
            out = model(**{k: torch.from_numpy(v) for k, v in b.items()})
        return pool(out.last_hidden_state.numpy(), b["attention_mask"])
    return run


def onnx_files(workdir, fused=True):
    """FP32 export, its quantize_dynamic INT8, and (with `fused`) both as fused graphs."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel
    model = AutoModel.from_pretrained(MODEL).eval()
    fp32 = os.path.join(workdir, "fp32.onnx")
    dummy = tuple(torch.ones(1, 8, dtype=torch.int64) for _ in range(3))
    axes = {n: {0: "batch", 1: "seq"} for n in
            ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")}
    kwargs = dict(input_names=["input_ids", "attention_mask", "token_type_ids"],
                  output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17)
    try:
        torch.onnx.export(model, dummy, fp32, dynamo=False, **kwargs)
    except TypeError:  # an older torch without the `dynamo` switch
        torch.onnx.export(model, dummy, fp32, **kwargs)
    files = {"ort_fp32": fp32, "ort_int8": os.path.join(workdir, "int8.onnx")}
    quantize_dynamic(fp32, files["ort_int8"], weight_type=QuantType.QInt8)
    if not fused:
        return files
    try:
        from onnxruntime.transformers.optimizer import optimize_model
        fused = optimize_model(fp32, model_type="bert", num_heads=12, hidden_size=384)
        files["ort_fused_fp32"] = os.path.join(workdir, "fused_fp32.onnx")
        fused.save_model_to_file(files["ort_fused_fp32"])
        files["ort_fused_int8"] = os.path.join(workdir, "fused_int8.onnx")
        quantize_dynamic(files["ort_fused_fp32"], files["ort_fused_int8"],
                         weight_type=QuantType.QInt8)
    except ImportError:
        pass
    return files


def ort_engine(path, threads):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}

    def run(b):
        out = sess.run(None, {k: v for k, v in b.items() if k in names})[0]
        return pool(out, b["attention_mask"])
    return run


def engines(threads, workdir):
    import torch
    torch.set_num_threads(threads)
    out = {"torch_fp32": torch_engine(False), "torch_int8": torch_engine(True)}
    for name, path in onnx_files(workdir).items():
        out[name] = ort_engine(path, threads)
    return out


def bench(args):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(MODEL)
    texts = sentences()
    with tempfile.TemporaryDirectory() as work:
        table = {}
        for name, run in engines(args.threads, work).items():
            for size in BATCHES:
                bs = batches(tok, texts, size)
                for b in bs:  # warm-up pass
                    run(b)
                passes = []
                for _ in range(3):
                    t = time.perf_counter()
                    for b in bs:
                        run(b)
                    passes.append(len(texts) / (time.perf_counter() - t))
                table[(name, size)] = statistics.median(passes)
                print(f"{name:16} batch {size:4}: {table[(name, size)]:7.1f} sentences/s",
                      flush=True)
    print(f"\nsentences/s, {args.threads} thread(s)")
    print(f"{'engine':16}" + "".join(f"{'b' + str(b):>9}" for b in BATCHES))
    for name in dict.fromkeys(n for n, _ in table):
        print(f"{name:16}" + "".join(f"{table[(name, b)]:9.1f}" for b in BATCHES))


def fidelity(args):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(MODEL)
    bs = batches(tok, sentences(), 32)
    with tempfile.TemporaryDirectory() as work:
        runs = engines(args.threads, work)
        ref = np.concatenate([runs["torch_fp32"](b) for b in bs])
        sim = ref @ ref.T
        np.fill_diagonal(sim, -np.inf)
        ref_nn = sim.argmax(1)
        for name, run in runs.items():
            if name == "torch_fp32":
                continue
            e = np.concatenate([run(b) for b in bs])
            cos = (ref * e).sum(1)
            s = e @ e.T
            np.fill_diagonal(s, -np.inf)
            agree = (s.argmax(1) == ref_nn).mean() * 100
            print(f"{name:16} vs torch_fp32: mean cosine {cos.mean():.5f}, min {cos.min():.5f}, "
                  f"top-1 neighbour agreement {agree:.1f}%")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cmd", choices=["bench", "fidelity"])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    {"bench": bench, "fidelity": fidelity}[args.cmd](args)


if __name__ == "__main__":
    main()
