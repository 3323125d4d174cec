"""Ingest throughput (abstracts/s) of the full pipeline next to raw sentence-transformers encoding of the same texts.

    .venv/bin/python benchmarks/ingest_speed.py [--corpus ../shared/eval/scifact/corpus.jsonl] [--limit 1000]

Pipeline = parse → dedupe → chunk → embed → Chroma upsert → BM25 rebuild, into a fresh data directory.
Raw = SentenceTransformer.encode on the same chunk texts (same model, device and batch size), nothing else.
Prints a table and writes benchmarks/results/ingest-speed-<device>.json. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared" / "eval" / "scifact" / "corpus.jsonl"))
    parser.add_argument("--limit", type=int, default=500, help="abstracts to ingest (0 = all)")
    parser.add_argument("--repeats", type=int, default=2, help="alternate raw and pipeline runs this often; the best of each counts")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    from paperqa_local import PaperQA
    from paperqa_local.hardware import machine
    from paperqa_local.embed import get_embedder
    from paperqa_local.ingest import chunk_paper
    from paperqa_local.keyword_sync import embedding_text
    from paperqa_local.sources import parse_paths

    lines = Path(args.corpus).read_text().splitlines()
    if args.limit:
        lines = lines[: args.limit]
    work = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    corpus = work / "corpus.jsonl"
    corpus.write_text("\n".join(lines) + "\n")
    embedder = get_embedder("all-MiniLM-L6-v2", args.device, args.batch_size)
    embedder.embed(["warm up the model and its kernels"] * 8)

    papers = parse_paths([corpus]).papers
    texts = [embedding_text(p.title, c.text) for p in papers for c in chunk_paper(p, 1200)]
    raw_runs, pipeline_runs = [], []
    for repeat in range(args.repeats):  # alternate, so a busy spell on the machine hits both alike
        started = time.perf_counter()
        embedder.model.encode(texts, batch_size=args.batch_size, convert_to_numpy=True, normalize_embeddings=True)
        raw_runs.append(time.perf_counter() - started)
        qa = PaperQA(data_dir=work / f"data{repeat}", embedder=embedder, embed_batch_size=args.batch_size)
        started = time.perf_counter()
        report = qa.ingest([corpus])
        pipeline_runs.append(time.perf_counter() - started)
    raw_s, pipeline_s = min(raw_runs), min(pipeline_runs)
    again = qa.ingest([corpus])

    n = len(papers)
    result = {
        "abstracts": n,
        "chunks": len(texts),
        "device": getattr(embedder, "device", "cpu"),
        "cpu": platform.processor() or platform.machine(),
        "raw_runs_s": [round(t, 2) for t in raw_runs],
        "pipeline_runs_s": [round(t, 2) for t in pipeline_runs],
        "raw_encode_s": round(raw_s, 2),
        "raw_abstracts_per_s": round(n / raw_s, 1),
        "pipeline_s": round(pipeline_s, 2),
        "pipeline_abstracts_per_s": round(n / pipeline_s, 1),
        "overhead_pct": round(100 * (pipeline_s - raw_s) / raw_s, 1),
        "reingest_s": round(again.seconds, 2),
        "reingest_embedded": again.chunks_embedded,
        "papers_stored": report.new_papers,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": time.strftime("%Y-%m-%d", time.gmtime()), "machine": machine(),
    }
    print(f"{'':28}{'seconds':>10}{'abstracts/s':>14}")
    print(f"{'raw sentence-transformers':28}{raw_s:>10.2f}{n / raw_s:>14.1f}")
    print(f"{'paperqa-local ingest':28}{pipeline_s:>10.2f}{n / pipeline_s:>14.1f}")
    print(f"overhead above raw encoding: {result['overhead_pct']}%  ({n} abstracts, {len(texts)} chunks, {result['device']})")
    print(f"re-ingest of the same file: {again.seconds:.2f} s, {again.chunks_embedded} chunks embedded")
    out = ROOT / "benchmarks" / "results" / f"ingest-speed-{result['device']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
