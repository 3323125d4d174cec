#!/usr/bin/env bash
# Prepares .gpu/ (git-ignored) with what a GPU machine that has no package registry needs to run
# tests/test_gpu.py and benchmarks/speed.py: run it HERE, where pip reaches PyPI and models/ holds the GGUFs.
#   scripts/gpu_carry.sh
# The GPU machine takes at most 64 MiB per upload, so the material is split in folders sent by two
# consecutive calls (the machine's /tmp keeps what the first installed while the machine stays up):
#   first call, .gpu/base + .gpu/minilm (~59 MB): build llama-cpp-python for CUDA, run tests/test_gpu.py
#     .gpu/base    llama-cpp-python's source, slimmed (docs, tests, sample models, unused GPU back ends
#                  removed: 77 MB -> ~5 MB); the build tools' wheels; the wheels the GPU test needs
#                  (pydantic-settings & co, diskcache); the stand-in GGUF material (headers, dense tensors,
#                  scales: benchmarks/speed.py standin-header); the SciFact corpus; MiniLM's config and
#                  tokenizer files; device.sh, the device side of all this
#     .gpu/minilm  MiniLM's weights in fp16 (the GPU embeds in fp16 anyway: identical results there;
#                  device.sh turns them back into an fp32 file)
#   second call, .gpu/wheels (~27 MB): Python 3.12 manylinux wheels of the other runtime packages that the
#                  GPU image lacks (chromadb and its needs, bm25s, PyStemmer): run benchmarks/speed.py
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
VERSION=0.3.36
DEVICE_PY=3.12   # the GPU image's python3
GPU=.gpu
mkdir -p "$GPU/base" "$GPU/minilm" "$GPU/wheels" "$GPU/src"
say() { echo "gpu_carry: $*" >&2; }

# 1. llama-cpp-python's source, slimmed
sdist="$GPU/src/llama_cpp_python-$VERSION.tar.gz"
[ -f "$sdist" ] || "$PY" -m pip download -q --no-deps --no-binary :all: -d "$GPU/src" "llama-cpp-python==$VERSION"
slim="$GPU/base/llama_cpp_python-$VERSION-slim.tar.gz"
if [ ! -f "$slim" ]; then
  work=$(mktemp -d)
  tar -xzf "$sdist" -C "$work"
  top="$work/llama_cpp_python-$VERSION"
  v="$top/vendor/llama.cpp"
  rm -rf "$top"/{.git,.github,docs,tests,examples,docker} \
    "$v"/{.git,.github,.devops,docs,media,benches,tests,examples,models,pocs,gguf-py,conversion,tools/ui,tools/server,ci,skills} \
    "$v"/ggml/src/ggml-{vulkan,sycl,opencl,metal,cann,hexagon,musa,webgpu,zdnn,openvino,zendnn,et,virtgpu,hip}
  tar -czf "$slim" -C "$work" "llama_cpp_python-$VERSION"
  rm -rf "$work"
fi
say "source: $(du -h "$slim" | cut -f1)"

# 2. wheels: build tools, and the runtime packages missing from the GPU image (which has torch,
#    sentence-transformers, transformers, numpy, tokenizers, onnxruntime, grpcio, httpx, rich, typer, ...).
#    chromadb's kubernetes client is left out: the embedded store never imports it.
download() {
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$DEVICE_PY" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform manylinux_2_5_x86_64 -d "$@"
}
download "$GPU/base/build-wheels" scikit-build-core==1.1.2 pathspec==1.1.1
download "$GPU/base/wheels" diskcache==5.6.3 pydantic==2.14.3 pydantic-core==2.50.4 pydantic-settings==2.16.3 \
  python-dotenv==1.2.4 annotated-types==0.8.0 typing-inspection==0.4.5
download "$GPU/wheels" chromadb==1.5.9 bm25s==0.3.16 pystemmer==3.1.0 \
  bcrypt==5.0.0 importlib-resources==7.1.0 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 \
  referencing==0.37.0 rpds-py==2026.9.1 mmh3==5.3.1 orjson==3.13.0 overrides==7.7.0 pybase64==1.5.1 \
  pypika==0.51.1 tenacity==9.2.1 uvicorn==0.54.0 protobuf==7.36.2 googleapis-common-protos==1.76.0 \
  opentelemetry-api==1.45.2 opentelemetry-sdk==1.45.2 opentelemetry-proto==1.45.2 \
  opentelemetry-exporter-otlp-proto-common==1.45.2 opentelemetry-exporter-otlp-proto-grpc==1.45.2 \
  opentelemetry-semantic-conventions==0.66b2 opentelemetry-exporter-otlp-common==0.66b2
say "wheels: $(du -sh "$GPU/base/wheels" | cut -f1) for the test, $(du -sh "$GPU/wheels" | cut -f1) for the benchmark, $(du -sh "$GPU/base/build-wheels" | cut -f1) to build"

# 3. stand-in GGUF material (the real files are 1.1 GB and 0.5 GB)
for model in models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf; do
  stem=$(basename "$model" .gguf)
  [ -f "$GPU/base/standin/$stem.standin.json" ] || "$PY" benchmarks/speed.py standin-header "$model" "$GPU/base/standin"
done

# 4. the SciFact corpus (it lives beside the checkout, which does not travel)
[ -f "$GPU/base/scifact-corpus.jsonl.gz" ] || gzip -9 -c ../shared/eval/scifact/corpus.jsonl > "$GPU/base/scifact-corpus.jsonl.gz"

# 5. MiniLM: small files in base, weights as fp16 in minilm
"$PY" - "$GPU" <<'EOF'
import shutil, sys
from pathlib import Path
from safetensors.torch import load_file, save_file
sys.path.insert(0, "src")
from paperqa_local.embed import bundled_model_dir
src, gpu = bundled_model_dir(), Path(sys.argv[1])
config = gpu / "base" / "minilm-config"
if config.exists():
    shutil.rmtree(config)
