"""Tune `paperqa-local check` / `decide` for one model: the label offsets (answer.CALIBRATION) and which source
is cited.

Scores every tuning item the way `PaperQA.check` / `decide` do (same prompt): the model's log-probability of each
label, then, after each label, of each source number. Then it searches label offsets that maximise the mean of
accuracy and macro-F1, and compares ways of picking the cited source (the model's pick after the label, the best
evidence sentence, the retrieval rank) by how often the gold abstract is cited. Tuning data only: SciFact train
claims, PubMedQA's 500 non-test items; the dev/test items are never read.

    .venv/bin/python benchmarks/tune_judge.py --model default --dataset pubmedqa --limit 200
    .venv/bin/python benchmarks/tune_judge.py --model default --dataset scifact --limit 200

Prints the figures before and after and the offsets found; writes benchmarks/out/tune-<dataset>-<model>.jsonl
(per-item scores: --reuse only searches again). Paste the offsets into answer.CALIBRATION.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def score_items(qa, items, judgement, out: Path) -> list[dict]:
    from paperqa_local.answer import judge_prompt

    labels = list(judgement.options)
    rows = []
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as sink:
        for n, item in enumerate(items, 1):
            _, hits, sources, messages = judge_prompt(qa, item["text"], judgement)
            row = {"id": item["id"], "gold": item["gold"], "gold_docs": item["gold_docs"], "scores": None,
                   "model_name": qa.llm.name}
            if messages is not None:
                rank = {hit.paper_id: i for i, hit in enumerate(hits)}
                keys = [s.key for s in sources if s.key < 10]
                with qa._lock:
                    row["scores"] = dict(zip(labels, qa.llm.score_options(messages, [list(judgement.options[x]) for x in labels])))
                    row["source_scores"] = {
                        label: dict(zip(map(str, keys), qa.llm.score_options(messages, [[str(k)] for k in keys],
                                                                             prefix=f"{judgement.options[label][0]} [")))
                        for label in labels}
                row["sources"] = {str(s.key): {"paper_id": s.hit.paper_id, "relevance": round(s.relevance, 4),
                                               "rank": rank[s.hit.paper_id]} for s in sources}
            rows.append(row)
            sink.write(json.dumps(row) + "\n")
            sink.flush()
            if n % 25 == 0:
                print(f"  scored {n}/{len(items)}", flush=True)
    return rows


def predict(row, judgement, offsets) -> str:
    if row["scores"] is None:
        return judgement.fallback
    return max(judgement.options, key=lambda x: row["scores"][x] + offsets.get(x, 0.0))


def evaluate(rows, judgement, offsets) -> tuple[float, float]:
    from paperqa_local.eval.qa import macro_f1

    predicted = [predict(r, judgement, offsets) for r in rows]
    gold = [r["gold"] for r in rows]
    accuracy = sum(g == p for g, p in zip(gold, predicted)) / len(gold)
    return accuracy, macro_f1(gold, predicted, list(judgement.options))[0]


def search(rows, judgement) -> dict[str, float]:
    labels = list(judgement.options)
    grid = [x / 4 for x in range(-32, 33)]
    best, best_offsets = -1.0, {}
    for a, b in itertools.product(grid, grid):  # the first label stays at 0: only differences matter
        offsets = {labels[1]: a, labels[2]: b}
        accuracy, f1 = evaluate(rows, judgement, offsets)
        if (accuracy + f1) / 2 > best + 1e-9:
            best, best_offsets = (accuracy + f1) / 2, offsets
    return best_offsets


CITE_STRATEGIES = {
    "model's pick after the label": lambda row, label: max(row["source_scores"][label], key=row["source_scores"][label].get),
    "best evidence sentence [1]": lambda row, label: "1",
    "retrieval rank 1": lambda row, label: min(row["sources"], key=lambda k: row["sources"][k]["rank"]),
}


def cite_rates(rows, judgement, offsets) -> dict[str, float]:
    """Gold-abstract cited rate of each way of picking the one cited source, on items that have gold evidence."""
    with_gold = [r for r in rows if r["gold_docs"] and r["gold"] != "NOT ENOUGH INFO"]
    rates = {}
    for name, pick in CITE_STRATEGIES.items():
        hits = 0
        for row in with_gold:
            if row["scores"] is not None:
                hits += row["sources"][pick(row, predict(row, judgement, offsets))]["paper_id"] in row["gold_docs"]
        rates[name] = round(hits / max(len(with_gold), 1), 4)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--dataset", choices=["scifact", "pubmedqa"], required=True)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--data-dir", default="/tmp/paperqa-tune", help="index directory (reused between runs)")
    parser.add_argument("--eval-dir", default=str(ROOT.parent / "shared" / "eval"))
    parser.add_argument("--reuse", action="store_true", help="search again over the saved per-item scores")
    args = parser.parse_args()

    from paperqa_local import PaperQA
    from paperqa_local.answer import CHECK, DECIDE
    from paperqa_local.eval.qa import pubmedqa_items, pubmedqa_papers, scifact_items

    folder = Path(args.eval_dir) / args.dataset
    out = ROOT / "benchmarks" / "out" / f"tune-{args.dataset}-{args.model.replace('/', '_')}.jsonl"
    judgement = CHECK if args.dataset == "scifact" else DECIDE
    if args.reuse:
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    else:
        if args.dataset == "scifact":
            qa = PaperQA(data_dir=args.data_dir, collection="beir-scifact", model=args.model)
            qa.ingest([folder / "corpus.jsonl"])
            items = scifact_items(folder, "train")
        else:
            qa = PaperQA(data_dir=args.data_dir, collection="pubmedqa", model=args.model)
            qa.ingest_papers(pubmedqa_papers(folder))
            items = pubmedqa_items(folder, "tune")
        items = items[: args.limit] if args.limit else items
        started = time.perf_counter()
        rows = score_items(qa, items, judgement, out)
        print(f"scored {len(rows)} items in {time.perf_counter() - started:.0f} s")
    model_name = rows[0]["model_name"]
    before = evaluate(rows, judgement, {})
    offsets = search(rows, judgement)
    after = evaluate(rows, judgement, offsets)
    print(f"{args.dataset} tuning items: {len(rows)}, model {model_name}")
    print(f"  no offsets:   accuracy {before[0]:.3f}, macro-F1 {before[1]:.3f}, gold cited {cite_rates(rows, judgement, {})}")
    print(f"  with offsets: accuracy {after[0]:.3f}, macro-F1 {after[1]:.3f}, gold cited {cite_rates(rows, judgement, offsets)}")
    print(json.dumps({model_name: {judgement.name: offsets}}))


if __name__ == "__main__":
    main()
