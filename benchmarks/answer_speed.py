"""Answer speed and citation quality, side by side, same GGUF, same threads, same questions:

  (a) paperqa-local: hybrid retrieval, evidence within a token budget, verified citations;
  (b) the baseline a user would build from llama-index's docs: VectorStoreIndex over the same Chroma
      collection, top-5 retrieved abstracts, CitationQueryEngine, llama-index's LlamaCPP LLM (streaming);
  (c) raw llama-cpp-python decoding speed on (a)'s own prompt.

    .venv/bin/python benchmarks/answer_speed.py [--model default|fast] [--limit N] [--skip-baseline]

Prints median and p90 of time to first token and total time for (a) and (b), their ratios, (a)'s decode
tokens/s as a fraction of (c)'s, the cited-right-paper rate of both, and declines on off-corpus questions.
Writes benchmarks/results/answer-speed-<model>.json. Nothing is asserted: timings vary by machine.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = ROOT / "benchmarks" / "data"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 1), "p90": round(percentile(values, 0.9), 1)}


def load(path: Path, limit: int | None = None) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows[:limit] if limit else rows


def run_ours(qa, questions: list[dict]) -> list[dict]:
    rows = []
    for item in questions:
        answer = qa.ask(item["question"])
        cited = {c.title for c in answer.citations}
        rows.append({
            "id": item["id"], "ttft_ms": answer.timings["ttft_ms"], "total_ms": answer.timings["total_ms"],
            "decode_tokens_per_s": answer.timings.get("decode_tokens_per_s"), "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens, "answerable": answer.answerable,
            "cited_right": bool(set(item.get("papers", [])) & cited), "cited": sorted(cited), "answer": answer.text,
        })
        print(f"  (a) {item['id']}: ttft {answer.timings['ttft_ms']:.0f} ms, total {answer.timings['total_ms']:.0f} ms, "
              f"right={rows[-1]['cited_right']}", flush=True)
    return rows


def chatml(system: str):
    """Qwen's chat template, as a llama-index user would pass it to LlamaCPP."""

    def completion_to_prompt(completion: str) -> str:
        return f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{completion}<|im_end|>\n<|im_start|>assistant\n"

    def messages_to_prompt(messages) -> str:
        text = "".join(f"<|im_start|>{m.role.value}\n{m.content}<|im_end|>\n" for m in messages)
        return text + "<|im_start|>assistant\n"

    return completion_to_prompt, messages_to_prompt


def build_baseline(qa, model_path: Path, threads: int):
    from llama_index.core import Settings as LISettings
    from llama_index.core import VectorStoreIndex
    from llama_index.core.embeddings import BaseEmbedding
    from llama_index.core.query_engine import CitationQueryEngine
    from llama_index.llms.llama_cpp import LlamaCPP
    from llama_index.vector_stores.chroma import ChromaVectorStore

    embedder = qa.embedder

    class MiniLM(BaseEmbedding):  # the same bundled all-MiniLM-L6-v2 (llama-index's HuggingFaceEmbedding does the same)
        def _get_query_embedding(self, query: str):
            return embedder.embed_query(query).tolist()

        def _get_text_embedding(self, text: str):
            return embedder.embed([text])[0].tolist()

        async def _aget_query_embedding(self, query: str):
            return self._get_query_embedding(query)

    completion_to_prompt, messages_to_prompt = chatml("You are a helpful assistant.")
    llm = LlamaCPP(
        model_path=str(model_path), temperature=0.0, max_new_tokens=qa.settings.max_tokens, context_window=4096,
        generate_kwargs={"top_k": 1}, model_kwargs={"n_threads": threads, "n_threads_batch": threads, "n_gpu_layers": 0},
        completion_to_prompt=completion_to_prompt, messages_to_prompt=messages_to_prompt, verbose=False,
    )
    LISettings.embed_model = MiniLM(model_name="all-MiniLM-L6-v2")
    LISettings.llm = llm
    index = VectorStoreIndex.from_vector_store(ChromaVectorStore(chroma_collection=qa.store.collection))
    return CitationQueryEngine.from_args(index, similarity_top_k=5, citation_chunk_size=1024, streaming=True)


def run_baseline(engine, questions: list[dict]) -> list[dict]:
    rows = []
    for item in questions:
        started = time.perf_counter()
        response = engine.query(item["question"])
        first = None
        text = ""
        for piece in response.response_gen:
            if first is None and piece:
                first = time.perf_counter()
            text += piece
        ended = time.perf_counter()
        # CitationQueryEngine labels its sources "Source 1:", and asks for "[1]": count both forms
        keys = {int(a or b) for a, b in re.findall(r"\[(\d+)\]|\bSource (\d+)", text)}
        cited = {response.source_nodes[k - 1].node.metadata.get("title") for k in keys if 0 < k <= len(response.source_nodes)}
        rows.append({
            "id": item["id"], "ttft_ms": round(1000 * ((first or ended) - started), 1), "total_ms": round(1000 * (ended - started), 1),
            "cited_right": bool(set(item.get("papers", [])) & cited), "cited": sorted(c for c in cited if c), "answer": text,
        })
        print(f"  (b) {item['id']}: ttft {rows[-1]['ttft_ms']:.0f} ms, total {rows[-1]['total_ms']:.0f} ms, "
              f"right={rows[-1]['cited_right']}", flush=True)
    return rows


