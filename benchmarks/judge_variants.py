"""Which model signals tell a claim's verdict (SciFact) and a research question's answer (PubMedQA) best.

`score` (slow: the model reads every item several times; run it on a GPU) writes, per item, every signal that a
way of judging could use:
  check      CHECK's label log-probabilities on the evidence sentences (what `check` reads today), and its
             SUPPORTS log-probability for the claim's negation;
  whole      CHECK's label log-probabilities on the best-ranked paper's whole abstract alone;
  ask        DECIDE's yes / no / maybe log-probabilities for "Is it true that <claim>?" (the worked examples and
             the best-ranked paper's whole abstract, as `decide` reads them), and its yes for "Is it false that <claim>?";
  decide     (PubMedQA) DECIDE's yes / no / maybe, as `decide` reads them today;
  relevance  the best evidence sentence's similarity to the text.
`fit` (fast, CPU) fits a multinomial logistic regression per chosen signal set on the tuning items (SciFact
train, PubMedQA's 500 non-test items) and reports accuracy and macro-F1 on the held-out items (SciFact dev,
PubMedQA test) next to today's calibrated pick: held-out items are never used to choose.

    python benchmarks/judge_variants.py score --dataset scifact --eval-dir ../shared/eval --out rows.jsonl.gz
    python benchmarks/judge_variants.py fit rows-scifact.jsonl.gz rows-pubmedqa.jsonl.gz [--show ask]
    python benchmarks/judge_variants.py replay rows-scifact.jsonl.gz --limit 30    # `check` itself, on this machine

Results: benchmarks/results/tune/h200-judge-variants-*.jsonl.gz (scored on an H200, 2026-12-02: 450 SciFact train
+ 300 dev claims, PubMedQA's 500 tuning + 500 test items), judge-variants-fit.txt, cpu-check-replay-30.txt (the
2-core CPU's `check` agreed with the H200-scored verdict on 29 of the first 30 dev claims, 13.2 s per claim).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _scores(llm, messages, judgement) -> dict[str, float]:
    labels = list(judgement.options)
    return dict(zip(labels, llm.score_options(messages, [list(judgement.options[x]) for x in labels])))


def score(args) -> None:
    from paperqa_local import PaperQA
    from paperqa_local.eval.qa import pubmedqa_items, pubmedqa_papers, scifact_items
    from paperqa_local.judge import (CHECK, DECIDE, asked_abstract, asking, claim_signals, decision_cues, judge_prompt,
                                     negate, verdict_sources)

    folder = Path(args.eval_dir) / args.dataset
    if args.dataset == "scifact":
        qa = PaperQA(data_dir=args.data_dir, collection="beir-scifact", model=args.model)
        qa.ingest([folder / "corpus.jsonl"])
        items = [dict(i, split="train") for i in scifact_items(folder, "train")][: args.tune_limit] + \
                [dict(i, split="dev") for i in scifact_items(folder, "dev")]
    else:
        qa = PaperQA(data_dir=args.data_dir, collection="pubmedqa", model=args.model)
        qa.ingest_papers(pubmedqa_papers(folder))
        items = [dict(i, split="tune") for i in pubmedqa_items(folder, "tune")][: args.tune_limit] + \
                [dict(i, split="test") for i in pubmedqa_items(folder, "test")]
    items = items[: args.limit] if args.limit else items
    llm = qa.llm
    started = time.perf_counter()
    with (gzip.open(args.out, "wt") if args.out.endswith(".gz") else open(args.out, "w")) as sink:
        for n, item in enumerate(items, 1):
            row = {"id": item["id"], "split": item["split"], "gold": item["gold"], "gold_docs": item["gold_docs"]}
            judgement = CHECK if args.dataset == "scifact" else DECIDE
            text, hits, sources, messages = judge_prompt(qa, item["text"], judgement)
            if messages is not None:
                row["relevance"] = round(sources[0].relevance, 4)
                best = verdict_sources(hits, sources)[0]
                row["best_is_gold"] = best.hit.paper_id in item["gold_docs"]
                with llm.lock:
                    if args.dataset == "scifact":
                        row["check"] = _scores(llm, messages, CHECK)
                        row["check_negation"] = llm.score_options(asking(messages, CHECK, negate(text)),
                                                                  [list(CHECK.options["SUPPORTS"])])[0]
                        whole = qa.paper_texts([best.hit.paper_id]).get(best.hit.paper_id, best.hit.text)
                        one = [{"role": "system", "content": CHECK.system},
                               {"role": "user", "content": f"Sources:\n[1] {best.hit.title}: {' '.join(whole.split())[:6000]}\n\nClaim: {text}"}]
                        row["whole"] = _scores(llm, one, CHECK)
                        found = claim_signals(qa, llm, text, sources[0].relevance)  # what `check` reads
                        if found is not None:
                            row["ask"] = {x: found[x] for x in ("yes", "no", "maybe")}
                            row["ask_negation"] = found["false_yes"]
                    else:
                        row["decide"] = _scores(llm, messages, DECIDE)
                        row["cues"] = decision_cues(asked_abstract(messages))
            sink.write(json.dumps(row) + "\n")
            sink.flush()
            if n % 100 == 0:
                print(f"  {n}/{len(items)} in {time.perf_counter() - started:.0f} s", flush=True)
    print(f"scored {len(items)} items in {time.perf_counter() - started:.0f} s -> {args.out}")


SIGNALS = {
    "scifact": {
        "check (today's signal)": ["check"],
        "check + negation": ["check", "check_negation"],
        "whole": ["whole"],
        "ask": ["ask", "ask_negation"],
        "check + whole": ["check", "check_negation", "whole"],
        "check + ask": ["check", "check_negation", "ask", "ask_negation"],
        "all": ["check", "check_negation", "whole", "ask", "ask_negation"],
    },
    "pubmedqa": {"decide (today's signal)": ["decide"], "decide + cues": ["decide", "cues"]},
}
# the 1.5B's check calibration before the linear one: label offsets and the relevance weight of NOT ENOUGH INFO
PREVIOUS_OFFSETS, PREVIOUS_WEIGHT = {"CONTRADICTS": -1.75, "NOT ENOUGH INFO": 5.25}, 10.5
LABELS = {"scifact": ["SUPPORTS", "CONTRADICTS", "NOT ENOUGH INFO"], "pubmedqa": ["yes", "no", "maybe"]}


def add_cues(rows, folder: Path) -> None:
    """`decision_cues` of each PubMedQA item's abstract, for rows scored before `score` recorded them (the
    abstract as `decide` reads it: its contexts joined, as stored)."""
    from paperqa_local.guard import evidence_text
    from paperqa_local.judge import decision_cues

    data = json.loads((folder / "ori_pqal.json").read_text())
    for row in rows:
        if "decide" in row and "cues" not in row:
            row["cues"] = decision_cues(evidence_text(" ".join(data[row["id"]]["CONTEXTS"])))


def vector(row, names) -> list[float] | None:
    out = []
    for name in names:
        value = row.get(name)
        if value is None:
            return None
        out += list(value.values()) if isinstance(value, dict) else [value]
    return out + [row["relevance"]]


def fit_lr(x, y, classes, l2=1e-2, steps=3000, rate=0.5, balanced=True):
    """Multinomial logistic regression by gradient descent on standardised features; `balanced`: classes weighted
    equally (for macro-F1), else every item (for accuracy)."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
    w = np.zeros((z.shape[1], classes))
    onehot = np.eye(classes)[y]
    weight = (len(y) / (classes * np.maximum(np.bincount(y, minlength=classes), 1)))[y][:, None] if balanced else np.ones((len(y), 1))
    for _ in range(steps):
        logits = z @ w
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        w -= rate * (z.T @ ((p - onehot) * weight) / len(y) + l2 * w)
    return mean, std, w


