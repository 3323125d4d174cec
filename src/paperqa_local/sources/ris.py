"""RIS files, as EndNote, Mendeley, Zotero and the publishers' sites export them (tags read by rispy).

A record runs from its `TY  - ` line to its `ER  - ` line. The records are framed here, so that each keeps its line
number and a broken one costs only itself; rispy reads the tags of each. Title TI/T1/ST, abstract AB or EndNote's N2,
authors AU/A1, year PY/Y1/DA, venue T2/JO/JF/JA/J2, DOI DO, URLs UR, keywords KW; its ID and attached files L1/L2
find its PDF among the files ingested with it (`matching`). A record without an abstract is kept as a reference
whose text is its title, and reported.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from ..types import Paper, Problem, arxiv_id_of, doi_of, paper_id_for
from . import MAX_TITLE_CHARS, ParseResult
from .bibtex import NO_ABSTRACT
from .matching import pdf_names
from .reading import Lines, read_lines, whole_file_verdict

log = logging.getLogger(__name__)

# "TY  - JOUR" as the standard writes it; one space, or none before the value, as some exporters do
_TAG = re.compile(r"^\s*([A-Z][A-Z0-9]) {1,2}-(?: (.*)|\s*)$")
_YEAR = re.compile(r"(?<!\d)([12]\d{3})(?!\d)")
_TYPES = {"JOUR": "article", "JFULL": "article", "EJOUR": "article", "MGZN": "article", "NEWS": "article",
          "CONF": "inproceedings", "CPAPER": "inproceedings", "BOOK": "book", "EBOOK": "book", "EDBOOK": "book",
          "CHAP": "incollection", "ECHAP": "incollection", "THES": "phdthesis", "RPRT": "techreport",
          "UNPB": "unpublished", "MANSCPT": "unpublished"}
VENUES = ("secondary_title", "journal_name", "alternate_title3", "alternate_title2", "alternate_title1")


def _first(record: dict[str, Any], *names: str) -> str:
    """The first non-empty value among `names` (a tag given twice is a list: its first value)."""
    for name in names:
        value = record.get(name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item.strip():
                return " ".join(item.split())
    return ""


def _all(record: dict[str, Any], *names: str) -> list[str]:
    values: list[str] = []
    for name in names:
        value = record.get(name)
        values += [" ".join(item.split()) for item in (value if isinstance(value, list) else [value])
                   if isinstance(item, str) and item.strip()]
    return values


def record_to_paper(record: dict[str, Any], source: str) -> Paper:
    """One record, as rispy reads it, to a Paper; a ValueError says what is wrong with it."""
    title = _first(record, "title", "primary_title", "short_title", "translated_title")
    if not title:
        raise ValueError("no title (TI or T1 line)")
    if len(title) > MAX_TITLE_CHARS:
        raise ValueError(f"a {len(title):,}-character title is too long; is the abstract on the TI line?")
    urls = [url for line in _all(record, "urls") for url in re.split(r"\s*;\s*|\s+", line) if url]
    doi = doi_of(_first(record, "doi")) or next((doi_of(url) for url in urls if "doi.org/" in url), None)
    url = next((url for url in urls if "doi.org/" not in url), None) or (urls[0] if urls else None)
    notes = [_first(record, "doi"), *urls, *_all(record, "notes", "note", "journal_name", "secondary_title")]
    arxiv = next((found for text in notes if "arxiv" in text.lower() and (found := arxiv_id_of(text))), None)
    year = _YEAR.search(_first(record, "year", "publication_year", "date"))
    keywords = [word.strip() for line in _all(record, "keywords") for word in line.split(";") if word.strip()]
    kind = _first(record, "type_of_reference").upper()
    return Paper(
        paper_id=paper_id_for(title, doi=doi, url=url, arxiv=arxiv),
        title=title,
        abstract=_first(record, "abstract", "notes_abstract"),
        year=int(year.group(1)) if year else None,
        date=_first(record, "date") or None,
        authors=_all(record, "authors", "first_authors"),
        url=url,
        doi=doi,
        source=source,
        venue=_first(record, *VENUES) or None,
        arxiv_id=arxiv,
        keywords=keywords,
        entry_type=_TYPES.get(kind, "misc"),
        citation_key=_first(record, "id") or None,  # to find its PDF
        attachments=[name for line in _all(record, "file_attachments1", "file_attachments2") for name in pdf_names(line)],
    )


def _records(text: Lines) -> tuple[list[tuple[int, int, list[str]]], list[Problem]]:
    """(first line, last line, tag lines) of each record, and the problems of the framing: text outside a
    record, a record that a new TY line or the end of the file cuts short (kept, and said)."""
    records: list[tuple[int, int, list[str]]] = []
    problems: list[Problem] = []
    current: list[str] | None = None
    start = last = stray = 0
    for number, line in text.numbered():
        tag = _TAG.match(line)
        name, value = (tag.group(1), (tag.group(2) or "").strip()) if tag else (None, line.strip())
        if name == "TY":
            if current is not None:
                problems.append(text.problem(start, f"the record here has no 'ER  - ' line before the next one "
                                                    f"(line {number}); read up to there"))
                records.append((start, last, current))
            current, start, stray = [f"TY  - {value}"], number, 0
        elif current is None:
            if not stray:  # one problem for each run of lines outside the records
                problems.append(text.problem(number, "text outside a record: a record starts with a 'TY  - ' line "
                                                     "and ends with an 'ER  - ' line"))
            stray = number
        elif name == "ER":
            records.append((start, number, current))
            current = None
        else:
            current.append(f"{name}  - {value}" if name else value)
        last = number
    if current is not None:
        problems.append(text.problem(start, "the last record has no 'ER  - ' line (the file may be cut short); "
                                            "read up to the end"))
        records.append((start, last, current))
    return records, problems


def parse_ris(path: Path) -> ParseResult:
    import rispy

    text = read_lines(path)
    result = ParseResult()
    records, framing = _records(text)
    result.problems += framing
    for first, last, lines in records:
        if bad := text.first_bad(first, last):
            result.problems.append(bad)
            continue
        try:
            parsed = rispy.loads("\n".join([*lines, "ER  - "]), skip_unknown_tags=True)
            paper = record_to_paper(parsed[0] if parsed else {}, path.name)
        except ValueError as exc:
            result.problems.append(text.problem(first, str(exc)))
            continue
        except Exception as exc:  # noqa: BLE001 - rispy trips over a record it was not built for: it costs itself
            log.debug("rispy failed on the record at %s:%d", path, first, exc_info=True)
            result.problems.append(text.problem(first, f"unreadable RIS record ({type(exc).__name__}); check its tags"))
            continue
        if not paper.abstract:
            result.problems.append(text.problem(first, f"{paper.title[:60]!r}: {NO_ABSTRACT}"))
        result.add(paper, str(path), f"line {first}")
    result.problems.sort(key=lambda problem: int(problem.location.split()[-1]))
    result.problems = whole_file_verdict(result.problems, text, len(result.papers))
    return result
