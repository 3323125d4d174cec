"""`paperqa-local eval retrieval`: index a BEIR corpus, run its test queries, report nDCG/recall/MRR."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

from ..errors import PaperQAError
from .metrics import evaluate


def load_beir(folder: Path, split: str) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """Queries (id → text) and qrels (query id → {doc id: gain}) of one split."""
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.exists():
        raise PaperQAError(f"no {qrels_path} — point --beir at a BEIR folder (corpus.jsonl, queries.jsonl, qrels/{split}.tsv)")
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open() as handle:
        reader = csv.reader(handle, delimiter="\t")
        next(reader)
        for query_id, doc_id, score in reader:
            qrels.setdefault(query_id, {})[doc_id] = int(score)
    queries = {}
    with (folder / "queries.jsonl").open() as handle:
        for line in handle:
            record = json.loads(line)
            if record["_id"] in qrels:
                queries[record["_id"]] = record["text"]
    return queries, qrels


def run_retrieval_eval(qa, folder: Path, split: str = "test", mode: str = "hybrid", limit: int | None = None) -> dict:
    """`qa` is a PaperQA whose data dir holds (or will hold) the BEIR corpus."""
    folder = Path(folder)
    qa.ingest([folder / "corpus.jsonl"])
    queries, qrels = load_beir(folder, split)
    if limit:
        keep = sorted(queries)[:limit]
        queries = {q: queries[q] for q in keep}
        qrels = {q: qrels[q] for q in keep}
    started = time.perf_counter()
    runs = {query_id: [hit.paper_id for hit in qa.search(text, k=100, mode=mode)] for query_id, text in queries.items()}
    elapsed = time.perf_counter() - started
    metrics = evaluate(runs, qrels)
    metrics.update({"mode": mode, "split": split, "queries": len(queries), "ms_per_query": round(1000 * elapsed / max(len(queries), 1), 2)})
    return metrics
