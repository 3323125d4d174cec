"""Tune `paperqa-local check` / `decide` for one model: its `answer.Calibration` (label offsets and the weight of
evidence similarity), and compare ways of picking the cited sources.

Scores every tuning item the way `PaperQA.check` / `decide` do (same prompt): the model's log-probability of each
label, and the similarity of the best evidence sentence. Then it searches the calibration that maximises the mean
of accuracy and macro-F1, and reports how often the gold abstract is cited by each way of picking sources (the
best evidence sentence's paper, the best-ranked paper, the two best-ranked: what `check` does). Tuning data only:
SciFact train claims, PubMedQA's 500 non-test items; the dev/test items are never read.

    .venv/bin/python benchmarks/tune_judge.py --model default --dataset pubmedqa    # the 500 non-test items
    .venv/bin/python benchmarks/tune_judge.py --model default --dataset scifact     # the 809 train claims

models.BUNDLED[...].calibration was tuned so, on all the tuning items, on an H100 (0.1-0.15 s per item there;
about 10 times that on a 2-core CPU): benchmarks/results/tune/ holds the logs and per-item scores.

Prints the figures before and after and the offsets found; writes benchmarks/out/tune-<dataset>-<model>.jsonl
(per-item scores: --reuse only searches again). Paste the calibration into its model entry in models.py.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def score_items(qa, items, judgement, out: Path) -> list[dict]:
    from paperqa_local.judge import judge_prompt

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
                with qa.llm.lock:
                    row["scores"] = dict(zip(labels, qa.llm.score_options(messages, [list(judgement.options[x]) for x in labels])))
                row["sources"] = {str(s.key): {"paper_id": s.hit.paper_id, "relevance": round(s.relevance, 4),
                                               "rank": rank[s.hit.paper_id]} for s in sources}
            rows.append(row)
            sink.write(json.dumps(row) + "\n")
            sink.flush()
            if n % 25 == 0:
                print(f"  scored {n}/{len(items)}", flush=True)
    return rows


def features(rows, judgement):
    """Label log-probabilities (items × labels), best evidence similarity, gold label index; unscored items
    (declined before the model) are left out and counted as the fallback label."""
    labels = list(judgement.options)
    scored = [r for r in rows if r["scores"] is not None]
    scores = np.array([[r["scores"][x] for x in labels] for r in scored])
    relevance = np.array([max(s["relevance"] for s in r["sources"].values()) for r in scored])
    gold = np.array([labels.index(r["gold"]) for r in scored])
    declined = [labels.index(r["gold"]) for r in rows if r["scores"] is None]
    return scores, relevance, gold, declined


def predictions(scores, relevance, labels, fallback, offsets, weight):
    adjusted = scores + np.array([offsets.get(x, 0.0) for x in labels])
    adjusted[:, labels.index(fallback)] -= weight * relevance
    return adjusted.argmax(axis=1)


def figures(rows, judgement, calibration) -> tuple[float, float]:
    """Accuracy and macro-F1 over every item (those declined before the model count as the fallback)."""
    from paperqa_local.eval.qa import macro_f1

    labels = list(judgement.options)
    scores, relevance, gold, declined = features(rows, judgement)
    predicted = predictions(scores, relevance, labels, judgement.fallback, calibration.offsets, calibration.relevance_weight)
    gold_all = [labels[g] for g in gold] + [labels[g] for g in declined]
    predicted_all = [labels[p] for p in predicted] + [judgement.fallback] * len(declined)
    accuracy = sum(g == p for g, p in zip(gold_all, predicted_all)) / len(gold_all)
    return accuracy, macro_f1(gold_all, predicted_all, labels)[0]


def search(rows, judgement):
    """The grid point with the best mean of accuracy and macro-F1 (first label's offset fixed at 0)."""
    from paperqa_local.models import Calibration

    labels = list(judgement.options)
    scores, relevance, gold, declined = features(rows, judgement)
    grid = [x / 4 for x in range(-32, 33)]
    weights = [x / 2 for x in range(0, 41)]
    best, best_calibration = -1.0, Calibration()
    for weight in weights:
        for a, b in itertools.product(grid, grid):
            offsets = {labels[1]: a, labels[2]: b}
            predicted = predictions(scores, relevance, labels, judgement.fallback, offsets, weight)
            predicted = np.concatenate([predicted, np.full(len(declined), labels.index(judgement.fallback))])
            truth = np.concatenate([gold, np.array(declined, dtype=int)])
            accuracy = float((predicted == truth).mean())
            f1s = []
            for n in range(len(labels)):
                tp = float(((predicted == n) & (truth == n)).sum())
                precision = tp / max(float((predicted == n).sum()), 1.0)
                recall = tp / max(float((truth == n).sum()), 1.0)
                f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
            value = (accuracy + sum(f1s) / len(f1s)) / 2
            if value > best + 1e-9:
                best, best_calibration = value, Calibration(offsets, weight)
    return best_calibration


def best_ranked(row, n):
    return sorted(row["sources"], key=lambda key: row["sources"][key]["rank"])[:n]


CITE_STRATEGIES = {
    "best evidence sentence's paper": lambda row: ["1"],
    "best-ranked paper": lambda row: best_ranked(row, 1),
    "two best-ranked papers (check, decide)": lambda row: best_ranked(row, 2),
}


def cite_rates(rows) -> dict[str, str]:
    """Gold-abstract cited rate and citations per item of each way of picking sources, on items with gold evidence."""
    with_gold = [r for r in rows if r["gold_docs"] and r["gold"] != "NOT ENOUGH INFO"]
    scored = [r for r in rows if r["scores"] is not None]
    rates = {}
    for name, pick in CITE_STRATEGIES.items():
        hits = sum(r["scores"] is not None and any(r["sources"][k]["paper_id"] in r["gold_docs"] for k in pick(r))
                   for r in with_gold)
        per_item = sum(len(pick(r)) for r in scored) / max(len(scored), 1)
        rates[name] = f"{hits / max(len(with_gold), 1):.3f} ({per_item:.2f} per item)"
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
    from paperqa_local.judge import CHECK, DECIDE
    from paperqa_local.models import Calibration
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
    before = figures(rows, judgement, Calibration())
    calibration = search(rows, judgement)
    after = figures(rows, judgement, calibration)
    print(f"{args.dataset} tuning items: {len(rows)}, model {model_name}")
    print(f"  uncalibrated: accuracy {before[0]:.3f}, macro-F1 {before[1]:.3f}")
    print(f"  calibrated:   accuracy {after[0]:.3f}, macro-F1 {after[1]:.3f}")
    print(f"  gold abstract cited: {json.dumps(cite_rates(rows), indent=4)}")
    print(f'{model_name!r}: {{{judgement.name!r}: Calibration({calibration.offsets}, {calibration.relevance_weight})}}')


if __name__ == "__main__":
    main()
