"""What the answer pipeline's checks and completions after writing do to answers already written, without the
model: each recorded answer of an eval run (its `raw` reply, decline log-probability and the choices of its
note checks, from `eval qa --out`) is fed back through today's code, and scored as `eval qa` scores it (no
citation judge).

Only what comes after the model is measured: retrieval and evidence must choose the sources the recording read
(same seeds, same evidence budget: 260 tokens for CPU recordings, whole abstracts for GPU ones), else the reply
is replayed against sources it never saw. Follow-ups are left out (their earlier turn's answer is not recorded).

    .venv/bin/python benchmarks/replay.py benchmarks/results/eval/cpu-seeds-holdout5-default-1.5b-items.jsonl.gz \
        --questions benchmarks/data/seeds_questions_holdout5.jsonl [--evidence-tokens 260] [--changed]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from paperqa_local.coverage import CHOICE_HEAD  # noqa: E402
from paperqa_local.llm_base import LLM  # noqa: E402


def key(question: str) -> str:
    return " ".join(question.split())


class ReplayLLM(LLM):
    """Replies with the recorded reply of the question in the prompt, and scores the decline as recorded."""

    def __init__(self, name: str, recorded: dict[str, dict]):
        super().__init__()
        self.name, self.recorded = name, recorded

    def _item(self, messages) -> dict:
        asked = key(messages[-1]["content"].rsplit("uestion: ", 1)[-1])
        if asked not in self.recorded:
            raise KeyError(f"no recorded reply for {asked[:80]!r}")
        return self.recorded[asked]

    def score_options(self, messages, options, prefix=""):
        asked = messages[-1]["content"]
        if asked.startswith(CHOICE_HEAD):  # a note put back to the model (`coverage.py`): its recorded pick
            item = self._item(messages[:-2])  # the answer's conversation, then its reply and the choice
            lines = asked.split("\n")
            scores = [0.0] * len(options)  # not recorded: "none of them" is not beaten
            for checked in item["signals"].get("notes_checked", []):
                picked = [n for n in range(1, len(options)) if f"{n}. {checked['sentence']}" in lines]
                if f"tells {checked['asked']}?" in asked and picked:
                    scores[picked[0]] = checked["margin"]
                    break
            return scores
        return [self._item(messages)["signals"].get("decline_logprob", 0.0)] * len(options)

    def stream_chat(self, messages, generation, max_tokens=256, temperature=0.0, stop=None, prefix="", forbid_first=None):
        raw = self._item(messages)["raw"] or "Cannot answer from the indexed papers."
        reply = raw[len(prefix):] if raw.startswith(prefix) else raw
        generation.text = reply
        yield reply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("items", help="per-item JSONL(.gz) of an eval run")
    parser.add_argument("--questions", required=True)
    parser.add_argument("--model-file", default="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
    parser.add_argument("--evidence-tokens", type=int, default=260)
    parser.add_argument("--data-dir", default="/tmp/paperqa-replay")
    parser.add_argument("--changed", action="store_true", help="print the answers that changed")
    parser.add_argument("--out", help="write the replayed rows here (JSONL)")
    args = parser.parse_args()

    from paperqa_local.config import PROJECT_ROOT
    from paperqa_local.eval.seeds import load_questions, score_item, summarise
    from paperqa_local.qa import PaperQA

    opener = gzip.open if args.items.endswith(".gz") else open
    with opener(args.items, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    recorded = {key(row["question"]): row for row in rows}
    items = [item for item in load_questions(Path(args.questions), "all") if item["kind"] != "followup"
             and key(item["question"]) in recorded]
    llm = ReplayLLM(args.model_file, recorded)
    qa = PaperQA(data_dir=args.data_dir, collection="seeds", llm=llm, evidence_tokens=args.evidence_tokens)
    qa.ingest([PROJECT_ROOT / "seeds"])
    replayed = []
    for item in items:
        answer = qa.ask(item["question"])
        texts = qa.paper_texts([c.paper_id for c in answer.citations])
        row = score_item(item, answer, texts, None)
        before = recorded[key(item["question"])]
        if args.changed and row["answer"] != before["answer"]:
            print(f"== {item['id']} {item['kind']} facts {before.get('facts_found')} -> {row.get('facts_found')} "
                  f"abstained {before.get('abstained')} -> {row.get('abstained')}\n  Q: {item['question']}\n"
                  f"  before: {before['answer']}\n  after:  {row['answer']}\n  unsupported: {row['unsupported_figures']}")
        replayed.append(row)
    before_rows = [recorded[key(item["question"])] for item in items]
    for label, group in (("recorded", before_rows), ("replayed", replayed)):
        summary = summarise(group)
        print(label, {key: summary[key] for key in ("questions", "right_paper_cited", "facts_mentioned", "false_declines",
                                                    "correct_declines_or_not_reported", "answers_with_unsupported_figure")})
    if args.out:
        Path(args.out).write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in replayed), encoding="utf-8")


if __name__ == "__main__":
    main()
