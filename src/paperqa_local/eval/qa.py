"""`paperqa-local eval qa`: answer quality on data nobody here wrote.

- SciFact: the 5,183 abstracts are indexed; every claim of the split gets a verdict through `PaperQA.check`.
  Metrics: label accuracy, macro-F1 over SUPPORTS / CONTRADICTS / NOT ENOUGH INFO with the confusion matrix,
  gold-abstract cited rate on claims that have evidence, citations to non-gold abstracts.
- PubMedQA (PQA-L): the 1,000 contexts are indexed (contexts only; the question never becomes a title); each
  question of the split gets yes / no / maybe through `PaperQA.decide`. Metrics: accuracy, macro-F1,
  gold-abstract cited rate.
Every run also counts citations to papers that were not retrieved (must be zero).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from ..config import PROJECT_ROOT, default_home
from ..errors import PaperQAError
from ..hardware import machine
from ..types import Paper

SCIFACT_LABELS = ["SUPPORTS", "CONTRADICTS", "NOT ENOUGH INFO"]
PUBMEDQA_LABELS = ["yes", "no", "maybe"]


def macro_f1(gold: list[str], predicted: list[str], labels: list[str]) -> tuple[float, dict[str, dict[str, int]]]:
    matrix = {g: {p: 0 for p in labels} for g in labels}
    for g, p in zip(gold, predicted):
        matrix[g][p] += 1
    scores = []
    for label in labels:
        tp = matrix[label][label]
        fp = sum(matrix[g][label] for g in labels if g != label)
        fn = sum(matrix[label][p] for p in labels if p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(scores) / len(scores), matrix


def scifact_items(folder: Path, split: str) -> list[dict[str, Any]]:
    items = []
    for line in (folder / f"claims_{split}.jsonl").read_text().splitlines():
        claim = json.loads(line)
        labels = [ann["label"] for annotations in claim["evidence"].values() for ann in annotations]
        gold = "NOT ENOUGH INFO" if not labels else ("SUPPORTS" if labels[0] == "SUPPORT" else "CONTRADICTS")
        items.append({"id": claim["id"], "text": claim["claim"], "gold": gold, "gold_docs": sorted(claim["evidence"])})
    return items


def pubmedqa_papers(folder: Path) -> list[Paper]:
    data = json.loads((folder / "ori_pqal.json").read_text())
    return [
        Paper(paper_id=pmid, title=f"PubMed {pmid}", abstract=" ".join(item["CONTEXTS"]),
              year=int(item["YEAR"]) if str(item.get("YEAR", "")).isdigit() else None, source="pubmedqa")
        for pmid, item in data.items()
    ]


def pubmedqa_items(folder: Path, split: str) -> list[dict[str, Any]]:
    data = json.loads((folder / "ori_pqal.json").read_text())
    test = json.loads((folder / "test_ground_truth.json").read_text())
    ids = sorted(test) if split == "test" else sorted(set(data) - set(test))
    return [{"id": pmid, "text": data[pmid]["QUESTION"], "gold": data[pmid]["final_decision"], "gold_docs": [pmid]} for pmid in ids]


def run_qa_eval(args) -> dict[str, Any]:
    from ..qa import PaperQA

    eval_dir = Path(args.eval_dir) if args.eval_dir else PROJECT_ROOT.parent / "shared" / "eval"
    folder = eval_dir / args.dataset
    if not folder.is_dir():
        raise PaperQAError(f"no {folder} — pass --eval-dir pointing at the folder that holds scifact/ and pubmedqa/")
    data_dir = Path(args.data_dir) if args.data_dir else default_home() / "eval"
    if args.dataset == "scifact":
        split = args.split or "dev"
        qa = PaperQA(data_dir=data_dir, collection="beir-scifact", model=args.model)
        qa.ingest([folder / "corpus.jsonl"])
        items, labels, ask = scifact_items(folder, split), SCIFACT_LABELS, qa.check
    else:
        split = args.split or "test"
        qa = PaperQA(data_dir=data_dir, collection="pubmedqa", model=args.model)
        qa.ingest_papers(pubmedqa_papers(folder))
        items, labels, ask = pubmedqa_items(folder, split), PUBMEDQA_LABELS, qa.decide
    if args.limit:
        items = items[: args.limit]

    out = open(args.out, "w", encoding="utf-8") if args.out else None
    gold, predicted = [], []
    gold_cited = with_gold = non_gold = not_retrieved = 0
    started = time.perf_counter()
    for item in items:
        answer = ask(item["text"], explain=getattr(args, "explain", True))
        cited = [c.paper_id for c in answer.citations]
        retrieved = {hit.paper_id for hit in answer.contexts}
        not_retrieved += sum(1 for pid in cited if pid not in retrieved)
        gold.append(item["gold"])
        predicted.append(answer.verdict)
        if item["gold_docs"] and (args.dataset == "pubmedqa" or item["gold"] != "NOT ENOUGH INFO"):
            with_gold += 1
            gold_cited += any(pid in item["gold_docs"] for pid in cited)
            non_gold += sum(1 for pid in cited if pid not in item["gold_docs"])
        if out:
            out.write(json.dumps({**item, "predicted": answer.verdict, "label_scores": answer.label_scores,
                                  "answer": answer.text, "cited": cited,
                                  "retrieved": [h.paper_id for h in answer.contexts], "timings": answer.timings}) + "\n")
            out.flush()
    if out:
        out.close()
    f1, matrix = macro_f1(gold, predicted, labels)
    accuracy = sum(g == p for g, p in zip(gold, predicted)) / max(len(gold), 1)
    return {
        "dataset": args.dataset, "split": split, "items": len(items), "model": qa.settings.model,
        "model_file": qa.llm.name, "explain": getattr(args, "explain", True),
        "accuracy": round(accuracy, 4), "macro_f1": round(f1, 4),
        "gold_cited_rate": round(gold_cited / max(with_gold, 1), 4), "items_with_gold": with_gold,
        "citations_to_non_gold": non_gold, "citations_not_retrieved": not_retrieved,
        "confusion": {"rows_gold_columns_predicted": labels, "matrix": [[matrix[g][p] for p in labels] for g in labels]},
        "seconds_per_item": round((time.perf_counter() - started) / max(len(items), 1), 2),
        "date": time.strftime("%Y-%m-%d", time.gmtime()), "command": "paperqa-local " + " ".join(sys.argv[1:]),
        "machine": machine(),
    }
