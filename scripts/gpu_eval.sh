#!/usr/bin/env bash
# The quality evals on the GPU machine, with the real 1.5B weights (after `bash .gpu/base/device.sh setup`,
# `bash /tmp/gpu/device.sh wheels`, and the GGUF assembled in /tmp/models under its bundled file name, so that
# the preset `default` and its calibration apply):
#   bash scripts/gpu_eval.sh seeds  OUTDIR SET…   seeds questions (SET: dev, test, holdout, holdout2, holdout3), one set
#                                            after another, so their timings are those of one question at a time)
#   bash scripts/gpu_eval.sh data   OUTDIR   with .gpu/evaldata carried (scripts/gpu_carry.sh puts the SciFact
#                                            claims and PubMedQA there): the eval files -> /tmp/gpu/eval
#   bash scripts/gpu_eval.sh judge  OUTDIR   SciFact dev and PubMedQA test (side by side: quality only)
#   bash scripts/gpu_eval.sh variants OUTDIR  benchmarks/judge_variants.py score for both, side by side
set -euo pipefail
eval "$(cat /tmp/gpu/env)"
export PAPERQA_LOCAL_HOME=/tmp/pqhome PAPERQA_LOCAL_MODELS_DIR=/tmp/models PAPERQA_LOCAL_EMBEDDING_MODEL=/tmp/minilm
what=${1:?data, seeds or judge} out=${2:-/tmp/gpu/out}
mkdir -p "$out"
tag=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | grep -oiE 'h100|h200|a100|l40s' | tr A-Z a-z || echo gpu)
run() {  # name, eval arguments…
  local name=$1; shift
  python3 -m paperqa_local eval qa "$@" --out "$out/$tag-$name-items.jsonl.gz" --json > "$out/$tag-$name.json" \
    2> "$out/$tag-$name.log" || { tail -20 "$out/$tag-$name.log"; return 1; }
}
case "$what" in
  seeds)  # the named sets, one after another: dev test (seeds_questions.jsonl), holdout, holdout2, holdout3
    for set in "${@:3}"; do
      case $set in
        dev|test) file=benchmarks/data/seeds_questions.jsonl ;;
        *) file=benchmarks/data/seeds_questions_$set.jsonl ;;
      esac
      run seeds-$set-default-1.5b --questions $file --split $set
    done ;;
  judge)  # SciFact dev and PubMedQA test through `eval qa` (side by side: quality only)
    data=/tmp/gpu/eval  # `bash scripts/gpu_eval.sh data` put it there
    [ -f "$data/scifact/corpus.jsonl" ] || { echo "gpu_eval.sh: $data is missing: run gpu_eval.sh data first" >&2; exit 3; }
    run scifact-dev-default-1.5b --dataset scifact --eval-dir "$data" --split dev --no-explain &
    run pubmedqa-test-default-1.5b --dataset pubmedqa --eval-dir "$data" --split test --no-explain &
    wait ;;
  variants)  # every signal a way of judging could read (benchmarks/judge_variants.py), in the background
    data=/tmp/gpu/eval
    for dataset in scifact pubmedqa; do
      python3 benchmarks/judge_variants.py score --dataset $dataset --eval-dir "$data" --data-dir /tmp/pqv-$dataset \
        --tune-limit ${TUNE_LIMIT:-500} --out "$out/variants-$dataset.jsonl" > "$out/variants-$dataset.log" 2>&1 &
    done
    wait ;;
  data)  # with .gpu/evaldata carried: SciFact claims and PubMedQA -> /tmp/gpu/eval, beside the carried corpus
    mkdir -p /tmp/gpu/eval
    cp -r .gpu/evaldata/eval/* /tmp/gpu/eval/
    ln -sf /tmp/gpu/corpus.jsonl /tmp/gpu/eval/scifact/corpus.jsonl
    gunzip -f /tmp/gpu/eval/pubmedqa/ori_pqal.json.gz ;;
  *) echo "usage: gpu_eval.sh data|seeds|judge|variants OUTDIR [SET…]" >&2; exit 2 ;;
esac
ls -la "$out"
