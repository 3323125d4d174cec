"""Speed of paperqa-local on this machine, CPU or GPU: each bundled LLM raw and inside the full pipeline, side by side.

For each model (default = Qwen2.5-Coder 1.5B, fast = 0.5B, both Q4_K_M):
  raw       llama.cpp alone, on the exact prompt the pipeline built for the same question, from an empty KV
            cache: prompt tokens/s, time to first token, decode tokens/s (llama.cpp's own counters, and the
            wall clock of a bare Python loop), forced to --gen-tokens tokens.
  pipeline  `PaperQA.ask` end to end over the seeds: retrieval, time to first token, decode tokens/s, total
            answer time, and llama.cpp's counters inside it (so the gap to raw shows where the time goes).
Then embedding speed (abstracts/s, MiniLM) and full ingest speed (abstracts/s, with the time of each stage)
on the SciFact corpus (5,183 abstracts, ../shared/eval/scifact/corpus.jsonl).

The same command runs on CPU and GPU: n_gpu_layers=-1 and embed_device=auto pick the GPU where llama.cpp
was built with CUDA and torch sees one.
    .venv/bin/python benchmarks/speed.py --quick --out benchmarks/results/cpu-speed.json
    python benchmarks/speed.py --out benchmarks/results/gpu-speed.json            # on a GPU machine

Stand-in models. Where the GGUF files cannot travel (the GPU machine here takes 64 MiB per upload), speed
is measured on stand-ins: the real file's header (metadata, tokenizer, tensor table) and its real F32
tensors (norms, biases), followed by random quantised blocks whose scales match the real tensors' median
scales, padded to the real size. Shapes, types and sizes are identical, so the work per token is too;
the text they write is gibberish, never stops early, and says nothing about answer quality.
    python benchmarks/speed.py standin-header models/X.gguf OUTDIR      # here: a few MB per model
    python benchmarks/speed.py standin-expand OUTDIR/X OUT.gguf           # there: the full-size stand-in
and run with `--model default=OUT.gguf --standin`. Every figure from a stand-in is marked so in the JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import gzip
import json
import os
import platform
import shlex
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SCIFACT = ROOT.parent / "shared" / "eval" / "scifact" / "corpus.jsonl"
SEEDS = ROOT / "seeds"
QUESTIONS_FILE = ROOT / "benchmarks" / "data" / "seeds_questions.jsonl"  # the project's seeds question set
FALLBACK_QUESTIONS = [
    "Which system recommends mitigation actions for unhealthy nodes in cloud infrastructure, and how much does it reduce VM downtime?",
    "How does Hydragen speed up LLM inference when many sequences share a prefix?",
    "What does ALISA do to accelerate large language model inference?",
]


def seeds_questions() -> list[str]:
    """The seeds question set; its last question is kept for the warm-up, the others are measured in order."""
    if QUESTIONS_FILE.exists():
        return [json.loads(line)["question"] for line in QUESTIONS_FILE.read_text().splitlines() if line.strip()]
    return FALLBACK_QUESTIONS


TARGETS = {  # from the GPU issue; checked only where the GPU did the work
    "pipeline_total_ms_default_max": 1000.0,
    "decode_ratio_min": 0.95,
    "ingest_abstracts_per_s_min": 3000.0,
}


# --------------------------------------------------------------------------------------------- utilities
def median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


def run_text(command: list[str]) -> str | None:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=20).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(args) -> dict:
    import llama_cpp
    import torch

    from paperqa_local.hardware import cpu_name, physical_cores

    gpu = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        gpu = {
            "name": props.name,
            "memory_gib": round(props.total_memory / 2**30, 1),
            "multiprocessors": props.multi_processor_count,
            "nvidia_smi": run_text(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm", "--format=csv,noheader"]),
        }
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "host": platform.node(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_threads": os.cpu_count(),
        "physical_cores": physical_cores(),
        "gpu": gpu,
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "llama_cpp_python": llama_cpp.__version__,
        "llama_cpp_gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "git_commit": run_text(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "command": shlex.join(["python", *sys.argv]),
        "invocation": args.invocation,
    }


def cuda_used_gib() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    free, total = torch.cuda.mem_get_info()
    return round((total - free) / 2**30, 2)


class Stopwatch:
    """Wraps callables so that the seconds spent in each are summed under a stage name."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._patches = contextlib.ExitStack()

    def wrap(self, owner, attribute: str, stage: str) -> None:
        from unittest import mock

        original = getattr(owner, attribute)

        def timed(*a, **kw):
            started = time.perf_counter()
            try:
                return original(*a, **kw)
            finally:
                self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started

        self._patches.enter_context(mock.patch.object(owner, attribute, timed))

    def close(self) -> None:
        self._patches.close()


