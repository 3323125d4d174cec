"""How much of a question's wording comes from its gold papers: the median share of a question's content words
(stop words left out, crudely stemmed) found in its gold papers' title and abstract.

    .venv/bin/python benchmarks/question_overlap.py [benchmarks/data/seeds_questions.jsonl] [--verbose]

A question set that reuses the abstracts' words measures retrieval of those words, not answers to questions as
researchers ask them: the previous seeds set scored 0.89 here; questions written as a user would ask score about
0.5-0.6. Prints the median per split and kind (off-corpus questions have no gold paper and are left out).
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

STOP = set("""a an the and or of to in on for with by from at as is are was were be been being do does did done doing
have has had having can could should would will shall may might must this that these those there their they them it its
which what who whom whose when where why how than then so such not no nor only also very more most much many any some
all each every both either neither our we us you your i me my he she his her about into over under between through during
before after above below up down out off again further once here same other own just too s t don if because while until
against among per via vs versus using use used uses paper papers work works approach method methods model models
study studies propose proposed show shows result results one two new way ways like get make makes want need needs know
tell give gives something anything someone anyone thing things really actually kind sort lot whether""".split())


def words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOP and len(w) > 1]


def stem(word: str) -> str:
    for suffix in ("ations", "ation", "ing", "ies", "es", "ed", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def overlap(question: str, gold_texts: list[str]) -> float | None:
    vocabulary = {stem(w) for text in gold_texts for w in words(text)}
    asked = words(question)
    return sum(stem(w) in vocabulary for w in asked) / len(asked) if asked and gold_texts else None


def main() -> None:
    from paperqa_local.sources import parse_paths

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    path = Path(args[0]) if args else ROOT / "benchmarks" / "data" / "seeds_questions.jsonl"
    papers = {p.title: f"{p.title} {p.abstract}" for p in parse_paths(sorted((ROOT / "seeds").glob("*.txt"))).papers}
    groups: dict[str, list[float]] = {}
    for line in path.read_text().splitlines():
        item = json.loads(line)
        share = overlap(item["question"], [papers[t] for t in item.get("papers", []) if t in papers])
        if share is None:
            continue
        if "--verbose" in sys.argv:
            print(f"{item.get('id')}\t{share:.2f}\t{item['question'][:100]}")
        for key in ("all", item.get("split", "-"), item.get("kind", "-")):
            groups.setdefault(key, []).append(share)
    for key, shares in groups.items():
        print(f"{key:12} median {statistics.median(shares):.2f} (n={len(shares)}, max {max(shares):.2f})")


if __name__ == "__main__":
    main()
