#!/usr/bin/env bash
# Builds llama.cpp's own server (llama-server: parallel slots decoded in one batch, continuous batching) from the
# llama.cpp sources vendored in the pinned llama-cpp-python, so that it runs the same llama.cpp as the in-process
# model:
#   scripts/build_llama_server.sh            -> .venv/bin/llama-server
# then: scripts/serve_llm.sh --llama-server .venv/bin/llama-server --parallel 4, and llm_slots=4.
# Takes about 15 minutes on 2 cores. Settings (environment variables):
#   SDIST     llama-cpp-python's source tarball (default: downloaded from PyPI)
#   CUDA=1    a CUDA build (needs nvcc), for CUDA_ARCH (default: native); CUDA_FA=0 leaves out the FlashAttention
#             kernels (most of the CUDA compile time; serve with -fa off, as the in-process model runs)
#   JOBS      parallel compile jobs (default: all cores)
#   OUT       where the binary goes (default: .venv/bin/llama-server)
# -mno-amx-int8: the AMX kernels crash on some Xeons (as in scripts/setup.sh). No libcurl: models are local files.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.3.36
JOBS=${JOBS:-$(nproc)}
OUT=${OUT:-.venv/bin/llama-server}
PY=${PYTHON:-.venv/bin/python}
say() { echo "build_llama_server: $*" >&2; }
command -v cmake >/dev/null || { say "cmake not found — install cmake and a C++ compiler"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -z "${SDIST:-}" ]; then
  "$PY" -m pip download -q --no-deps --no-binary :all: -d "$work" "llama-cpp-python==$VERSION"
  SDIST=$(ls "$work"/llama_cpp_python-"$VERSION".tar.gz)
fi
tar -xzf "$SDIST" -C "$work" "llama_cpp_python-$VERSION/vendor/llama.cpp"
src="$work/llama_cpp_python-$VERSION/vendor/llama.cpp"
[ -f "$src/tools/server/server.cpp" ] || { say "$SDIST has no tools/server (a slimmed copy?): use PyPI's sdist"; exit 1; }
flags=(-DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
       -DLLAMA_BUILD_SERVER=ON -DBUILD_SHARED_LIBS=OFF -DCMAKE_C_FLAGS=-mno-amx-int8 -DCMAKE_CXX_FLAGS=-mno-amx-int8)
if [ "${CUDA:-0}" = 1 ]; then
  flags+=(-DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCH:-native}")
  [ "${CUDA_FA:-1}" = 0 ] && flags+=(-DGGML_CUDA_FA=OFF)
fi
log="$work/build.log"
say "building llama-server from llama-cpp-python $VERSION's llama.cpp ($JOBS jobs)"
started=$(date +%s)
if ! { cmake -S "$src" -B "$work/build" "${flags[@]}" && cmake --build "$work/build" --target llama-server -j "$JOBS"; } >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  say "build failed"; exit 1
fi
mkdir -p "$(dirname "$OUT")"
cp "$work/build/bin/llama-server" "$OUT"
say "built $OUT in $(( $(date +%s) - started )) s: $("$OUT" --version 2>&1 | head -n 1)"