# ------------------------------------------------------------------------------- embedding and ingest
def corpus_subset(path: Path, limit: int | None, folder: Path) -> Path:
    if not limit:
        return path
    subset = folder / f"corpus-{limit}.jsonl"
    with path.open() as src, subset.open("w") as out:
        for n, line in enumerate(src):
            if n >= limit:
                break
            out.write(line)
    return subset


def bench_embedding(embedder, corpus: Path, chunk_chars: int) -> dict:
    from paperqa_local.ingest import chunk_paper
    from paperqa_local.keyword_sync import embedding_text
    from paperqa_local.sources.tabular import parse_jsonl

    papers = parse_jsonl(corpus).papers
    texts = [embedding_text(p.title, c.text) for p in papers for c in chunk_paper(p, chunk_chars)]
    embedder.embed(texts[:256])  # warm: kernels, allocator, tokenizer
    started = time.perf_counter()
    vectors = embedder.embed(texts)
    seconds = time.perf_counter() - started
    tokenize_s = None
    model = getattr(embedder, "model", None)
    tokenize = getattr(model, "preprocess", None) or getattr(model, "tokenize", None)
    if tokenize is not None:  # the CPU-side share: tokenizing the same batches
        ordered = sorted(texts, key=len)
        started = time.perf_counter()
        for start in range(0, len(ordered), embedder.batch_size):
            tokenize(ordered[start : start + embedder.batch_size])
        tokenize_s = round(time.perf_counter() - started, 3)
    return {
        "what": "Embedder.embed over every chunk that ingest embeds (title + abstract text), after a warm-up batch",
        "abstracts": len(papers),
        "chunks": len(texts),
        "dims": int(vectors.shape[1]),
        "seconds": round(seconds, 3),
        "tokenize_s": tokenize_s,
        "abstracts_per_s": round(len(papers) / seconds, 1),
        "chunks_per_s": round(len(texts) / seconds, 1),
    }


def bench_ingest(embedder, corpus: Path, data_dir: Path, settings: dict) -> dict:
    import paperqa_local.ingest as ingest_module
    from paperqa_local import PaperQA

    qa = PaperQA(data_dir=data_dir, embedder=embedder, **settings)
    watch = Stopwatch()
    watch.wrap(ingest_module, "parse_paths", "parse")
    watch.wrap(ingest_module, "stored_for", "open store + look up stored papers")
    watch.wrap(embedder, "embed", "embed")
    watch.wrap(qa.store, "add", "chroma upsert")
    watch.wrap(ingest_module, "_delete_stale_chunks", "stale-chunk check")
    watch.wrap(ingest_module, "sync_keyword_index", "bm25 index (read back changed chunks + tokenize + save)")
    try:
        report = qa.ingest([corpus])
    finally:
        watch.close()
    stages = {name: round(sec, 3) for name, sec in watch.seconds.items()}
    stages["other"] = round(report.seconds - sum(watch.seconds.values()), 3)
    return {
        "what": "PaperQA.ingest of the corpus into a new data directory (embedder already loaded)",
        "abstracts": report.new_papers,
        "chunks": report.chunks_embedded,
        "seconds": round(report.seconds, 3),
        "abstracts_per_s": round(report.new_papers / report.seconds, 1),
        "stages_s": stages,
    }