def raw_decode(qa, question: str, runs: int = 5) -> dict[str, float]:
    """llama-cpp-python alone, streaming (a)'s exact messages with the same sampling settings, alternating with (a)
    on the same question (greedy: both write the same tokens); medians of `runs` each."""
    from paperqa_local.answer import build_messages, select_evidence

    hits = qa.search(question)
    messages = build_messages(question, select_evidence(qa, question, hits, qa.evidence_budget()))
    model = qa.llm.model
    speeds, pipeline_speeds = [], []
    for _ in range(runs):
        started = time.perf_counter()
        first, tokens, finish = None, 0, None
        for chunk in model.create_chat_completion(messages=messages, stream=True, max_tokens=qa.settings.max_tokens,
                                                  temperature=0.0, top_k=1, repeat_penalty=1.0):
            if chunk["choices"][0].get("delta", {}).get("content"):
                first = first or time.perf_counter()
                tokens += 1
            finish = chunk["choices"][0].get("finish_reason") or finish
        # after the first token: one eval per token written, plus the one that found end-of-text (as (a) counts)
        evals = tokens if finish == "stop" else tokens - 1
        speeds.append(evals / (time.perf_counter() - first))
        pipeline_speeds.append(qa.ask(question).timings["decode_tokens_per_s"])
    return {"raw_decode_tokens_per_s": round(statistics.median(speeds), 2),
            "pipeline_decode_tokens_per_s": round(statistics.median(pipeline_speeds), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="preset or GGUF (default: the 1.5B)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions (test split, single/multi/numeric)")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--data-dir", default=None, help="a data dir that already holds the seeds (default: a fresh one)")
    args = parser.parse_args()

    from paperqa_local import PaperQA
    from paperqa_local.hardware import machine
    from paperqa_local.models import resolve

    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="answer-bench-"))
    qa = PaperQA(data_dir=data_dir, model=args.model)
    qa.ingest([ROOT / "seeds"])
    # the test split of the realistic seeds questions: answerable ones timed, off-corpus ones counted as declines
    rows = [r for r in load(DATA / "seeds_questions.jsonl") if r.get("split") == "test" and not r.get("history")]
    questions = [r for r in rows if r["kind"] in ("single", "multi", "numeric")][: args.limit]
    offcorpus = [r for r in rows if r["kind"] == "off_corpus"]
    qa.ask(questions[0]["question"])  # load the model, warm the shared prompt prefix: users keep the app open

    print(f"(a) paperqa-local, {len(questions)} seeds questions, model {qa.llm.name}, {qa.settings.n_threads} threads")
    ours = run_ours(qa, questions)
    declines = [not qa.ask(item["question"]).answerable for item in offcorpus]
    longest = max(zip(questions, ours), key=lambda pair: pair[1]["completion_tokens"])[0]  # the least noisy rate
    decode = raw_decode(qa, longest["question"])
    decode["question_id"] = longest["id"]

    result = {
        "model": qa.llm.name, "threads": qa.settings.n_threads, "questions": len(questions),
        "ours": {"ttft_ms": summary([r["ttft_ms"] for r in ours]), "total_ms": summary([r["total_ms"] for r in ours]),
                 "cited_right_rate": round(sum(r["cited_right"] for r in ours) / len(ours), 3),
                 "prompt_tokens_median": statistics.median(r["prompt_tokens"] for r in ours),
                 "offcorpus_declined": f"{sum(declines)}/{len(declines)}"},
        "raw": decode,
        "decode_fraction_of_raw": round(decode["pipeline_decode_tokens_per_s"] / decode["raw_decode_tokens_per_s"], 3),
        "rows_ours": ours,
        "command": " ".join(["python", *sys.argv]),
        "date": time.strftime("%Y-%m-%d", time.gmtime()), "machine": machine(),
    }
    if not args.skip_baseline:
        qa._llm = None  # free (a)'s model while the baseline loads its own copy
        from paperqa_local import llm as llm_module

        llm_module._LOADED.clear()
        engine = build_baseline(qa, resolve(args.model, qa.settings.models_dir), qa.settings.n_threads)
        run_baseline(engine, questions[:1])  # same warm-up as (a)
        print(f"(b) llama-index baseline, same questions")
        base = run_baseline(engine, questions)
        result["baseline"] = {"ttft_ms": summary([r["ttft_ms"] for r in base]), "total_ms": summary([r["total_ms"] for r in base]),
                              "cited_right_rate": round(sum(r["cited_right"] for r in base) / len(base), 3)}
        result["ratio_ttft_median"] = round(result["baseline"]["ttft_ms"]["median"] / result["ours"]["ttft_ms"]["median"], 2)
        result["ratio_total_median"] = round(result["baseline"]["total_ms"]["median"] / result["ours"]["total_ms"]["median"], 2)
        result["rows_baseline"] = base

    print()
    print(f"{'':24}{'TTFT median':>12}{'TTFT p90':>10}{'total median':>14}{'total p90':>11}{'cited right':>13}")
    for name, key in (("(a) paperqa-local", "ours"), ("(b) llama-index", "baseline")):
        if key in result:
            r = result[key]
            print(f"{name:24}{r['ttft_ms']['median']:>10.0f}ms{r['ttft_ms']['p90']:>8.0f}ms{r['total_ms']['median']:>12.0f}ms"
                  f"{r['total_ms']['p90']:>9.0f}ms{r['cited_right_rate']:>13.1%}")
    if "baseline" in result:
        print(f"(b)/(a): time to first token {result['ratio_ttft_median']}x, total {result['ratio_total_median']}x")
    print(f"decode: (a) {decode['pipeline_decode_tokens_per_s']} tok/s vs (c) raw llama-cpp-python "
          f"{decode['raw_decode_tokens_per_s']} tok/s = {result['decode_fraction_of_raw']:.1%}")
    print(f"off-corpus questions declined: {result['ours']['offcorpus_declined']}")
    name = "fast" if args.model == "fast" else ("default" if args.model == "default" else Path(args.model).stem)
    out = ROOT / "benchmarks" / "results" / f"answer-speed-{name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
