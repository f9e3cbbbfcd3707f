#!/usr/bin/env python3
"""The peer server of the serving comparison in README.md: the seed study's design as a
service — FastAPI on uvicorn, ONNX Runtime `quantize_dynamic` per-channel INT8 of the fused
graph (built from the model the project fetches, by scripts/peers_minilm.py), an asyncio timer batcher (collect
requests until --max-batch sentences or --max-wait-ms after the first, run the batch on one
worker thread, answer each request from its slice), the OpenAI and text-embeddings-inference
APIs.

    /tmp/peers-venv/bin/pip install numpy torch transformers tokenizers onnx onnxruntime fastapi uvicorn
    /tmp/peers-venv/bin/python scripts/peer_serve.py --port 18431 [--max-batch 32] [--max-wait-ms 5]

`--max-batch 1` is the server without batching. Drive it with `cargo xtask loadtest`;
scripts/serving-vs-peer.sh runs both servers under the same generator.
"""

import argparse
import asyncio
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers_minilm  # noqa: E402  (the ONNX export and the pooling of the speed tables)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=8090)
    ap.add_argument("--max-batch", type=int, default=32)
    ap.add_argument("--max-wait-ms", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "groundwork-peers"),
                    help="where the derived ONNX models are cached")
    args = ap.parse_args()

    import uvicorn
    from fastapi import FastAPI, HTTPException, Request
    from tokenizers import Tokenizer

    # ONNX Runtime quantize_dynamic per-channel INT8 of the fused graph, built (and cached in
    # --workdir) by peers_minilm as for the speed tables.
    peer_args = argparse.Namespace(workdir=args.workdir, model=peers_minilm.MODEL,
                                   threads=args.threads)
    run, _ = peers_minilm.engine("ort_int8_pc", peer_args, [])
    # The Rust tokenizer directly (what the seed's server used): no per-call Python padding.
    tok = Tokenizer.from_file(os.path.join(peers_minilm.MODEL, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(256)
    pool = ThreadPoolExecutor(max_workers=1)  # the engine runs off the event loop

    def embed(texts):
        encs = tok.encode_batch(texts)
        n = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), n), np.int64)
        mask = np.zeros((len(encs), n), np.int64)
        for i, e in enumerate(encs):
            ids[i, :len(e.ids)] = e.ids
            mask[i, :len(e.ids)] = 1
        batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return run(batch), int(mask.sum())

    app = FastAPI()
    state = {}

    async def batcher():
        loop = asyncio.get_running_loop()
        queue = state["queue"]
        while True:
            items = [await queue.get()]
            count = len(items[0][0])
            deadline = loop.time() + args.max_wait_ms / 1000
            while count < args.max_batch:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    item = await asyncio.wait_for(queue.get(), left)
                except asyncio.TimeoutError:
                    break
                items.append(item)
                count += len(item[0])
            texts = [t for item in items for t in item[0]]
            try:
                vecs, _ = await loop.run_in_executor(pool, embed, texts)
                at = 0
                for item_texts, fut in items:
                    if not fut.done():
                        fut.set_result(vecs[at:at + len(item_texts)])
                    at += len(item_texts)
            except Exception as e:  # answer every waiting request
                for _, fut in items:
                    if not fut.done():
                        fut.set_exception(e)

    @app.on_event("startup")
    async def start():
        state["queue"] = asyncio.Queue()
        state["task"] = asyncio.create_task(batcher())

    async def submit(texts):
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise HTTPException(400, "expected a string or a non-empty list of strings")
        fut = asyncio.get_running_loop().create_future()
        await state["queue"].put((texts, fut))
        return await fut

    @app.post("/v1/embeddings")
    async def openai(req: Request):
        body = await req.json()
        vecs = await submit(body.get("input"))
        return {"object": "list", "model": "all-minilm-l6-v2",
                "data": [{"object": "embedding", "index": i, "embedding": v.tolist()}
                         for i, v in enumerate(vecs)]}

    @app.post("/embed")
    async def tei(req: Request):
        body = await req.json()
        return [v.tolist() for v in await submit(body.get("inputs"))]

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