# --------------------------------------------------------------------------------------------- models
def perf_counters(model) -> dict:
    import llama_cpp

    data = llama_cpp.llama_perf_context(model._ctx.ctx)
    return {"t_p_eval_ms": data.t_p_eval_ms, "n_p_eval": data.n_p_eval, "t_eval_ms": data.t_eval_ms, "n_eval": data.n_eval}


def perf_reset(model) -> None:
    import llama_cpp

    llama_cpp.llama_perf_context_reset(model._ctx.ctx)


def render_prompt(model, messages) -> str:
    """The prompt llama-cpp-python's chat handler builds from these messages (the GGUF's chat template)."""
    from llama_cpp import llama_chat_format

    template = model.metadata.get("tokenizer.chat_template")
    if model.chat_format != "chat_template.default" or not template:
        raise RuntimeError(f"model uses chat format {model.chat_format!r}; raw prompts assume the GGUF's own template")
    eos = model._model.token_get_text(model.token_eos()) if model.token_eos() != -1 else ""
    bos = model._model.token_get_text(model.token_bos()) if model.token_bos() != -1 else ""
    return llama_chat_format.Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)(messages=messages).prompt


def raw_generate(model, tokens: list[int], n_tokens: int) -> dict:
    """Greedy decoding of exactly n_tokens through llama.cpp with nothing else around it (EOS ignored)."""
    import llama_cpp
    import numpy as np

    n_vocab = model.n_vocab()

    def next_token() -> int:
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(model._ctx.ctx, -1), shape=(n_vocab,))
        return int(logits.argmax())

    model.reset()
    perf_reset(model)
    started = time.perf_counter()
    model.eval(tokens)
    token = next_token()
    first = time.perf_counter()
    for _ in range(n_tokens - 1):
        model.eval([token])
        token = next_token()
    ended = time.perf_counter()
    perf = perf_counters(model)
    return {
        "prompt_tokens": len(tokens),
        "completion_tokens": n_tokens,
        "ttft_ms": round(1000 * (first - started), 1),
        "prompt_tokens_per_s": round(perf["n_p_eval"] / perf["t_p_eval_ms"] * 1000, 1) if perf["t_p_eval_ms"] else None,
        "decode_tokens_per_s": round(perf["n_eval"] / perf["t_eval_ms"] * 1000, 1) if perf["t_eval_ms"] else None,
        "decode_tokens_per_s_wall": round((n_tokens - 1) / (ended - first), 1) if n_tokens > 1 else None,
        "total_ms": round(1000 * (ended - started), 1),
        "llama_cpp": perf,
    }


