"""`paperqa-local eval qa --dataset seeds` (or `--questions FILE`): answers to questions asked the way
researchers ask them, over the bundled seeds.

Each question (benchmarks/data/seeds_questions.jsonl) has a kind — single, multi, numeric, followup,
near_miss (the paper is there, the asked fact is not in its abstract), off_corpus — a split (dev for tuning,
test for reporting), its gold papers and the facts an answer must mention (each a list of accepted forms).
Reported per kind and overall:
- right paper cited: a gold paper among the citations (answerable kinds);
- facts mentioned: share of must-mention facts found in the answer;
- false declines: answerable questions declined;
- correct declines / "not reported": near-miss and off-corpus questions declined or answered "not reported";
- unsupported figures: answers with a number in a cited sentence that none of that sentence's cited papers
  contains (checked here with its own number reader, not the one the answer pipeline uses);
- citation precision and recall in the ALCE sense, judged by the bundled 1.5B as an entailment judge (no NLI
  model can be installed offline): a citation is precise when its paper alone supports the sentence; a claim
  sentence is recalled when its cited papers together support it;
- time to first token and total, median and p90.
"""

from __future__ import annotations

import gzip
import json
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from ..config import PROJECT_ROOT, default_home
from ..errors import PaperQAError
from ..hardware import machine

ANSWERABLE = ("single", "multi", "numeric", "followup")
ABSTAIN = ("near_miss", "off_corpus")
QUESTIONS = PROJECT_ROOT / "benchmarks" / "data" / "seeds_questions.jsonl"
JUDGE_SYSTEM = "You check whether a passage states a claim. Reply with one word: yes or no."


def load_questions(path: Path, split: str | None) -> list[dict[str, Any]]:
    if not path.is_file():
        raise PaperQAError(f"no question file {path} — give one with --questions FILE (JSONL, see {QUESTIONS.name})")
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            item["question"], item.setdefault("kind", "single"), item.setdefault("papers", []), item.setdefault("facts", [])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise PaperQAError(f"{path}:{number}: each line must be JSON with a \"question\" (see {QUESTIONS.name})") from None
        item.setdefault("id", str(number))
        if split in (None, "all") or item.get("split", "test") == split:
            items.append(item)
    return items


def _fold(text: str) -> str:
    text = text.lower().replace("×", "x").replace("\\%", "%")
    text = re.sub(r"(\d)\s+(%|x\b)", r"\1\2", text)
    return " ".join(re.sub(r"[\-_]+", " ", text).split())


def fact_found(forms: list[str], answer: str) -> bool:
    """A form occurs as whole words ("EAD" is not found in "instead"), ignoring case, hyphens and spacing; a
    figure may carry its unit ("4.11" is found in "4.11×")."""
    body = _fold(answer)
    return any(re.search(rf"(?<![a-z0-9]){re.escape(_fold(form))}(?:e?s|(?<=[0-9])x)?(?![a-z0-9])", body)
               for form in forms if form.strip())


def _number(text: str) -> str:
    text = text.replace(",", "")
    return text.rstrip("0").rstrip(".") if "." in text else text.lstrip("0") or "0"


def answer_numbers(sentence: str) -> list[str]:
    """Numbers an answer sentence states: digits standing as their own word, with at most a unit (%, x)."""
    sentence = re.sub(r"\[\d+(?:[,;\s]*\d+)*\]", " ", sentence)
    found = []
    for token in re.split(r"[\s/]+", sentence):
        token = token.strip("()[]{},.;:!?\"'")
        token = re.sub(r"(?:%|x|X|×|-fold|fold)$", "", token)
        for part in re.split(r"[-–~]", token):  # ranges: 1.3-1.6
            if re.fullmatch(r"\d[\d,]*(?:\.\d+)?", part):
                found.append(_number(part))
    return found


def source_numbers(text: str) -> set[str]:
    return {_number(m) for m in re.findall(r"\d[\d,]*(?:\.\d+)?", text)}


def _claim_sentences(answer) -> list[tuple[str, list[int]]]:
    """(sentence, cited keys) for each sentence of the answer text."""
    from ..text import split_sentences

    rows = []
    for sentence in split_sentences(answer.text):
        keys = [int(n) for group in re.findall(r"\[(\d+(?:[,;\s]*\d+)*)\]", sentence) for n in re.findall(r"\d+", group)]
        rows.append((re.sub(r"\s*\[\d+(?:[,;\s]*\d+)*\]", "", sentence).strip(), keys))
    return rows


class CitationJudge:
    """Entailment by a bundled model's yes/no probabilities: does this paper's text state this sentence?"""

    def __init__(self, llm):
        self.llm = llm

    def supports(self, passage: str, sentence: str) -> bool:
        messages = [{"role": "system", "content": JUDGE_SYSTEM},
                    {"role": "user", "content": f"Passage: {passage}\n\nClaim: {sentence}\n\nDoes the passage state the claim?"}]
        with self.llm.lock:
            yes, no = self.llm.score_options(messages, [["yes", "Yes"], ["no", "No"]])
        return yes > no


