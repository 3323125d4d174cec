"""Parsers, one per input format, and `parse_paths` that picks the right one and deduplicates across files.

Whatever the input, parsing ends in papers plus problems (file, line, reason): a bad record, line or file is
reported and skipped, never a reason to lose the good records beside it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from copy import copy
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PaperQAError
from ..types import Paper, Problem, normalise_title
from .matching import match_pdfs

log = logging.getLogger(__name__)

SUPPORTED = (".txt", ".jsonl", ".json", ".csv", ".bib", ".ris", ".pdf")
# what a listing or a .bib knows better than a PDF's metadata and first page
REFERENCE_FIELDS = ("title", "year", "date", "authors", "author_count", "organisation", "url", "doi", "venue", "arxiv_id",
                    "keywords", "entry_type")
MAX_TITLE_CHARS = 500  # the seeds' longest title has 157 characters: a longer one is a mixed-up line or column


@dataclass
class ParseResult:
    papers: list[Paper] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    duplicates: int = 0
    origins: list[tuple[str, str]] = field(default_factory=list)  # (file, location) of each paper, as papers

    def add(self, paper: Paper, source: str, location: str) -> None:
        self.papers.append(paper)
        self.origins.append((source, location))


def _walk(folder: Path, problems: list[Problem]) -> list[Path]:
    """The supported files under `folder`. Links to folders are not followed (as Path.rglob), so a link loop
    cannot make the walk endless; a link named like a source file that leads nowhere is reported."""
    files: list[Path] = []

    def unlistable(exc: OSError) -> None:
        problems.append(Problem(str(exc.filename), "folder", f"cannot list it: {exc.strerror}; check its permissions"))

    for directory, folders, names in os.walk(folder, onerror=unlistable):
        folders.sort()  # problems in a stable order
        for name in sorted(names):
            path = Path(directory) / name
            if path.suffix.lower() not in SUPPORTED:
                continue
            try:
                mode = path.stat().st_mode
            except OSError as exc:
                problems.append(Problem(str(path), "file", f"cannot open it: {_link_trouble(path, exc)}"))
                continue
            if stat.S_ISREG(mode):
                files.append(path)
            else:
                problems.append(Problem(str(path), "file", "not a regular file (a pipe, socket or device); skipped"))
    return sorted(files)


def _link_trouble(path: Path, exc: OSError) -> str:
    if path.is_symlink():
        target = os.readlink(path)
        if isinstance(exc, FileNotFoundError):
            return f"broken symbolic link to {target}; fix or remove the link"
        return f"symbolic link to {target} that cannot be followed ({exc.strerror}); fix or remove the link"
    return f"{exc.strerror or exc}; check its permissions"


def expand(paths: list[str | Path], problems: list[Problem] | None = None) -> list[Path]:
    """Files to read: each file given, and the supported files inside each folder given (sorted).

    Raises PaperQAError for a path that does not exist; anything else that cannot be read (a folder with no
    supported file, a broken link, a pipe) goes to `problems` when it is given.
    """
    problems = [] if problems is None else problems
    files: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise PaperQAError(f"no such file or folder: {path} — check the path (try `ls {path.parent}`)") from None
        except OSError as exc:
            problems.append(Problem(str(path), "file", f"cannot open it: {_link_trouble(path, exc)}"))
            continue
        if stat.S_ISDIR(mode):
            before = len(problems)
            found = _walk(path, problems)
            if not found and len(problems) == before:
                problems.append(Problem(str(path), "folder", "no .jsonl, .json, .csv, .bib, .ris or .txt listing found in it"))
            files += found
        elif stat.S_ISREG(mode):
            files.append(path)
        else:
            problems.append(Problem(str(path), "file", "not a regular file (a pipe, socket or device); skipped"))
    return files


def parse_file(path: Path) -> ParseResult:
    from . import bibtex, pdf, ris, seeds, tabular
    from .reading import Unreadable

    parsers = {".jsonl": tabular.parse_jsonl, ".json": tabular.parse_jsonl, ".csv": tabular.parse_csv,
               ".txt": seeds.parse_seeds, ".bib": bibtex.parse_bibtex, ".ris": ris.parse_ris, ".pdf": pdf.parse_pdf}
    parser = parsers.get(path.suffix.lower())
    if parser is None:
        return ParseResult(problems=[Problem(str(path), "file", f"unsupported file type {path.suffix!r}; "
                                                                "use .txt listings, .jsonl, .csv, .bib, .ris or .pdf")])
    try:
        result = parser(path)
    except Unreadable as exc:
        return ParseResult(problems=[Problem(str(path), "file", str(exc))])
    except Exception as exc:  # a parser's bug must cost one file, not the whole ingest
        log.exception("parsing %s failed", path)
        return ParseResult(problems=[Problem(str(path), "file", f"could not be parsed ({type(exc).__name__}: {exc}); "
                                                                "this is a bug in paperqa-local, please report it")])
    if not result.papers and not result.problems:
        result.problems.append(Problem(str(path), "file", "no records in it"))
    return result


def merge(first: Paper, second: Paper) -> Paper:
    """The same paper seen twice: keep the first, fill what it lacks from the second. A full text (a PDF's
    pages) is kept whichever came first, and a listing's or a .bib's reference fields win over a PDF's."""
    if first.pages and not second.pages:  # what a PDF says of itself is a guess (its first line for a title)
        for name in REFERENCE_FIELDS:
            if getattr(second, name):
                setattr(first, name, copy(getattr(second, name)))
    for name in ("year", "date", "author_count", "organisation", "url", "doi", "venue", "arxiv_id", "entry_type"):
        if getattr(first, name) is None and getattr(second, name) is not None:
            setattr(first, name, getattr(second, name))
    for name in ("authors", "keywords"):
        if not getattr(first, name) and getattr(second, name):
            setattr(first, name, getattr(second, name))
    if (second.pages and not first.pages) or (bool(second.pages) == bool(first.pages) and len(second.abstract) > len(first.abstract)):
        first.abstract, first.pages = second.abstract, list(second.pages)
    return first