def bench_model(qa, name: str, spec: str, args, questions: list[str]) -> dict:
    import paperqa_local.answer as answer_module
    import paperqa_local.llm as llm_module

    qa.use_model(spec)
    llm_module._LOADED.clear()
    gc.collect()
    before = cuda_used_gib()
    started = time.perf_counter()
    llm = qa.llm
    load_s = time.perf_counter() - started
    model = llm.model
    layers, reason = llm_module.pick_gpu_layers(qa.settings.n_gpu_layers)

    calls: list[dict] = []
    original = llm.stream_chat

    def spy(messages, generation, **options):  # records the prompt and the LLM's wall time inside ask()
        call = {"messages": messages, "started": time.perf_counter()}
        calls.append(call)
        yield from original(messages, generation, **options)
        call["ended"] = time.perf_counter()

    llm.stream_chat = spy
    rows = []
    try:
        qa.ask(args.warmup_question)  # loads CUDA kernels / graphs and caches the system prompt, like any first question
        if calls:
            warm_tokens = model.tokenize(render_prompt(model, calls[-1]["messages"]).encode(), special=True)
            raw_generate(model, warm_tokens, min(16, args.gen_tokens))
        for question in questions:
            calls.clear()
            watch = Stopwatch()
            watch.wrap(qa, "search", "search")
            watch.wrap(answer_module, "select_evidence", "select_evidence")
            watch.wrap(answer_module, "verify_citations", "verify_citations")
            perf_reset(model)
            try:
                answer = qa.ask(question)
            finally:
                watch.close()
            perf = perf_counters(model)
            row: dict = {"question": question}
            t = answer.timings
            pipe = {
                "retrieve_ms": t.get("retrieve_ms"),
                "ttft_ms": t.get("ttft_ms"),
                "llm_ttft_ms": t.get("llm_ttft_ms"),
                "decode_tokens_per_s": t.get("decode_tokens_per_s"),
                "total_ms": t.get("total_ms"),
                "prompt_tokens": answer.prompt_tokens,
                "completion_tokens": answer.completion_tokens,
                "answerable": answer.answerable,
                "citations": [c.key for c in answer.citations],
                "text": answer.text[:400],
            }
            if calls:
                call = calls[-1]
                llm_ms = 1000 * (call.get("ended", call["started"]) - call["started"])
                pipe["llm_ms"] = round(llm_ms, 1)
                pipe["after_llm_ms"] = round(t["total_ms"] - t["retrieve_ms"] - llm_ms, 1)  # citation checks
                pipe["stages_ms"] = {**{k: round(1000 * v, 1) for k, v in watch.seconds.items()}, "llm": round(llm_ms, 1)}
                pipe["llama_cpp"] = perf
                pipe["llama_cpp_decode_tokens_per_s"] = round(perf["n_eval"] / perf["t_eval_ms"] * 1000, 1) if perf["t_eval_ms"] else None
                if perf["n_eval"] and t.get("decode_tokens_per_s"):
                    compute = perf["t_eval_ms"] / perf["n_eval"]
                    wall = 1000 / t["decode_tokens_per_s"]
                    pipe["decode_ms_per_token"] = {"wall": round(wall, 3), "llama_cpp": round(compute, 3), "outside_llama_cpp": round(wall - compute, 3)}
                tokens = model.tokenize(render_prompt(model, call["messages"]).encode(), special=True)
                row["same_prompt"] = list(model._input_ids[: len(tokens)]) == tokens
                row["raw"] = raw_generate(model, tokens, args.gen_tokens)
            row["pipeline"] = pipe
            rows.append(row)
            print(f"  {name}: {question[:60]}… pipeline {t.get('total_ms')} ms, {answer.completion_tokens} tokens", flush=True)
    finally:
        del llm.stream_chat  # back to the class's method

    raws = [r["raw"] for r in rows if "raw" in r]
    pipes = [r["pipeline"] for r in rows]
    summary = {
        "raw_prompt_tokens": median([r["prompt_tokens"] for r in raws]),
        "raw_prompt_tokens_per_s": median([r["prompt_tokens_per_s"] for r in raws]),
        "raw_ttft_ms": median([r["ttft_ms"] for r in raws]),
        "raw_decode_tokens_per_s": median([r["decode_tokens_per_s"] for r in raws]),
        "raw_decode_tokens_per_s_wall": median([r["decode_tokens_per_s_wall"] for r in raws]),
        "raw_total_ms": median([r["total_ms"] for r in raws]),
        "pipeline_retrieve_ms": median([p["retrieve_ms"] for p in pipes]),
        "pipeline_ttft_ms": median([p["ttft_ms"] for p in pipes]),
        "pipeline_decode_tokens_per_s": median([p["decode_tokens_per_s"] for p in pipes]),
        "pipeline_llama_cpp_decode_tokens_per_s": median([p.get("llama_cpp_decode_tokens_per_s") for p in pipes]),
        "pipeline_completion_tokens": median([p["completion_tokens"] for p in pipes]),
        "pipeline_after_llm_ms": median([p.get("after_llm_ms") for p in pipes]),
        "pipeline_total_ms": median([p["total_ms"] for p in pipes]),
        "pipeline_stages_ms": {stage: median([p.get("stages_ms", {}).get(stage) for p in pipes])
                               for stage in ("search", "select_evidence", "llm", "verify_citations")},
    }
    if summary["raw_decode_tokens_per_s"] and summary["pipeline_decode_tokens_per_s"]:
        summary["decode_ratio_pipeline_to_raw"] = round(summary["pipeline_decode_tokens_per_s"] / summary["raw_decode_tokens_per_s"], 3)
    if summary["raw_decode_tokens_per_s_wall"] and summary["pipeline_decode_tokens_per_s"]:
        summary["decode_ratio_pipeline_to_raw_wall"] = round(summary["pipeline_decode_tokens_per_s"] / summary["raw_decode_tokens_per_s_wall"], 3)
    result = {
        "spec": spec,
        "file": str(llm.path),
        "file_bytes": llm.path.stat().st_size,
        "standin": bool(args.standin),
        "n_gpu_layers": layers,
        "n_gpu_layers_reason": reason,
        "n_ctx": qa.settings.n_ctx,
        "n_threads": qa.settings.n_threads,
        "load_s": round(load_s, 2),
        "gpu_memory_gib_added": round(cuda_used_gib() - before, 2) if before is not None else None,
        "summary": summary,
        "questions": rows,
    }
    del model, llm
    qa._llm = None
    llm_module._LOADED.clear()
    gc.collect()
    return result


