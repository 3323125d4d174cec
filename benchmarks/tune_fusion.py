"""Pick the hybrid fusion weight on SciFact *train* queries (never the test split).

    .venv/bin/python benchmarks/tune_fusion.py --data-dir DIR   # DIR from `paperqa-local --data-dir DIR eval retrieval ...`

Prints nDCG@10 / recall@100 for dense weights 0..1 and for reciprocal-rank fusion (k=60).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--beir", default=str(ROOT.parent / "shared" / "eval" / "scifact"))
    parser.add_argument("--split", default="train")
    args = parser.parse_args()

    from paperqa_local import PaperQA
    from paperqa_local.eval.metrics import evaluate
    from paperqa_local.eval.retrieval import load_beir

    qa = PaperQA(data_dir=args.data_dir, collection=f"beir-{Path(args.beir).name}")
    queries, qrels = load_beir(Path(args.beir), args.split)
    ids = sorted(queries)
    vectors = qa.embedder.embed([queries[q] for q in ids])
    dense = {q: qa.retriever.search(queries[q], k=100, mode="dense", query_vector=v) for q, v in zip(ids, vectors)}
    keyword = {q: qa.retriever.search(queries[q], k=100, mode="bm25") for q in ids}
    for weight in (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 1.0):
        qa.settings.dense_weight = weight
        runs = {q: [h.paper_id for h in qa.retriever.search(queries[q], k=100, mode="hybrid", query_vector=v)]
                for q, v in zip(ids, vectors)}
        m = evaluate(runs, qrels)
        print(f"dense_weight={weight:.1f}  ndcg@10={m['ndcg@10']:.4f}  recall@100={m['recall@100']:.4f}")
    rrf = {}
    for q in ids:
        scores: dict[str, float] = {}
        for hits in (dense[q], keyword[q]):
            for rank, hit in enumerate(hits):
                scores[hit.paper_id] = scores.get(hit.paper_id, 0.0) + 1 / (60 + rank + 1)
        rrf[q] = sorted(scores, key=scores.get, reverse=True)
    m = evaluate(rrf, qrels)
    print(f"RRF (k=60, paper level)  ndcg@10={m['ndcg@10']:.4f}  recall@100={m['recall@100']:.4f}")


if __name__ == "__main__":
    main()
