#!/bin/sh
# Seeds fuzz/corpus/<target>/ with valid inputs for each target: the shipped experiment
# files, small IDX files (raw and gzip), a checkpoint of the checkpoint target's network with
# Adam state, a tiny BERT's files, and sentences. Run from the repository root.
set -eu
c=fuzz/corpus
mkdir -p $c/experiment_file $c/idx $c/checkpoint $c/model_files $c/tokenize
cp experiments/*.toml $c/experiment_file/
python3 - "$c" <<'PY'
import gzip, json, struct, sys
c = sys.argv[1]
def idx(dims, data):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)
for name, dims in [("labels", [6]), ("images", [3, 4, 4])]:
    n = 1
    for d in dims: n *= d
    raw = idx(dims, [i % 10 for i in range(n)])
    open(f"{c}/idx/{name}", "wb").write(raw)
    open(f"{c}/idx/{name}.gz", "wb").write(gzip.compress(raw))
def safetensors(tensors, meta):
    header, blob = {}, b""
    for name, shape in tensors:
        n = 1
        for d in shape: n *= d
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(blob), len(blob) + 4 * n]}
        blob += struct.pack(f"<{n}f", *[0.01 * i for i in range(n)])
    if meta: header["__metadata__"] = meta
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + blob
params = [("0.weight", [5, 6]), ("0.bias", [5]), ("2.weight", [3, 5]), ("2.bias", [3])]
bufs = [(f"optimizer.{i}.{b}", [s[0] * (s[1] if len(s) > 1 else 1)]) for i, (_, s) in enumerate(params) for b in ["exp_avg", "exp_avg_sq"]]
meta = {"format": "groundwork", "optimizer": "adam", "optimizer.step": "3", "optimizer.lr": "0.01",
        "optimizer.buffers": "exp_avg,exp_avg_sq", "optimizer.params": "4"}
open(f"{c}/checkpoint/adam", "wb").write(safetensors(params + bufs, meta))
open(f"{c}/checkpoint/plain", "wb").write(safetensors(params, None))
h, i, v, p = 4, 8, 8, 8
bert = [("embeddings.word_embeddings.weight", [v, h]), ("embeddings.position_embeddings.weight", [p, h]),
        ("embeddings.token_type_embeddings.weight", [2, h]), ("embeddings.LayerNorm.weight", [h]), ("embeddings.LayerNorm.bias", [h])]
L = "encoder.layer.0"
for n, o, k in [("attention.self.query", h, h), ("attention.self.key", h, h), ("attention.self.value", h, h),
                ("attention.output.dense", h, h), ("intermediate.dense", i, h), ("output.dense", h, i)]:
    bert += [(f"{L}.{n}.weight", [o, k]), (f"{L}.{n}.bias", [o])]
for n in ["attention.output.LayerNorm", "output.LayerNorm"]:
    bert += [(f"{L}.{n}.weight", [h]), (f"{L}.{n}.bias", [h])]
files = [json.dumps({"hidden_size": 4, "num_attention_heads": 2, "num_hidden_layers": 1, "intermediate_size": 8,
                     "vocab_size": 8, "max_position_embeddings": 8}).encode(),
         b'{"max_seq_length": 8}', b'{"pooling_mode_mean_tokens": true}', b'[{"type": "x.Normalize"}]',
         safetensors(bert, None)]
vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "sat", "##s"]
files.append(json.dumps({"version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
    "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True, "strip_accents": None, "lowercase": True},
    "pre_tokenizer": {"type": "BertPreTokenizer"},
    "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
    "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
              "vocab": {w: k for k, w in enumerate(vocab)}}}).encode())
for k, body in enumerate(files):
    open(f"{c}/model_files/{k}", "wb").write(bytes([k]) + body)
for k, s in enumerate(["A man is playing a guitar.", "", "naïve café — 東京 🤖", "x" * 600, "[CLS] [SEP] [PAD] [UNK]"]):
    open(f"{c}/tokenize/{k}", "w").write(s)
PY