# ------------------------------------------------------------------------------------------ reporting
def check_targets(result: dict) -> dict:
    on_gpu = bool(result["environment"]["gpu"]) and result["environment"]["llama_cpp_gpu_offload"]
    if not on_gpu:
        return {"applies": False, "why": "the targets are for the GPU path; this run had no CUDA GPU and CUDA llama.cpp"}
    checks = {"applies": True}
    default = result["models"].get("default", {}).get("summary", {})
    if default.get("pipeline_total_ms") is not None:
        checks["pipeline_total_ms_default"] = {
            "value": default["pipeline_total_ms"], "max": TARGETS["pipeline_total_ms_default_max"],
            "completion_tokens": default.get("pipeline_completion_tokens"),
            "ok": default["pipeline_total_ms"] <= TARGETS["pipeline_total_ms_default_max"]}
    for name, model in result["models"].items():
        ratio = model["summary"].get("decode_ratio_pipeline_to_raw")
        if ratio is not None:
            checks[f"decode_ratio_{name}"] = {"value": ratio, "min": TARGETS["decode_ratio_min"], "ok": ratio >= TARGETS["decode_ratio_min"]}
    ingest = result.get("ingest")
    if ingest:
        checks["ingest_abstracts_per_s"] = {"value": ingest["abstracts_per_s"], "abstracts": ingest["abstracts"],
                                            "min": TARGETS["ingest_abstracts_per_s_min"],
                                            "ok": ingest["abstracts_per_s"] >= TARGETS["ingest_abstracts_per_s_min"]}
    return checks


def print_table(result: dict) -> None:
    env = result["environment"]
    where = env["gpu"]["name"] if env["gpu"] else f"CPU ({env['cpu']}, {env['physical_cores']} cores)"
    print(f"\npaperqa-local speed on {where}; llama.cpp GPU offload: {env['llama_cpp_gpu_offload']}")
    if result["models"]:
        header = f"{'model':<9}{'':>10}{'prompt tok/s':>14}{'TTFT ms':>10}{'decode tok/s':>14}{'tokens':>8}{'total ms':>10}"
        print(header)
        for name, model in result["models"].items():
            s = model["summary"]
            tag = f"{name}{'*' if model['standin'] else ''}"
            print(f"{tag:<9}{'raw':>10}{s['raw_prompt_tokens_per_s'] or '':>14}{s['raw_ttft_ms'] or '':>10}"
                  f"{s['raw_decode_tokens_per_s'] or '':>14}{result['settings']['gen_tokens']:>8}{s['raw_total_ms'] or '':>10}")
            print(f"{'':<9}{'pipeline':>10}{'':>14}{s['pipeline_ttft_ms'] or '':>10}"
                  f"{s['pipeline_decode_tokens_per_s'] or '':>14}{s['pipeline_completion_tokens'] or '':>8}{s['pipeline_total_ms'] or '':>10}"
                  f"   (retrieval {s['pipeline_retrieve_ms']} ms, decode {s.get('decode_ratio_pipeline_to_raw')} of raw)")
        if any(m["standin"] for m in result["models"].values()):
            print("* stand-in GGUF: real header and shapes, synthetic weights (speed only)")
    if result.get("embedding"):
        e = result["embedding"]
        print(f"embedding: {e['abstracts_per_s']} abstracts/s ({e['abstracts']} abstracts, {e['chunks']} chunks, {e['seconds']} s, {result['settings']['embed_device']})")
    if result.get("ingest"):
        i = result["ingest"]
        stages = ", ".join(f"{k} {v}" for k, v in i["stages_s"].items())
        print(f"ingest:    {i['abstracts_per_s']} abstracts/s ({i['abstracts']} abstracts in {i['seconds']} s: {stages})")
    checks = result["targets"]
    if checks.get("applies"):
        for key, check in checks.items():
            if isinstance(check, dict):
                print(f"target {key}: {check['value']} -> {'ok' if check['ok'] else 'SHORT'}")


