#!/usr/bin/env python3
"""The peers of README's MiniLM speed table, each set up the way its own users set it up for
speed, with its fidelity measured beside its speed.

Engines (`list` prints them), each in a fresh worker process of its own so that no other
runtime's thread pool is alive while it is timed:

  torch_fp32        transformers BertModel (sdpa attention), inference_mode.
  ort_fp32          ONNX Runtime, the graph fused by onnxruntime.transformers' optimize_model
                    (Attention, SkipLayerNorm, BiasGelu, EmbedLayerNorm), ORT_ENABLE_ALL.
  ort_int8_pc       quantize_dynamic QInt8 of the fused graph, per_channel=True (the setting
                    ORT's own docs recommend when per-tensor loses accuracy).
  ort_int8          the same, per-tensor (quantize_dynamic's default).
  ov_fp32           OpenVINO CPU, INFERENCE_PRECISION_HINT=f32.
  ov_default        OpenVINO CPU with its default precision: bf16 on a CPU with AVX512-BF16 or
                    AMX (Zen 4, Sapphire Rapids), f32 elsewhere. What an OpenVINO user gets.
  ov_int8_dyn       nncf.compress_weights(INT8_ASYM) + the CPU plugin's dynamic quantisation of
                    activations (DYNAMIC_QUANTIZATION_GROUP_SIZE 32, its default; it engages
                    only with f32 activations, so the f32 hint is set).
  ov_int8_static    nncf.quantize(model_type=TRANSFORMER), calibrated on 300 sentences that are
                    NOT in the benchmark set (see calibration()), compiled with the defaults.
  ct2_fp32/int8     CTranslate2 Encoder, compute_type float32 / int8, unpadded id lists.
  groundwork_fp32/bf16/int8
                    fidelity only: `cargo xtask embed [--bf16|--int8]` over the same sentences (our
                    speed comes from `cargo xtask bench --filter minilm`, which batches the
                    same way).

Method. Every sentence is tokenised up front (not timed). Batches are length-sorted, as
sentence-transformers' encode() sorts them: sentences ordered by token count, longest first,
cut into batches of B, each padded to its own longest (CTranslate2 gets the same batches
unpadded). Mean pooling and L2 normalisation run inside the timed region (one numpy function
for every engine). One warm-up pass over the 512 sentences, then the median of --reps timed
passes. A pass during which other processes used more than 3% of the machine is repeated
(up to 5 times; the worst foreign share is printed).

Fidelity. Reference: PyTorch FP32, one sentence per call, no padding. Each engine's
embeddings from its timed batches are compared with it: mean / min cosine and top-1
nearest-neighbour agreement over the 512 sentences. An FP32 engine whose warm-up pass is not
within 1e-5 of the reference (mean cosine) is refused before it is timed: a speed figure of a
wrong model means nothing.

Set-up (a virtualenv outside the project and outside CI):

    python3 -m venv /tmp/peers-venv
    /tmp/peers-venv/bin/pip install numpy torch transformers onnx onnxscript onnxruntime \\
        openvino nncf ctranslate2
    cargo xtask fetch-model all-minilm-l6-v2
    cargo build --release -p xtask        # for the groundwork_* fidelity rows

Run (one sitting, on an otherwise idle machine; unset OpenBLAS' tuning variables, which slow
numpy where they are set):

    PY="env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /tmp/peers-venv/bin/python"
    $PY scripts/peers_minilm.py bench --threads 2 --out results/peers/minilm_t2.json
    cargo xtask bench --filter minilm

Derived models (ONNX, OpenVINO IR, CTranslate2) are cached in --workdir.
"""

import argparse
import glob
import hashlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

try:
    import numpy as np
except ImportError:  # `list` and `table` need only the standard library
    np = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "data", "models", "all-minilm-l6-v2")
SENTENCES = os.path.join(ROOT, "crates", "quant", "data", "sentences.txt")
BATCHES = [1, 8, 32, 128]
MAX_LEN = 256  # sentence-transformers' max_seq_length for this model
N_CALIBRATION = 300
FP32_TOLERANCE = 1e-5  # 1 - mean cosine an FP32 engine may have against PyTorch