def score_item(item: dict[str, Any], answer, texts: dict[str, str], judge: CitationJudge | None) -> dict[str, Any]:
    from ..answer import NOT_REPORTED

    titles = [c.title for c in answer.citations]
    by_key = {c.key: c for c in answer.citations}
    gold = set(item["papers"])
    row: dict[str, Any] = {
        "id": item["id"], "kind": item["kind"], "split": item.get("split"), "question": item["question"],
        "answer": answer.text, "answerable": answer.answerable, "cited": titles, "gold": item["papers"],
        "retrieved": [h.title for h in answer.contexts], "dropped": answer.dropped, "signals": answer.signals,
        "ttft_ms": answer.timings.get("ttft_ms"), "total_ms": answer.timings.get("total_ms"),
        "prompt_tokens": answer.prompt_tokens, "raw": answer.raw_text,
    }
    declined = not answer.answerable
    row["declined"] = declined
    row["not_reported"] = bool(NOT_REPORTED.search(answer.text))
    if item["kind"] in ANSWERABLE:
        row["right_paper_cited"] = bool(gold & set(titles))
        row["facts_found"] = [fact_found(forms, answer.text) for forms in item["facts"]]
    else:
        row["abstained"] = declined or row["not_reported"]
    unsupported, precise, pairs, recalled, claims = [], 0, 0, 0, 0
    for sentence, keys in _claim_sentences(answer):
        cited_texts = [texts.get(by_key[k].paper_id, "") + " " + by_key[k].title for k in keys if k in by_key]
        if keys:
            have = set().union(*(source_numbers(t) for t in cited_texts)) if cited_texts else set()
            years = {str(by_key[k].year) for k in keys if k in by_key and by_key[k].year}
            unsupported += [n for n in answer_numbers(sentence) if n not in have and n not in years]
        if judge is None or not keys or NOT_REPORTED.search(sentence):
            continue
        claims += 1
        verdicts = [judge.supports(t[:4000], sentence) for t in cited_texts]
        pairs += len(verdicts)
        precise += sum(verdicts)
        recalled += any(verdicts) and (all(verdicts) or judge.supports(" ".join(cited_texts)[:6000], sentence))
    row["unsupported_figures"] = unsupported
    if judge is not None:
        row["citation_pairs"], row["citation_precise"], row["claims"], row["claims_supported"] = pairs, precise, claims, recalled
    return row


def _rate(values: list[bool]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in rows if r["kind"] in ANSWERABLE]
    abstain = [r for r in rows if r["kind"] in ABSTAIN]
    facts = [f for r in answerable for f in r["facts_found"]]
    out: dict[str, Any] = {
        "questions": len(rows),
        "right_paper_cited": _rate([r["right_paper_cited"] for r in answerable]),
        "facts_mentioned": _rate(facts),
        "false_declines": _rate([r["declined"] for r in answerable]),
        "correct_declines_or_not_reported": _rate([r["abstained"] for r in abstain]),
        "answers_with_unsupported_figure": sum(bool(r["unsupported_figures"]) for r in rows),
    }
    pairs = sum(r.get("citation_pairs", 0) for r in rows)
    claims = sum(r.get("claims", 0) for r in rows)
    if any("citation_pairs" in r for r in rows):
        out["citation_precision"] = round(sum(r["citation_precise"] for r in rows) / pairs, 4) if pairs else None
        out["citation_recall"] = round(sum(r["claims_supported"] for r in rows) / claims, 4) if claims else None
    answered = [r for r in rows if r["ttft_ms"] is not None]
    for key in ("ttft_ms", "total_ms"):
        values = sorted(r[key] for r in answered)
        if values:
            out[key] = {"median": round(statistics.median(values), 1), "p90": round(values[int(0.9 * (len(values) - 1))], 1)}
    return out


def run_seeds_eval(args) -> dict[str, Any]:
    from ..llm import LlamaCppLLM
    from ..models import resolve
    from ..qa import PaperQA

    path = Path(args.questions) if getattr(args, "questions", None) else QUESTIONS
    split = args.split or "test"
    items = load_questions(path, split)
    if args.limit:
        items = items[: args.limit]
    data_dir = Path(args.data_dir) if args.data_dir else default_home() / "eval"
    qa = PaperQA(data_dir=data_dir, collection="seeds", model=args.model)
    qa.ingest([PROJECT_ROOT / "seeds"])
    qa.warm_up()
    qa.ask("warm up: which papers are about attention?")  # the cached prompt prefix, as in an open app
    judge = None
    if getattr(args, "judge_citations", True):
        settings = qa.settings
        judge_path = resolve("default", settings.models_dir)
        # its own llama.cpp context, so judging never evicts the answers' cached prompt prefix (which would
        # inflate their time to first token)
        judge = CitationJudge(LlamaCppLLM(judge_path, settings.n_ctx, settings.n_threads, qa.llm.n_gpu_layers))
    rows = []
    started = time.perf_counter()
    out = gzip.open(args.out, "wt", encoding="utf-8") if args.out and args.out.endswith(".gz") else (
        open(args.out, "w", encoding="utf-8") if args.out else None)
    for item in items:
        history = [qa.ask(turn) for turn in item.get("history", [])]
        answer = qa.ask(item["question"], history=history or None)
        texts = qa.paper_texts([c.paper_id for c in answer.citations])
        row = score_item(item, answer, texts, judge)
        rows.append(row)
        print(f"{item['id']} {item['kind']}: cited={row.get('right_paper_cited', row.get('abstained'))} "
              f"facts={row.get('facts_found')} ttft={row['ttft_ms']} | {answer.text[:120]}", file=sys.stderr, flush=True)
        if out:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
    if out:
        out.close()
    kinds = sorted({r["kind"] for r in rows})
    return {
        "dataset": "seeds", "questions_file": str(path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path),
        "split": split, "model": qa.settings.model, "model_file": qa.llm.name,
        "evidence_tokens": qa.evidence_budget(), "citation_judge": judge.llm.name if judge else None,
        "overall": summarise(rows), "per_kind": {kind: summarise([r for r in rows if r["kind"] == kind]) for kind in kinds},
        "seconds_per_item": round((time.perf_counter() - started) / max(len(rows), 1), 2),
        "date": time.strftime("%Y-%m-%d", time.gmtime()), "command": "paperqa-local " + " ".join(sys.argv[1:]),
        "machine": machine(),
    }