# ---------------------------------------------------------------------------------------------- main
def run(args) -> dict:
    from paperqa_local import PaperQA
    from paperqa_local.config import load_settings
    from paperqa_local.embed import SentenceTransformerEmbedder, resolve_device

    device = args.device
    overrides = {"max_tokens": args.gen_tokens}
    if args.embedding_model:
        overrides["embedding_model"] = args.embedding_model
    if device == "cpu":
        overrides.update(embed_device="cpu", n_gpu_layers=0)
    elif device == "cuda":
        overrides.update(embed_device="cuda", n_gpu_layers=-1)
    if args.n_gpu_layers is not None:
        overrides["n_gpu_layers"] = args.n_gpu_layers
    settings = load_settings(**overrides)
    models = dict(spec.split("=", 1) for spec in args.model) if args.model else {"default": "default", "fast": "fast"}
    if args.only_models:
        models = {k: v for k, v in models.items() if k in args.only_models.split(",")}

    result: dict = {
        "about": "benchmarks/speed.py: raw llama.cpp vs the full PaperQA pipeline, embedding and ingest speed",
        "environment": environment(args),
        "settings": {
            "device": device, "embed_device": resolve_device(settings.embed_device), "n_gpu_layers": settings.n_gpu_layers,
            "embedding_model": settings.embedding_model, "embed_batch_size": settings.embed_batch_size,
            "gen_tokens": args.gen_tokens, "questions": len(args.questions), "ingest_limit": args.ingest_limit,
            "quick": args.quick, "standin_models": bool(args.standin), "k": settings.k,
        },
        "notes": args.note or [],
        "models": {},
    }
    if args.standin:
        result["notes"].append("LLM figures come from stand-in GGUFs: the real files' headers, shapes, sizes and F32 tensors, "
                               "random quantised weights (same work per token; generated text is gibberish and never stops early)")
    work = Path(args.data_dir or tempfile.mkdtemp(prefix="paperqa-speed-"))
    work.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    embedder = SentenceTransformerEmbedder(settings.embedding_model, settings.embed_device, settings.embed_batch_size)
    result["embedder_load_s"] = round(time.perf_counter() - started, 2)
    common = {"embedding_model": settings.embedding_model, "embed_device": settings.embed_device}

    if not args.skip_ingest:
        corpus = corpus_subset(Path(args.corpus), args.ingest_limit, work)
        print(f"embedding + ingest: {corpus}", flush=True)
        result["embedding"] = bench_embedding(embedder, corpus, settings.chunk_chars)
        result["ingest"] = bench_ingest(embedder, corpus, work / "scifact", common)

    if models:
        print(f"seeds index: {args.seeds}", flush=True)
        qa = PaperQA(data_dir=work / "seeds", embedder=embedder, **common, max_tokens=settings.max_tokens,
                     n_gpu_layers=settings.n_gpu_layers)
        report = qa.ingest([args.seeds])
        result["seeds_index"] = {"papers": report.new_papers, "chunks": report.chunks_embedded, "seconds": round(report.seconds, 2)}
        for name, spec in models.items():
            print(f"model {name}: {spec}", flush=True)
            result["models"][name] = bench_model(qa, name, spec, args, args.questions)
    result["targets"] = check_targets(result)
    return result


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="auto: GPU where there is one (the defaults of the settings)")
    parser.add_argument("--n-gpu-layers", type=int, default=None, help="override the setting (default -1: all layers where llama.cpp has CUDA)")
    parser.add_argument("--model", action="append", metavar="NAME=SPEC", help="a model to measure: NAME=preset, file or path (repeatable; default: default=default, fast=fast)")
    parser.add_argument("--only-models", help="comma-separated names out of --model to run")
    parser.add_argument("--standin", action="store_true", help="the GGUFs given are speed stand-ins (marked in the output)")
    parser.add_argument("--embedding-model", help="sentence-transformers folder (default: the bundled MiniLM)")
    parser.add_argument("--corpus", default=str(SCIFACT), help="BEIR corpus.jsonl for embedding and ingest speed")
    parser.add_argument("--ingest-limit", type=int, default=None, help="use only the first N abstracts")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--seeds", default=str(SEEDS), help="what the pipeline questions are asked over")
    parser.add_argument("--questions", type=int, default=5, help="how many questions of benchmarks/data/seeds_questions.jsonl to ask (in order)")
    parser.add_argument("--gen-tokens", type=int, default=150, help="tokens the raw run decodes, and the pipeline's max_tokens")
    parser.add_argument("--quick", action="store_true", help="short CPU run: 400 abstracts, 2 questions, 48 tokens")
    parser.add_argument("--data-dir", help="working folder (default: a new temporary one)")
    parser.add_argument("--note", action="append", help="free text recorded in the JSON (repeatable)")
    parser.add_argument("--invocation", help="the outer command that ran this one (recorded in the JSON)")
    parser.add_argument("--out", help="write the JSON here")
    args = parser.parse_args(argv)
    if args.quick:
        args.ingest_limit = args.ingest_limit or 400
        args.questions = min(args.questions, 2)
        args.gen_tokens = 48 if args.gen_tokens == 150 else args.gen_tokens
    questions = seeds_questions()
    args.warmup_question = questions[-1]
    args.questions = questions[: min(args.questions, len(questions) - 1)]
    return args