def title_key(title: str) -> str:
    """What two titles of one paper share. normalise_title keeps only a-z and digits, so a title in another
    script would normalise to "" and match every other such title; it is then compared as written."""
    return normalise_title(title) or " ".join(title.casefold().split())


def _own_id(paper_id: str, key: str, taken: dict[str, Paper]) -> str:
    """A second paper's id derived from its title, so that a re-run with the same files gives the same id."""
    base = f"{paper_id}~{hashlib.sha1(key.encode()).hexdigest()[:8]}"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}.{n}", n + 1
    return candidate


def deduplicate(papers: list[Paper], origins: list[tuple[str, str]] | None = None) -> tuple[list[Paper], int, list[Problem]]:
    """One entry per paper, merged: the same DOI or arXiv id (these name a paper, whatever its title says), the
    same id and title, or the same title under another id; then a PDF and the entry that surely describes it
    although their titles differ (`matching`): the entry keeps its id and reference fields and gets the full text.

    Two different titles under one id of a source's own numbering are two papers that the source numbered alike:
    both are kept, the later one under a derived id, and a problem names both. Returns (papers, duplicates merged,
    problems).
    """
    origins = list(origins or [])
    origins += [(paper.source or "?", "?") for paper in papers[len(origins):]]
    by_id: dict[str, Paper] = {}
    by_title: dict[str, Paper] = {}
    by_arxiv: dict[str, Paper] = {}
    where: dict[str, tuple[str, str]] = {}
    duplicates, problems = 0, []
    for paper, (source, location) in zip(papers, origins):
        key = title_key(paper.title)
        same_id = by_id.get(paper.paper_id)
        arxiv = paper.arxiv_key()
        if same_id is not None and (title_key(same_id.title) == key or paper.paper_id.startswith(("doi:", "arxiv:"))):
            merge(same_id, paper)
        elif arxiv and arxiv in by_arxiv:
            merge(by_arxiv[arxiv], paper)
        elif key and key in by_title:
            merge(by_title[key], paper)
        else:
            if same_id is not None:
                new_id = _own_id(paper.paper_id, key, by_id)
                first_source, first_location = where[paper.paper_id]
                problems.append(Problem(source, location, (
                    f"id {paper.paper_id!r} is already used by {same_id.title[:80]!r} ({first_source}, {first_location}); "
                    f"kept this paper, {paper.title[:80]!r}, as {new_id!r} — give each paper its own id")))
                paper.paper_id = new_id
            by_id[paper.paper_id] = paper
            by_title.setdefault(key, paper)
            if arxiv:
                by_arxiv.setdefault(arxiv, paper)
            where[paper.paper_id] = (source, location)
            continue
        duplicates += 1
    for entry, pdf in match_pdfs(list(by_id.values())):
        merge(entry, pdf)
        del by_id[pdf.paper_id]
        duplicates += 1
    return list(by_id.values()), duplicates, problems


def parse_paths(paths: list[str | Path]) -> ParseResult:
    """Parse every file, keep every good record, report every bad one, deduplicate across files."""
    result = ParseResult()
    for path in expand(paths, result.problems):
        part = parse_file(path)
        result.files.append(str(path))
        result.papers += part.papers
        result.origins += part.origins
        result.problems += part.problems
    origin_of = {id(paper): origin for paper, origin in zip(result.papers, result.origins)}
    result.papers, result.duplicates, conflicts = deduplicate(result.papers, result.origins)
    result.origins = [origin_of[id(paper)] for paper in result.papers]  # a kept paper is its first sighting
    result.problems += conflicts
    return result
