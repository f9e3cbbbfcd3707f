#!/usr/bin/env bash
# groundwork-serve and the peer embedding service (scripts/peer_serve.py: FastAPI + ONNX
# Runtime INT8 with a timer batcher, the seed's design) side by side, each driven by the same
# open-loop generator (`xtask loadtest`, a separate process) at the same offered rates, one
# server at a time on the same machine.
#
#   PY=/tmp/peers-venv/bin/python scripts/serving-vs-peer.sh [RATES] [SECONDS]
#
# PY is a Python with peer_serve.py's packages (its docstring lists them; keep that
# virtualenv outside the project). Needs the model (cargo xtask fetch-model all-minilm-l6-v2).
# Prints one JSON line per (server setting, rate).
set -euo pipefail
cd "$(dirname "$0")/.."
RATES=${1:-50,100,200,300,400,500,600,700,800}
SECONDS_PER=${2:-8}
: "${PY:?set PY to a Python with the packages peer_serve.py needs}"
cargo build -q --release -p xtask -p serve
port=18431

wait_up() {
  for _ in $(seq 1 400); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "server on port $port did not come up" >&2
  return 1
}

drive() { # label
  target/release/xtask loadtest --url "http://127.0.0.1:$port/v1/embeddings" \
    --rates "$RATES" --seconds "$SECONDS_PER" --json | sed "s/^/{\"server\": \"$1\", \"load\": /; s/\$/}/"
}

run_ours() { # label, args...
  local label=$1; shift
  target/release/groundwork-serve --int8 --port $port "$@" 2>/dev/null &
  local pid=$!
  wait_up
  drive "$label"
  kill -TERM $pid; wait $pid || true
}

run_peer() { # label, args...
  local label=$1; shift
  "$PY" scripts/peer_serve.py --port $port --threads 2 "$@" >/dev/null 2>&1 &
  local pid=$!
  wait_up
  drive "$label"
  kill -TERM $pid; wait $pid || true
}

run_ours "groundwork INT8, no batching" --policy idle --max-batch 1
run_ours "groundwork INT8, idle 32" --policy idle --max-batch 32
run_ours "groundwork INT8, timer 5 ms 32" --policy timer --max-wait-ms 5 --max-batch 32
run_peer "ORT INT8 + FastAPI, no batching" --max-batch 1
run_peer "ORT INT8 + FastAPI, timer 5 ms 32" --max-batch 32 --max-wait-ms 5