def predict(model, x):
    mean, std, w = model
    z = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
    return (z @ w).argmax(axis=1)


def macro(gold, predicted, classes):
    f1 = []
    for c in range(classes):
        tp = np.sum((predicted == c) & (gold == c))
        p, r = tp / max(np.sum(predicted == c), 1), tp / max(np.sum(gold == c), 1)
        f1.append(2 * p * r / (p + r) if p + r else 0.0)
    return float(np.mean(f1)), [round(float(v), 3) for v in f1]


def fit(args) -> None:
    from paperqa_local.judge import CHECK, DECIDE, linear_label, pick_label
    from paperqa_local.models import calibration_for

    for path in args.rows:
        rows = [json.loads(line) for line in (gzip.open(path, "rt") if path.endswith(".gz") else open(path))]
        dataset = "scifact" if "check" in json.dumps(rows[:50]) else "pubmedqa"
        if dataset == "pubmedqa" and any("decide" in r and "cues" not in r for r in rows):
            add_cues(rows, Path(args.eval_dir) / "pubmedqa")
        labels, tune_split = LABELS[dataset], ("train" if dataset == "scifact" else "tune")
        judgement = CHECK if dataset == "scifact" else DECIDE
        fallback = labels.index(judgement.fallback)
        held = [r for r in rows if r["split"] != tune_split]
        gold = np.array([labels.index(r["gold"]) for r in held])
        key = "check" if dataset == "scifact" else "decide"
        def today_pick(r):
            if key not in r:
                return fallback
            if dataset == "scifact":  # the label offsets `check` used before the linear calibration
                adjusted = {x: r[key][x] + PREVIOUS_OFFSETS.get(x, 0.0) for x in labels}
                adjusted[judgement.fallback] -= PREVIOUS_WEIGHT * r["relevance"]
                label = max(adjusted, key=adjusted.get)
            else:
                label = pick_label(r[key], judgement, args.model_file, r["relevance"])
            if label == "SUPPORTS" and r.get("check_negation", -1e9) > r[key]["SUPPORTS"]:
                label = "CONTRADICTS"  # as `judge` does: a source stating the negation does not support
            return labels.index(label)

        today = np.array([today_pick(r) for r in held])
        score_, f1 = macro(gold, today, 3)
        print(f"{dataset}: {len(held)} held-out items; the label offsets: accuracy {np.mean(today == gold):.3f}, "
              f"macro-F1 {score_:.3f} {f1}")
        shipped = calibration_for(args.model_file).check
        if dataset == "scifact" and shipped.linear:
            def shipped_pick(r):
                if "ask" not in r:
                    return fallback
                signals = {**r["ask"], "false_yes": r["ask_negation"], "relevance": r["relevance"]}
                return labels.index(linear_label(shipped, signals, labels))

            now = np.array([shipped_pick(r) for r in held])
            score_, f1 = macro(gold, now, 3)
            print(f"  as shipped (models.py): accuracy {np.mean(now == gold):.3f}, macro-F1 {score_:.3f} {f1}")
        for name, names in SIGNALS[dataset].items():
            for balanced in (True, False):
                train = [(vector(r, names), labels.index(r["gold"])) for r in rows if r["split"] == tune_split]
                train = [(v, g) for v, g in train if v is not None]
                x, y = np.array([v for v, _ in train]), np.array([g for _, g in train])
                # 5-fold cross-validation on the tuning items: how a choice between signal sets is made
                folds = np.arange(len(y)) % 5
                cv = np.zeros(len(y), dtype=int)
                for k in range(5):
                    cv[folds == k] = predict(fit_lr(x[folds != k], y[folds != k], 3, balanced=balanced), x[folds == k])
                model = fit_lr(x, y, 3, balanced=balanced)
                predicted = []
                for r in held:
                    v = vector(r, names)
                    predicted.append(fallback if v is None else int(predict(model, np.array([v]))[0]))
                predicted = np.array(predicted)
                score_, f1 = macro(gold, predicted, 3)
                print(f"  {name:24s} {'balanced' if balanced else 'per item':8s} tuning CV: accuracy {np.mean(cv == y):.3f} "
                      f"macro-F1 {macro(y, cv, 3)[0]:.3f} | held out: accuracy {np.mean(predicted == gold):.3f}  "
                      f"macro-F1 {score_:.3f} {f1}")
                if args.show == name and balanced == (dataset == "scifact"):  # what `models.Calibration.linear` holds
                    print("    weights:", json.dumps({"mean": model[0].round(4).tolist(), "std": model[1].round(4).tolist(),
                                                      "w": model[2].round(4).tolist()}))


