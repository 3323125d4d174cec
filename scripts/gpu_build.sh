#!/usr/bin/env bash
# Rebuild llama-cpp-python with CUDA so the LLM runs on an NVIDIA GPU (the README's GPU step):
#   scripts/gpu_build.sh
# replaces the CPU build in .venv (or in $PYTHON's environment) with a CUDA build of the same version,
# from PyPI's source. Needs the CUDA toolkit (nvcc, 12.x or 13.x) and a C++ compiler; takes about 5 minutes
# with 16 cores. The embeddings need nothing extra: torch uses the GPU when it is a CUDA build.
#
# Settings (environment variables):
#   CUDA_ARCH   GPU architectures: "native" (default, the GPUs of this machine), or e.g. 90 (H100/H200),
#               89 (L4, RTX 40xx), 86 (A10, RTX 30xx), 80 (A100), "80;90" for several
#   JOBS        parallel compile jobs (default: all cores)
#   PYTHON      the interpreter to install for (default: .venv/bin/python, else python3)
#   SDIST       build from this source tarball instead of PyPI's (offline machines)
#   WHEELS      folder with the build tools' wheels (scikit-build-core, pathspec): build offline with them
#   TARGET      install into this folder (pip --target) instead of the environment; put it on PYTHONPATH
#   WHEEL_DIR   where the built wheel is kept (default: a temporary folder)
#   LOG         build log file (default: a temporary file; its tail is printed when the build fails)
#
# Two flags matter beyond GGML_CUDA:
#   -Wl,--exclude-libs,ALL   keeps the CUDA runtime symbols that llama.cpp links statically private, so
#                            torch (with its own CUDA libraries) and llama.cpp can share one process in
#                            either import order; without it the process crashes.
#   -mno-amx-int8            the same AMX-off CPU code the CPU build uses (AMX kernels crash on some Xeons).
# LLAVA_BUILD=OFF: paperqa-local uses no vision model, so the multimodal library is not built.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.3.36
CUDA_ARCH=${CUDA_ARCH:-native}
JOBS=${JOBS:-$(nproc)}
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
say() { echo "gpu_build: $*" >&2; }

if ! command -v nvcc >/dev/null; then
  for dir in /usr/local/cuda/bin /opt/cuda/bin; do [ -x "$dir/nvcc" ] && export PATH="$dir:$PATH" && break; done
fi
command -v nvcc >/dev/null || { say "nvcc not found — install the CUDA toolkit (12.x or 13.x) and put its bin/ on PATH"; exit 1; }
if [ "$CUDA_ARCH" = native ] && ! nvidia-smi -L >/dev/null 2>&1; then
  say "CUDA_ARCH=native needs a visible GPU; set CUDA_ARCH to your GPU's architecture, e.g. CUDA_ARCH=90"; exit 1
fi
export CUDACXX=${CUDACXX:-$(command -v nvcc)}
export CMAKE_BUILD_PARALLEL_LEVEL=$JOBS
export CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCH -DLLAVA_BUILD=OFF \
-DCMAKE_SHARED_LINKER_FLAGS=-Wl,--exclude-libs,ALL -DCMAKE_C_FLAGS=-mno-amx-int8 -DCMAKE_CXX_FLAGS=-mno-amx-int8 ${EXTRA_CMAKE_ARGS:-}"

WHEEL_DIR=${WHEEL_DIR:-$(mktemp -d)}
LOG=${LOG:-$(mktemp --suffix=.log)}
pip=("$PYTHON" -m pip --disable-pip-version-check)
build=("${pip[@]}" wheel --no-deps --no-cache-dir -w "$WHEEL_DIR")
if [ -n "${WHEELS:-}" ]; then
  # offline: the build tools from the given wheels, no build isolation, no index
  tools=$(mktemp -d)
  "${pip[@]}" install -q --no-index --no-deps --no-compile --target "$tools" "$WHEELS"/*.whl
  export PYTHONPATH="$tools${PYTHONPATH:+:$PYTHONPATH}"
  build+=(--no-build-isolation --no-index)
fi
if [ -n "${SDIST:-}" ]; then source=("$SDIST"); else source=(--no-binary llama-cpp-python "llama-cpp-python==$VERSION"); fi

say "building llama-cpp-python $VERSION for CUDA (arch $CUDA_ARCH, $JOBS jobs; log: $LOG)"
started=$(date +%s)
if ! "${build[@]}" "${source[@]}" >"$LOG" 2>&1; then
  tail -n 40 "$LOG" >&2
  say "build failed after $(( $(date +%s) - started )) s — the full log is $LOG"; exit 1
fi
wheel=$(ls -t "$WHEEL_DIR"/llama_cpp_python-"$VERSION"-*.whl | head -n 1)
say "built $(basename "$wheel") ($(du -h "$wheel" | cut -f1)) in $(( $(date +%s) - started )) s"

if [ -n "${TARGET:-}" ]; then
  "${pip[@]}" install -q --no-index --no-deps --no-compile --upgrade --target "$TARGET" "$wheel"
  export PYTHONPATH="$TARGET${PYTHONPATH:+:$PYTHONPATH}"
else
  # same version as the CPU build: only the binary changes, so no dependency moves
  "${pip[@]}" install -q --no-deps --force-reinstall "$wheel"
fi
"$PYTHON" - <<'EOF'
import llama_cpp
if not llama_cpp.llama_supports_gpu_offload():
    raise SystemExit("gpu_build: the installed llama_cpp has no GPU offload — check the build log")
print(f"gpu_build: llama_cpp {llama_cpp.__version__} from {llama_cpp.__file__}: GPU offload available")
EOF
