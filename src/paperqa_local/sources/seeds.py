"""The seeds' listing-page format: title, abstract, then optional author count or organisation, '·', date.

    Deoxys: A Causal Inference Engine ...        <- title
                                                 
    The presence of unhealthy nodes ...          <- abstract (one paragraph)
                                                 
      • 11 authors                               <- or an organisation line such as "deepseek-ai DeepSeek"
    ·
    Oct 23, 2024                                 <- or "May 17 8": a date with no year, then upvotes

Some files carry no author or date lines at all; page headers ("Daily Papers", ...) are skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..types import Paper, Problem, paper_id_for
from . import ParseResult

HEADER_LINES = {
    "new",
    "get trending papers in your email inbox!",
    "subscribe",
    "daily papers",
    "byak and the research community",
}
MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
DATE = re.compile(rf"^(?P<month>{MONTHS})[a-z]*\.?\s+(?P<day>\d{{1,2}})(?:,\s*(?P<year>\d{{4}}))?(?:\s+(?P<upvotes>\d+))?$")
AUTHORS = re.compile(r"^•\s*(\d+)\s+authors?$")
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


def parse_seeds(path: Path) -> ParseResult:
    """Parse one listing page; entries that cannot be read are reported, the rest are kept."""
    result = ParseResult()
    lines = [(number, raw.strip()) for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)]
    lines = [(number, line) for number, line in lines if line]
    i = 0
    while i < len(lines) and (lines[i][1].lower() in HEADER_LINES or DATE.match(lines[i][1])):
        i += 1  # page header, then the listing's own date
    while i < len(lines):
        number, title = lines[i]
        if _is_metadata(title):
            result.problems.append(Problem(str(path), f"line {number}", f"metadata line {title!r} without a paper before it"))
            i += 1
            continue
        abstract = lines[i + 1][1] if i + 1 < len(lines) else ""
        if len(abstract) < MIN_ABSTRACT_CHARS or _is_metadata(abstract):
            result.problems.append(Problem(str(path), f"line {number}", f"title {title[:60]!r} has no abstract after it"))
            i += 1
            continue
        i += 2
        paper = Paper(paper_id="", title=clean_title(title), abstract=" ".join(abstract.split()), source=path.name)
        while i < len(lines):
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
        paper.paper_id = paper_id_for(paper.title)
        result.papers.append(paper)
    return result