def replay(args) -> None:
    """`check` itself (the product's path) on the first N SciFact dev claims, against the verdict the shipped
    calibration gives the scored signals in `rows`: the same unless the two machines' arithmetic tips a close call."""
    from paperqa_local import PaperQA
    from paperqa_local.eval.qa import scifact_items
    from paperqa_local.judge import CHECK, linear_label
    from paperqa_local.models import calibration_for

    rows = {r["id"]: r for r in (json.loads(line) for line in (gzip.open(args.rows, "rt") if args.rows.endswith(".gz")
                                                                 else open(args.rows))) if r["split"] == "dev"}
    folder = Path(args.eval_dir) / "scifact"
    qa = PaperQA(data_dir=args.data_dir, collection="beir-scifact", model=args.model)
    qa.ingest([folder / "corpus.jsonl"])
    calibration, labels = calibration_for(qa.llm.name).check, list(CHECK.options)
    same, started = 0, time.perf_counter()
    items = scifact_items(folder, "dev")[: args.limit]
    for item in items:
        verdict = qa.check(item["text"], explain=False).verdict
        row = rows[item["id"]]
        scored = linear_label(calibration, {**row["ask"], "false_yes": row["ask_negation"], "relevance": row["relevance"]},
                              labels) if "ask" in row else CHECK.fallback
        same += verdict == scored
        print(f"{item['id']}: check {verdict}, scored {scored}", flush=True)
    print(f"same verdict: {same}/{len(items)}; {(time.perf_counter() - started) / len(items):.1f} s per claim")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("score")
    s.add_argument("--dataset", choices=["scifact", "pubmedqa"], required=True)
    s.add_argument("--model", default="default")
    s.add_argument("--eval-dir", default=str(ROOT.parent / "shared" / "eval"))
    s.add_argument("--data-dir", default="/tmp/paperqa-variants")
    s.add_argument("--limit", type=int)
    s.add_argument("--tune-limit", type=int, help="only the first N tuning items (the held-out ones all)")
    s.add_argument("--out", required=True)
    f = sub.add_parser("fit")
    f.add_argument("rows", nargs="+")
    f.add_argument("--model-file", default="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
    f.add_argument("--show", help="print the fitted weights of this signal set")
    f.add_argument("--eval-dir", default=str(ROOT.parent / "shared" / "eval"), help="for PubMedQA abstracts")
    r = sub.add_parser("replay")
    r.add_argument("rows")
    r.add_argument("--limit", type=int, default=30)
    r.add_argument("--model", default="default")
    r.add_argument("--eval-dir", default=str(ROOT.parent / "shared" / "eval"))
    r.add_argument("--data-dir", default="/tmp/paperqa-variants")
    args = parser.parse_args()
    {"score": score, "fit": fit, "replay": replay}[args.command](args)


if __name__ == "__main__":
    main()