# ------------------------------------------------------------------------------------- stand-in GGUFs
GGML_BLOCKS = {  # type id: (name, elements per block, bytes per block, byte offsets of the fp16 scales)
    0: ("F32", 1, 4, ()), 1: ("F16", 1, 2, ()), 2: ("Q4_0", 32, 18, (0,)), 3: ("Q4_1", 32, 20, (0, 2)),
    6: ("Q5_0", 32, 22, (0,)), 7: ("Q5_1", 32, 24, (0, 2)), 8: ("Q8_0", 32, 34, (0,)),
    10: ("Q2_K", 256, 84, (80, 82)), 11: ("Q3_K", 256, 110, (108,)), 12: ("Q4_K", 256, 144, (0, 2)),
    13: ("Q5_K", 256, 176, (0, 2)), 14: ("Q6_K", 256, 210, (208,)),
}


def read_gguf_header(handle) -> tuple[dict, list[dict], int]:
    """GGUF v2/v3 metadata, tensor table and the offset where tensor data starts."""
    def u32():
        return struct.unpack("<I", handle.read(4))[0]

    def u64():
        return struct.unpack("<Q", handle.read(8))[0]

    def string():
        return handle.read(u64()).decode("utf-8", "replace")

    scalar = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}

    def value(kind):
        if kind == 8:
            return string()
        if kind == 9:
            item, count = u32(), u64()
            if item in scalar:
                handle.seek(struct.calcsize(scalar[item]) * count, 1)
                return f"<array of {count}>"
            return [value(item) for _ in range(count)]
        fmt = scalar[kind]
        return struct.unpack(fmt, handle.read(struct.calcsize(fmt)))[0]

    if handle.read(4) != b"GGUF":
        raise SystemExit("not a GGUF file")
    u32()
    n_tensors, n_kv = u64(), u64()
    metadata = {}
    for _ in range(n_kv):
        key = string()
        metadata[key] = value(u32())
    tensors = []
    for _ in range(n_tensors):
        name = string()
        dims = [u64() for _ in range(u32())]
        kind, offset = u32(), u64()
        tensors.append({"name": name, "dims": dims, "type": kind, "offset": offset})
    alignment = metadata.get("general.alignment", 32)
    start = (handle.tell() + alignment - 1) // alignment * alignment
    for tensor in tensors:
        if tensor["type"] not in GGML_BLOCKS:
            raise SystemExit(f"tensor {tensor['name']}: ggml type {tensor['type']} is not supported by the stand-in maker")
        _, per_block, block_bytes, _ = GGML_BLOCKS[tensor["type"]]
        elements = 1
        for d in tensor["dims"]:
            elements *= d
        tensor["nbytes"] = elements // per_block * block_bytes
    return metadata, tensors, start


