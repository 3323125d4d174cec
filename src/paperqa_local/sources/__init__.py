"""Parsers, one per input format, and `parse_paths` that picks the right one and deduplicates across files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PaperQAError
from ..types import Paper, Problem, normalise_title

SUPPORTED = (".txt", ".jsonl", ".json", ".csv")


@dataclass
class ParseResult:
    papers: list[Paper] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    duplicates: int = 0


def expand(paths: list[str | Path]) -> list[Path]:
    """Files to read: each file given, and the supported files inside each folder given (sorted)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED)
        elif path.is_file():
            files.append(path)
        else:
            raise PaperQAError(f"no such file or folder: {path} — check the path (try `ls {path.parent}`)")
    return files


def parse_file(path: Path) -> ParseResult:
    from . import seeds, tabular

    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".json"):
            return tabular.parse_jsonl(path)
        if suffix == ".csv":
            return tabular.parse_csv(path)
        if suffix == ".txt":
            return seeds.parse_seeds(path)
    except UnicodeDecodeError:
        return ParseResult(problems=[Problem(str(path), "file", "not UTF-8 text; save it as UTF-8")])
    return ParseResult(problems=[Problem(str(path), "file", f"unsupported file type {suffix!r}; use .txt listings, .jsonl or .csv")])


def merge(first: Paper, second: Paper) -> Paper:
    """The same paper seen twice: keep the first, fill what it lacks from the second."""
    for name in ("year", "date", "author_count", "organisation", "url", "doi"):
        if getattr(first, name) is None and getattr(second, name) is not None:
            setattr(first, name, getattr(second, name))
    if not first.authors and second.authors:
        first.authors = second.authors
    if len(second.abstract) > len(first.abstract):
        first.abstract = second.abstract
    return first


def deduplicate(papers: list[Paper]) -> tuple[list[Paper], int]:
    """One entry per paper: same id, or same normalised title."""
    by_key: dict[str, Paper] = {}
    title_to_key: dict[str, str] = {}
    duplicates = 0
    for paper in papers:
        title_key = normalise_title(paper.title)
        key = paper.paper_id if paper.paper_id in by_key else title_to_key.get(title_key, paper.paper_id)
        if key in by_key:
            merge(by_key[key], paper)
            duplicates += 1
        else:
            by_key[key] = paper
            title_to_key.setdefault(title_key, key)
    return list(by_key.values()), duplicates


def parse_paths(paths: list[str | Path]) -> ParseResult:
    """Parse every file, keep every good record, report every bad one, deduplicate across files."""
    result = ParseResult()
    for path in expand(paths):
        part = parse_file(path)
        result.files.append(str(path))
        result.papers += part.papers
        result.problems += part.problems
    result.papers, result.duplicates = deduplicate(result.papers)
    return result
