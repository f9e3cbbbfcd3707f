#!/usr/bin/env bash
# groundwork-serve against serving peers, each driven by the same open-loop generator
# (`xtask loadtest`, a separate process) at the same offered rates, one server at a time on
# the same machine:
#
#   * scripts/peer_serve.py — FastAPI + ONNX Runtime per-channel INT8 with a timer batcher
#     (the seed's design as a service), with and without batching;
#   * infinity-emb (`infinity_emb v2`), a serving engine with dynamic batching, set up as its
#     docs advise for CPU: the optimum (ONNX Runtime) engine, which prefers a quantized ONNX
#     file on CPU and optimises the graph itself. Its model folder is the project's model
#     plus model.onnx (the FP32 export) and model_quantized.onnx (quantize_dynamic per-channel
#     INT8), the files a Hub repository ships (at the top: infinity-emb 0.0.78 hands optimum
#     2.x a path that optimum then compares with bare file names, so a subfolder fails).
#
#   PY=/tmp/peers-venv/bin/python INF=/tmp/inf-venv/bin/infinity_emb MIX=one \
#       scripts/serving-vs-peer.sh [RATES] [SECONDS]
#
# PY: a Python with peer_serve.py's packages (its docstring lists them); INF (optional): the
# infinity_emb command of a virtualenv with `infinity-emb[server,optimum]`; MIX: `one` (one
# sentence per request) or `mixed` (70% one sentence, 20% eight, 10% thirty-two). Keep the
# virtualenvs outside the project. SERVERS (optional) picks some of `ours peer infinity`.
# Needs the model (cargo xtask fetch-model all-minilm-l6-v2). Prints one JSON line per
# (server setting, rate); with MIX=mixed, single_p99_ms is the one-sentence requests' p99.
set -euo pipefail
cd "$(dirname "$0")/.."
RATES=${1:-50,100,200,300,400,500,600,700,800}
SECONDS_PER=${2:-8}
MIX=${MIX:-one}
: "${PY:?set PY to a Python with the packages peer_serve.py needs}"
WORK=${WORK:-/tmp/groundwork-peers}
cargo build -q --release -p xtask -p serve
port=18431

wait_up() { # [health path]
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$port${1:-/health}" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "server on port $port did not come up" >&2
  return 1
}

drive() { # label, path
  target/release/xtask loadtest --url "http://127.0.0.1:$port$2" --mix "$MIX" \
    --rates "$RATES" --seconds "$SECONDS_PER" --json \
    | sed "s/^/{\"server\": \"$1\", \"mix\": \"$MIX\", \"load\": /; s/\$/}/"
}

run_ours() { # label, args...
  local label=$1; shift
  target/release/groundwork-serve --int8 --port $port "$@" 2>/dev/null &
  local pid=$!
  wait_up
  drive "$label" /v1/embeddings
  kill -TERM $pid; wait $pid || true
}

run_peer() { # label, args...
  local label=$1; shift
  "$PY" scripts/peer_serve.py --port $port --threads 2 --workdir "$WORK" "$@" >/dev/null 2>&1 &
  local pid=$!
  wait_up
  drive "$label" /v1/embeddings
  kill -TERM $pid; wait $pid || true
}

infinity_model() { # the model folder infinity loads: ours plus the ONNX files a Hub repo has
  local dir=$WORK/infinity-model
  if [ ! -f "$dir/model_quantized.onnx" ]; then
    "$PY" - "$WORK" <<'EOF'
import argparse, sys
sys.path.insert(0, "scripts")
import peers_minilm
peers_minilm.onnx_models(argparse.Namespace(workdir=sys.argv[1], model=peers_minilm.MODEL))
EOF
    mkdir -p "$dir"
    cp -r data/models/all-minilm-l6-v2/. "$dir/"
    cp "$WORK/onnx/plain.onnx" "$dir/model.onnx"
    cp "$WORK/onnx/int8_pc.onnx" "$dir/model_quantized.onnx"
  fi
  echo "$dir"
}

run_infinity() { # label, args...
  local label=$1; shift
  local dir
  dir=$(infinity_model)
  # From inside the folder, as `.`: infinity passes the ONNX file's path as it listed it.
  (cd "$dir" && HF_HUB_OFFLINE=1 exec "$INF" v2 --model-id . --served-model-name all-minilm-l6-v2 \
    --engine optimum --device cpu --port $port --url-prefix /v1 \
    "$@" >"$WORK/infinity-$port.log" 2>&1) &
  local pid=$!
  wait_up /health || { tail -n 30 "$WORK/infinity-$port.log" >&2; kill $pid; return 1; }
  drive "$label" /v1/embeddings
  kill -TERM $pid; wait $pid || true
}

# SERVERS: which to run (default all of: ours peer infinity).
SERVERS=${SERVERS:-ours peer infinity}
if [[ " $SERVERS " == *" ours "* ]]; then
  run_ours "groundwork INT8, idle 32" --policy idle --max-batch 32
  run_ours "groundwork INT8, timer 5 ms 32" --policy timer --max-wait-ms 5 --max-batch 32
fi
if [[ " $SERVERS " == *" peer "* ]]; then
  run_peer "ORT INT8 + FastAPI, timer 5 ms 32" --max-batch 32 --max-wait-ms 5
fi
if [[ " $SERVERS " == *" infinity "* && -n "${INF:-}" ]]; then
  run_infinity "infinity-emb (optimum, ORT INT8), batch 32" --batch-size 32
fi
