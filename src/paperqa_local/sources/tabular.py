"""Tabular sources: JSON Lines and CSV with `title`, `abstract` (+ `authors`, `year`, `url`, `doi`, `id`),
and the BEIR `corpus.jsonl` layout (`_id`, `title`, `text`)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from ..types import Paper, Problem, paper_id_for
from . import ParseResult


def _authors(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(name).strip() for name in value if str(name).strip()]
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
        raise ValueError("record is not an object with named fields")
    beir = "_id" in record and "text" in record and "abstract" not in record
    title = str(record.get("title") or "").strip()
    abstract = str(record.get("text" if beir else "abstract") or "").strip()
    if not abstract:
        raise ValueError(f"missing {'text' if beir else 'abstract'!r}")
    if not title and not beir:
        raise ValueError("missing 'title'")
    given = record.get("_id" if beir else "id")
    try:
        year = _year(record.get("year"))
    except ValueError as exc:
        raise ValueError(f"bad year: {exc}") from None
    url = str(record["url"]).strip() if record.get("url") else None
    doi = str(record["doi"]).strip() if record.get("doi") else None
    return Paper(
        paper_id=paper_id_for(title or abstract[:80], doi=doi, url=url, given=str(given) if given not in (None, "") else None),
        title=title or abstract[:80],
        abstract=" ".join(abstract.split()),
        year=year,
        authors=_authors(record.get("authors")),
        url=url,
        doi=doi,
        source=source,
    )


def _collect(result: ParseResult, path: Path, location: str, record: Any) -> None:
    try:
        result.papers.append(record_to_paper(record, path.name))
    except ValueError as exc:
        result.problems.append(Problem(str(path), location, str(exc)))


def parse_jsonl(path: Path) -> ParseResult:
    result = ParseResult()
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            return ParseResult(problems=[Problem(str(path), f"line {exc.lineno}", f"invalid JSON: {exc.msg}")])
        for index, record in enumerate(records, 1):
            _collect(result, path, f"record {index}", record)
        return result
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            result.problems.append(Problem(str(path), f"line {number}", f"invalid JSON: {exc.msg}"))
            continue
        _collect(result, path, f"line {number}", record)
    return result


def parse_csv(path: Path) -> ParseResult:
    result = ParseResult()
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = {name.strip().lower() for name in reader.fieldnames or []}
        if not {"title", "abstract"} <= fields:
            return ParseResult(problems=[Problem(str(path), "line 1", "CSV header needs 'title' and 'abstract' columns")])
        for row in reader:
            record = {key.strip().lower(): value for key, value in row.items() if key}
            _collect(result, path, f"line {reader.line_num}", record)
    return result
