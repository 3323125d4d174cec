#!/usr/bin/env bash
# Starts N llama.cpp servers for paperqa-local's llm_base_url, waits until each answers, prints their URLs, and
# keeps them running in the foreground (Ctrl-C or SIGTERM stops them all).
#   scripts/serve_llm.sh [--model default|fast|FILE.gguf] [--servers N] [--port FIRST] [--host ADDR]
#                        [--threads T] [--n-ctx C] [--n-gpu-layers L] [--api-key KEY]
#                        [--llama-server BIN --parallel P]
# By default each server is `python -m llama_cpp.server`, which answers one request at a time (no parallel slots):
# N servers on the consecutive ports FIRST..FIRST+N-1 are N slots; paperqa-local sends each request to the least
# busy one. They are started with --logits_all true (the answering pipeline reads label and decline probabilities
# from their log-probabilities) and --interrupt_requests false (a queued request must not cut off a streaming one).
# Needs the `server` extra: scripts/setup.sh installs it (or `.venv/bin/pip install -e ".[server]"`).
# --llama-server BIN: llama.cpp's own server instead (scripts/build_llama_server.sh builds it from the pinned
# sources), each with P parallel slots decoded in one batch (continuous batching), C context tokens per slot.
# --threads is per server (default: this machine's cores divided by N, at least 1).
set -euo pipefail
cd "$(dirname "$0")/.."

model=default servers=1 port=8080 host=127.0.0.1 threads="" n_ctx=4096 layers=0 api_key="" binary="" parallel=1
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --servers) servers="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --host) host="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --n-ctx) n_ctx="$2"; shift 2 ;;
    --n-gpu-layers) layers="$2"; shift 2 ;;
    --api-key) api_key="$2"; shift 2 ;;
    --llama-server) binary="$2"; shift 2 ;;
    --parallel) parallel="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "serve_llm.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-.venv/bin/python}  # PYTHON: another interpreter (a machine without the .venv)
if [ -n "$binary" ]; then
  [ -x "$binary" ] || { echo "serve_llm.sh: no llama-server at $binary — build it with scripts/build_llama_server.sh" >&2; exit 1; }
else
  [ "$parallel" = 1 ] || { echo "serve_llm.sh: --parallel needs --llama-server (llama_cpp.server has no parallel slots)" >&2; exit 2; }
  "$PY" -c "import llama_cpp.server.app" 2>/dev/null || {
    echo "serve_llm.sh: llama_cpp.server cannot start — install the server extra: .venv/bin/pip install -e '.[server]'" >&2; exit 1; }
fi
path=$("$PY" -c "import sys; from paperqa_local.config import load_settings; from paperqa_local.models import resolve
print(resolve(sys.argv[1], load_settings().models_dir))" "$model")
[ -n "$threads" ] || threads=$(( $(nproc) / servers > 0 ? $(nproc) / servers : 1 ))

pids=()
stop() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait; }
trap stop EXIT
trap 'exit 130' INT TERM
urls=()
for i in $(seq 0 $((servers - 1))); do
  p=$((port + i))
  if [ -n "$binary" ]; then
    args=(-m "$path" --host "$host" --port "$p" -c $((n_ctx * parallel)) -np "$parallel" -t "$threads" -tb "$threads"
          -ngl "$layers" --no-webui --log-disable)
    [ -z "$api_key" ] || args+=(--api-key "$api_key")
    "$binary" "${args[@]}" &
  else
    args=(--model "$path" --host "$host" --port "$p" --n_ctx "$n_ctx" --n_threads "$threads" --n_threads_batch "$threads"
          --n_gpu_layers "$layers" --logits_all true --interrupt_requests false --verbose false)
    [ -z "$api_key" ] || args+=(--api_key "$api_key")
    "$PY" -m llama_cpp.server "${args[@]}" &
  fi
  pids+=($!)
  urls+=("http://$host:$p")
done
for url in "${urls[@]}"; do
  for _ in $(seq 240); do
    code=$(curl -s -o /dev/null -w '%{http_code}' ${api_key:+-H "Authorization: Bearer $api_key"} "$url/v1/models" || true)
    [ "$code" = 200 ] && break
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || { echo "serve_llm.sh: a server exited (see above)" >&2; exit 1; }; done
    sleep 0.5
  done
  [ "$code" = 200 ] || { echo "serve_llm.sh: $url did not answer within 2 minutes" >&2; exit 1; }
done
echo "PAPERQA_LOCAL_LLM_BASE_URL=$(IFS=,; echo "${urls[*]}")"
echo "PAPERQA_LOCAL_MODEL=$path"
wait
