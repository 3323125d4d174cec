"""The seeds' listing-page format: title, abstract, then optional author count or organisation, '·', date.

    Deoxys: A Causal Inference Engine ...        <- title
                                                 
    The presence of unhealthy nodes ...          <- abstract (one paragraph)
                                                 
      • 11 authors                               <- or an organisation line such as "deepseek-ai DeepSeek"
    ·
    Oct 23, 2024                                 <- or "May 17 8": a date with no year, then upvotes

Some files carry no author or date lines at all; page headers ("Daily Papers", ...) are skipped. A .txt that
has neither the page header nor author/date lines is not taken for a listing (`looks_like_listing`).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..types import Paper, Problem, paper_id_for
from . import MAX_TITLE_CHARS, ParseResult
from .reading import read_lines, whole_file_verdict

HEADER_LINES = {
    "new",
    "get trending papers in your email inbox!",
    "subscribe",
    "daily papers",
    "byak and the research community",
}
MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
DATE = re.compile(rf"^(?P<month>{MONTHS})[a-z]*\.?\s+(?P<day>\d{{1,2}})(?:,\s*(?P<year>\d{{4}}))?(?:\s+(?P<upvotes>\d+))?$")
AUTHORS = re.compile(r"^•\s*(\d{1,6})\s+authors?$")  # bounded: int() refuses 4,300 digits
SEPARATOR = "·"
MIN_ABSTRACT_CHARS = 80


def clean_title(title: str) -> str:
    """Plain-text title: inline LaTeX such as `H$_2$O` becomes `H2O`."""

    def plain(match: re.Match[str]) -> str:
        inner = re.sub(r"\\[a-zA-Z]+\s*", "", match.group(1))
        return re.sub(r"[_^{}]", "", inner)

    return " ".join(re.sub(r"\$([^$]*)\$", plain, title).split())


def _is_metadata(line: str) -> bool:
    return line == SEPARATOR or bool(AUTHORS.match(line) or DATE.match(line))


def looks_like_listing(header_lines: int, entries: int, with_metadata: int) -> bool:
    """A listing page starts with the site's header, or its entries carry author and date lines. Anything else
    (a README, notes) also alternates short and long lines and would read as junk papers."""
    return header_lines >= 2 or (entries > 0 and 2 * with_metadata >= entries)


def _not_an_entry(title: str, abstract: str) -> str | None:
    """Why the line `title`, followed by the line `abstract`, does not start an entry; None when it does."""
    if _is_metadata(title):
        return f"metadata line {title[:60]!r} without a paper before it"
    if len(title) > MAX_TITLE_CHARS:
        return f"{len(title):,} characters is too long for a title; an entry is a title line, then its abstract"
    if len(abstract) < MIN_ABSTRACT_CHARS or _is_metadata(abstract):
        return f"title {title[:60]!r} has no abstract after it"
    if not clean_title(title):
        return f"title {title[:60]!r} has no text once its LaTeX is removed"
    return None


def parse_seeds(path: Path) -> ParseResult:
    """Parse one listing page; entries that cannot be read are reported, the rest are kept."""
    text = read_lines(path)
    result = ParseResult()
    lines = [(number, line.strip()) for number, line in text.numbered()]
    i = header_lines = 0
    while i < len(lines) and (lines[i][1].lower() in HEADER_LINES or DATE.match(lines[i][1])):
        header_lines += lines[i][1].lower() in HEADER_LINES
        i += 1  # page header, then the listing's own date
    entries = with_metadata = 0
    while i < len(lines):
        number, title = lines[i]
        if reason := _not_an_entry(title, lines[i + 1][1] if i + 1 < len(lines) else ""):
            result.problems.append(text.problem(number, text.bad.get(number, reason)))  # not text: say that first
            i += 1
            continue
        paper = Paper(paper_id="", title=clean_title(title), abstract=" ".join(lines[i + 1][1].split()), source=path.name)
        i, has_metadata = _read_metadata(lines, i + 2, paper, text.bad)
        entries += 1
        with_metadata += has_metadata
        if bad := text.first_bad(number, lines[i - 1][0]):
            result.problems.append(bad)
            continue
        paper.paper_id = paper_id_for(paper.title)
        result.add(paper, str(path), f"line {number}")
    if not looks_like_listing(header_lines, entries, with_metadata):
        not_listing = Problem(str(path), "file", "not a paper listing (no listing-page header, no author or date lines); "
                                                 "give other papers as .jsonl or .csv")
        return ParseResult(problems=whole_file_verdict([not_listing], text, 0))
    result.problems = whole_file_verdict(result.problems, text, len(result.papers))
    return result


def _read_metadata(lines: list[tuple[int, str]], i: int, paper: Paper, bad: dict[int, str]) -> tuple[int, bool]:
    """Author count or organisation, '·' and date lines from lines[i] on: (index after them, any found). A line
    that is not text is no organisation: it ends the entry, so that it costs only itself."""
    start = i
    while i < len(lines) and lines[i][0] not in bad:
        line = lines[i][1]
        following = lines[i + 1][1] if i + 1 < len(lines) else ""
        if authors := AUTHORS.match(line):
            paper.author_count = int(authors.group(1))
        elif date := DATE.match(line):
            paper.date = f"{date['month']} {date['day']}" + (f", {date['year']}" if date["year"] else "")
            paper.year = int(date["year"]) if date["year"] else None
        elif line == SEPARATOR:
            pass
        elif following == SEPARATOR:
            paper.organisation = line
        else:
            break
        i += 1
    return i, i > start
