"""What `decide`'s prompt is worth, on PubMedQA's 500 non-test items (tuning data only): the model's yes/no
separation (AUC of log P(yes) - log P(no) over the yes and no items) and the accuracy / macro-F1 after calibrating
each variant the way benchmarks/tune_judge.py does (tuned and measured on the same items: an upper bound).

  whole     the product: three worked examples, then the best-ranked paper's whole abstract
  chunk     the same examples, then only the best-ranked paper's best-matching chunk (long abstracts are split)
  evidence  no examples: the evidence sentences of the five retrieved papers, as `check` sees them

    python benchmarks/decide_variants.py --model default [--limit N] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def auc(positive: list[float], negative: list[float]) -> float:
    pairs = sum((p > n) + 0.5 * (p == n) for p in positive for n in negative)
    return pairs / max(len(positive) * len(negative), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--data-dir", default="/tmp/paperqa-tune")
    parser.add_argument("--eval-dir", default=str(ROOT.parent / "shared" / "eval"))
    parser.add_argument("--out")
    args = parser.parse_args()

    from tune_judge import figures, score_items, search

    from paperqa_local import PaperQA
    from paperqa_local.judge import DECIDE
    from paperqa_local.eval.qa import pubmedqa_items, pubmedqa_papers

    folder = Path(args.eval_dir) / "pubmedqa"
    qa = PaperQA(data_dir=args.data_dir, collection="pubmedqa", model=args.model)
    qa.ingest_papers(pubmedqa_papers(folder))
    items = pubmedqa_items(folder, "tune")[: args.limit]
    whole_texts = qa.store.paper_texts
    variants = {"whole": (DECIDE, whole_texts), "chunk": (DECIDE, lambda ids: {}),
                "evidence": (dataclasses.replace(DECIDE, examples=()), whole_texts)}
    results = {}
    for name, (judgement, paper_texts) in variants.items():
        qa.store.paper_texts = paper_texts
        rows = score_items(qa, items, judgement, ROOT / "benchmarks" / "out" / f"decide-{name}.jsonl")
        scored = [r for r in rows if r["scores"]]
        margin = {r["id"]: r["scores"]["yes"] - r["scores"]["no"] for r in scored}
        value = auc([margin[r["id"]] for r in scored if r["gold"] == "yes"], [margin[r["id"]] for r in scored if r["gold"] == "no"])
        accuracy, f1 = figures(rows, judgement, search(rows, judgement))
        results[name] = {"auc_yes_no": round(value, 3), "calibrated_accuracy": round(accuracy, 3),
                         "calibrated_macro_f1": round(f1, 3)}
        print(name, results[name], flush=True)
    report = {"model": qa.llm.name, "items": len(items), "variants": results}
    print(json.dumps(report, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