ENGINES = {
    "torch_fp32": ("fp32", "PyTorch, transformers BertModel (sdpa), inference_mode"),
    "ort_fp32": ("fp32", "ONNX Runtime, fused graph (optimize_model bert)"),
    "ort_int8_pc": ("int8", "ONNX Runtime quantize_dynamic per-channel, fused graph"),
    "ort_int8": ("int8", "ONNX Runtime quantize_dynamic per-tensor, fused graph"),
    "ov_fp32": ("fp32", "OpenVINO, INFERENCE_PRECISION_HINT=f32"),
    "ov_default": ("default", "OpenVINO, default precision (bf16 on AVX512-BF16/AMX CPUs)"),
    "ov_int8_dyn": ("int8", "OpenVINO INT8 weights (NNCF) + dynamic activations, group 32"),
    "ov_int8_static": ("int8", "OpenVINO static INT8 (NNCF, 300 disjoint calibration sentences)"),
    "ct2_fp32": ("fp32", "CTranslate2 Encoder float32"),
    "ct2_int8": ("int8", "CTranslate2 Encoder int8"),
    "groundwork_fp32": ("fp32", "cargo xtask embed (fidelity only)"),
    "groundwork_bf16": ("bf16", "cargo xtask embed --bf16 (fidelity only)"),
    "groundwork_int8": ("int8", "cargo xtask embed --int8 (fidelity only)"),
}


def load_sentences(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def pool(hidden, mask):
    """Mean over real tokens, then L2 normalisation (the model's Pooling and Normalize)."""
    m = mask.astype(np.float32)
    v = np.einsum("bl,bld->bd", m, hidden[:, : m.shape[1], :]) / np.maximum(
        m.sum(1, keepdims=True), 1e-9)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def tokenize(tok, texts):
    return tok(texts, truncation=True, max_length=MAX_LEN)["input_ids"]


def sorted_batches(ids, size):
    """Length-sorted batches (longest first, stable), each padded to its own longest."""
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    out = []
    for s in range(0, len(order), size):
        idx = order[s:s + size]
        width = max(len(ids[i]) for i in idx)
        a = np.zeros((len(idx), width), np.int64)
        m = np.zeros((len(idx), width), np.int64)
        for r, i in enumerate(idx):
            a[r, :len(ids[i])] = ids[i]
            m[r, :len(ids[i])] = 1
        out.append({"index": np.array(idx), "input_ids": a, "attention_mask": m,
                    "token_type_ids": np.zeros_like(a), "ids": [ids[i] for i in idx]})
    return out


def calibration(bench_texts, n=N_CALIBRATION):
    """Sentences for static quantisation, disjoint from the benchmark: English sentences of
    8-40 words from the Debian copyright files on this machine (where the benchmark's own
    sentences came from), minus every benchmark sentence, in sha1 order."""
    bench = set(bench_texts)
    found = set()
    for path in sorted(glob.glob("/usr/share/doc/*/copyright")):
        try:
            with open(path, encoding="utf-8") as f:
                text = re.sub(r"\s+", " ", f.read())
        except (UnicodeDecodeError, OSError):
            continue
        for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text):
            words = s.split()
            if (8 <= len(words) <= 40 and s.isascii() and s not in bench
                    and not re.search(r"https?:|@|copyright|[<>*|=_/]", s, re.I)):
                found.add(s.strip())
    chosen = sorted(found, key=lambda s: hashlib.sha1(s.encode()).hexdigest())[:n]
    if len(chosen) < n:
        sys.exit(f"only {len(chosen)} calibration sentences found outside the benchmark set")
    return chosen


# ----------------------------------------------------------------------------- derived models
def onnx_models(args):
    """The FP32 export, its fused graph, and the fused graph's two INT8 versions."""
    d = os.path.join(args.workdir, "onnx")
    files = {k: os.path.join(d, f"{k}.onnx") for k in ("plain", "fused", "int8", "int8_pc")}
    if all(os.path.exists(f) for f in files.values()):
        return files
    os.makedirs(d, exist_ok=True)
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoModel
    model = AutoModel.from_pretrained(args.model).eval()
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "seq"} for n in names + ["last_hidden_state"]}
    dummy = tuple(torch.ones(2, 8, dtype=torch.int64) for _ in names)

    class ByName(torch.nn.Module):  # forward()'s positional order changes between versions
        def __init__(self):
            super().__init__()
            self.bert = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    torch.onnx.export(ByName().eval(), dummy, files["plain"], input_names=names,
                      output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17,
                      dynamo=False)
    cfg = model.config
    fused = optimize_model(files["plain"], model_type="bert", num_heads=cfg.num_attention_heads,
                           hidden_size=cfg.hidden_size)
    fused.save_model_to_file(files["fused"])
    # The fused graph's contrib ops (BiasGelu, ...) have no shape inference: say the type.
    extra = {"DefaultTensorType": onnx.TensorProto.FLOAT}
    quantize_dynamic(files["fused"], files["int8"], weight_type=QuantType.QInt8,
                     extra_options=extra)
    quantize_dynamic(files["fused"], files["int8_pc"], weight_type=QuantType.QInt8,
                     per_channel=True, extra_options=extra)
    return files


