"""One record of a tabular source (a JSON object, a CSV row) to a Paper: `title`, `abstract` (+ `authors`, `year`,
`url`, `doi`, `id`), or the BEIR `corpus.jsonl` layout (`_id`, `title`, `text`)."""

from __future__ import annotations

import re
from typing import Any

from ..types import Paper, paper_id_for
from . import MAX_TITLE_CHARS, ParseResult
from .reading import Lines

_SURROGATE = re.compile("[\ud800-\udfff]")  # what a JSON escape such as "\\ud800" leaves: no store can write it
_KINDS = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false"}


def kind(value: Any) -> str:
    return "null" if value is None else _KINDS.get(type(value), type(value).__name__)


def _text(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (dict, list)):
        raise ValueError(f"{name!r} is {kind(value)}, not text")
    return "" if value is None else str(value).strip()


def _authors(value: Any) -> list[str]:
    if isinstance(value, list):
        names = (name.get("name", "") if isinstance(name, dict) else name for name in value)  # [{"name": ...}] too
        return [str(name).strip() for name in names if str(name).strip()]
    if isinstance(value, str) and value.strip():
        separator = ";" if ";" in value else ","
        return [name.strip() for name in value.split(separator) if name.strip()]
    return []


def _year(value: Any) -> int | None:
    if value in (None, ""):
        return None
    year = int(str(value).strip()[:4])
    if not 1000 <= year <= 2999:
        raise ValueError(f"year {value!r} is not a four-digit year")
    return year


def record_to_paper(record: dict[str, Any], source: str) -> Paper:
    """One record to a Paper; a ValueError says what is wrong with it."""
    if not isinstance(record, dict):
        raise ValueError(f"not a JSON object with named fields (it is {kind(record)}); "
                         'write one object per line, such as {"title": ..., "abstract": ...}')
    beir = "_id" in record and "text" in record and "abstract" not in record
    title = _text(record, "title")
    abstract = _text(record, "text" if beir else "abstract")
    if not abstract:
        raise ValueError(f"missing {'text' if beir else 'abstract'!r}")
    if not title and not beir:
        raise ValueError("missing 'title'")
    if len(title) > MAX_TITLE_CHARS:
        raise ValueError(f"a {len(title):,}-character title is too long; is the abstract in the 'title' field?")
    given = _text(record, "_id" if beir else "id")
    try:
        year = _year(record.get("year"))
    except ValueError as exc:
        raise ValueError(f"bad year: {exc}") from None
    url, doi = _text(record, "url") or None, _text(record, "doi") or None
    paper = Paper(
        paper_id=paper_id_for(title or abstract[:80], doi=doi, url=url, given=given or None),
        title=title or abstract[:80],
        abstract=" ".join(abstract.split()),
        year=year,
        authors=_authors(record.get("authors")),
        url=url,
        doi=doi,
        source=source,
    )
    texts = (paper.paper_id, paper.title, paper.abstract, *paper.authors, url or "", doi or "")
    if any(not value.isascii() and _SURROGATE.search(value) for value in texts):
        raise ValueError("holds an unpaired surrogate escape (such as \\ud800); fix the text's JSON escapes")
    return paper


def collect(result: ParseResult, text: Lines, number: int, record: Any, item: str = "") -> None:
    """The record's paper into `result`, or the problem with it, located at line `number` of `text`."""
    try:
        result.add(record_to_paper(record, text.path.name), str(text.path), f"line {number}")
    except ValueError as exc:
        result.problems.append(text.problem(number, item + str(exc)))