shutil.copytree(src, config, ignore=shutil.ignore_patterns("model.safetensors", "*.bin", "*.onnx", "README.md", ".git*", "data_config.json"))
weights = gpu / "minilm" / "model-fp16.safetensors"
if not weights.exists():
    save_file({k: v.half().contiguous() for k, v in load_file(src / "model.safetensors").items()}, weights)
EOF

# 6. for the quality evals (scripts/gpu_eval.sh): SciFact claims and PubMedQA in .gpu/evaldata, and the real 1.5B
#    in pieces that each fit one call: the first (34 MB) beside .gpu/wheels and .gpu/evaldata's eval files, then
#    .gpu/w/dNN/q15.NN (57 MB each: with the working tree, 5 MB, under the 64 MiB a call takes), appended in order
#    on the device (sha256 checked there at the end)
if [ -f models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf ] && [ ! -f "$GPU/evaldata/q15.00" ]; then
  mkdir -p "$GPU/evaldata/eval/scifact" "$GPU/evaldata/eval/pubmedqa" "$GPU/w"
  cp ../shared/eval/scifact/claims_*.jsonl ../shared/eval/scifact/LICENSE* "$GPU/evaldata/eval/scifact/"
  gzip -9 -c ../shared/eval/pubmedqa/ori_pqal.json > "$GPU/evaldata/eval/pubmedqa/ori_pqal.json.gz"
  cp ../shared/eval/pubmedqa/test_ground_truth.json ../shared/eval/pubmedqa/LICENSE* "$GPU/evaldata/eval/pubmedqa/"
  model=models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
  head -c 34000000 "$model" > "$GPU/evaldata/q15.00"
  tail -c +34000001 "$model" | split -b 57000000 -d -a 2 - "$GPU/w/q15."
  for f in "$GPU"/w/q15.*; do mkdir -p "$GPU/w/d${f##*.}"; mv "$f" "$GPU/w/d${f##*.}/"; done
  say "weights: .gpu/evaldata/q15.00 and $(ls "$GPU/w" | wc -l) pieces in .gpu/w"
fi

# 7. the device side
cat > "$GPU/base/device.sh" <<'EOF'
#!/usr/bin/env bash
# On the GPU machine, from the repository root:
#   bash .gpu/base/device.sh setup     first call (.gpu/base and .gpu/minilm carried): test wheels -> /tmp/site,
#                                      CUDA llama-cpp-python -> /tmp/llama (scripts/gpu_build.sh), stand-in
#                                      GGUFs -> /tmp/models, MiniLM -> /tmp/minilm, corpus -> /tmp/gpu
#   bash /tmp/gpu/device.sh wheels     second call (.gpu/wheels carried): the benchmark's wheels -> /tmp/site
#   eval "$(cat /tmp/gpu/env)"         the exports that put it all on the path
set -euo pipefail
exports='export PYTHONPATH=/tmp/site:/tmp/llama:$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1'
install() { python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$@"; }
case "${1:-}" in
  setup)
    B=.gpu/base
    eval "$exports"
    mkdir -p /tmp/gpu /tmp/models
    echo "$exports" > /tmp/gpu/env
    cp "$0" /tmp/gpu/device.sh
    install "$B"/wheels/*.whl
    gunzip -c "$B/scifact-corpus.jsonl.gz" > /tmp/gpu/corpus.jsonl
    ( python3 benchmarks/speed.py standin-expand "$B/standin/qwen2.5-coder-1.5b-instruct-q4_k_m" /tmp/models/standin-qwen2.5-coder-1.5b.gguf
      python3 benchmarks/speed.py standin-expand "$B/standin/qwen2.5-coder-0.5b-instruct-q4_k_m" /tmp/models/standin-qwen2.5-coder-0.5b.gguf
      python3 - <<'PY'
import shutil
from safetensors.torch import load_file, save_file
shutil.copytree(".gpu/base/minilm-config", "/tmp/minilm", dirs_exist_ok=True)
save_file({k: v.float().contiguous() for k, v in load_file(".gpu/minilm/model-fp16.safetensors").items()}, "/tmp/minilm/model.safetensors")
print("MiniLM (weights rounded to fp16) in /tmp/minilm")
PY
    ) > /tmp/gpu/prep.log 2>&1 &
    prep=$!
    SDIST="$B/llama_cpp_python-0.3.36-slim.tar.gz" WHEELS="$B/build-wheels" TARGET=/tmp/llama \
      CUDA_ARCH=${CUDA_ARCH:-90} LOG=/tmp/gpu/build.log WHEEL_DIR=/tmp/gpu/wheel bash scripts/gpu_build.sh
    wait "$prep" || { cat /tmp/gpu/prep.log; exit 1; }
    cat /tmp/gpu/prep.log ;;
  wheels)
    [ -d /tmp/llama ] || { echo "device.sh: /tmp/llama is missing: a fresh machine; run setup first" >&2; exit 3; }
    install .gpu/wheels/*.whl ;;
  *) echo "usage: device.sh setup|wheels" >&2; exit 2 ;;
esac
EOF

size() { du -scb "$@" | tail -n1 | awk '{printf "%.1f MB", $1/1e6}'; }
tree=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- | tail -n1 | awk '{printf "%.1f MB", $1/1e6}')
say "ready: first call carries .gpu/base + .gpu/minilm ($(size "$GPU/base" "$GPU/minilm")), second .gpu/wheels ($(size "$GPU/wheels")), each with the $tree working tree (limit 64 MiB = 67.1 MB)"