def standin_header(source: Path, out_dir: Path) -> None:
    """Header (gzipped), real F32 tensors and per-tensor median scales of a GGUF: what a stand-in is made from."""
    import numpy as np

    out_dir.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as handle:
        _, tensors, start = read_gguf_header(handle)
        handle.seek(0)
        header = handle.read(start)
        f32 = {}
        for tensor in tensors:
            name, per_block, block_bytes, scale_offsets = GGML_BLOCKS[tensor["type"]]
            handle.seek(start + tensor["offset"])
            if tensor["type"] in (0, 1):
                f32[tensor["name"]] = np.frombuffer(handle.read(tensor["nbytes"]), dtype=np.float32 if tensor["type"] == 0 else np.float16)
                continue
            blocks = np.frombuffer(handle.read(tensor["nbytes"]), dtype=np.uint8).reshape(-1, block_bytes)
            tensor["scales"] = [float(np.median(np.abs(blocks[:, o:o + 2].copy().view(np.float16).astype(np.float32))))
                                for o in scale_offsets]
    stem = out_dir / source.stem
    with gzip.open(f"{stem}.header.gz", "wb", compresslevel=9) as out:
        out.write(header)
    np.savez_compressed(f"{stem}.dense.npz", **f32)
    Path(f"{stem}.standin.json").write_text(json.dumps({"source": source.name, "size": source.stat().st_size,
                                                        "data_start": start, "tensors": tensors}))
    print(f"{stem}.*: header {start} bytes, {len(tensors)} tensors, {len(f32)} dense ones kept")


def standin_expand(prefix: str, target: Path, seed: int = 0) -> None:
    """The full-size stand-in: real header and dense tensors, random quantised blocks at the real scales."""
    import numpy as np

    info = json.loads(Path(f"{prefix}.standin.json").read_text())
    dense = np.load(f"{prefix}.dense.npz")
    rng = np.random.default_rng(seed)
    with gzip.open(f"{prefix}.header.gz", "rb") as src:
        header = src.read()
    with target.open("wb") as out:
        out.write(header)
        for tensor in sorted(info["tensors"], key=lambda t: t["offset"]):
            out.seek(info["data_start"] + tensor["offset"])
            if tensor["name"] in dense.files:
                out.write(dense[tensor["name"]].tobytes())
                continue
            _, _, block_bytes, offsets = GGML_BLOCKS[tensor["type"]]
            blocks = np.frombuffer(rng.bytes(tensor["nbytes"]), dtype=np.uint8).reshape(-1, block_bytes).copy()
            for offset, scale in zip(offsets, tensor["scales"]):
                values = (scale * rng.uniform(0.5, 1.5, len(blocks))).astype(np.float16)
                blocks[:, offset:offset + 2] = values.view(np.uint8).reshape(-1, 2)
            out.write(blocks.tobytes())
        out.truncate(info["size"])
    print(f"{target}: stand-in for {info['source']}, {info['size']} bytes")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["standin-header"]:
        standin_header(Path(argv[1]), Path(argv[2]))
        return 0
    if argv[:1] == ["standin-expand"]:
        standin_expand(argv[1], Path(argv[2]))
        return 0
    args = parse_args(argv)
    result = run(args)
    print_table(result)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