def ov_model(args, kind, texts):
    """OpenVINO IR of the FP32 export, its NNCF weight-compressed and static INT8 versions."""
    import openvino as ov
    path = os.path.join(args.workdir, "ov", f"{kind}.xml")
    if os.path.exists(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    model = ov.convert_model(onnx_models(args)["plain"])
    if kind == "int8_dyn":
        import nncf
        model = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
    elif kind == "int8_static":
        import nncf
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(args.model)
        calib = calibration(texts)
        with open(os.path.join(args.workdir, "calibration.txt"), "w") as f:
            f.write("\n".join(calib) + "\n")
        items = [{k: v for k, v in sorted_batches([ids], 1)[0].items()
                  if k in ("input_ids", "attention_mask", "token_type_ids")}
                 for ids in tokenize(tok, calib)]
        model = nncf.quantize(model, nncf.Dataset(items), model_type=nncf.ModelType.TRANSFORMER,
                              subset_size=len(items))
    ov.save_model(model, path, compress_to_fp16=False)
    return path


def ct2_model(args):
    path = os.path.join(args.workdir, "ct2")
    if not os.path.exists(os.path.join(path, "model.bin")):
        import ctranslate2
        ctranslate2.converters.TransformersConverter(args.model).convert(path, force=True)
    return path


# ----------------------------------------------------------------------------- engines
def engine(name, args, texts):
    """(run, info): run maps one batch (dict) to its pooled, normalised embeddings."""
    t = args.threads
    if name.startswith("torch"):
        import torch
        from transformers import AutoModel
        torch.set_num_threads(t)
        model = AutoModel.from_pretrained(args.model, attn_implementation="sdpa").eval()

        def run(b):
            with torch.inference_mode():
                out = model(**{k: torch.from_numpy(b[k]) for k in
                               ("input_ids", "attention_mask", "token_type_ids")})
            return pool(out.last_hidden_state.numpy(), b["attention_mask"])
        return run, {}
    if name.startswith("ort"):
        import onnxruntime as ort
        path = onnx_models(args)[{"ort_fp32": "fused", "ort_int8": "int8",
                                  "ort_int8_pc": "int8_pc"}[name]]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = t
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        inputs = [i.name for i in sess.get_inputs()]

        def run(b):
            return pool(sess.run(None, {k: b[k] for k in inputs})[0], b["attention_mask"])
        return run, {}
    if name.startswith("ov"):
        import openvino as ov
        kind = {"ov_fp32": "fp32", "ov_default": "fp32", "ov_int8_dyn": "int8_dyn",
                "ov_int8_static": "int8_static"}[name]
        cfg = {"INFERENCE_NUM_THREADS": t, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
        if name in ("ov_fp32", "ov_int8_dyn"):
            cfg["INFERENCE_PRECISION_HINT"] = "f32"
        if name == "ov_int8_dyn":
            cfg["DYNAMIC_QUANTIZATION_GROUP_SIZE"] = 32
        core = ov.Core()
        compiled = core.compile_model(ov_model(args, kind, texts), "CPU", cfg)
        hint = compiled.get_property("INFERENCE_PRECISION_HINT")
        info = {"inference_precision": getattr(hint, "to_string", hint.__str__)(),
                       "version": ov.get_version()}
        request = compiled.create_infer_request()
        names = [p.get_any_name() for p in compiled.inputs]

        def run(b):
            out = request.infer({k: b[k] for k in names})
            return pool(out[compiled.outputs[0]], b["attention_mask"])
        return run, info
    if name.startswith("ct2"):
        import ctranslate2
        enc = ctranslate2.Encoder(ct2_model(args), device="cpu",
                                  compute_type=name.split("_")[1].replace("fp32", "float32"),
                                  intra_threads=t)

        def run(b):
            hidden = np.asarray(enc.forward_batch(b["ids"]).last_hidden_state)
            return pool(hidden, b["attention_mask"])
        return run, {}
    raise KeyError(name)


def foreign_share(f):
    """Runs f(); returns (seconds, share of the machine's CPU that other processes used)."""
    def busy():
        with open("/proc/stat") as s:
            v = [int(x) for x in s.readline().split()[1:]]
        return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")
    b0, o0, t0 = busy(), sum(os.times()[:2]), time.perf_counter()
    f()
    wall = time.perf_counter() - t0
    other = (busy() - b0) - (sum(os.times()[:2]) - o0)
    return wall, max(other, 0.0) / (wall * (os.cpu_count() or 1))


def worker(args):
    """One engine, every batch size: speed, and embeddings for fidelity."""
    from transformers import AutoTokenizer
    texts = load_sentences(args.sentences)
    tok = AutoTokenizer.from_pretrained(args.model)
    ids = tokenize(tok, texts)
    ref = np.load(args.ref) if args.ref else None
    out = {"engine": args.engine, "sps": {}, "cos": {}, "foreign": {}}
    if args.engine == "reference":
        run, _ = engine("torch_fp32", args, texts)
        emb = np.concatenate([run(sorted_batches([i], 1)[0]) for i in ids])
        np.save(args.save, emb)
        return out
    run, out["info"] = engine(args.engine, args, texts)
    for size in args.batches:
        batches = sorted_batches(ids, size)
        emb = np.zeros((len(texts), ref.shape[1]), np.float32)

        def one_pass():
            for b in batches:
                emb[b["index"]] = run(b)
        one_pass()  # warm-up
        cos = (emb.astype(np.float64) * ref).sum(1)
        if ENGINES[args.engine][0] == "fp32" and 1 - cos.mean() > FP32_TOLERANCE:
            out["error"] = f"FP32 output differs from PyTorch: mean cosine {cos.mean():.7f}"
            return out
        times, shares = [], []
        for _ in range(args.reps):
            for _attempt in range(5):
                dt, share = foreign_share(one_pass)
                if share < 0.03:
                    break
            times.append(dt)
            shares.append(share)
        out["sps"][size] = len(texts) / statistics.median(times)
        out["foreign"][size] = max(shares)
        out["cos"][size] = nn_fidelity(emb, ref)
        c = out["cos"][size]
        print(f"  {args.engine:16} b{size:<4} {out['sps'][size]:8.1f} sentences/s   "
              f"cosine mean {c['mean']:.6f} min {c['min']:.6f}   "
              f"neighbours {c['nn_agree']:.1f}%   other processes {100 * max(shares):.1f}%",
              flush=True)
    return out


def nn_fidelity(emb, ref):
    e = emb.astype(np.float64)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    cos = (e * ref).sum(1)

    def nearest(x):
        s = x @ x.T
        np.fill_diagonal(s, -np.inf)
        return s.argmax(1)
    return {"mean": float(cos.mean()), "min": float(cos.min()),
            "nn_agree": float((nearest(e) == nearest(ref)).mean() * 100)}


def groundwork(args, precision, ref):
    """Our embeddings of the same sentences through the CLI (fidelity; speed is xtask bench)."""
    exe = os.path.join(ROOT, "target", "release", "xtask")
    cmd = [exe, "embed", "--batch", "32"] + ([f"--{precision}"] if precision != "fp32" else [])
    cmd.append(args.sentences)
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        return {"engine": f"groundwork_{precision}", "error": r.stderr.strip()[-300:]}
    emb = np.array([json.loads(line) for line in r.stdout.splitlines()], np.float32)
    fid = nn_fidelity(emb, ref)
    print(f"  groundwork_{precision:5} cosine mean {fid['mean']:.6f} min {fid['min']:.6f}   "
          f"neighbours {fid['nn_agree']:.1f}%", flush=True)
    return {"engine": f"groundwork_{precision}", "cos": {"all": fid}}


def spawn(args, name, extra):
    """Runs one engine in a fresh process with the thread counts pinned; returns its JSON."""
    res = os.path.join(args.workdir, f"worker-{name}.json")
    if os.path.exists(res):
        os.remove(res)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS="1", RAYON_NUM_THREADS=str(args.threads),
               TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, os.path.abspath(__file__), "_worker", "--engine", name,
           "--threads", str(args.threads), "--reps", str(args.reps), "--model", args.model,
           "--sentences", args.sentences, "--workdir", args.workdir, "--result", res,
           "--batches", ",".join(map(str, args.batches))] + extra
    p = subprocess.run(cmd, env=env)
    if p.returncode != 0 or not os.path.exists(res):
        return {"engine": name, "error": f"worker exited with status {p.returncode}"}
    with open(res) as f:
        return json.load(f)


def bench(args):
    os.makedirs(args.workdir, exist_ok=True)
    texts = load_sentences(args.sentences)
    digest = hashlib.sha1("\n".join(texts).encode()).hexdigest()[:12]
    ref_path = os.path.join(args.workdir, f"reference-{digest}.npy")
    if not os.path.exists(ref_path):
        print("reference: PyTorch FP32, one sentence per call", flush=True)
        spawn(args, "reference", ["--save", ref_path])
    ref = np.load(ref_path).astype(np.float64)
    names = args.engines.split(",") if args.engines else list(ENGINES)
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        sys.exit(f"unknown engine(s) {unknown}; `list` shows them")
    report = {"threads": args.threads, "sentences": len(texts), "batches": args.batches,
              "reps": args.reps, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
              "machine": machine(), "versions": versions(), "results": {}}
    for name in names:
        print(f"{name}: {ENGINES[name][1]}", flush=True)
        if name.startswith("groundwork"):
            r = groundwork(args, name.split("_")[1], ref)
        else:
            r = spawn(args, name, ["--ref", ref_path])
        if "error" in r:
            print(f"  {name} FAILED: {r['error']}", flush=True)
        report["results"][name] = r
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
    table(report)


def table(report):
    b = report["batches"]
    print(f"\nsentences/s, {report['threads']} thread(s), {report['sentences']} sentences, "
          "length-sorted batches; fidelity against PyTorch FP32 at batch 32 "
          "(mean / min cosine, top-1 neighbour agreement)")
    print("| engine | precision | " + " | ".join(f"b{x}" for x in b) + " | fidelity |")
    print("| --- | --- | " + " | ".join("---" for _ in b) + " | --- |")
    for name, r in report["results"].items():
        prec = ENGINES[name][0]
        if "error" in r:
            print(f"| {name} | {prec} | failed: {r['error']} |")
            continue
        sps = {int(k): v for k, v in r.get("sps", {}).items()}
        cos = r["cos"].get("32") or r["cos"].get("all")  # groundwork rows: one figure
        info = r.get("info") or {}
        if info.get("inference_precision"):
            prec += f" ({info['inference_precision']})"
        cells = " | ".join(f"{sps[x]:.0f}" if x in sps else "-" for x in b)
        print(f"| {name} | {prec} | {cells} | {cos['mean']:.5f} / {cos['min']:.5f} / "
              f"{cos['nn_agree']:.1f}% |")


def machine():
    info = {"processors": os.cpu_count(), "platform": platform.platform()}
    try:
        with open("/proc/cpuinfo") as f:
            txt = f.read()
        info["cpu"] = re.search(r"model name\s*:\s*(.*)", txt).group(1)
        flags = set(re.search(r"flags\s*:\s*(.*)", txt).group(1).split())
        info["isa"] = sorted(f for f in flags if f.startswith(("avx512", "amx", "avx_vnni")))
    except (OSError, AttributeError):
        pass
    return info


def versions():
    from importlib import metadata
    out = {}
    for dist in ("numpy", "torch", "transformers", "onnxruntime", "openvino", "nncf",
                 "ctranslate2"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=["bench", "list", "table", "_worker"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3, help="timed passes per batch size (median)")
    ap.add_argument("--batches", default=",".join(map(str, BATCHES)))
    ap.add_argument("--engines", default="", help="a comma-separated subset (see `list`)")
    ap.add_argument("--model", default=MODEL)
    ap.add_argument("--sentences", default=SENTENCES)
    ap.add_argument("--workdir", default="/tmp/groundwork-peers")
    ap.add_argument("--out", default="", help="write the results as JSON (table: read them)")
    # worker-only
    ap.add_argument("--engine")
    ap.add_argument("--ref")
    ap.add_argument("--save")
    ap.add_argument("--result")
    args = ap.parse_args()
    args.batches = [int(x) for x in args.batches.split(",") if x]
    if args.cmd == "list":
        for k, (prec, what) in ENGINES.items():
            print(f"{k:16} {prec:8} {what}")
        return
    if args.cmd == "table":
        with open(args.out) as f:
            return table(json.load(f))
    if not os.path.exists(os.path.join(args.model, "config.json")):
        sys.exit(f"no model at {args.model}: run `cargo xtask fetch-model all-minilm-l6-v2`")
    if args.cmd == "_worker":
        out = worker(args)
        with open(args.result, "w") as f:
            json.dump(out, f)
        return
    bench(args)


if __name__ == "__main__":
    main()
