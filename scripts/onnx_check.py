#!/usr/bin/env python3
"""Checks an exported ONNX model with the real tools and runs it in ONNX Runtime.

Used by crates/onnx/tests/ort.rs (which compares the outputs with groundwork's own):

    onnx_check.py CASE.json

CASE.json: {"model": PATH, "inputs": [{"name", "dtype": "f32"|"i64", "shape", "file"}],
"result": PATH, "dir": PATH}. Each input file holds raw little-endian values. The script runs
onnx.checker.check_model(full_check=True) and strict shape inference, runs the model on
ONNX Runtime's CPU provider (2 threads), writes each output as raw float32 to DIR/NAME.out
and a result file listing them with their shapes. Any failure exits non-zero with the
reason on stderr.
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    case = json.load(open(sys.argv[1]))
    path = case["model"]
    onnx.checker.check_model(path, full_check=True)
    model = onnx.load(path)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    dtypes = {"f32": np.float32, "i64": np.int64}
    feeds = {
        i["name"]: np.fromfile(i["file"], dtype=dtypes[i["dtype"]]).reshape(i["shape"])
        for i in case["inputs"]
    }
    outputs = sess.run(None, feeds)
    result = {"outputs": [], "onnxruntime": ort.__version__, "onnx": onnx.__version__}
    for meta, value in zip(sess.get_outputs(), outputs):
        file = os.path.join(case["dir"], meta.name + ".out")
        np.ascontiguousarray(value, dtype=np.float32).tofile(file)
        result["outputs"].append({"name": meta.name, "shape": list(value.shape), "file": file})
    json.dump(result, open(case["result"], "w"))


if __name__ == "__main__":
    main()
